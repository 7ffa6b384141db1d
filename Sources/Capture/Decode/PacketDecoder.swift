import Basics

/// Limits of the decoder's preallocated state.
public struct DecoderLimits: Sendable {
    public var fragmentSlots = 16
    public var fragmentMaxDatagram = 16_384
    public var fragmentTimeoutSeconds = 30
    public var tcpFlows = 64
    public var tcpFlowBytes = 16_384
    public var tcpIdleTimeoutSeconds = 300

    public init() {}
}

/// Turns captured frames into UDP datagrams and in-order TCP stream bytes.
///
/// Link layer → (tunnels) → IPv4/IPv6 with extension headers and fragments → UDP or TCP.
/// Every read is bounds-checked against the captured length; nothing reads past `caplen`.
/// Knows nothing of SIP or RTP: it returns what it found, and the caller reads it.
public final class PacketDecoder {
    public let linkType: LinkType
    public var counters = DecodeCounters()
    let fragments: FragmentReassembler
    let streams: TCPReassembler

    /// Tunnels inside tunnels are followed this deep, no further.
    static let maxDepth = 4

    public init(linkType: LinkType, limits: DecoderLimits = DecoderLimits()) {
        self.linkType = linkType
        fragments = FragmentReassembler(slots: limits.fragmentSlots, maxDatagram: limits.fragmentMaxDatagram,
                                        timeoutNanoseconds: Int64(limits.fragmentTimeoutSeconds) * 1_000_000_000)
        streams = TCPReassembler(flows: limits.tcpFlows, flowBytes: limits.tcpFlowBytes,
                                 idleTimeoutNanoseconds: Int64(limits.tcpIdleTimeoutSeconds) * 1_000_000_000)
    }

    /// How a packet was classified; `decode` also adds it to `counters`.
    public enum Outcome: Equatable {
        case decoded
        case fragmentHeld
        case malformed
        case notUnderstood
    }

    /// Set by the layer that found the payload; returned by `decode`.
    private var result = Decoded.nothing
    /// A reassembled datagram handed out last time; its slot is freed on the next call.
    private var heldFragment: FragmentReassembler.Completed?
    public private(set) var lastOutcome = Outcome.notUnderstood

    /// Decodes one captured frame (`caplen` bytes). What it returns stays valid until the
    /// next call; after a `.stream`, report what was read with `consumed(_:)`.
    public func decode(frame: UnsafeRawBufferPointer, time: PacketTime) -> Decoded {
        if let held = heldFragment {
            fragments.release(held)
            heldFragment = nil
        }
        streams.consumed(0, counters: &counters)
        result = .nothing
        counters.packets += 1
        let outcome = decodeLink(frame, time: time)
        lastOutcome = outcome
        switch outcome {
        case .decoded: counters.decoded += 1
        case .fragmentHeld: break
        case .malformed: counters.malformed += 1
        case .notUnderstood: counters.notUnderstood += 1
        }
        return result
    }

    /// How many bytes of the last `.stream` chunk the reader consumed, and how far it read
    /// into the rest (handed back with the flow's next chunk).
    public func consumed(_ count: Int, scan: StreamScan = StreamScan()) {
        streams.consumed(count, scan: scan, counters: &counters)
    }

    // MARK: Link layers

