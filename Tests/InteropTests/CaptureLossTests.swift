import Foundation
import Testing

/// The live capture as a gateway sees it: dropped to an unprivileged user that keeps only
/// CAP_NET_RAW, an interface that goes away and comes back (a veth pair in network namespaces
/// the test makes), and the Prometheus textfile beside the status file.
@Suite(.serialized) struct CaptureLossTests {
    let directory: URL = {
        let url = URL(fileURLWithPath: "/tmp/gatewayd-capture-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        chmod(url.path, 0o755)
        return url
    }()

    static let canMakeNamespaces = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")

    @discardableResult
    func ip(_ arguments: String) throws -> Interop.Result {
        try Interop.run("/usr/sbin/ip", arguments.split(separator: " ").map(String.init))
    }

    func status(_ file: URL) -> [String: Any]? { Interop.status(file) }

    func meterField(_ file: URL, _ key: String) -> Any? {
        (status(file)?["meter"] as? [String: Any])?[key]
    }

    /// Waits up to `seconds` for `condition`.
    func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }

    @Test(.enabled(if: canMakeNamespaces, "needs root and iproute2 to make network namespaces"))
    func aVanishedInterfaceIsReopenedByTheUnprivilegedDaemonAndTheGapIsCounted() throws {
        let space = "gwcap\(getpid() % 100_000)", peer = "gwpeer\(getpid() % 100_000)"
        try #require(try ip("netns add \(space)").status == 0)
        defer { _ = try? ip("netns del \(space)") }
        try #require(try ip("netns add \(peer)").status == 0)
        defer { _ = try? ip("netns del \(peer)") }
        func makeLink() throws {
            // gwv0 in the daemon's namespace, gwv1 in the peer's: 10.77.0.1 <-> 10.77.0.2.
            try #require(try ip("-n \(space) link add gwv0 type veth peer name gwv1 netns \(peer)").status == 0)
            try ip("-n \(space) addr add 10.77.0.1/24 dev gwv0")
            try ip("-n \(peer) addr add 10.77.0.2/24 dev gwv1")
            try ip("-n \(space) link set gwv0 up")
            try ip("-n \(peer) link set gwv1 up")
        }
        try ip("-n \(space) link set lo up")
        try makeLink()

        let statusFile = directory.appendingPathComponent("run/status.json")
        let config = directory.appendingPathComponent("veth.conf")
        try """
        [node]
        listen = 10.77.0.1:5320
        user = nobody
        status_file = \(statusFile.path)
        status_interval = 1
        [capture]
        interface = gwv0
        filter = udp port 5320
        """.write(to: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("veth.log")
        let node = try Interop.startNode(inNamespace: space, config, log: log)
        defer { if node.isRunning { node.terminate(); node.waitUntilExit() } }
        #expect(eventually(10) { meterField(statusFile, "capture_state") as? String == "up" })

        // Privileges: nobody, with CAP_NET_RAW alone.
        let daemon = try #require(eventually(10) { pgrepChild(of: node.processIdentifier) != nil } ? pgrepChild(of: node.processIdentifier) : nil)
        let proc = try String(contentsOfFile: "/proc/\(daemon)/status", encoding: .utf8)
        #expect(proc.contains("Uid:\t65534\t65534\t65534\t65534"))
        #expect(proc.contains("CapEff:\t0000000000002000"))
        #expect(proc.contains("CapPrm:\t0000000000002000"))

        func sendInvites(_ count: Int, tag: String) throws {
            // INVITEs from the peer namespace over the veth; the node answers and the capture sees them.
            let script = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("10.77.0.2", 5321))
            for i in range(\(count)):
                m = ("INVITE sip:a@10.77.0.1:5320 SIP/2.0\\r\\nVia: SIP/2.0/UDP 10.77.0.2:5321;branch=z9hG4bK\(tag)%d\\r\\n"
                     "Max-Forwards: 70\\r\\nFrom: <sip:c@h>;tag=1\\r\\nTo: <sip:a@h>\\r\\nCall-ID: \(tag)-%d\\r\\nCSeq: 1 INVITE\\r\\n"
                     "Content-Length: 0\\r\\n\\r\\n") % (i, i)
                s.sendto(m.encode(), ("10.77.0.1", 5320))
            """
            let result = try Interop.run("/usr/sbin/ip", ["netns", "exec", peer, "/usr/bin/python3", "-c", script])
            try #require(result.status == 0, "\(result.error)")
        }
        try sendInvites(5, tag: "before")
        #expect(eventually(10) { (meterField(statusFile, "calls_attempted") as? Int) == 5 })

        // The interface goes away: lost, logged, reopened with backoff once it is back.
        try #require(try ip("-n \(space) link del gwv0").status == 0)
        #expect(eventually(10) { meterField(statusFile, "capture_state") as? String == "lost" })
        Thread.sleep(forTimeInterval: 2)
        try makeLink()
        #expect(eventually(40) { meterField(statusFile, "capture_state") as? String == "up" })
        #expect(meterField(statusFile, "capture_gaps") as? Int == 1)
        #expect(((meterField(statusFile, "capture_gap_s") as? Double) ?? 0) >= 2)
        try sendInvites(3, tag: "after")
        #expect(eventually(10) { (meterField(statusFile, "calls_attempted") as? Int) == 8 }, "calls seen after the reopen")

        node.terminate()
        node.waitUntilExit()
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("running as nobody with CAP_NET_RAW only"))
        #expect(text.components(separatedBy: "capture lost: capture read failed").count == 2, "\(text)")
        #expect(text.components(separatedBy: "capture regained after").count == 2, "\(text)")
    }

    /// The daemon under `ip netns exec` (which execs, so usually the same pid).
    func pgrepChild(of pid: Int32) -> Int32? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else { return nil }
        if exe.hasSuffix("gatewayd") { return pid }
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }

    static let prometheusParser = Interop.run(quiet: "/usr/bin/python3", ["-c", "import prometheus_client.parser"])

    @Test(.enabled(if: prometheusParser, "python3-prometheus-client is not installed"))
    func thePrometheusFileParsesAndAgreesWithTheStatusFile() throws {
        let statusFile = directory.appendingPathComponent("prom-status.json")
        let promFile = directory.appendingPathComponent("gatewayd.prom")
        let config = directory.appendingPathComponent("prom.conf")
        try """
        [node]
        listen = 127.0.0.1:5322
        status_file = \(statusFile.path)
        status_interval = 1
        prometheus_file = \(promFile.path)
        [sequence]
        edge-1 = 127.0.0.1:5322
        "quoted\\peer" = 127.0.0.2:5322
        """.write(to: config, atomically: true, encoding: .utf8)
        // Ready once it wrote its status (the loop runs); a probe would count as a request.
        let node = try Interop.startNode(config, ready: { status(statusFile) != nil })
        defer { node.terminate(); node.waitUntilExit() }
        let client = try UDPSocket(bind: "127.0.0.100", port: 5323)
        for i in 0..<7 {
            try client.send(Interop.options(to: 5322, from: 5323, id: "prom-\(i)"), to: "127.0.0.1", port: 5322)
            _ = client.receive(timeoutMilliseconds: 1000)
        }
        kill(node.processIdentifier, SIGUSR1)
        // Both files come from one write, the Prometheus file after the status file.
        #expect(Interop.eventually(10) {
            ((try? String(contentsOf: promFile, encoding: .utf8)) ?? "").contains("gatewayd_requests_total{outcome=\"received\"} 7.000000\n")
        })
        let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        samples = {}
        for family in text_string_to_metric_families(open(sys.argv[1]).read()):
            for s in family.samples:
                samples[s.name + json.dumps(s.labels, sort_keys=True)] = s.value
        print(json.dumps(samples))
        """
        let result = try Interop.run("/usr/bin/python3", ["-c", script, promFile.path])
        try #require(result.status == 0, "the Prometheus file does not parse: \(result.error)")
        let samples = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Double])
        let json = try #require(status(statusFile))
        let counters = try #require(json["counters"] as? [String: Int])
        #expect(counters["requests_received"] == 7)
        #expect(samples["gatewayd_requests_total{\"outcome\": \"received\"}"] == Double(counters["requests_received"]!))
        #expect(samples["gatewayd_requests_total{\"outcome\": \"answered_here\"}"] == Double(counters["answered_here"]!))
        #expect(samples["gatewayd_state{\"state\": \"accepting\"}"] == 1)
        #expect(samples["gatewayd_info{\"identity\": \"sip:127.0.0.1:5322;transport=udp\", \"name\": \"edge-1\", \"version\": \"0.1.0\"}"] == 1,
                "\(samples.keys.sorted())")
        #expect(samples.keys.contains { $0.hasPrefix("gatewayd_peer_up{") && $0.contains("quoted\\\\peer") },
                "\(samples.keys.sorted())")
        #expect(samples["gatewayd_threshold{}"] == (json["node"] as? [String: Any])?["threshold"] as? Double)
        // Calls ended on the meter's clock, by reason, as the status file has them.
        let meter = try #require(json["meter"] as? [String: Any])
        #expect(samples["gatewayd_calls_attempting{}"] == (meter["calls_attempting"] as? Int).map(Double.init))
        for reason in ["timed_out_no_answer", "timed_out_ringing", "timed_out_silent", "timed_out_on_hold",
                       "timed_out_no_media", "session_expired"] {
            let value = try #require(meter[reason] as? Int, "\(reason) missing from the status file")
            #expect(samples["gatewayd_calls_timed_out_total{\"reason\": \"\(reason)\"}"] == Double(value), "\(reason)")
        }
    }
}

extension Interop {
    /// Whether a command runs and exits 0, its output dropped.
    static func run(quiet executable: String, _ arguments: [String]) -> Bool {
        guard FileManager.default.isExecutableFile(atPath: executable) else { return false }
        return (try? run(executable, arguments).status) == 0
    }
}
