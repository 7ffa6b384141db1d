import Testing
import Basics
import Capture

/// The HEPv3 layout, byte by byte, against the HEP3 specification (rev. 12): a "HEP3"
/// header with the total length, then generic chunks (vendor 0, type, length with its own
/// 6 bytes, value). The daemon's copies are checked end to end by sngrep in HEPTests.
struct HEPv3Tests {
    /// The chunks of a HEP3 packet as (type, value), after checking the header's length.
    func chunks(_ packet: [UInt8]) -> [(UInt16, [UInt8])] {
        #expect(Array(packet.prefix(4)) == Array("HEP3".utf8))
        #expect(Int(packet[4]) << 8 | Int(packet[5]) == packet.count)
        var result: [(UInt16, [UInt8])] = []
        var offset = 6
        while offset + 6 <= packet.count {
            #expect(packet[offset] == 0 && packet[offset + 1] == 0, "vendor 0")
            let type = UInt16(packet[offset + 2]) << 8 | UInt16(packet[offset + 3])
            let length = Int(packet[offset + 4]) << 8 | Int(packet[offset + 5])
            result.append((type, Array(packet[offset + 6..<offset + length])))
            offset += length
        }
        #expect(offset == packet.count)
        return result
    }

    func encode(_ source: Endpoint, _ destination: Endpoint, payload: String, callID: String, key: String = "",
                room: Int = 70_000, seconds: Int64 = 1_796_531_265, nanoseconds: Int64 = 796_067_999) -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: room)
        let payloadBytes = Array(payload.utf8), callIDBytes = Array(callID.utf8), keyBytes = Array(key.utf8)
        let written = payloadBytes.withUnsafeBytes { p in
            callIDBytes.withUnsafeBytes { c in
                keyBytes.withUnsafeBytes { k in
                    out.withUnsafeMutableBytes { o in
                        HEPv3.encode(HEPv3.Message(source: source, destination: destination,
                                                   time: PacketTime(seconds: seconds, nanoseconds: nanoseconds),
                                                   payload: p, correlation: c),
                                     captureID: 0x0102_0304, authKey: k, into: o)
                    }
                }
            }
        }
        #expect(out[written...].allSatisfy { $0 == 0xEE }, "nothing written past the length returned")
        return Array(out.prefix(written))
    }

    static let v4a = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 5060)
    static let v4b = Endpoint(address: IPAddress(ipv4: 0x0A23_3C64), port: 0xABCD)

    @Test func anIPv4MessageHasEveryChunkInOrder() {
        let packet = encode(Self.v4a, Self.v4b, payload: "OPTIONS sip:x SIP/2.0\r\n\r\n", callID: "abc@h", key: "k3y")
        let found = chunks(packet)
        #expect(found.map(\.0) == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 14, 17, 15])
        #expect(found[0].1 == [2] && found[1].1 == [17])
        #expect(found[2].1 == [127, 0, 0, 1] && found[3].1 == [10, 35, 60, 100])
        #expect(found[4].1 == [0x13, 0xC4] && found[5].1 == [0xAB, 0xCD])
        // 1796531265 s and 796067 µs (the nanoseconds are cut, not rounded).
        #expect(found[6].1 == [0x6B, 0x14, 0xE4, 0x41] && found[7].1 == [0x00, 0x0C, 0x25, 0xA3])
        #expect(found[8].1 == [1] && found[9].1 == [1, 2, 3, 4])
        #expect(found[10].1 == Array("k3y".utf8) && found[11].1 == Array("abc@h".utf8))
        #expect(found[12].1 == Array("OPTIONS sip:x SIP/2.0\r\n\r\n".utf8))
        // 93 bytes of header and fixed chunks; key, correlation and payload with their headers.
        #expect(packet.count == 93 + (6 + 3) + (6 + 5) + (6 + 25))
    }

    @Test func ipv6AddressesAndNoKeyOrCorrelation() {
        let one = Array("2001:db8::1".utf8).withUnsafeBytes { IPAddress(text: $0)! }
        let two = Array("::1".utf8).withUnsafeBytes { IPAddress(text: $0)! }
        let packet = encode(Endpoint(address: one, port: 5061), Endpoint(address: two, port: 5062), payload: "x", callID: "")
        let found = chunks(packet)
        #expect(found.map(\.0) == [1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 15])
        #expect(found[0].1 == [10])
        #expect(found[2].1 == [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1])
        #expect(found[3].1 == [UInt8](repeating: 0, count: 15) + [1])
    }

    @Test func whatDoesNotFitIsNotWritten() {
        // Too large for the 16-bit length, and too large for the room given.
        let big = String(repeating: "a", count: 65_500)
        #expect(encode(Self.v4a, Self.v4b, payload: big, callID: "c").isEmpty)
        // 93 bytes of header and fixed chunks, 7 of correlation, 12 of payload.
        #expect(encode(Self.v4a, Self.v4b, payload: "INVITE", callID: "c", room: 111).isEmpty)
        #expect(encode(Self.v4a, Self.v4b, payload: "INVITE", callID: "c", room: 112).count == 112)
    }
}
