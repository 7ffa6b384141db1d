import Foundation
import Testing

/// Groups of real gatewayd processes on loopback addresses, with SIPp as the client.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sipp"), "sipp is not installed"))
struct GroupTests {
    /// A group of `count` nodes on 127.0.0.1...count, port `port`, the ones in `draining`
    /// put in drain mode (so they forward everything).
    final class Group {
        let directory: URL
        let port: Int
        var processes: [Int: Process] = [:]

        init(_ count: Int, port: Int, draining: Set<Int>, forwardTimeoutMilliseconds: Int = 300,
             extra: (Int) -> String = { _ in "" }) throws {
            self.port = port
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-group-\(getpid())-\(port)")
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for node in 1...count {
                var text = "[node]\nlisten = 127.0.0.\(node):\(port)\ndrain = \(draining.contains(node) ? "yes" : "no")\n"
                text += "forward_timeout_ms = \(forwardTimeoutMilliseconds)\n[health]\nprobe_interval_ms = 200\n[sequence]\n"
                for member in 1...count { text += "n\(member) = 127.0.0.\(member):\(port)\n" }
                text += extra(node)
                try text.write(to: config(node), atomically: true, encoding: .utf8)
            }
            for node in 1...count { try start(node) }
            Thread.sleep(forTimeInterval: 0.5)
        }

        func config(_ node: Int) -> URL { directory.appendingPathComponent("n\(node).conf") }
        func log(_ node: Int) -> URL { directory.appendingPathComponent("n\(node).log") }

        /// A node's closing counters, from the line it logs when it stops.
        func counters(_ node: Int) -> (requests: Int, answeredHere: Int, forwarded: Int, busy: Int)? {
            let text = (try? String(contentsOf: log(node), encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").last(where: { $0.contains("stopping:") }) else { return nil }
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard numbers.count >= 4 else { return nil }
            return (numbers[0], numbers[1], numbers[2], numbers[3])
        }

        func start(_ node: Int) throws {
            let process = Process()
            process.executableURL = Interop.binary
            process.arguments = ["-c", config(node).path]
            FileManager.default.createFile(atPath: log(node).path, contents: nil)
            let handle = try FileHandle(forWritingTo: log(node))
            handle.seekToEndOfFile()
            process.standardError = handle
            try process.run()
            processes[node] = process
        }

        func kill(_ node: Int) {
            guard let process = processes[node] else { return }
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            processes[node] = nil
        }

        /// Stops every node with SIGTERM; returns their exit statuses. The logs stay until
        /// `remove`.
        @discardableResult
        func stop() -> [Int32] {
            var statuses: [Int32] = []
            for (_, process) in processes.sorted(by: { $0.key < $1.key }) {
                process.terminate()
                process.waitUntilExit()
                statuses.append(process.terminationStatus)
            }
            processes = [:]
            return statuses
        }

        deinit {
            stop()
            try? FileManager.default.removeItem(at: directory)
        }

        /// Runs SIPp with `scenario` against node 1 for `calls` calls; returns its exit
        /// status and the lines it logged.
        func sipp(_ scenario: String, calls: Int, rate: Int = 10, clientPort: Int) throws -> (status: Int32, log: [String]) {
            let log = directory.appendingPathComponent("sipp-\(clientPort).log")
            let result = try Interop.run("/usr/bin/sipp", sippArguments(scenario, calls: calls, rate: rate,
                                                                        clientPort: clientPort, log: log))
            let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            return (result.status, lines)
        }

        func sippArguments(_ scenario: String, calls: Int, rate: Int, clientPort: Int, log: URL) -> [String] {
            [
                "-sf", Interop.root.appendingPathComponent("Tests/Scenarios/\(scenario)").path,
                "-m", "\(calls)", "-r", "\(rate)", "-i", "127.0.0.100", "-p", "\(clientPort)",
                "-trace_logs", "-log_file", log.path, "-timeout", "20s", "-timeout_error", "-nostdin",
                "127.0.0.1:\(port)",
            ]
        }
    }

    @Test func idlePrimaryAnswersWithItself() throws {
        let group = try Group(3, port: 5161, draining: [])
        defer { #expect(group.stop() == [0, 0, 0]) }
        let run = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5171)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.1:5161" }.count == 10, "\(run.log)")
    }

    @Test func busyNodesPassTheRequestDownTheChain() throws {
        let group = try Group(3, port: 5162, draining: [1, 2])
        let run = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5172)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.3:5162" }.count == 10, "\(run.log)")
        #expect(group.stop() == [0, 0, 0])
        // The hops, from the nodes' own counters: #1 and #2 forwarded, #3 answered.
        #expect(group.counters(1)?.forwarded == 10 && group.counters(1)?.answeredHere == 0)
        #expect(group.counters(2)?.forwarded == 10)
        #expect(group.counters(3)?.answeredHere == 10 && group.counters(3)?.forwarded == 0)
    }

