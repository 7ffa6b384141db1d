import Foundation
import Testing

/// Call quality as a resource, live: the real binary measures a call it captures on lo, and
/// when that call's media degrades (a quarter of its packets later than a playout buffer
/// allows) the node stops taking calls, though it has room for a hundred; once the stream
/// has gone quiet it takes calls again. Loopback only: SIP 5656-5658, RTP 17600-17601.
@Suite struct QualityResourceTests {
    typealias Daemon = LiveReloadTests.Daemon

    static func poorShare(_ node: Daemon, _ status: [String: Any]) -> Double? {
        node.resource(status, "poor_quality_streams")["in_use"] as? Double
    }

    @Test(.enabled(if: MeterClockTests.canCapture, "a live capture needs root (CAP_NET_RAW)"))
    func aProxyWhoseMediaDegradesStopsTakingCalls() throws {
        let capture = "[capture]\ninterface = lo\nfilter = udp and (port 5657 or port 5658 or portrange 17600-17601)\n"
        let node = try MeterClockTests.start("quality", port: 5656,
                                             "[capacity]\ncalls = 100\nstreams = 0\nsip_rate = 0\npoor_quality = 50\n" + capture)
        let idle = try #require(node.status)
        #expect(MeterClockTests.state(idle) == "accepting" && Self.poorShare(node, idle) == 0, "\(idle)")

        // The call the capture sees: INVITE and 200, each with SDP for PCMU.
        let callee = try UDPSocket(bind: "127.0.0.1", port: 5657)
        let caller = try UDPSocket(bind: "127.0.0.1", port: 5658)
        let id = "quality-\(getpid())"
        func sdp(_ port: Int) -> String {
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio \(port) RTP/AVP 0\r\n"
        }
        func message(_ start: String, _ body: String) -> String {
            "\(start)\r\nVia: SIP/2.0/UDP 127.0.0.1:5658;branch=z9hG4bK\(id)\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\n"
                + "To: <sip:bob@127.0.0.1>\(start.hasPrefix("SIP") ? ";tag=b" : "")\r\nCall-ID: \(id)\r\nCSeq: 1 INVITE\r\n"
                + "Contact: <sip:x@127.0.0.1>\r\nContent-Type: application/sdp\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        try caller.send(message("INVITE sip:bob@127.0.0.1:5657 SIP/2.0", sdp(17600)), to: "127.0.0.1", port: 5657)
        try callee.send(message("SIP/2.0 200 OK", sdp(17601)), to: "127.0.0.1", port: 5658)

        // 8 s of PCMU from 17600, 20 ms apart, every fourth packet held back 200 ms (past
        // the 50 ms buffer, not so far as to be a jump), sent from a thread of its own.
        let media = try UDPSocket(bind: "127.0.0.1", port: 17600)
        let done = DispatchSemaphore(value: 0)
        let sender = Thread {
            let start = Date()
            var schedule: [(due: Double, sequence: Int)] = []
            for i in 0..<400 {
                let held: Double = i % 4 == 3 ? 0.2 : 0
                schedule.append((due: Double(i) * 0.02 + held, sequence: i))
            }
            schedule.sort { $0.due < $1.due }
            for entry in schedule {
                let wait = entry.due - Date().timeIntervalSince(start)
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                var packet = [UInt8](repeating: 0xFF, count: 172)  // 12 header bytes, 160 of PCMU
                packet[0] = 0x80
                packet[1] = 0
                withUnsafeBytes(of: UInt16(entry.sequence).bigEndian) { packet.replaceSubrange(2..<4, with: $0) }
                withUnsafeBytes(of: UInt32(entry.sequence * 160).bigEndian) { packet.replaceSubrange(4..<8, with: $0) }
                withUnsafeBytes(of: UInt32(0x514A_4C11).bigEndian) { packet.replaceSubrange(8..<12, with: $0) }
                try? media.send(bytes: packet, to: "127.0.0.1", port: 17601)
            }
            done.signal()
        }
        sender.start()
        defer { done.wait() }

        // Poor media: the one stream scored is below 3.6, 100 % against a capacity of 50 %.
        let busy = node.waitForStatus(15) { MeterClockTests.state($0) == "forwarding" }
        let status = try #require(busy, "degraded media never made the node forward: \(node.status ?? [:])")
        #expect(Self.poorShare(node, status) == 100, "\(status)")
        #expect(MeterClockTests.meter(status, "calls_active") == 1, "\(status)")

        // A client asking this node (a group of one) hears all busy.
        let asked = try Interop.run(Interop.binary.path, ["ask", "127.0.0.1:5656"])
        #expect(asked.status == 1 && asked.output.contains("busy"), "\(asked.output) \(asked.error)")

        // Once the stream has been quiet 5 s it is no longer active, and the node takes calls.
        done.wait()
        done.signal()
        let again = node.waitForStatus(20) { MeterClockTests.state($0) == "accepting" && Self.poorShare(node, $0) == 0 }
        #expect(again != nil, "the node never took calls again: \(node.status ?? [:])")
    }
}
