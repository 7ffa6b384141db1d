import Basics
import Capture
import SIP

/// One `m=` line of an SDP body, with the connection address that applies to it.
public struct SDPMedia: Equatable, Sendable {
    public var address: IPAddress
    public var port: UInt16
    /// RTCP's port: from `a=rtcp`, else port + 1; 0 with `a=rtcp-mux`.
    public var rtcpPort: UInt16
    public var rtcpAddress: IPAddress
    /// RTP/AVP, RTP/SAVP, RTP/AVPF, UDP/TLS/RTP/SAVPF...: false for udptl (T.38) and others.
    public var isRTP: Bool
    /// Index of this media's first entry in `SDPDescription.formats`, and how many.
    public var firstFormat: Int
    public var formatCount: Int
}

/// A dynamic payload type mapped by `a=rtpmap`.
public struct SDPFormat: Equatable, Sendable {
    public var payloadType: UInt8
    public var format: PayloadFormat
}

/// The media an SDP body (RFC 8866) announces. Preallocated and reused for every body, so
/// scanning allocates nothing; media and rtpmaps beyond its capacity are ignored.
public final class SDPDescription {
    public static let maxMedia = 8
    public static let maxFormats = 32
    public private(set) var mediaCount = 0
    public private(set) var formatCount = 0
    /// The body puts the session on hold: a direction other than sendrecv (RFC 3264 §8.4:
    /// sendonly, recvonly, inactive), at session or media level, or the older c=0.0.0.0
    /// (RFC 2543). RTP may then rightly stop.
    public private(set) var isOnHold = false
    let media: FixedArray<SDPMedia>
    let formats: FixedArray<SDPFormat>

    public init() {
        media = FixedArray(repeating: SDPMedia(address: .unspecified, port: 0, rtcpPort: 0, rtcpAddress: .unspecified,
                                               isRTP: false, firstFormat: 0, formatCount: 0),
                           count: SDPDescription.maxMedia)
        formats = FixedArray(repeating: SDPFormat(payloadType: 0, format: PayloadFormat(name: ShortName(), clockRate: 0)),
                             count: SDPDescription.maxFormats)
    }

    public func medium(_ index: Int) -> SDPMedia { media[index] }

    public func format(_ index: Int) -> SDPFormat { formats[index] }

    /// Scans `body`. Returns false when it is not usable SDP (no `v=0` first line).
    @discardableResult
    public func scan(_ buffer: UnsafeRawBufferPointer, body: ByteRange) -> Bool {
        mediaCount = 0
        formatCount = 0
        isOnHold = false
        var sessionAddress = IPAddress.unspecified
        var sessionHasAddress = false
        var mediaHasAddress = false
        var current = -1
        var lineStart = body.start
        var sawVersion = false
        while lineStart < body.end {
            let lineEnd = ASCII.lineEnd(buffer, from: lineStart, to: body.end)
            let contentEnd = ASCII.contentEnd(buffer, lineStart: lineStart, lineEnd: lineEnd)
            defer { lineStart = lineEnd + 1 }
            guard contentEnd - lineStart >= 2, buffer[lineStart + 1] == ASCII.equals else { continue }
            let value = ByteRange(lineStart + 2, contentEnd)
            switch buffer[lineStart] {
            case 0x76:  // v=
                sawVersion = true
            case 0x63:  // c=IN IP4 addr[/ttl]
                guard let address = connectionAddress(buffer, value) else { continue }
                if address == .unspecified || (address.isIPv4 && address.ipv4Value == 0) { isOnHold = true }
                if current < 0 {
                    sessionAddress = address
                    sessionHasAddress = true
                    // Media lines seen so far have no address of their own.
                } else {
                    var entry = media[current]
                    entry.address = address
                    entry.rtcpAddress = address
                    media[current] = entry
                    mediaHasAddress = true
                }
            case 0x6D:  // m=audio 49170 RTP/AVP 0 8 101
                if current >= 0 && !mediaHasAddress && !sessionHasAddress { mediaCount -= 1 }
                current = -1
                guard mediaCount < SDPDescription.maxMedia, let entry = mediaLine(buffer, value) else { continue }
                var placed = entry
                placed.address = sessionAddress
                placed.rtcpAddress = sessionAddress
                placed.firstFormat = formatCount
                media[mediaCount] = placed
                current = mediaCount
                mediaCount += 1
                mediaHasAddress = false
            case 0x61:  // a=
                if ASCII.equals(buffer, value, "sendonly") || ASCII.equals(buffer, value, "recvonly")
                    || ASCII.equals(buffer, value, "inactive") {
                    isOnHold = true
                }
                guard current >= 0 else { continue }
                attribute(buffer, value, media: current)
            default:
                break
            }
        }
        if current >= 0 && !mediaHasAddress && !sessionHasAddress { mediaCount -= 1 }
        // Media lines that got no address at all were dropped; the session address applies
        // to those that came before a session-level c= only in malformed SDP.
        guard sawVersion else {
            mediaCount = 0
            return false
        }
        return true
    }

