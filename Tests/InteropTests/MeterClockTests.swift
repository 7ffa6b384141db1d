import Foundation
import Testing

/// The meter ends calls on its own clock, which the daemon moves on every second: a node
/// whose live capture has gone quiet still lets go of calls whose BYE never came, and of
/// INVITEs nobody answered (never calls). The real binary on a live capture of lo (root),
/// its status file watched. Loopback only: SIP ports 5650-5655, RTP 17500-17599.
@Suite struct MeterClockTests {
    typealias Daemon = LiveReloadTests.Daemon

    static let sipp = "/usr/bin/sipp"
    static let canCapture = getuid() == 0
    static let canCall = canCapture && FileManager.default.isExecutableFile(atPath: sipp)

    static func meter(_ status: [String: Any]) -> [String: Any] { status["meter"] as? [String: Any] ?? [:] }
    static func meter(_ status: [String: Any], _ key: String) -> Int? { meter(status)[key] as? Int }
    static func state(_ status: [String: Any]) -> String? { (status["node"] as? [String: Any])?["state"] as? String }

    /// The node with its capture up, having seen nothing yet.
    static func start(_ name: String, port: UInt16, _ sections: String) throws -> Daemon {
        let node = try Daemon(name, node: "listen = 127.0.0.1:\(port)\nstatus_interval = 1\nthreshold = 0.8\n", sections)
        let capturing = node.waitForStatus { meter($0)["capturing"] as? Bool == true }
        try #require(capturing != nil, "no capture on lo: \(node.text)")
        return node
    }

