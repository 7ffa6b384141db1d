import Foundation
import Testing

/// One source floods the node as fast as a process can send; another, asking at the same
/// time, still gets its answers: the loop reads a bounded batch, sends what it produced, and
/// turns, rather than draining the socket before sending anything.
@Suite(.serialized) struct FloodTests {
    static let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    @Test(.enabled(if: python, "needs python3 (package python3)")) func aFloodFromOneSourceDoesNotStarveAnother() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-flood-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("flood.conf")
        let statusFile = directory.appendingPathComponent("status.json")
        try "[node]\nlisten = 127.0.0.1:5820\nstatus_file = \(statusFile.path)\nstatus_interval = 1\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let node = try Interop.startNode(config)
        defer { node.terminate(); node.waitUntilExit() }

        // The flood: INVITEs from 127.0.0.50 as fast as one process sends them, open loop (the
        // 503s are never read), for `seconds`: far more than a node reads, so its socket is
        // never empty while it lasts.
        let seconds = 8.0
        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        flood.arguments = ["-c", """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.50", 5822))
            end = time.monotonic() + \(seconds)
            i = 0
            while time.monotonic() < end:
                for _ in range(200):
                    i += 1
                    m = ("INVITE sip:a@127.0.0.1:5820 SIP/2.0\\r\\nVia: SIP/2.0/UDP 127.0.0.50:5822;branch=z9hG4bKf%d\\r\\n"
                         "Max-Forwards: 70\\r\\nFrom: <sip:f@h>;tag=1\\r\\nTo: <sip:a@h>\\r\\nCall-ID: flood-%d\\r\\n"
                         "CSeq: 1 INVITE\\r\\nContent-Length: 0\\r\\n\\r\\n") % (i, i)
                    s.sendto(m.encode(), ("127.0.0.1", 5820))
            print(i)
            """]
        let floodOutput = Pipe()
        flood.standardOutput = floodOutput
        try flood.run()
        defer { if flood.isRunning { flood.terminate() } }

        // While it runs, another source asks every half second (20 copies of each request:
        // retransmissions of one transaction, each answered with its response), and the status
        // file is read every 200 ms. A socket flooded beyond what the node reads drops most
        // datagrams in the kernel whoever sent them, so which asks get through is the kernel's
        // choice; what the node owes is that its loop keeps turning: what it read is answered in
        // the same turn (the outbox never overflows) and its timers and status file go on. A
        // node that drained its socket before sending answered no one until the flood stopped,
        // overflowed its outbox, and its status file stood still.
        Thread.sleep(forTimeInterval: 1)
        var answers: [String] = []
        var asks = 0
        var statusTimes: Set<Int> = []
        let asker = try UDPSocket(bind: "127.0.0.60", port: 5823)
        var nextAsk = Date()
        while flood.isRunning {
            if Date() >= nextAsk {
                let ask = Interop.options(to: 5820, from: 5823, id: "asker-\(asks)")
                for _ in 0..<20 { try asker.send(ask, to: "127.0.0.1", port: 5820) }
                asks += 1
                nextAsk = Date().addingTimeInterval(0.5)
            }
            while let answer = asker.receive(timeoutMilliseconds: 200) {
                answers.append(answer.components(separatedBy: "\r\n").first ?? "")
            }
            if flood.isRunning, let time = Interop.status(statusFile)?["updated_unix"] as? Int { statusTimes.insert(time) }
        }
        flood.waitUntilExit()
        let sent = Int(String(decoding: floodOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(Interop.eventually(5) { ((Interop.status(statusFile)?["counters"] as? [String: Any])?["requests_received"] as? Int ?? 0) > 0 })
        let counters = try #require(Interop.status(statusFile)?["counters"] as? [String: Any])
        let received = counters["requests_received"] as? Int ?? 0
        print("flood: \(sent) INVITEs in \(seconds) s from one source, \(received) read by the node; the other source: "
              + "\(answers.count) answers to \(asks) asks of 20 copies; status file written at \(statusTimes.count) distinct "
              + "seconds during the flood")
        #expect(received < sent, "the flood did not exceed what the node reads: it proves nothing")
        #expect(answers.allSatisfy { $0 == "SIP/2.0 302 Moved Temporarily" }, "\(answers)")
        #expect(statusTimes.count >= Int(seconds) - 3, "\(statusTimes.sorted())")
        // Once it is over, the other source is answered at once.
        #expect(try Interop.ask(5820, clientPort: 5824, callID: "after-flood") == "SIP/2.0 302 Moved Temporarily")
        // Each turn's answers fit the outbox: nothing was dropped before it reached the socket.
        #expect(counters["outbox_dropped"] as? Int == 0)
        #expect(counters["sends_failed"] as? Int == 0)
    }
}
