import Basics
import Capture
import Synchronization

/// Builds wire frames for decoder tests: headers written byte by byte, as on the wire.
enum Frame {
    static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func udp(source: Int, destination: Int, payload: [UInt8]) -> [UInt8] {
        be16(source) + be16(destination) + be16(8 + payload.count) + [0, 0] + payload
    }

    static func tcp(source: Int, destination: Int, sequence: UInt32, flags: UInt8 = 0x18, payload: [UInt8]) -> [UInt8] {
        be16(source) + be16(destination) + be32(sequence) + be32(0) + [0x50, flags] + be16(65535) + [0, 0, 0, 0]
            + payload
    }

    static func ipv4(source: [UInt8] = [10, 0, 0, 1], destination: [UInt8] = [10, 0, 0, 2], protocolNumber: UInt8 = 17,
                     identification: Int = 1, fragmentOffset: Int = 0, moreFragments: Bool = false,
                     payload: [UInt8]) -> [UInt8] {
        let flags = (moreFragments ? 0x2000 : 0) | (fragmentOffset / 8)
        return [0x45, 0] + be16(20 + payload.count) + be16(identification) + be16(flags) + [64, protocolNumber, 0, 0]
            + source + destination + payload
    }

    static let v6Source: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
    static let v6Destination: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]

    static func ipv6(nextHeader: UInt8 = 17, payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(payload.count) + [nextHeader, 64] + v6Source + v6Destination + payload
    }

    static func ethernet(type: Int = 0x0800, tags: [Int] = [], payload: [UInt8]) -> [UInt8] {
        var frame = [UInt8](repeating: 0x02, count: 12)
        for (index, tag) in tags.enumerated() {
            frame += be16(index == 0 && tags.count > 1 ? 0x88A8 : 0x8100) + be16(tag)
        }
        return frame + be16(type) + payload
    }

    /// Decodes `bytes`. What the decoder returns points into the frame, so the frame is
    /// copied into memory that lives as long as the test process (a capture buffer would
    /// live until the next packet).
    static func decode(_ bytes: [UInt8], link: LinkType = .ethernet, decoder: PacketDecoder? = nil,
                       time: Int64 = 1_000_000_000) -> (Decoded, PacketDecoder) {
        let decoder = decoder ?? PacketDecoder(linkType: link)
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        frame.copyBytes(from: bytes)
        let address = Int(bitPattern: frame.baseAddress)
        keptFrames.withLock { $0.append(address) }
        let result = decoder.decode(frame: UnsafeRawBufferPointer(rebasing: frame[0..<bytes.count]),
                                    time: PacketTime(nanoseconds: time))
        return (result, decoder)
    }

    /// Addresses of the frames kept alive (never freed: a test process is short).
    static let keptFrames = Mutex<[Int]>([])

    /// The UDP payload a decode found, copied out, with its endpoints.
    static func datagram(_ result: Decoded) -> (payload: [UInt8], source: Endpoint, destination: Endpoint)? {
        guard case .datagram(let datagram) = result else { return nil }
        return (Array(datagram.payload), datagram.source, datagram.destination)
    }
}
