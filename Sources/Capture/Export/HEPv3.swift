import Basics

/// HEP version 3, the Homer Encapsulation Protocol (sipcapture.org, "HEP3 Network Protocol
/// Specification" rev. 12): a captured message with its addresses, ports, time and capture
/// agent, as a chain of chunks after a "HEP3" header, for a Homer collector.
///
///     "HEP3" total-length(16)  then chunks:  vendor(16) = 0, type(16), length(16), value
///
/// All integers big-endian; a chunk's length counts its own 6-byte header. Only generic
/// chunks (vendor 0) are written.
public enum HEPv3 {
    /// Chunk types of the generic vendor (0) that gatewayd writes.
    public enum Chunk: UInt16 {
        case addressFamily = 0x0001      // UInt8: 2 IPv4, 10 IPv6
        case transport = 0x0002          // UInt8: the IP protocol number (17 UDP, 6 TCP)
        case ipv4Source = 0x0003
        case ipv4Destination = 0x0004
        case ipv6Source = 0x0005
        case ipv6Destination = 0x0006
        case sourcePort = 0x0007         // UInt16
        case destinationPort = 0x0008    // UInt16
        case seconds = 0x0009            // UInt32, Unix time
        case microseconds = 0x000A       // UInt32, within the second
        case payloadType = 0x000B        // UInt8: 1 SIP
        case captureID = 0x000C          // UInt32
        case authKey = 0x000E            // bytes
        case payload = 0x000F            // the captured message
        case correlationID = 0x0011      // bytes: the Call-ID for SIP
    }

    public static let udp: UInt8 = 17
    public static let tcp: UInt8 = 6
    public static let sip: UInt8 = 1
    /// The total length is 16 bits: a message and its chunks must fit 65,535 bytes.
    public static let maximumLength = 65_535

    /// One message to encapsulate. The buffers are only read during `encode`.
    public struct Message {
        public var source: Endpoint
        public var destination: Endpoint
        public var time: PacketTime
        public var transport: UInt8
        public var payload: UnsafeRawBufferPointer
        public var correlation: UnsafeRawBufferPointer

        public init(source: Endpoint, destination: Endpoint, time: PacketTime, transport: UInt8 = HEPv3.udp,
                    payload: UnsafeRawBufferPointer, correlation: UnsafeRawBufferPointer) {
            self.source = source
            self.destination = destination
            self.time = time
            self.transport = transport
            self.payload = payload
            self.correlation = correlation
        }
    }

    /// The bytes `message` takes as a HEP3 packet with `authKey`.
    public static func length(of message: Message, authKey: Int) -> Int {
        let addresses = message.source.address.isIPv4 ? 2 * (6 + 4) : 2 * (6 + 16)
        let fixed = 6 + (6 + 1) + (6 + 1) + addresses + 2 * (6 + 2) + 2 * (6 + 4) + (6 + 1) + (6 + 4)
        return fixed + (authKey > 0 ? 6 + authKey : 0) + (message.correlation.count > 0 ? 6 + message.correlation.count : 0)
            + 6 + message.payload.count
    }

    /// Writes `message` into `out`; returns the bytes written, or 0 when it does not fit `out`
    /// or the 16-bit length (nothing is written then). Both addresses take the source's
    /// family: a message between an IPv4 and an IPv6 address does not occur on one socket.
    public static func encode(_ message: Message, captureID: UInt32, authKey: UnsafeRawBufferPointer,
                              into out: UnsafeMutableRawBufferPointer) -> Int {
        let total = length(of: message, authKey: authKey.count)
        guard total <= maximumLength, total <= out.count,
              message.source.address.isIPv4 == message.destination.address.isIPv4 else { return 0 }
        var writer = Writer(out: out)
        writer.bytes("HEP3")
        writer.u16(UInt16(total))
        let ipv4 = message.source.address.isIPv4
        writer.chunk(.addressFamily, u8: ipv4 ? 2 : 10)
        writer.chunk(.transport, u8: message.transport)
        if ipv4 {
            writer.chunk(.ipv4Source, u32: message.source.address.ipv4Value)
            writer.chunk(.ipv4Destination, u32: message.destination.address.ipv4Value)
        } else {
            writer.chunk(.ipv6Source, address: message.source.address)
            writer.chunk(.ipv6Destination, address: message.destination.address)
        }
        writer.chunk(.sourcePort, u16: message.source.port)
        writer.chunk(.destinationPort, u16: message.destination.port)
        let nanoseconds = message.time.nanoseconds - message.time.seconds * 1_000_000_000
        writer.chunk(.seconds, u32: UInt32(truncatingIfNeeded: message.time.seconds))
        writer.chunk(.microseconds, u32: UInt32(nanoseconds / 1000))
        writer.chunk(.payloadType, u8: sip)
        writer.chunk(.captureID, u32: captureID)
        if authKey.count > 0 { writer.chunk(.authKey, authKey) }
        if message.correlation.count > 0 { writer.chunk(.correlationID, message.correlation) }
        writer.chunk(.payload, message.payload)
        return writer.offset
    }

    /// Big-endian writes at a running offset; `encode` has checked that everything fits.
    struct Writer {
        let out: UnsafeMutableRawBufferPointer
        var offset = 0

        mutating func u8(_ value: UInt8) {
            out[offset] = value
            offset += 1
        }

        mutating func u16(_ value: UInt16) {
            u8(UInt8(value >> 8))
            u8(UInt8(truncatingIfNeeded: value))
        }

        mutating func u32(_ value: UInt32) {
            u16(UInt16(value >> 16))
            u16(UInt16(truncatingIfNeeded: value))
        }

        mutating func bytes(_ text: StaticString) {
            bytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }

        mutating func bytes(_ source: UnsafeRawBufferPointer) {
            guard source.count > 0 else { return }
            UnsafeMutableRawBufferPointer(rebasing: out[offset..<offset + source.count]).copyMemory(from: source)
            offset += source.count
        }

        mutating func header(_ type: Chunk, _ length: Int) {
            u16(0)
            u16(type.rawValue)
            u16(UInt16(6 + length))
        }

        mutating func chunk(_ type: Chunk, u8 value: UInt8) {
            header(type, 1)
            u8(value)
        }

        mutating func chunk(_ type: Chunk, u16 value: UInt16) {
            header(type, 2)
            u16(value)
        }

        mutating func chunk(_ type: Chunk, u32 value: UInt32) {
            header(type, 4)
            u32(value)
        }

        mutating func chunk(_ type: Chunk, address: IPAddress) {
            header(type, 16)
            u32(UInt32(address.high >> 32))
            u32(UInt32(truncatingIfNeeded: address.high))
            u32(UInt32(address.low >> 32))
            u32(UInt32(truncatingIfNeeded: address.low))
        }

        mutating func chunk(_ type: Chunk, _ value: UnsafeRawBufferPointer) {
            header(type, value.count)
            bytes(value)
        }
    }
}
