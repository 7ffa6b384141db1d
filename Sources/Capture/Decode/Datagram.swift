import Basics

/// A UDP datagram found in a captured packet. `payload` points into the capture buffer (or a
/// reassembly buffer) and is valid only during the `PacketSink` call that receives it.
public struct Datagram {
    public var source: Endpoint
    public var destination: Endpoint
    /// The captured payload bytes; fewer than `payloadLength` when the snapshot cut it short.
    public var payload: UnsafeRawBufferPointer
    /// The payload length on the wire, from the UDP header.
    public var payloadLength: Int
    public var time: PacketTime

    public init(source: Endpoint, destination: Endpoint, payload: UnsafeRawBufferPointer,
                payloadLength: Int, time: PacketTime) {
        self.source = source
        self.destination = destination
        self.payload = payload
        self.payloadLength = payloadLength
        self.time = time
    }

    public var isTruncated: Bool { payload.count < payloadLength }
}

/// In-order bytes of one direction of a TCP connection that the sink has not consumed yet.
public struct StreamChunk {
    public var source: Endpoint
    public var destination: Endpoint
    public var bytes: UnsafeRawBufferPointer
    public var time: PacketTime
    /// True when bytes were lost before these (a gap, an overflow, or a capture that started
    /// mid-connection): the stream may start in the middle of a message.
    public var afterGap: Bool
    /// What the reader left of its last read of these bytes (nothing for new ones).
    public var resume: StreamScan

    public init(source: Endpoint, destination: Endpoint, bytes: UnsafeRawBufferPointer, time: PacketTime, afterGap: Bool,
                resume: StreamScan = StreamScan()) {
        self.source = source
        self.destination = destination
        self.bytes = bytes
        self.time = time
        self.afterGap = afterGap
        self.resume = resume
    }
}

/// What one captured packet yielded. The bytes inside stay valid until the next call to
/// `PacketDecoder.decode`. After a `.stream`, tell the decoder how much of it was consumed
/// with `PacketDecoder.consumed(_:)`; what is not consumed is kept and offered again, in
/// front of the flow's next bytes.
public enum Decoded {
    case datagram(Datagram)
    case stream(StreamChunk)
    /// Nothing to hand on: not IP, not UDP/TCP, a fragment still waiting, a pure ACK, malformed.
    case nothing
}

/// What happened to captured packets, for the report and the status file.
public struct DecodeCounters: Equatable, Sendable {
    /// Every packet offered to the decoder.
    public var packets = 0
    /// Packets that yielded a UDP datagram or a TCP segment (fragments count when reassembled).
    public var decoded = 0
    /// Packets whose headers were cut short, inconsistent or impossible.
    public var malformed = 0
    /// Well-formed packets of something gatewayd does not measure (ARP, ICMP, ESP, ...).
    public var notUnderstood = 0
    public var fragments = 0
    public var fragmentsReassembled = 0
    public var fragmentsTimedOut = 0
    public var fragmentsEvicted = 0
    /// Fragments that would not fit the reassembly buffer or overlapped inconsistently.
    public var fragmentsDropped = 0
    public var tcpSegments = 0
    public var tcpRetransmissions = 0
    public var tcpGaps = 0
    /// Flows whose unconsumed bytes filled their buffer; the bytes were dropped.
    public var tcpOverflows = 0
    public var tcpFlowsEvicted = 0

    public init() {}
}
