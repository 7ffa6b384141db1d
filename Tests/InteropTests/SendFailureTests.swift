import Foundation
import Testing

/// A send the socket refuses is counted and logged, not lost without a word: a node in a
/// network namespace of its own (only `lo`) with a member it has no route to, so every probe
/// of that member fails in sendto (ENETUNREACH) and no packet leaves the namespace.
@Suite(.serialized) struct SendFailureTests {
    static let canMakeNamespaces = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")

    @Test(.enabled(if: canMakeNamespaces, "needs root and iproute2 (package iproute2) to make a network namespace"))
    func sendsTheSocketRefusesAreCountedAndLogged() throws {
        let space = "gwsend\(getpid() % 100_000)"
        try #require(try Interop.run("/usr/sbin/ip", ["netns", "add", space]).status == 0)
        defer { _ = try? Interop.run("/usr/sbin/ip", ["netns", "del", space]) }
        try #require(try Interop.run("/usr/sbin/ip", ["-n", space, "link", "set", "lo", "up"]).status == 0)

        let directory = URL(fileURLWithPath: "/tmp/gatewayd-send-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let statusFile = directory.appendingPathComponent("status.json")
        let config = directory.appendingPathComponent("node.conf")
        try """
        [node]
        listen = 127.0.0.1:5330
        status_file = \(statusFile.path)
        prometheus_file = \(directory.path)/gatewayd.prom
        status_interval = 1
        [health]
        probe_interval_ms = 100
        [sequence]
        n1 = 127.0.0.1:5330
        n2 = 10.77.9.2:5330
        """.write(to: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("node.log")
        let node = try Interop.startNode(inNamespace: space, config, log: log)
        defer { if node.isRunning { node.terminate(); node.waitUntilExit() } }

        func counter(_ name: String) -> Int? { (Interop.status(statusFile)?["counters"] as? [String: Any])?[name] as? Int }
        #expect(Interop.eventually(20) { (counter("sends_failed") ?? 0) >= 3 }, "\(String(describing: Interop.status(statusFile)))")
        #expect(counter("outbox_dropped") == 0)
        #expect(Interop.waitFor("datagrams not sent (outbox full or the socket refused them)", in: log), "\(log.path)")
        // Probes that never left are probes unanswered: n2 is down.
        #expect(Interop.eventually(20) {
            ((Interop.status(statusFile)?["peers"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == "n2" && $0["up"] as? Bool == false }
        }, "\(String(describing: Interop.status(statusFile)?["peers"]))")
        // The Prometheus file, written with the status file, carries the same count.
        node.terminate()
        node.waitUntilExit()
        let failed = try #require(counter("sends_failed"))
        let prometheus = (try? String(contentsOfFile: directory.path + "/gatewayd.prom", encoding: .utf8)) ?? ""
        #expect(prometheus.contains("gatewayd_datagrams_not_sent_total{reason=\"send_failed\"} \(failed).000000\n"), "\(prometheus)")
        #expect(prometheus.contains("gatewayd_datagrams_not_sent_total{reason=\"outbox_full\"} 0.000000\n"))
    }
}