    private func decodeLink(_ frame: UnsafeRawBufferPointer, time: PacketTime) -> Outcome {
        switch linkType {
        case .ethernet:
            return decodeEthernet(frame, time: time, depth: 0)
        case .linuxCooked:
            // 16 bytes: packet type, ARPHRD, address length, 8 address bytes, protocol.
            guard frame.count >= 16 else { return .malformed }
            return decodeEtherType(be16(frame, 14), frame, at: 16, time: time, depth: 0)
        case .linuxCooked2:
            // 20 bytes: protocol first, then interface index, ARPHRD, packet type, address.
            guard frame.count >= 20 else { return .malformed }
            return decodeEtherType(be16(frame, 0), frame, at: 20, time: time, depth: 0)
        case .rawIP:
            return decodeIP(frame, time: time, depth: 0)
        case .bsdLoopback, .bsdLoopbackNetworkOrder:
            guard frame.count >= 4 else { return .malformed }
            let raw = frame.loadUnaligned(as: UInt32.self)
            // DLT_NULL is in the capturing host's order, which need not be ours: accept both.
            let family = linkType == .bsdLoopbackNetworkOrder ? UInt32(bigEndian: raw)
                : (raw & 0xFFFF_0000 != 0 ? raw.byteSwapped : raw)
            switch family {
            // AF_INET everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the system.
            case 2, 10, 24, 28, 30:
                return decodeIP(UnsafeRawBufferPointer(rebasing: frame[4...]), time: time, depth: 0)
            default:
                return .notUnderstood
            }
        }
    }

    private func decodeEthernet(_ frame: UnsafeRawBufferPointer, time: PacketTime, depth: Int) -> Outcome {
        guard frame.count >= 14 else { return .malformed }
        return decodeEtherType(be16(frame, 12), frame, at: 14, time: time, depth: depth)
    }

    private func decodeEtherType(_ etherType: UInt16, _ frame: UnsafeRawBufferPointer, at offset: Int,
                                                   time: PacketTime, depth: Int) -> Outcome {
        var type = etherType
        var position = offset
        // 802.1Q, 802.1ad and the older 0x9100 QinQ tag: 2 bytes of tag, then the next type.
        var tags = 0
        while type == 0x8100 || type == 0x88A8 || type == 0x9100 {
            tags += 1
            guard tags <= 8, frame.count >= position + 4 else { return .malformed }
            type = be16(frame, position + 2)
            position += 4
        }
        switch type {
        case 0x0800, 0x86DD:
            return decodeIP(UnsafeRawBufferPointer(rebasing: frame[position...]), time: time, depth: depth)
        default:
            return .notUnderstood
        }
    }

    // MARK: IP

    private func decodeIP(_ packet: UnsafeRawBufferPointer, time: PacketTime, depth: Int) -> Outcome {
        guard packet.count >= 1 else { return .malformed }
        switch packet[0] >> 4 {
        case 4: return decodeIPv4(packet, time: time, depth: depth)
        case 6: return decodeIPv6(packet, time: time, depth: depth)
        default: return .malformed
        }
    }

    private func decodeIPv4(_ packet: UnsafeRawBufferPointer, time: PacketTime, depth: Int) -> Outcome {
        guard packet.count >= 20 else { return .malformed }
        let headerLength = Int(packet[0] & 0x0F) * 4
        let totalLength = Int(be16(packet, 2))
        guard headerLength >= 20, totalLength >= headerLength, packet.count >= headerLength else { return .malformed }
        // Trailing Ethernet padding is not payload; a snapshot may have cut the packet short.
        let end = min(totalLength, packet.count)
        let source = IPAddress.ipv4(packet, at: 12)
        let destination = IPAddress.ipv4(packet, at: 16)
        let protocolNumber = packet[9]
        let flagsAndOffset = be16(packet, 6)
        let moreFragments = flagsAndOffset & 0x2000 != 0
        let fragmentOffset = Int(flagsAndOffset & 0x1FFF) * 8
        let payload = UnsafeRawBufferPointer(rebasing: packet[headerLength..<end])
        if moreFragments || fragmentOffset != 0 {
            counters.fragments += 1
            guard end == totalLength else { return .malformed }
            let key = FragmentKey(source: source, destination: destination,
                                  identification: UInt32(be16(packet, 4)), protocolNumber: protocolNumber)
            guard let whole = fragments.add(key, offset: fragmentOffset, moreFragments: moreFragments, payload: payload,
                                            nextProtocol: protocolNumber, time: time, counters: &counters) else {
                return .fragmentHeld
            }
            counters.fragmentsReassembled += 1
            heldFragment = whole
            return decodeTransport(protocolNumber, fragments.datagram(whole), wireLength: whole.length,
                                   source: source, destination: destination, time: time, depth: depth)
        }
        return decodeTransport(protocolNumber, payload, wireLength: totalLength - headerLength,
                               source: source, destination: destination, time: time, depth: depth)
    }

