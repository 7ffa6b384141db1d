import SIP

/// A codec or encoding name of up to 15 bytes, held inline so tables need no heap.
public struct ShortName: Equatable, Sendable {
    var head: UInt64 = 0
    var tail: UInt64 = 0
    public private(set) var count: UInt8 = 0

    public init() {}

    public init(_ text: StaticString) {
        self.init(bytes: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Longer names are cut to 15 bytes.
    public init(bytes: UnsafeRawBufferPointer) {
        let length = min(bytes.count, 15)
        for i in 0..<length {
            let shift = UInt64((i % 8) * 8)
            if i < 8 { head |= UInt64(bytes[i]) << shift } else { tail |= UInt64(bytes[i]) << shift }
        }
        count = UInt8(length)
    }

    public var isEmpty: Bool { count == 0 }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var pair = (head.littleEndian, tail.littleEndian)
        return withUnsafeBytes(of: &pair) { body(UnsafeRawBufferPointer(rebasing: $0[0..<Int(count)])) }
    }

    /// Case-insensitive prefix test against a lower-case `prefix`.
    public func hasPrefix(_ prefix: StaticString) -> Bool {
        withBytes { bytes in
            guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
            for i in 0..<prefix.utf8CodeUnitCount where ASCII.lower(bytes[i]) != prefix.utf8Start[i] {
                return false
            }
            return true
        }
    }
}

/// What is known of an RTP payload type: its name and the RTP clock rate used for jitter.
public struct PayloadFormat: Equatable, Sendable {
    public var name: ShortName
    /// 0 when unknown: no jitter is computed for such packets.
    public var clockRate: UInt32

    public init(name: ShortName, clockRate: UInt32) {
        self.name = name
        self.clockRate = clockRate
    }

    /// The static payload types of RFC 3551, named as Wireshark names them.
    public static func staticFormat(_ payloadType: UInt8) -> PayloadFormat? {
        switch payloadType {
        case 0: return PayloadFormat(name: ShortName("g711U"), clockRate: 8000)
        case 1: return PayloadFormat(name: ShortName("fs-1016"), clockRate: 8000)
        case 2: return PayloadFormat(name: ShortName("g721"), clockRate: 8000)
        case 3: return PayloadFormat(name: ShortName("GSM"), clockRate: 8000)
        case 4: return PayloadFormat(name: ShortName("g723"), clockRate: 8000)
        case 5: return PayloadFormat(name: ShortName("DVI4 8k"), clockRate: 8000)
        case 6: return PayloadFormat(name: ShortName("DVI4 16k"), clockRate: 16000)
        case 7: return PayloadFormat(name: ShortName("LPC"), clockRate: 8000)
        case 8: return PayloadFormat(name: ShortName("g711A"), clockRate: 8000)
        case 9: return PayloadFormat(name: ShortName("g722"), clockRate: 8000)
        case 10: return PayloadFormat(name: ShortName("L16 stereo"), clockRate: 44100)
        case 11: return PayloadFormat(name: ShortName("L16 mono"), clockRate: 44100)
        case 12: return PayloadFormat(name: ShortName("QCELP"), clockRate: 8000)
        case 13: return PayloadFormat(name: ShortName("CN"), clockRate: 8000)
        case 14: return PayloadFormat(name: ShortName("MPA"), clockRate: 90000)
        case 15: return PayloadFormat(name: ShortName("g728"), clockRate: 8000)
        case 16: return PayloadFormat(name: ShortName("DVI4 11k"), clockRate: 11025)
        case 17: return PayloadFormat(name: ShortName("DVI4 22k"), clockRate: 22050)
        case 18: return PayloadFormat(name: ShortName("g729"), clockRate: 8000)
        case 19: return PayloadFormat(name: ShortName("CN(old)"), clockRate: 8000)
        case 25: return PayloadFormat(name: ShortName("CelB"), clockRate: 90000)
        case 26: return PayloadFormat(name: ShortName("JPEG"), clockRate: 90000)
        case 28: return PayloadFormat(name: ShortName("nv"), clockRate: 90000)
        case 31: return PayloadFormat(name: ShortName("h261"), clockRate: 90000)
        case 32: return PayloadFormat(name: ShortName("MPV"), clockRate: 90000)
        case 33: return PayloadFormat(name: ShortName("MP2T"), clockRate: 90000)
        case 34: return PayloadFormat(name: ShortName("h263"), clockRate: 90000)
        default: return nil
        }
    }

    /// The format for a dynamic payload type named by an SDP rtpmap. As Wireshark does,
    /// telephone-event (RFC 4733) gets no clock: its timestamps stand still during an event,
    /// so interarrival jitter over them would be noise.
    public static func dynamic(name: ShortName, clockRate: UInt32) -> PayloadFormat {
        if name.hasPrefix("telephone-event") { return PayloadFormat(name: name, clockRate: 0) }
        return PayloadFormat(name: name, clockRate: clockRate)
    }
}