    /// Whether something has UDP `port` bound on loopback (from /proc/net/udp, so that
    /// looking takes nothing from whoever is about to bind it).
    static func bound(_ port: UInt16) -> Bool {
        let table = (try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8)) ?? ""
        let local = String(format: ":%04X", port)
        return table.split(separator: "\n").dropFirst().contains { $0.split(separator: " ").dropFirst().first?.hasSuffix(local) == true }
    }

    /// SIPp in the background, in the node's directory, its screen in `log` there; bounded by
    /// its own -timeout (an error then).
    static func sipp(_ node: Daemon, _ log: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: sipp)
        process.arguments = arguments + ["-nostdin", "-timeout", "30s", "-timeout_error"]
        process.currentDirectoryURL = node.directory
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        let file = node.path(log)
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        process.standardError = process.standardOutput
        try process.run()
        return process
    }

    /// The time `process` was seen to have exited, within `seconds` (else it is killed: nil).
    static func exited(_ process: Process, _ seconds: Double) -> Date? {
        let seen = HeadlessTests.waitFor(seconds) { process.isRunning ? nil : Date() }
        if seen == nil {
            process.terminate()
        }
        process.waitUntilExit()
        return seen
    }

    /// Three SIPp calls the capture sees, answered 200 with SDP, 2 s of RTP each, then
    /// nothing: no BYE, no more media. With room for 2 calls the node forwards while they
    /// last; once SIPp is done the capture is silent, and only the meter's clock, moved on
    /// by the daemon, can end them: silent for silence_timeout = 3 s, then accepting again.
    @Test(.enabled(if: canCall, "needs root (a live capture) and SIPp"))
    func anIdleLiveCaptureStillExpiresCalls() throws {
        let capture = "[capture]\ninterface = lo\nfilter = udp and (port 5651 or port 5652 or portrange 17500-17599)\n"
        let node = try Self.start("meter-clock-calls", port: 5650, "[capacity]\ncalls = 2\n[meter]\nsilence_timeout = 3\n" + capture)
        let idle = try #require(node.status)
        #expect(Self.meter(idle, "calls_active") == 0 && Self.state(idle) == "accepting", "\(idle)")

        let scenarios = Interop.root.appendingPathComponent("Tests/Scenarios")
        let callee = try Self.sipp(node, "uas.log", ["-sf", scenarios.appendingPathComponent("meterclock_uas.xml").path,
                                                     "-i", "127.0.0.1", "-p", "5651", "-mp", "17550", "-m", "3"])
        defer { if callee.isRunning { callee.terminate(); callee.waitUntilExit() } }
        let listening = HeadlessTests.waitFor(10) { Self.bound(5651) || !callee.isRunning ? true : nil }
        try #require(listening == true && callee.isRunning, "the SIPp callee did not start: \(node.path("uas.log"))")
        let caller = try Self.sipp(node, "uac.log", ["127.0.0.1:5651", "-sf", scenarios.appendingPathComponent("meterclock_uac.xml").path,
                                                     "-i", "127.0.0.1", "-p", "5652", "-mp", "17500", "-s", "bob",
                                                     "-d", "2000", "-m", "3", "-l", "3", "-r", "10"])
        defer { if caller.isRunning { caller.terminate(); caller.waitUntilExit() } }

        let busy = node.waitForStatus(20) { Self.meter($0, "calls_active") ?? 0 >= 2 && Self.state($0) == "forwarding" }
        let busyAt = Date()
        let quietAt = Self.exited(caller, 30)
        let callerLog = (try? String(contentsOfFile: node.path("uac.log"), encoding: .utf8)) ?? ""
        try #require(busy != nil, "2 calls against calls = 2 never made the node forward: \(node.status ?? [:])")
        let quiet = try #require(quietAt, "the SIPp caller did not finish")
        try #require(caller.terminationStatus == 0, "the SIPp caller failed (\(caller.terminationStatus)): \(callerLog)")
        try #require(Self.exited(callee, 10) != nil && callee.terminationStatus == 0, "the SIPp callee failed")

        // Nothing more is sent. The last status with the calls counted, and the first without.
        var lastCounted: Date?
        let ended = HeadlessTests.waitFor(30) { () -> (Date, [String: Any])? in
            guard let status = node.status else { return nil }
            if Self.meter(status, "calls_active") ?? 0 >= 2 { lastCounted = Date() }
            guard Self.meter(status, "calls_active") == 0, Self.meter(status, "timed_out_silent") ?? 0 >= 2,
                  Self.state(status) == "accepting" else { return nil }
            return (Date(), status)
        }
        let (endedAt, status) = try #require(ended, "the silent calls were never ended (within 30 s): \(node.status ?? [:])")
        let afterQuiet = endedAt.timeIntervalSince(quiet)
        let timing = "forwarding seen \(busyAt.timeIntervalSince(quiet)) s from SIPp's end, last counted "
            + "\(lastCounted.map { "\($0.timeIntervalSince(quiet))" } ?? "never") s, ended seen \(afterQuiet) s"
        // silence_timeout = 3: never before 3 s after the last packet. SIPp's end, seen here,
        // comes a little after that packet: 0.5 s allowed.
        #expect(afterQuiet >= 2.5, "ended too early: \(timing)")
        #expect(endedAt.timeIntervalSince(busyAt) >= 2.5, "\(timing)")
        let meter = Self.meter(status)
        #expect(meter["calls_attempted"] as? Int == 3 && meter["calls_peak"] as? Int ?? 0 >= 2, "\(meter)")
        #expect(meter["timed_out_silent"] as? Int == 3 && meter["timed_out_no_media"] as? Int == 0, "\(meter)")
        // The capture was up all along: a lost capture would hold the clock instead.
        #expect(meter["capture_state"] as? String == "up" && meter["capture_gaps"] as? Int == 0, "\(meter)")
        print("MeterClockTests.anIdleLiveCaptureStillExpiresCalls: \(timing)")
    }

    /// 20 INVITEs the capture sees (different Call-IDs, no retransmissions), to a callee that
    /// never answers: attempts, never calls,
    /// so with room for one call the node goes on accepting; attempt_timeout = 2 ends them.
    @Test(.enabled(if: canCapture, "a live capture needs root (CAP_NET_RAW)"))
    func unansweredInvitesAreNotCalls() throws {
        let capture = "[capture]\ninterface = lo\nfilter = udp port 5654\n"
        let node = try Self.start("meter-clock-attempts", port: 5653, "[capacity]\ncalls = 1\n[meter]\nattempt_timeout = 2\n" + capture)
        let callee = try UDPSocket(bind: "127.0.0.1", port: 5654)  // never reads, never answers
        let caller = try UDPSocket(bind: "127.0.0.1", port: 5655)
        for call in 1...20 {
            let id = "meter-clock-\(getpid())-\(call)"
            try caller.send("INVITE sip:bob@127.0.0.1:5654 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5655;branch=z9hG4bK\(id)\r\n"
                            + "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=\(call)\r\nTo: <sip:bob@127.0.0.1>\r\n"
                            + "Call-ID: \(id)\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5655>\r\nContent-Length: 0\r\n\r\n",
                            to: "127.0.0.1", port: 5654)
            // 10 ms apart: a burst of more than 16 between two reads of the capture overflows
            // its ring on lo (each datagram is seen twice there), and the meter misses some.
            Thread.sleep(forTimeInterval: 0.01)
        }
        let sent = Date()
        defer { withExtendedLifetime(callee) {} }

        // Every status until the attempts are over: none may count a call or forward.
        var attempting = 0, attemptingSeen: Date?, wrong: [[String: Any]] = []
        let ended = HeadlessTests.waitFor(30) { () -> (Date, [String: Any])? in
            guard let status = node.status else { return nil }
            let now = Self.meter(status, "calls_attempting") ?? 0
            if now > attempting { attempting = now; attemptingSeen = Date() }
            if Self.meter(status, "calls_active") != 0 || Self.state(status) != "accepting" { wrong.append(status) }
            guard attempting >= 1, now == 0, Self.meter(status, "timed_out_no_answer") ?? 0 >= 20 else { return nil }
            return (Date(), status)
        }
        #expect(attempting >= 1, "the capture saw no attempt: \(node.status ?? [:])")
        #expect(wrong.isEmpty, "unanswered INVITEs counted as calls: \(wrong.first ?? [:])")
        let (endedAt, status) = try #require(ended, "the attempts never ended (within 30 s): \(node.status ?? [:])")
        let timing = "\(attempting) attempting seen \(attemptingSeen.map { "\($0.timeIntervalSince(sent))" } ?? "-") s "
            + "after the INVITEs, none \(endedAt.timeIntervalSince(sent)) s after"
        // attempt_timeout = 2: not over before a second has passed.
        #expect(endedAt.timeIntervalSince(sent) >= 1.0, "\(timing)")
        let meter = Self.meter(status)
        #expect(meter["calls_attempted"] as? Int == 20 && meter["calls_peak"] as? Int == 0, "\(meter)")
        #expect(meter["timed_out_no_answer"] as? Int == 20 && meter["calls_active"] as? Int == 0, "\(meter)")
        print("MeterClockTests.unansweredInvitesAreNotCalls: \(timing)")
    }
}