    private func decodeIPv6(_ packet: UnsafeRawBufferPointer, time: PacketTime, depth: Int) -> Outcome {
        guard packet.count >= 40 else { return .malformed }
        let payloadLength = Int(be16(packet, 4))
        let source = IPAddress.ipv6(packet, at: 8)
        let destination = IPAddress.ipv6(packet, at: 24)
        // A payload length of 0 means a jumbogram (RFC 2675): take what was captured.
        let wireEnd = payloadLength == 0 ? packet.count : 40 + payloadLength
        let end = min(wireEnd, packet.count)
        var next = packet[6]
        var position = 40
        // Extension headers (RFC 8200 §4): hop-by-hop, routing, destination options, mobility,
        // HIP, shim6 are (length + 1) * 8 bytes; AH is (length + 2) * 4; fragment is 8.
        while true {
            switch next {
            case 0, 43, 60, 135, 139, 140:
                guard end >= position + 8 else { return .malformed }
                let length = (Int(packet[position + 1]) + 1) * 8
                guard end >= position + length else { return .malformed }
                next = packet[position]
                position += length
            case 51:
                guard end >= position + 8 else { return .malformed }
                let length = (Int(packet[position + 1]) + 2) * 4
                guard end >= position + length else { return .malformed }
                next = packet[position]
                position += length
            case 44:
                guard end >= position + 8 else { return .malformed }
                counters.fragments += 1
                guard end == wireEnd else { return .malformed }
                let offsetAndFlags = be16(packet, position + 2)
                let key = FragmentKey(source: source, destination: destination,
                                      identification: be32(packet, position + 4), protocolNumber: 0xFF)
                let fragmentNext = packet[position]
                let payload = UnsafeRawBufferPointer(rebasing: packet[(position + 8)..<end])
                guard let whole = fragments.add(key, offset: Int(offsetAndFlags & 0xFFF8),
                                                moreFragments: offsetAndFlags & 1 != 0, payload: payload,
                                                nextProtocol: fragmentNext, time: time, counters: &counters) else {
                    return .fragmentHeld
                }
                counters.fragmentsReassembled += 1
                heldFragment = whole
                // The reassembled part may begin with more extension headers: decode it as
                // the payload of an IPv6 header whose next header is the fragment's.
                return decodeIPv6Payload(whole.nextProtocol, fragments.datagram(whole), source: source,
                                         destination: destination, time: time, depth: depth)
            case 59:
                return .notUnderstood
            default:
                let payload = UnsafeRawBufferPointer(rebasing: packet[position..<end])
                return decodeTransport(next, payload, wireLength: wireEnd - position, source: source,
                                       destination: destination, time: time, depth: depth)
            }
        }
    }

