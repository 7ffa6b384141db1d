import Foundation
import Testing
import Basics
import Capture
import LoadMeter

/// Every truncation of every packet of real captures, through decoder and meter: nothing
/// traps, every packet is accounted for, and the tables stay within their capacities.
struct RealPacketTruncationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var files: [String] {
        ["Tests/Fixtures/cancel_reject.pcap", "Tests/Fixtures/register_auth.pcap", "Tests/Fixtures/sip_tcp.pcap",
         "../shared/corpus/heplify_ipv6_udp_fragmented.pcap", "../shared/corpus/heplify_sip_ipv6_udp.pcap"]
            .map { root.appendingPathComponent($0).path }
            .filter { FileManager.default.fileExists(atPath: $0) }
    }

    @Test(arguments: files)
    func everyTruncation(path: String) throws {
        let source = try CaptureSource.open(file: path)
        var frames: [([UInt8], PacketTime)] = []
        while case .packet(let frame, let time, _) = try source.next() { frames.append((Array(frame), time)) }
        var configuration = MeterConfiguration()
        configuration.detectUnannouncedRTP = true
        configuration.dialogCapacity = 16
        configuration.streamCapacity = 16
        let meter = Meter(configuration: configuration)
        let decoder = PacketDecoder(linkType: source.linkType)
        var offered = 0
        for (frame, time) in frames {
            for length in 0...frame.count {
                frame[0..<length].withUnsafeBytes { meter.receive(decoder.decode(frame: $0, time: time), from: decoder) }
                offered += 1
                while meter.hasClosedStream, meter.takeClosedStream() != nil {}
            }
        }
        let counters = decoder.counters
        #expect(counters.packets == offered)
        #expect(counters.decoded + counters.malformed + counters.notUnderstood <= offered)
        #expect(counters.malformed > 0)
        #expect(meter.dialogs.tracked <= 16)
        #expect(meter.openStreams <= 16)
        #expect(meter.calls.active >= 0 && meter.calls.active <= 16)
    }
}
