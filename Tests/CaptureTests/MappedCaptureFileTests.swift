import Foundation
import Testing
import Capture

/// gatewayd meter's own reader of mapped capture files, against libpcap on the same files:
/// every fixture (and the shared corpus when present) gives the same packets, bytes, times
/// and wire lengths; then files written here for what the fixtures lack (the other byte
/// order, pcapng time resolutions, Simple Packet Blocks, damage).
struct MappedCaptureFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var captures: [String] {
        let fixtures = root.appendingPathComponent("Tests/Fixtures").path
        let corpus = root.deletingLastPathComponent().appendingPathComponent("shared/corpus").path
        var files: [String] = []
        for directory in [fixtures, corpus] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            files += names.filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted().map { directory + "/" + $0 }
        }
        return files
    }

    struct Packet: Equatable {
        var bytes: [UInt8]
        var nanoseconds: Int64
        var wireLength: Int
    }

    static func read<Reader: PacketReader>(_ reader: Reader) throws(CaptureError) -> [Packet] {
        var packets: [Packet] = []
        while case .packet(let frame, let time, let wire) = try reader.next() {
            packets.append(Packet(bytes: Array(frame), nanoseconds: time.nanoseconds, wireLength: wire))
        }
        return packets
    }

    static func write(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-mapped-\(UUID()).pcap").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: captures)
    func readsWhatLibpcapReads(_ path: String) throws {
        let mapped = try #require(MappedCaptureFile.open(file: path), "the reader left \(path) to libpcap")
        let ours = try Self.read(mapped)
        let theirs = try Self.read(try CaptureSource.open(file: path))
        #expect(mapped.linkType == (try CaptureSource.open(file: path)).linkType)
        #expect(ours.count == theirs.count && ours.count > 0)
        for (index, (a, b)) in zip(ours, theirs).enumerated() {
            #expect(a.bytes == b.bytes && a.wireLength == b.wireLength, "packet \(index) of \(path)")
            // libpcap takes a classic file's seconds as signed 32 bits, the format (and tshark)
            // as unsigned: they differ only past 2038, as in one corpus file.
            let libpcapSeconds = Int64(Int32(truncatingIfNeeded: a.nanoseconds / 1_000_000_000))
            #expect(a.nanoseconds == b.nanoseconds
                    || libpcapSeconds * 1_000_000_000 + a.nanoseconds % 1_000_000_000 == b.nanoseconds,
                    "time of packet \(index) of \(path)")
        }
    }

    /// A classic pcap file: header then records (seconds, fraction, caplen, len) in the
    /// order `swapped` says.
    static func classic(magic: UInt32, swapped: Bool, linkType: UInt32 = 1, records: [(UInt32, UInt32, [UInt8], UInt32)]) -> [UInt8] {
        func u32(_ v: UInt32) -> [UInt8] {
            let b = [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
            return swapped ? b.reversed() : b
        }
        func u16(_ v: UInt16) -> [UInt8] { swapped ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
        var out = u32(magic) + u16(2) + u16(4) + u32(0) + u32(0) + u32(65535) + u32(linkType)
        for (seconds, fraction, bytes, wire) in records {
            out += u32(seconds) + u32(fraction) + u32(UInt32(bytes.count)) + u32(wire) + bytes
        }
        return out
    }

    @Test func theOtherByteOrderAndNanosecondFiles() throws {
        for (magic, swapped, scale) in [(UInt32(0xA1B2_C3D4), true, Int64(1000)), (0xA1B2_3C4D, true, 1), (0xA1B2_3C4D, false, 1)] {
            let path = try Self.write(Self.classic(magic: magic, swapped: swapped,
                                                  records: [(1_796_531_265, 123_456, [1, 2, 3], 60), (1_796_531_266, 7, [], 0)]))
            defer { unlink(path) }
            let packets = try Self.read(try #require(MappedCaptureFile.open(file: path)))
            #expect(packets == [Packet(bytes: [1, 2, 3], nanoseconds: 1_796_531_265_000_000_000 + 123_456 * scale, wireLength: 60),
                                Packet(bytes: [], nanoseconds: 1_796_531_266_000_000_000 + 7 * scale, wireLength: 0)])
            #expect(try Self.read(try CaptureSource.open(file: path)) == packets, "libpcap agrees")
        }
    }

    @Test func damageIsAnErrorAndTheUnknownIsLeftToLibpcap() throws {
        // A record that runs past the end, and one with an impossible length.
        let whole = Self.classic(magic: 0xA1B2_C3D4, swapped: false, records: [(1, 0, [UInt8](repeating: 7, count: 40), 40)])
        for bytes in [Array(whole.dropLast(5)), Array(whole.prefix(24 + 10)),
                      Array(Self.classic(magic: 0xA1B2_C3D4, swapped: false, records: []).prefix(24))
                        + [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0]] {
            let path = try Self.write(Array(bytes))
            defer { unlink(path) }
            let reader = try #require(MappedCaptureFile.open(file: path))
            #expect(throws: CaptureError.self) { _ = try Self.read(reader) }
        }
        // Not a capture, an empty file, a link type the meter does not take, a link type
        // number whose meaning depends on the system: libpcap's to read (and to explain).
        for bytes in [Array("not a capture file at all, just text".utf8), [],
                      Self.classic(magic: 0xA1B2_C3D4, swapped: false, linkType: 147, records: []),
                      Self.classic(magic: 0xA1B2_C3D4, swapped: false, linkType: 12, records: [])] {
            let path = try Self.write(bytes)
            defer { unlink(path) }
            #expect(MappedCaptureFile.open(file: path) == nil)
        }
    }

    /// A pcapng block: type, length, body padded to 4, length.
    static func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        let length = UInt32(12 + padded.count)
        return le32(type) + le32(length) + padded + le32(length)
    }

    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }

    static let section = block(0x0A0D_0D0A, le32(0x1A2B_3C4D) + le16(1) + le16(0) + [UInt8](repeating: 0xFF, count: 8))

    static func interface(resolution: UInt8?) -> [UInt8] {
        var body = le16(1) + le16(0) + le32(65535)
        if let resolution { body += le16(9) + le16(1) + [resolution, 0, 0, 0] + le16(0) + le16(0) }
        return block(1, body)
    }

    static func enhanced(_ units: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        block(6, le32(0) + le32(UInt32(units >> 32)) + le32(UInt32(units & 0xFFFF_FFFF)) + le32(UInt32(bytes.count))
                 + le32(UInt32(bytes.count)) + bytes)
    }

    @Test func pcapngTimeResolutionsSimplePacketsAndSkippedBlocks() throws {
        let frame: [UInt8] = [9, 8, 7, 6, 5]
        let cases: [(UInt8?, UInt64, Int64)] = [
            (nil, 1_796_531_265_123_456, 1_796_531_265_123_456_000),        // microseconds, the default
            (9, 1_796_531_265_123_456_789, 1_796_531_265_123_456_789),      // 10^-9
            (3, 1_796_531_265_123, 1_796_531_265_123_000_000),              // 10^-3
            (0x80 | 10, 1_796_531_265 << 10 | 512, 1_796_531_265_500_000_000),  // 2^-10: half a second
        ]
        for (resolution, units, nanoseconds) in cases {
            let file = Self.section + Self.interface(resolution: resolution) + Self.block(5, [1, 2, 3, 4])
                + Self.enhanced(units, frame) + Self.block(3, Self.le32(5) + frame)
            let path = try Self.write(file)
            defer { unlink(path) }
            let packets = try Self.read(try #require(MappedCaptureFile.open(file: path)))
            #expect(packets == [Packet(bytes: frame, nanoseconds: nanoseconds, wireLength: 5),
                                Packet(bytes: frame, nanoseconds: 0, wireLength: 5)])
            let theirs = try Self.read(try CaptureSource.open(file: path))
            #expect(theirs.first == packets.first, "libpcap agrees on the Enhanced Packet")
        }
        // Found by FuzzCaptureFile: timestamps past what 64 bits of nanoseconds hold wrap
        // (as libpcap's arithmetic does) instead of stopping the meter.
        for resolution: UInt8? in [nil, 0x80 | 1, 12] {
            let path = try Self.write(Self.section + Self.interface(resolution: resolution) + Self.enhanced(.max, frame))
            defer { unlink(path) }
            #expect(try Self.read(try #require(MappedCaptureFile.open(file: path))).map(\.bytes) == [frame])
        }
        // A packet for an interface the section never described.
        let path = try Self.write(Self.section + Self.interface(resolution: nil)
                                  + Self.block(6, Self.le32(3) + [UInt8](repeating: 0, count: 16)))
        defer { unlink(path) }
        #expect(throws: CaptureError.self) { _ = try Self.read(try #require(MappedCaptureFile.open(file: path))) }
    }
}