    @Test func aMemberKilledDuringLoadLeavesNoRequestUnanswered() throws {
        let group = try Group(3, port: 5166, draining: [1])
        let log = group.directory.appendingPathComponent("sipp-load.log")
        let sipp = Process()
        sipp.executableURL = URL(fileURLWithPath: "/usr/bin/sipp")
        sipp.arguments = group.sippArguments("redirect_uac.xml", calls: 100, rate: 25, clientPort: 5176, log: log)
        sipp.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try sipp.run()
        Thread.sleep(forTimeInterval: 1.5)
        group.kill(2)
        sipp.waitUntilExit()
        #expect(sipp.terminationStatus == 0)
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
        let toSecond = lines.filter { $0 == "contact sip:service@127.0.0.2:5166" }.count
        let toThird = lines.filter { $0 == "contact sip:service@127.0.0.3:5166" }.count
        #expect(toSecond + toThird == 100, "\(toSecond) + \(toThird)")
        #expect(toSecond > 0 && toThird > 0)
    }

    @Test func reservationsKeepABurstFromLandingOnOneNode() throws {
        // #1 has room for exactly 20 calls (capacity 20, threshold 1.0); its reservations count
        // as calls until they expire, so it hands out 20 and passes the rest on.
        let group = try Group(3, port: 5167, draining: []) { node in
            "[capacity]\ncalls = \(node == 1 ? 20 : 1000)\n[node]\nrate_limit = 0\nthreshold = 1.0\n"
        }
        let run = try group.sipp("redirect_uac.xml", calls: 200, rate: 400, clientPort: 5177)
        #expect(run.status == 0)
        let toFirst = run.log.filter { $0 == "contact sip:service@127.0.0.1:5167" }.count
        let toSecond = run.log.filter { $0 == "contact sip:service@127.0.0.2:5167" }.count
        #expect(toFirst == 20, "hand-outs by #1: \(toFirst)")
        #expect(toFirst + toSecond == 200)
    }

    @Test func allBusyIs503WithRetryAfter() throws {
        let group = try Group(3, port: 5163, draining: [1, 2, 3])
        defer { _ = group.stop() }
        let run = try group.sipp("busy_uac.xml", calls: 5, clientPort: 5173)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "retry-after 30" }.count == 5, "\(run.log)")
    }

    @Test func aKilledMemberIsSkippedAndChosenAgainWhenBack() throws {
        let group = try Group(3, port: 5164, draining: [1])
        defer { _ = group.stop() }
        group.kill(2)
        // Every request is answered, by #3, within the forward timeout at worst.
        let during = try group.sipp("redirect_uac.xml", calls: 20, rate: 20, clientPort: 5174)
        #expect(during.status == 0)
        #expect(during.log.filter { $0 == "contact sip:service@127.0.0.3:5164" }.count == 20, "\(during.log)")
        // #2 back: after its probes succeed it is chosen again.
        try group.start(2)
        Thread.sleep(forTimeInterval: 1.5)
        let after = try group.sipp("redirect_uac.xml", calls: 5, clientPort: 5175)
        #expect(after.status == 0)
        #expect(after.log.filter { $0 == "contact sip:service@127.0.0.2:5164" }.count == 5, "\(after.log)")
    }

    @Test func badConfigNamesFileAndLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-bad-\(getpid()).conf")
        defer { try? FileManager.default.removeItem(at: file) }
        try "[node]\nlisten = 127.0.0.1:5060\nthreshold = lots\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Interop.run(Interop.binary.path, ["--check-config", "-c", file.path])
        #expect(result.status == 2)
        #expect(result.error.contains("\(file.path):3: threshold"), "\(result.error)")
    }
}
