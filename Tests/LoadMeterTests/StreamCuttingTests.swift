import Foundation
import Testing
import Basics
import Capture
import LoadMeter
import SIP

/// A TCP stream read through the reassembler and the meter's stream reader counts the same SIP
/// messages however it is cut into segments (FuzzStream checks this on every input it makes;
/// its findings are kept here).
struct StreamCuttingTests {
    nonisolated(unsafe) static let flow = FlowKey(source: Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 40_000),
                              destination: Endpoint(address: IPAddress(ipv4: 0x7F00_0002), port: 5060))

    /// Requests by method, responses by code and malformed messages counted from `stream`
    /// delivered in segments of `cut` bytes (0: whole).
    static func counts(_ stream: [UInt8], cut: Int) -> [String: Int] {
        let reassembler = TCPReassembler(flows: 1, flowBytes: 2048, idleTimeoutNanoseconds: 60_000_000_000)
        let meter = Meter(configuration: MeterConfiguration())
        var counters = DecodeCounters()
        var time = PacketTime(seconds: 1_700_000_000, nanoseconds: 0)
        let none = TCPReassembler.Flags(syn: false, fin: false, rst: false)
        _ = reassembler.segment(flow, sequence: 99, flags: TCPReassembler.Flags(syn: true, fin: false, rst: false),
                                payload: UnsafeRawBufferPointer(start: nil, count: 0), time: time, counters: &counters)
        stream.withUnsafeBytes { bytes in
            let size = cut == 0 ? bytes.count : cut
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + size, bytes.count)
                time = PacketTime(nanoseconds: time.nanoseconds + 1_000_000)
                if let chunk = reassembler.segment(flow, sequence: 100 + UInt32(offset), flags: none,
                                                   payload: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), time: time,
                                                   counters: &counters) {
                    let used = meter.receive(stream: chunk)
                    reassembler.consumed(used, scan: meter.streamScan, counters: &counters)
                }
                offset = end
            }
        }
        var result: [String: Int] = ["malformed": meter.sip.malformed]
        for raw in 0...SIPMethod.other.rawValue where meter.sip.requests(SIPMethod(rawValue: raw)!) > 0 {
            result["\(SIPMethod(rawValue: raw)!)"] = meter.sip.requests(SIPMethod(rawValue: raw)!)
        }
        for code in 100...699 where meter.sip.responses(code) > 0 { result["\(code)"] = meter.sip.responses(code) }
        return result
    }

    static let findings: [String] = {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stream-findings")
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
            .map { directory.appendingPathComponent($0).path }
    }()

    /// Messages with and without a body, a keep-alive, cut every way from one byte to 64: what was left unfinished is
    /// read on where it stopped (`StreamScan`), and the counts never change.
    @Test func realMessagesReadTheSameHoweverCut() throws {
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n"
        let messages = [
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                + "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
                + "Content-Type: application/sdp\r\nContent-Length: \(sdp.utf8.count)\r\n\r\n" + sdp,
            "\r\n\r\n",
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\n"
                + "To: <sip:bob@example.com>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n",
            "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK9\r\nCall-ID: o\r\nCSeq: 2 OPTIONS\r\n\r\n",
        ]
        let stream = Array(messages.joined().utf8)
        let whole = StreamCuttingTests.counts(stream, cut: 0)
        // The OPTIONS has no Content-Length: on a stream it cannot be framed, so it is malformed.
        #expect(whole == ["malformed": 1, "invite": 1, "options": 1, "180": 1], "\(whole)")
        for cut in 1...64 { #expect(StreamCuttingTests.counts(stream, cut: cut) == whole, "cut every \(cut) bytes") }
    }

    @Test(arguments: findings) func aFindingReadsTheSameByteByByte(_ path: String) throws {
        let input = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let stream = Array(input.dropFirst(3).prefix(512))
        #expect(StreamCuttingTests.counts(stream, cut: 1) == StreamCuttingTests.counts(stream, cut: 0))
    }
}
