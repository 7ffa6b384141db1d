import Foundation
import Testing

/// The daemon's signals and pid file, with the real binary.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sipp"), "sipp is not installed"))
struct DaemonTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-daemon-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func start(_ config: URL, pidFile: URL? = nil, log: URL? = nil) throws -> Process {
        try Interop.startNode(config, arguments: pidFile.map { ["-p", $0.path] } ?? [], log: log)
    }

    func ask(_ port: UInt16, clientPort: UInt16, callID: String) throws -> String? {
        try Interop.ask(port, clientPort: clientPort, callID: callID)
    }

    @Test func sighupChangesTheRunningConfigurationAndABadFileIsNotTaken() throws {
        let config = directory.appendingPathComponent("reload.conf")
        // One member, draining: every request is answered "all busy".
        try "[node]\nlisten = 127.0.0.1:5191\ndrain = yes\n".write(to: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("reload.log")
        let node = try start(config, log: log)
        defer { node.terminate(); node.waitUntilExit() }
        #expect(try ask(5191, clientPort: 5192, callID: "reload-1") == "SIP/2.0 503 Service Unavailable")
        try "[node]\nlisten = 127.0.0.1:5191\ndrain = no\n".write(to: config, atomically: true, encoding: .utf8)
        kill(node.processIdentifier, SIGHUP)
        #expect(Interop.waitFor("reloaded ", in: log))
        #expect(try ask(5191, clientPort: 5193, callID: "reload-2") == "SIP/2.0 302 Moved Temporarily")
        // A broken file: logged, and the node goes on as it was.
        try "[node]\nlisten = 127.0.0.1:5191\ndrain = perhaps\n".write(to: config, atomically: true, encoding: .utf8)
        kill(node.processIdentifier, SIGHUP)
        #expect(Interop.waitFor("reload failed, running configuration kept: ", in: log))
        #expect(try ask(5191, clientPort: 5194, callID: "reload-3") == "SIP/2.0 302 Moved Temporarily")
        #expect(node.isRunning)
    }

    @Test func sigtermDuringLoadAnswersEveryRequestAndRemovesThePidFile() throws {
        var configs: [URL] = []
        for n in 1...2 {
            let file = directory.appendingPathComponent("stop\(n).conf")
            // Probes once at start only (every 10 minutes): the counts below are the calls'.
            try ("[node]\nlisten = 127.0.0.\(n):5195\ndrain = \(n == 1 ? "yes" : "no")\nrate_limit = 0\n"
                 + "status_file = \(directory.path)/stop\(n).json\n[health]\nprobe_interval_ms = 600000\n"
                 + "[sequence]\nn1 = 127.0.0.1:5195\nn2 = 127.0.0.2:5195\n")
                .write(to: file, atomically: true, encoding: .utf8)
            configs.append(file)
        }
        let pidFile = directory.appendingPathComponent("gatewayd.pid")
        let first = try start(configs[0], pidFile: pidFile)
        let second = try start(configs[1])
        defer { second.terminate(); second.waitUntilExit() }
        #expect(FileManager.default.fileExists(atPath: pidFile.path))
        let log = directory.appendingPathComponent("sipp-stop.log")
        let sipp = Process()
        sipp.executableURL = URL(fileURLWithPath: "/usr/bin/sipp")
        sipp.arguments = ["-sf", Interop.root.appendingPathComponent("Tests/Scenarios/answer_uac.xml").path,
                          "-m", "150", "-r", "50", "-i", "127.0.0.100", "-p", "5196", "-trace_logs", "-log_file", log.path,
                          "-timeout", "20s", "-timeout_error", "-nostdin", "127.0.0.1:5195"]
        sipp.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try sipp.run()
        Thread.sleep(forTimeInterval: 1.5)
        first.terminate()  // SIGTERM while calls arrive
        first.waitUntilExit()
        sipp.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: pidFile.path))
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
        let answered302 = lines.filter { $0 == "answer 302" }.count
        let answered503 = lines.filter { $0 == "answer 503" }.count
        // Calls sent after the stop get 503 from #1 while it finishes, then nothing: SIPp
        // counts those as failed. Every call #1 took was answered: each it forwarded came back
        // as a 302, each it refused while stopping was a 503 (its last status file, written as
        // it stopped, counts them).
        let status = try #require(Interop.status(directory.appendingPathComponent("stop1.json")))
        let counters = try #require(status["counters"] as? [String: Any])
        #expect(status["daemon"] as? String == "stopped")
        #expect(answered302 > 0)
        #expect(answered302 == counters["forwarded"] as? Int, "\(answered302) 302s; \(counters)")
        #expect(answered503 == counters["refused"] as? Int, "\(answered503) 503s; \(counters)")
        // The transactions kept their messages in the pool: 4096 bytes a transaction, 1024
        // server and 1024 client transactions.
        let pool = try #require(status["message_pool"] as? [String: Int], "\(status)")
        #expect(pool["capacity_bytes"] == 8_388_608 && pool["peak_used_bytes"] ?? 0 > 0 && pool["refused"] == 0, "\(pool)")
    }

    @Test func aLivePidFileIsNotTakenOver() throws {
        let config = directory.appendingPathComponent("pid.conf")
        try "[node]\nlisten = 127.0.0.1:5197\n".write(to: config, atomically: true, encoding: .utf8)
        let pidFile = directory.appendingPathComponent("held.pid")
        let first = try start(config, pidFile: pidFile)
        defer { first.terminate(); first.waitUntilExit() }
        let second = try Interop.run(Interop.binary.path, ["-c", config.path, "-p", pidFile.path])
        #expect(second.status == 1)
        #expect(second.error.contains("is held by gatewayd \(first.processIdentifier)"), "\(second.error)")
        // A stale one (its process gone) is replaced.
        let stale = directory.appendingPathComponent("stale.pid")
        try "999999\n".write(to: stale, atomically: true, encoding: .utf8)
        let config2 = directory.appendingPathComponent("pid2.conf")
        try "[node]\nlisten = 127.0.0.1:5198\n".write(to: config2, atomically: true, encoding: .utf8)
        let third = try start(config2, pidFile: stale)
        #expect((try? String(contentsOf: stale, encoding: .utf8)) == "\(third.processIdentifier)\n")
        third.terminate()
        third.waitUntilExit()
        #expect(third.terminationStatus == 0)
    }

    @Test func statusFileStaysValidWhileRewrittenAndStatusTellsWhetherTheNodeRuns() throws {
        let statusDirectory = directory.appendingPathComponent("run")
        let statusPath = statusDirectory.appendingPathComponent("status.json").path
        let config = directory.appendingPathComponent("status.conf")
        try "[node]\nlisten = 127.0.0.1:5199\nstatus_file = \(statusPath)\nstatus_interval = 1\n[sequence]\na = 127.0.0.1:5199\nb = 127.0.0.2:5199\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let node = try start(config)
        // Read and parse it over and over while the node replaces it every second and on
        // every state change: never a partial file.
        var parsed = 0
        let end = Date().addingTimeInterval(3.5)
        var last: [String: Any] = [:]
        while Date() < end {
            guard let data = FileManager.default.contents(atPath: statusPath) else { continue }
            let object = try JSONSerialization.jsonObject(with: data)
            last = try #require(object as? [String: Any])
            parsed += 1
        }
        #expect(parsed > 1000)
        #expect(last["version"] as? Int == 1)
        #expect((last["node"] as? [String: Any])?["state"] as? String == "accepting")
        #expect((last["peers"] as? [[String: Any]])?.first?["up"] as? Bool == false)  // b never answers
        let running = try Interop.run(Interop.binary.path, ["status", "-s", statusPath])
        #expect(running.status == 0)
        #expect(running.output.contains("accepting") && running.output.contains("peer b 127.0.0.2:5199 down"), "\(running.output)")
        // The same file laid out another way (indented, keys sorted) reads the same: it is read
        // as JSON, not by the spacing gatewayd writes.
        let reformatted = directory.appendingPathComponent("reformatted.json").path
        let data = try #require(FileManager.default.contents(atPath: statusPath))
        let object = try JSONSerialization.jsonObject(with: data)
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: reformatted))
        let again = try Interop.run(Interop.binary.path, ["status", "-s", reformatted])
        #expect(again.status == 0)
        #expect(again.output.split(separator: "\n").dropFirst() == running.output.split(separator: "\n").dropFirst(), "\(again.output)")
        #expect(again.output.contains("accepting, workload ") && again.output.contains("peer b 127.0.0.2:5199 down"), "\(again.output)")
        try "{\"pid\": ".write(toFile: reformatted, atomically: true, encoding: .utf8)
        let broken = try Interop.run(Interop.binary.path, ["status", "-s", reformatted])
        #expect(broken.status == 2 && broken.error.contains("not a JSON object"), "\(broken.error)")
        kill(node.processIdentifier, SIGKILL)
        node.waitUntilExit()
        let gone = try Interop.run(Interop.binary.path, ["status", "-s", statusPath])
        #expect(gone.status == 1)
        #expect(gone.error.contains("process is gone"))
    }

    @Test func sigusr1WritesTheStatusFileAtOnce() throws {
        let statusPath = directory.appendingPathComponent("usr1/status.json").path
        let config = directory.appendingPathComponent("usr1.conf")
        try "[node]\nlisten = 127.0.0.1:5189\nstatus_file = \(statusPath)\nstatus_interval = 3600\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let node = try start(config)
        defer { node.terminate(); node.waitUntilExit() }
        #expect(FileManager.default.fileExists(atPath: statusPath))
        try FileManager.default.removeItem(atPath: statusPath)
        kill(node.processIdentifier, SIGUSR1)
        // The interval is an hour: only SIGUSR1 writes it again.
        #expect(Interop.eventually(10) { FileManager.default.fileExists(atPath: statusPath) })
    }

    /// A flood is summarised: one line when it starts, not one per request.
    @Test func aFloodOfRateLimitedRequestsIsOneLogLineNotOnePerRequest() throws {
        let config = directory.appendingPathComponent("flood.conf")
        try "[node]\nlisten = 127.0.0.1:5197\nrate_limit = 5\nrate_burst = 5\nstatus_file = \(directory.path)/flood.json\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("flood.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = Interop.binary
        process.arguments = ["-c", config.path]
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        #expect(Interop.waitUntilAnswering(config: config))
        let client = try UDPSocket(bind: "127.0.0.100", port: 5198)
        for i in 0..<400 {
            try client.send(Interop.options(to: 5197, from: 5198, id: "flood-\(i)"), to: "127.0.0.1", port: 5197)
        }
        #expect(Interop.waitFor("requests rate limited", in: log))
        Thread.sleep(forTimeInterval: 1.5)  // a second line, if there were to be one, would come in this time
        process.terminate()
        process.waitUntilExit()
        let text = try String(contentsOf: log, encoding: .utf8)
        let lines = text.split(separator: "\n").filter { $0.contains("requests rate limited") }
        #expect(lines.count == 1, "\(text)")
        // ... while the node refused over a hundred (the last status, written at exit, counts them).
        let data = try Data(contentsOf: directory.appendingPathComponent("flood.json"))
        let status = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let limited = try #require((status["counters"] as? [String: Any])?["rate_limited"] as? Int)
        #expect(limited > 100)  // of 400 sent at once; the socket buffer holds about 160
    }
}