    private func connectionAddress(_ buffer: UnsafeRawBufferPointer, _ value: ByteRange) -> IPAddress? {
        // "IN" SP ("IP4" | "IP6") SP address ["/" ttl ["/" count]]
        var fields = Fields(buffer, value)
        guard let network = fields.next(), ASCII.equals(buffer, network, "in"),
              let family = fields.next(), let text = fields.next() else { return nil }
        var end = text.start
        while end < text.end && buffer[end] != ASCII.slash { end += 1 }
        guard let address = IPAddress(text: UnsafeRawBufferPointer(rebasing: buffer[text.start..<end])) else {
            return nil
        }
        if ASCII.equals(buffer, family, "ip4") != address.isIPv4 { return nil }
        return address
    }

    private func mediaLine(_ buffer: UnsafeRawBufferPointer, _ value: ByteRange) -> SDPMedia? {
        var fields = Fields(buffer, value)
        guard fields.next() != nil, let portField = fields.next(), let proto = fields.next() else { return nil }
        var portEnd = portField.start
        while portEnd < portField.end && buffer[portEnd] != ASCII.slash { portEnd += 1 }
        guard let port = ASCII.decimal(buffer, ByteRange(portField.start, portEnd), limit: 65_535), port > 0 else {
            return nil  // port 0: the stream is declined
        }
        let isRTP = containsRTP(buffer, proto)
        return SDPMedia(address: .unspecified, port: UInt16(port), rtcpPort: UInt16(truncatingIfNeeded: port + 1),
                        rtcpAddress: .unspecified, isRTP: isRTP, firstFormat: 0, formatCount: 0)
    }

    private func attribute(_ buffer: UnsafeRawBufferPointer, _ value: ByteRange, media index: Int) {
        if ASCII.hasPrefix(buffer, value, "rtpmap:") {
            // a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]
            var fields = Fields(buffer, ByteRange(value.start + 7, value.end))
            guard formatCount < SDPDescription.maxFormats, let ptField = fields.next(), let encoding = fields.next(),
                  let payloadType = ASCII.decimal(buffer, ptField, limit: 127) else { return }
            let slash = ASCII.find(ASCII.slash, in: buffer, encoding) ?? encoding.end
            var rateEnd = slash + 1
            while rateEnd < encoding.end && ASCII.isDigit(buffer[rateEnd]) { rateEnd += 1 }
            let rate = slash < encoding.end ? ASCII.decimal(buffer, ByteRange(slash + 1, rateEnd), limit: 10_000_000) ?? 0 : 0
            let name = ShortName(bytes: UnsafeRawBufferPointer(rebasing: buffer[encoding.start..<slash]))
            formats[formatCount] = SDPFormat(payloadType: UInt8(payloadType),
                                             format: PayloadFormat.dynamic(name: name, clockRate: UInt32(rate)))
            formatCount += 1
            var entry = media[index]
            entry.formatCount += 1
            media[index] = entry
        } else if ASCII.hasPrefix(buffer, value, "rtcp:") {
            // a=rtcp:<port> [IN IP4 <address>] (RFC 3605)
            var fields = Fields(buffer, ByteRange(value.start + 5, value.end))
            guard let portField = fields.next(), let port = ASCII.decimal(buffer, portField, limit: 65_535) else { return }
            var entry = media[index]
            entry.rtcpPort = UInt16(port)
            if fields.next() != nil, fields.next() != nil, let text = fields.next(),
               let address = IPAddress(text: UnsafeRawBufferPointer(rebasing: buffer[text.start..<text.end])) {
                entry.rtcpAddress = address
            }
            media[index] = entry
        } else if ASCII.equals(buffer, value, "rtcp-mux") {
            var entry = media[index]
            entry.rtcpPort = 0
            media[index] = entry
        }
    }

    private func containsRTP(_ buffer: UnsafeRawBufferPointer, _ proto: ByteRange) -> Bool {
        guard proto.count >= 3 else { return false }
        for start in proto.start...(proto.end - 3) where ASCII.equals(buffer, ByteRange(start, start + 3), "rtp") {
            return true
        }
        return false
    }
}

/// Space-separated fields of one line.
struct Fields {
    let buffer: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) {
        self.buffer = buffer
        position = range.start
        end = range.end
    }

    mutating func next() -> ByteRange? {
        while position < end && (buffer[position] == ASCII.space || buffer[position] == ASCII.tab) { position += 1 }
        guard position < end else { return nil }
        let start = position
        while position < end && buffer[position] != ASCII.space && buffer[position] != ASCII.tab { position += 1 }
        return ByteRange(start, position)
    }
}
