import Foundation
import Testing

/// The daemon as a service runs it, with the real binary: its log reaching syslog, a capture
/// as nobody with CAP_NET_RAW alone, and a status directory it may not write. Ports 5300-5319.
@Suite(.serialized)
struct HeadlessTests {
    static let unshare = "/usr/bin/unshare"
    static let setpriv = "/usr/bin/setpriv"
    static let python = "/usr/bin/python3"
    static let script = Interop.root.appendingPathComponent("Tests/Scripts/syslog_daemon.py")

    /// A private mount namespace can be made here (root, CAP_SYS_ADMIN).
    static let canUnshare: Bool = {
        guard FileManager.default.isExecutableFile(atPath: unshare), FileManager.default.isExecutableFile(atPath: python)
        else { return false }
        return (try? Interop.run(unshare, ["--mount", "--propagation", "private", "true"]))?.status == 0
    }()

    /// The tests can switch to nobody (they run as root and setpriv is there).
    static let canBecomeNobody = getuid() == 0 && FileManager.default.isExecutableFile(atPath: setpriv)
        && getpwnam("nobody") != nil && getgrnam("nogroup") != nil

    static var nobody: uid_t { getpwnam("nobody")!.pointee.pw_uid }
    static var nogroup: gid_t { getgrnam("nogroup")!.pointee.gr_gid }

    /// Under /tmp rather than TMPDIR: nobody must be able to reach it.
    let directory: URL = {
        let url = URL(fileURLWithPath: "/tmp/gatewayd-headless-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o755])
        return url
    }()

    /// A fresh directory for one test, mode 0755.
    func workDirectory(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        return url
    }

    /// setpriv's arguments to run as nobody:nogroup with no groups and exactly `capabilities`
    /// (lower-case names without CAP_) inheritable, ambient and in the bounding set.
    static func asNobody(keeping capabilities: [String]) -> [String] {
        let set = (["-all"] + capabilities.map { "+" + $0 }).joined(separator: ",")
        return ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=\(set)", "--ambient-caps=\(set)",
                "--bounding-set=\(set)", "--"]
    }