    /// Extension headers after a reassembled fragment, then the transport.
    private func decodeIPv6Payload(_ first: UInt8, _ bytes: UnsafeRawBufferPointer,
                                                     source: IPAddress, destination: IPAddress, time: PacketTime,
                                                     depth: Int) -> Outcome {
        var next = first
        var position = 0
        while next == 0 || next == 43 || next == 60 || next == 135 || next == 51 {
            guard bytes.count >= position + 8 else { return .malformed }
            let length = next == 51 ? (Int(bytes[position + 1]) + 2) * 4 : (Int(bytes[position + 1]) + 1) * 8
            guard bytes.count >= position + length else { return .malformed }
            next = bytes[position]
            position += length
        }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[position...])
        return decodeTransport(next, payload, wireLength: payload.count, source: source, destination: destination,
                               time: time, depth: depth)
    }

    // MARK: Transport and tunnels

    private func decodeTransport(_ protocolNumber: UInt8, _ payload: UnsafeRawBufferPointer,
                                                   wireLength: Int, source: IPAddress, destination: IPAddress,
                                                   time: PacketTime, depth: Int) -> Outcome {
        switch protocolNumber {
        case 17:
            guard payload.count >= 8 else { return .malformed }
            let udpLength = Int(be16(payload, 4))
            // Length 0 appears for jumbograms; otherwise it must cover the header and the wire.
            let wirePayload = udpLength == 0 ? wireLength - 8 : udpLength - 8
            guard wirePayload >= 0, udpLength == 0 || udpLength <= wireLength else { return .malformed }
            let captured = min(wirePayload, payload.count - 8)
            let datagram = Datagram(
                source: Endpoint(address: source, port: be16(payload, 0)),
                destination: Endpoint(address: destination, port: be16(payload, 2)),
                payload: UnsafeRawBufferPointer(rebasing: payload[8..<(8 + captured)]),
                payloadLength: wirePayload, time: time)
            result = .datagram(datagram)
            return .decoded
        case 6:
            guard payload.count >= 20 else { return .malformed }
            let dataOffset = Int(payload[12] >> 4) * 4
            guard dataOffset >= 20, payload.count >= dataOffset else { return .malformed }
            counters.tcpSegments += 1
            // A segment cut short by the snapshot cannot be put back in a stream.
            guard payload.count >= wireLength else { return .malformed }
            let flagBits = payload[13]
            let key = FlowKey(source: Endpoint(address: source, port: be16(payload, 0)),
                              destination: Endpoint(address: destination, port: be16(payload, 2)))
            let chunk = streams.segment(key, sequence: be32(payload, 4),
                            flags: TCPReassembler.Flags(syn: flagBits & 0x02 != 0, fin: flagBits & 0x01 != 0,
                                                        rst: flagBits & 0x04 != 0),
                            payload: UnsafeRawBufferPointer(rebasing: payload[dataOffset...]), time: time,
                            counters: &counters)
            if let chunk { result = .stream(chunk) }
            return .decoded
        case 4, 41:
            // IPv4-in-IP and IPv6-in-IP.
            guard depth < PacketDecoder.maxDepth else { return .notUnderstood }
            return decodeIP(payload, time: time, depth: depth + 1)
        case 47:
            guard depth < PacketDecoder.maxDepth else { return .notUnderstood }
            return decodeGRE(payload, time: time, depth: depth + 1)
        default:
            return .notUnderstood
        }
    }

    /// GRE (RFC 2784/2890) carrying IP, Ethernet (0x6558) or ERSPAN type II/III mirrors.
    private func decodeGRE(_ packet: UnsafeRawBufferPointer, time: PacketTime, depth: Int) -> Outcome {
        guard packet.count >= 4 else { return .malformed }
        let flags = packet[0]
        guard packet[1] & 0x07 == 0 else { return .notUnderstood }  // version 0 only
        var position = 4
        if flags & 0x80 != 0 { position += 4 }  // checksum and reserved
        if flags & 0x20 != 0 { position += 4 }  // key
        if flags & 0x10 != 0 { position += 4 }  // sequence number
        guard packet.count >= position else { return .malformed }
        let inner = UnsafeRawBufferPointer(rebasing: packet[position...])
        switch be16(packet, 2) {
        case 0x0800, 0x86DD:
            return decodeIP(inner, time: time, depth: depth)
        case 0x6558:
            return decodeEthernet(inner, time: time, depth: depth)
        case 0x88BE:
            // ERSPAN type II: an 8-byte header, then the mirrored frame.
            guard inner.count >= 8 else { return .malformed }
            return decodeEthernet(UnsafeRawBufferPointer(rebasing: inner[8...]), time: time, depth: depth)
        case 0x22EB:
            // ERSPAN type III: 12 bytes, plus an 8-byte platform subheader when O is set.
            guard inner.count >= 12 else { return .malformed }
            let skip = inner[11] & 0x01 != 0 ? 20 : 12
            guard inner.count >= skip else { return .malformed }
            return decodeEthernet(UnsafeRawBufferPointer(rebasing: inner[skip...]), time: time, depth: depth)
        default:
            return .notUnderstood
        }
    }
}

@inlinable func be16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
    UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inlinable func be32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}
