/// The fixed RTP header (RFC 3550 §5.1), read with shifts and masks.
public struct RTPHeader: Equatable, Sendable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequence: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32

    /// Reads the header of a version-2 packet of at least 12 bytes; nil otherwise.
    @inlinable public init?(_ payload: UnsafeRawBufferPointer) {
        guard payload.count >= 12, payload[0] >> 6 == 2 else { return nil }
        let second = payload[1]
        marker = second & 0x80 != 0
        payloadType = second & 0x7F
        sequence = UInt16(payload[2]) << 8 | UInt16(payload[3])
        timestamp = UInt32(bigEndian: payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        ssrc = UInt32(bigEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }

    /// RTCP packet types 200...204 sit where marker + payload type 72...76 would be: a
    /// packet with those is RTCP (RFC 5761 §4), never RTP.
    @inlinable public var looksLikeRTCP: Bool { payloadType >= 72 && payloadType <= 76 }

    /// A version-2 RTCP packet of type 200...204 (SR, RR, SDES, BYE, APP) in `payload`, which
    /// may be shorter than an RTP header: an empty receiver report is 8 bytes.
    @inlinable public static func isRTCP(_ payload: UnsafeRawBufferPointer) -> Bool {
        payload.count >= 8 && payload[0] >> 6 == 2 && payload[1] >= 200 && payload[1] <= 204
    }

    /// Marker set and payload type 64...95: RTCP packet types 192...223 (RFC 5761 §4), as
    /// Wireshark hands such packets to RTCP even on an RTP address.
    @inlinable public var isControl: Bool { marker && payloadType >= 64 && payloadType <= 95 }

    /// The checks a packet must pass to be taken as RTP without SDP announcing it: beyond
    /// version 2, the CSRC list and header extension fit in the datagram's wire length and
    /// padding, if flagged, is plausible.
    public static func isPlausible(_ payload: UnsafeRawBufferPointer, wireLength: Int) -> Bool {
        guard let header = RTPHeader(payload), !header.looksLikeRTCP else { return false }
        let first = payload[0]
        var needed = 12 + Int(first & 0x0F) * 4
        if first & 0x10 != 0 {
            guard payload.count >= needed + 4 else { return false }
            needed += 4 + Int(UInt16(payload[needed + 2]) << 8 | UInt16(payload[needed + 3])) * 4
        }
        guard wireLength >= needed else { return false }
        if first & 0x20 != 0 && payload.count == wireLength {
            let padding = Int(payload[payload.count - 1])
            guard padding > 0 && padding <= wireLength - needed else { return false }
        }
        return true
    }
}