    /// gatewayd -c `config` as nobody, its standard error in `log`.
    func startAsNobody(keeping capabilities: [String], config: URL, log: URL) throws -> Process {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HeadlessTests.setpriv)
        process.arguments = HeadlessTests.asNobody(keeping: capabilities) + [Interop.binary.path, "-c", config.path]
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        return process
    }

    /// Runs a command that is expected to exit by itself; nil if it is still running after
    /// `seconds` (then it is killed).
    static func runBounded(_ executable: String, _ arguments: [String], seconds: Double) throws -> Interop.Result? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let end = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return Interop.Result(status: process.terminationStatus,
                              output: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                              error: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }


    /// The status file, parsed; nil while it is missing or unreadable.
    static func status(_ path: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// Polls `body` every 50 ms for at most `seconds`; its first non-nil value.
    static func waitFor<T>(_ seconds: Double, _ body: () -> T?) -> T? {
        let end = Date().addingTimeInterval(seconds)
        repeat {
            if let value = body() { return value }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < end
        return body()
    }

    /// `/proc/PID/status` as name -> value.
    static func processStatus(_ pid: Int32) -> [String: String] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// A syslog datagram as glibc sends it: `<PRI>Mmm dd hh:mm:ss IDENT[PID]: TEXT`.
    struct SyslogLine {
        var priority: Int
        var ident: String
        var pid: Int
        var text: String

        init?(_ datagram: String) {
            guard datagram.hasPrefix("<"), let close = datagram.firstIndex(of: ">"),
                  let priority = Int(datagram[datagram.index(after: datagram.startIndex)..<close]) else { return nil }
            // The timestamp is 15 characters and a space.
            let afterStamp = datagram.index(close, offsetBy: 17, limitedBy: datagram.endIndex) ?? datagram.endIndex
            let rest = datagram[afterStamp...]
            guard let open = rest.firstIndex(of: "["), let separator = rest.range(of: "]: "),
                  let pid = Int(rest[rest.index(after: open)..<separator.lowerBound]) else { return nil }
            self.priority = priority
            ident = String(rest[..<open])
            self.pid = pid
            text = String(rest[separator.upperBound...])
        }
    }

    @Test(.enabled(if: HeadlessTests.canUnshare, "cannot make a private mount namespace (unshare --mount needs root): no /dev/log to read"))
    func syslogGetsStartReloadAndStopWithPrioritiesIdentAndPid() throws {
        let work = try workDirectory("syslog")
        defer { try? FileManager.default.removeItem(at: directory) }
        let hostHadDevLog = FileManager.default.fileExists(atPath: "/dev/log")
        let base = "[node]\nlisten = 127.0.0.1:5300\nstatus_file = \(work.path)/status.json\nstatus_interval = 60\n"
        let config = work.appendingPathComponent("node.conf")
        let reload = work.appendingPathComponent("reload.conf")
        let bad = work.appendingPathComponent("bad.conf")
        try base.write(to: config, atomically: true, encoding: .utf8)
        try (base + "threshold = 0.5\n").write(to: reload, atomically: true, encoding: .utf8)
        try (base + "threshold = lots\n").write(to: bad, atomically: true, encoding: .utf8)

        let result = try Interop.run(HeadlessTests.unshare, ["--mount", "--propagation", "private", HeadlessTests.python,
                                                             HeadlessTests.script.path, Interop.binary.path, config.path,
                                                             "5300", reload.path, bad.path, work.path])
        try #require(result.status == 0, "syslog_daemon.py failed: \(result.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let pid = try #require(report["pid"] as? Int)
        let steps = report["steps"] as? [String: Bool] ?? [:]
        #expect(steps == ["start": true, "reload": true, "bad_reload": true, "stop": true], "\(report)")
        #expect(report["answer"] as? String == "SIP/2.0 302 Moved Temporarily")
        #expect(report["exit"] as? Int == 0)
        // The host's /dev was not touched.
        #expect(FileManager.default.fileExists(atPath: "/dev/log") == hostHadDevLog)

        let datagrams = report["datagrams"] as? [String] ?? []
        let lines = datagrams.compactMap(SyslogLine.init)
        #expect(lines.count == datagrams.count, "not in syslog format: \(datagrams)")
        for line in lines {
            #expect(line.priority >> 3 == 3, "facility is not daemon: \(line.text)")  // LOG_DAEMON
            #expect(line.ident == "gatewayd" && line.pid == pid, "\(line.ident)[\(line.pid)], the daemon is \(pid)")
        }
        func index(_ prefix: String, priority: Int) -> Int? {
            let found = lines.firstIndex { $0.text.hasPrefix(prefix) }
            if let found { #expect(lines[found].priority == priority, "\(lines[found].text)") }
            return found
        }
        // <29>: daemon.notice; <28>: daemon.warning.
        let start = index("node #1 of 1 listening on 127.0.0.1:5300 (UDP, TCP), identity sip:127.0.0.1:5300;transport=udp", priority: 29)
        let reloaded = index("reloaded \(config.path): threshold 0.50", priority: 29)
        let refused = index("reload failed, running configuration kept: \(config.path):5: threshold", priority: 28)
        let stopping = index("stopping: new requests get 503", priority: 29)
        let stopped = index("stopping: 1 requests, 1 answered here, 0 forwarded, 0 answered busy", priority: 29)
        let order = [start, reloaded, refused, stopping, stopped]
        #expect(!order.contains(nil), "missing lines in \(datagrams)")
        #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "out of order: \(datagrams)")
        // Standard error has the very same lines.
        let stderrLines = (report["stderr"] as? String ?? "").split(separator: "\n").map(String.init)
        #expect(stderrLines == lines.map { "gatewayd: " + $0.text })
    }

    @Test(.enabled(if: HeadlessTests.canBecomeNobody, "needs root and setpriv to run the daemon as nobody"))
    func captureAsNobodyWithNetRawAloneMetersTheTrafficAndFailsWithoutIt() throws {
        let work = try workDirectory("netraw")
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(chown(work.path, HeadlessTests.nobody, HeadlessTests.nogroup) == 0)
        let statusPath = work.appendingPathComponent("status.json").path
        let config = work.appendingPathComponent("node.conf")
        try "[node]\nlisten = 127.0.0.1:5305\nstatus_file = \(statusPath)\nstatus_interval = 1\n[capture]\ninterface = lo\nfilter = udp port 5305\n"
            .write(to: config, atomically: true, encoding: .utf8)

        // Without the capability: no start, and the reason said.
        let denied = try #require(
            try HeadlessTests.runBounded(HeadlessTests.setpriv, HeadlessTests.asNobody(keeping: [])
                                         + [Interop.binary.path, "-c", config.path], seconds: 10),
            "gatewayd started as nobody without CAP_NET_RAW and kept running")
        #expect(denied.status == 1, "\(denied.error)")
        #expect(denied.error.contains("gatewayd: permission denied (live capture needs CAP_NET_RAW): lo"), "\(denied.error)")
        #expect(!FileManager.default.fileExists(atPath: statusPath))

        // With CAP_NET_RAW alone.
        let log = work.appendingPathComponent("stderr.log")
        let node = try startAsNobody(keeping: ["net_raw"], config: config, log: log)
        defer { if node.isRunning { node.terminate(); node.waitUntilExit() } }
        let capturing = HeadlessTests.waitFor(10) { () -> Bool? in
            guard let meter = HeadlessTests.status(statusPath)?["meter"] as? [String: Any] else { return nil }
            return meter["capturing"] as? Bool == true ? true : nil
        }
        try #require(capturing == true, "no status file saying capturing: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        let process = HeadlessTests.processStatus(node.processIdentifier)
        #expect(process["Uid"]?.split(separator: "\t").map(String.init) == Array(repeating: "65534", count: 4), "\(process)")
        #expect(process["Gid"]?.split(separator: "\t").map(String.init) == Array(repeating: "65534", count: 4), "\(process)")
        #expect(process["CapEff"] == "0000000000002000", "\(process)")  // 1 << CAP_NET_RAW (13)
        #expect(process["CapPrm"] == "0000000000002000", "\(process)")

        for n in 0..<5 {
            #expect(try Interop.ask(5305, clientPort: 5306, callID: "netraw-\(n)") == "SIP/2.0 302 Moved Temporarily")
        }
        let meter = try #require(HeadlessTests.waitFor(5) { () -> [String: Any]? in
            guard let meter = HeadlessTests.status(statusPath)?["meter"] as? [String: Any],
                  (meter["calls_attempted"] as? Int ?? 0) >= 5 else { return nil }
            return meter
        }, "the capture did not see the INVITEs: \(HeadlessTests.status(statusPath) ?? [:])")
        #expect(meter["capturing"] as? Bool == true)
        #expect(meter["calls_attempted"] as? Int == 5, "\(meter)")  // each INVITE once, none missed
        #expect((meter["sip_messages_per_s"] as? Double ?? 0) > 0, "\(meter)")
        let status = try #require(HeadlessTests.status(statusPath))
        #expect(status["pid"] as? Int == Int(node.processIdentifier))
        #expect((status["counters"] as? [String: Any])?["answered_here"] as? Int == 5)
        // Written by the daemon as nobody.
        let owner = (try FileManager.default.attributesOfItem(atPath: statusPath)[.ownerAccountID] as? NSNumber)?.uint32Value
        #expect(owner == HeadlessTests.nobody)

        node.terminate()
        node.waitUntilExit()
        #expect(node.terminationStatus == 0)
    }

    @Test(.enabled(if: HeadlessTests.canBecomeNobody, "needs root and setpriv to run the daemon as nobody"))
    func readOnlyStatusDirectoryIsLoggedOnceAndTheNodeKeepsAnswering() throws {
        let work = try workDirectory("readonly")
        defer { try? FileManager.default.removeItem(at: directory) }
        let statusDirectory = work.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: statusDirectory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o555])
        let statusPath = statusDirectory.appendingPathComponent("status.json").path
        let config = work.appendingPathComponent("node.conf")
        try "[node]\nlisten = 127.0.0.1:5310\nstatus_file = \(statusPath)\nstatus_interval = 1\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let log = work.appendingPathComponent("stderr.log")
        func logLines() -> [String] {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        let cannotWrite = "gatewayd: cannot write the status file \(statusPath): Permission denied (retrying quietly)"

        let node = try startAsNobody(keeping: [], config: config, log: log)
        defer { if node.isRunning { node.terminate(); node.waitUntilExit() } }
        // Running once it first tried to write the file (and said why it could not).
        #expect(Interop.waitFor(cannotWrite, in: log))
        let started = Date()
        // One request a second over four status intervals.
        var answers: [String?] = []
        for n in 0..<4 {
            Thread.sleep(until: started.addingTimeInterval(Double(n)))
            answers.append(try Interop.ask(5310, clientPort: 5311, callID: "readonly-\(n)"))
        }
        Thread.sleep(until: started.addingTimeInterval(4))  // the fourth interval watched too
        #expect(answers == Array(repeating: "SIP/2.0 302 Moved Temporarily", count: 4))
        #expect(node.isRunning)
        #expect(!FileManager.default.fileExists(atPath: statusPath))
        #expect(logLines().filter { $0.contains("cannot write the status file") } == [cannotWrite], "\(logLines())")

        // Once it may write there, the next turn writes the file and says so, once.
        #expect(chown(statusDirectory.path, HeadlessTests.nobody, HeadlessTests.nogroup) == 0)
        #expect(chmod(statusDirectory.path, 0o755) == 0)
        let written = HeadlessTests.waitFor(3) { HeadlessTests.status(statusPath) }
        #expect(written?["pid"] as? Int == Int(node.processIdentifier), "\(logLines())")
        #expect((written?["counters"] as? [String: Any])?["answered_here"] as? Int == 4)
        #expect(Interop.waitFor("status file written again", in: log))
        #expect(logLines().filter { $0.contains("status file written again") } == ["gatewayd: status file written again"])

        node.terminate()
        node.waitUntilExit()
        #expect(node.terminationStatus == 0)
        #expect(logLines().filter { $0.contains("cannot write the status file") }.count == 1)
        #expect((HeadlessTests.status(statusPath)?["node"] as? [String: Any])?["state"] as? String == "stopped")
    }

    /// No second process takes the node's address: another gatewayd is told so and exits 1,
    /// and another user's socket with SO_REUSEADDR (or SO_REUSEPORT) cannot bind it either,
    /// so nobody but gatewayd receives its requests.
    @Test(.enabled(if: HeadlessTests.canBecomeNobody, "needs root and setpriv to bind as nobody"))
    func noSecondProcessCanBindTheListenAddress() throws {
        let work = try workDirectory("exclusive")
        defer { try? FileManager.default.removeItem(at: work) }
        let config = work.appendingPathComponent("node.conf")
        let statusPath = work.appendingPathComponent("status.json").path
        try "[node]\nlisten = 127.0.0.1:5316\nstatus_file = \(statusPath)\nstatus_interval = 1\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let first = Process()
        first.executableURL = Interop.binary
        first.arguments = ["-c", config.path]
        first.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try first.run()
        defer { if first.isRunning { first.terminate(); first.waitUntilExit() } }
        try #require(HeadlessTests.waitFor(5) { HeadlessTests.status(statusPath) } != nil, "the first node did not start")

        let secondConfig = work.appendingPathComponent("second.conf")
        try "[node]\nlisten = 127.0.0.1:5316\nstatus_file = \(work.appendingPathComponent("second.json").path)\n"
            .write(to: secondConfig, atomically: true, encoding: .utf8)
        let second = try Interop.run(Interop.binary.path, ["-c", secondConfig.path])
        #expect(second.status == 1)
        #expect(second.error.contains("cannot listen on 127.0.0.1:5316: Address already in use"), "\(second.error)")

        for option in ["SO_REUSEADDR", "SO_REUSEPORT"] {
            let intruder = try Interop.run(HeadlessTests.setpriv, ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                HeadlessTests.python, "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                    + "s.setsockopt(socket.SOL_SOCKET, socket.\(option), 1); s.bind(('127.0.0.1', 5316)); print('bound')"])
            #expect(intruder.status != 0 && intruder.error.contains("Address already in use"), "\(option): \(intruder.output) \(intruder.error)")
        }
        // And the node still answers, with nothing lost on the way out.
        #expect(try Interop.ask(5316, clientPort: 5317, callID: "exclusive-1") == "SIP/2.0 302 Moved Temporarily")
        let counters = HeadlessTests.waitFor(3) { () -> [String: Any]? in
            let counters = HeadlessTests.status(statusPath)?["counters"] as? [String: Any]
            return counters?["answered_here"] as? Int == 1 ? counters : nil
        }
        #expect(counters?["sends_failed"] as? Int == 0 && counters?["outbox_dropped"] as? Int == 0, "\(String(describing: counters))")
    }
}
