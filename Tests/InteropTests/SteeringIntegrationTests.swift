import Foundation
import Testing

/// The steering agent (DESIGN §5) with the real binary: real nodes as the group, SIPp as the
/// phones and as the proxy a phone ends up calling, and a hook script that writes down every
/// run. Ports 5350-5399 only, loopback addresses only.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sipp"), "sipp is not installed"))
struct SteeringIntegrationTests {
    /// One run of the hook, as the hook script wrote it down.
    struct HookRun: CustomStringConvertible {
        var event: String
        var environment: [String: String]
        /// Wall clock (`date +%s.%N`) when the hook started.
        var time: Double

        subscript(_ name: String) -> String? { environment[name] }
        var endpoint: String { environment["ENDPOINT"] ?? "" }
        var description: String { "\(event) \(environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) @\(time)" }
    }

    /// Processes of one test (nodes, agents, SIPp), their files in /tmp/gatewayd-steer-PID/NAME.
    final class Bench {
        let directory: URL
        var processes: [String: Process] = [:]

        init(_ name: String) throws {
            directory = URL(fileURLWithPath: "/tmp/gatewayd-steer-\(getpid())").appendingPathComponent(name)
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        deinit {
            // All at once: each may take a few seconds to let its open transactions finish.
            let running = processes.values.filter { $0.isRunning }
            for process in running { process.terminate() }
            for process in running { process.waitUntilExit() }
            if ProcessInfo.processInfo.environment["GATEWAYD_STEER_KEEP"] == nil {
                try? FileManager.default.removeItem(at: directory)
                rmdir(directory.deletingLastPathComponent().path)  // the last test's removes the parent
            }
        }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        var hookLog: String { path("hook.log") }

        /// The hook the tests use: one line per run with its argument, every variable the
        /// agent may set (`<unset>` when it did not) and when it ran; a line on stderr too.
        func writeHook() throws -> String {
            let script = path("hook.sh")
            var text = "#!/bin/sh\nT=$(/bin/date +%s.%N)\necho \"$1"
            for name in ["ENDPOINT", "KIND", "IDENTITY", "PROXY", "HOST", "PORT", "TRANSPORT", "EXPIRES", "RETRY_AFTER"] {
                text += " \(name)=${\(name)-<unset>}"
            }
            text += " TIME=$T\" >> \(hookLog)\necho \"ran $1 for $ENDPOINT\" >&2\nexit 0\n"
            try text.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            return script
        }

        /// Every hook run so far, in order.
        func hookRuns() -> [HookRun] {
            let text = (try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
                let fields = line.split(separator: " ").map(String.init)
                guard let event = fields.first else { return nil }
                var environment: [String: String] = [:]
                for field in fields.dropFirst() {
                    guard let equals = field.firstIndex(of: "=") else { continue }
                    environment[String(field[..<equals])] = String(field[field.index(after: equals)...])
                }
                guard let time = environment.removeValue(forKey: "TIME").flatMap(Double.init) else { return nil }
                return HookRun(event: event, environment: environment, time: time)
            }
        }

        /// A node of a two-member group 127.0.0.1:PORT, 127.0.0.2:PORT; its status file is
        /// NAME.json.
        func nodeConfig(_ name: String, member: Int, port: Int, drain: Bool = false, identity: String? = nil,
                        retryAfter: Int = 30, extra: String = "") -> String {
            var text = "[node]\nlisten = 127.0.0.\(member):\(port)\n"
            if let identity { text += "identity = \(identity)\n" }
            text += "status_file = \(path(name + ".json"))\nstatus_interval = 1\ndrain = \(drain ? "yes" : "no")\n"
            text += "retry_after = \(retryAfter)\n\(extra)[sequence]\nn1 = 127.0.0.1:\(port)\nn2 = 127.0.0.2:\(port)\n"
            text += "[health]\nprobe_interval_ms = 1000\n"
            return text
        }

        /// An agent alone: `[node]` with its status file only, `[steering]` and endpoints.
        func agentConfig(_ name: String, steering: String, endpoints: String) -> String {
            "[node]\nstatus_file = \(path(name + ".json"))\nstatus_interval = 1\n[steering]\n\(steering)\(endpoints)"
        }

        /// Starts gatewayd with NAME.conf (standard error to NAME.log) and waits for its
        /// first status file: it listens by then.
        @discardableResult
        func start(_ name: String, config: String) throws -> Process {
            let file = path(name + ".conf")
            try config.write(toFile: file, atomically: true, encoding: .utf8)
            try? FileManager.default.removeItem(atPath: path(name + ".json"))
            _ = FileManager.default.createFile(atPath: path(name + ".log"), contents: nil)
            let process = Process()
            process.executableURL = Interop.binary
            process.arguments = ["-c", file]
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: path(name + ".log")))
            try process.run()
            processes[name] = process
            let ready = Bench.wait(5) { FileManager.default.fileExists(atPath: self.path(name + ".json")) ? true : nil }
            try #require(ready == true, "\(name) did not start: \(log(name))")
            return process
        }

        func log(_ name: String) -> String { (try? String(contentsOfFile: path(name + ".log"), encoding: .utf8)) ?? "" }

        func status(_ name: String) -> [String: Any]? {
            guard let data = FileManager.default.contents(atPath: path(name + ".json")) else { return nil }
            return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        }

        func endpoint(_ name: String, in agent: String) -> [String: Any]? {
            (status(agent)?["endpoints"] as? [[String: Any]])?.first { $0["name"] as? String == name }
        }

        func steering(_ agent: String) -> [String: Any]? { status(agent)?["steering"] as? [String: Any] }

        func signal(_ name: String, _ number: Int32) {
            guard let process = processes[name] else { return }
            kill(process.processIdentifier, number)
        }

        /// SIGKILL, reaped.
        func killHard(_ name: String) {
            guard let process = processes.removeValue(forKey: name) else { return }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// SIPp's common options: its own address and port, its control and media ports
        /// (media on `mediaPort` and `mediaPort` + 2) in the test's range, on loopback.
        static func sippOptions(ip: String, port: Int, controlPort: Int, mediaPort: Int) -> [String] {
            ["-i", ip, "-p", "\(port)", "-ci", "127.0.0.1", "-cp", "\(controlPort)", "-mi", ip, "-mp", "\(mediaPort)",
             "-nostdin", "-timeout", "20s", "-timeout_error"]
        }

        /// SIPp's built-in UAS on IP:PORT for `calls` calls, in the background (it ends by itself).
        func startUAS(ip: String, port: Int, controlPort: Int, mediaPort: Int, calls: Int) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sipp")
            process.arguments = ["-sn", "uas", "-m", "\(calls)", "-trace_err", "-error_file", path("uas-errors.log")]
                + Bench.sippOptions(ip: ip, port: port, controlPort: controlPort, mediaPort: mediaPort)
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            processes["uas"] = process
            #expect(Interop.eventually(10) { Interop.isBoundUDP(ip, port) }, "SIPp's UAS did not bind \(ip):\(port)")
            return process
        }

        /// SIPp as phone 127.0.0.100:PORT with `scenario`, its outbound proxy `agent`; the
        /// proxy the 302s must name is `proxy`. Its exit status and log lines.
        func phone(_ scenario: String, agent: String, proxy: String, calls: Int, port: Int, controlPort: Int,
                   mediaPort: Int) throws -> (status: Int32, log: [String], errors: String) {
            let log = path("sipp-\(port).log"), errors = path("sipp-\(port)-errors.log")
            let result = try Interop.run("/usr/bin/sipp", [
                "-sf", Interop.root.appendingPathComponent("Tests/Scenarios/\(scenario)").path, "-set", "proxy", proxy,
                "-m", "\(calls)", "-r", "5", "-trace_logs", "-log_file", log, "-trace_err", "-error_file", errors,
            ] + Bench.sippOptions(ip: "127.0.0.100", port: port, controlPort: controlPort, mediaPort: mediaPort) + [agent])
            let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            let errorText = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            return (result.status, lines, String(errorText.prefix(3000)))
        }

        /// Polls `probe` every 20 ms until it gives a value or `seconds` pass.
        static func wait<T>(_ seconds: Double, _ probe: () -> T?) -> T? {
            let deadline = Date().addingTimeInterval(seconds)
            while true {
                if let value = probe() { return value }
                if Date() >= deadline { return nil }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }

        /// Waits until the hook has run at least `count` times; all runs so far.
        func waitForHookRuns(_ count: Int, within seconds: Double) -> [HookRun] {
            Bench.wait(seconds) { let runs = hookRuns(); return runs.count >= count ? runs : nil } ?? hookRuns()
        }
    }

    /// What the hook must have been given for an assignment (or a loss) of `proxy`.
    static func expectProxy(_ run: HookRun, event: String, endpoint: String, kind: String, identity: String, proxy: String,
                            host: String, port: String, transport: String, expires: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.event == event, "\(run)", sourceLocation: sourceLocation)
        let expected = ["ENDPOINT": endpoint, "KIND": kind, "IDENTITY": identity, "PROXY": proxy, "HOST": host, "PORT": port,
                        "TRANSPORT": transport, "EXPIRES": expires, "RETRY_AFTER": "<unset>"]
        #expect(run.environment == expected, "\(run)", sourceLocation: sourceLocation)
    }

    /// What the hook must have been given when the group was busy (or silent).
    static func expectBusy(_ run: HookRun, endpoint: String, kind: String, identity: String, retryAfter: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.event == "busy", "\(run)", sourceLocation: sourceLocation)
        let expected = ["ENDPOINT": endpoint, "KIND": kind, "IDENTITY": identity, "PROXY": "<unset>", "HOST": "<unset>",
                        "PORT": "<unset>", "TRANSPORT": "<unset>", "EXPIRES": "<unset>", "RETRY_AFTER": retryAfter]
        #expect(run.environment == expected, "\(run)", sourceLocation: sourceLocation)
    }

    static let analogAndH323 = "[endpoint fxs1]\nkind = analog\nidentity = fxs1\n[endpoint gk1]\nkind = h323\nidentity = h323:alice@gw\n"

    // MARK: 1. SIP phones

    /// A SIPp phone that follows redirects registers and calls through the agent in
    /// `mode = redirect`: every REGISTER and INVITE gets the 302 naming node #1's identity
    /// (the SIPp UAS), and the call then completes there. A phone nobody configured gets 403
    /// and never reaches the group. (Recursion, the default, is tested with real phones.)
    @Test func aPhoneIsRedirectedToItsProxyAndCompletesTheCallThere() throws {
        let bench = try Bench("phone")
        try bench.start("n1", config: bench.nodeConfig("n1", member: 1, port: 5350, identity: "sip:127.0.0.1:5360;transport=udp"))
        try bench.start("n2", config: bench.nodeConfig("n2", member: 2, port: 5350))
        try bench.start("agent", config: bench.agentConfig("agent",
            steering: "entry_points = 127.0.0.1:5350, 127.0.0.2:5350\nlisten = 127.0.0.9:5351\nmode = redirect\n",
            endpoints: "[endpoint phone]\nkind = sip\nidentity = sip:phone@127.0.0.1\n"))
        let uas = try bench.startUAS(ip: "127.0.0.1", port: 5360, controlPort: 5361, mediaPort: 5362, calls: 5)

        let run = try bench.phone("steered_phone_uac.xml", agent: "127.0.0.9:5351", proxy: "127.0.0.1:5360", calls: 5,
                                  port: 5352, controlPort: 5353, mediaPort: 5354)
        #expect(run.status == 0, "\(run.log)\n\(run.errors)")
        #expect(run.log.filter { $0 == "register contact 127.0.0.1:5360" }.count == 5, "\(run.log)")
        #expect(run.log.filter { $0 == "invite contact 127.0.0.1:5360" }.count == 5, "\(run.log)")
        #expect(run.log.filter { $0 == "call done" }.count == 5, "\(run.log)")
        #expect(run.log.filter { $0.contains("contact") && !$0.hasSuffix(" 127.0.0.1:5360") }.isEmpty, "\(run.log)")
        // The agent's view: the phone assigned to that proxy (host and port, not a Request-URI).
        let phone = Bench.wait(3) { () -> [String: Any]? in
            let entry = bench.endpoint("phone", in: "agent")
            return entry?["state"] as? String == "assigned" ? entry : nil
        }
        #expect(phone?["kind"] as? String == "sip")
        #expect(phone?["proxy"] as? String == "sip:127.0.0.1:5360;transport=udp", "\(String(describing: phone))")
        #expect(bench.log("agent").contains("gatewayd: endpoint phone: assigned sip:127.0.0.1:5360;transport=udp"),
                "\(bench.log("agent"))")
        // Each REGISTER and INVITE of the phone counted once, not once per round or retransmission.
        let relayedBefore = bench.steering("agent")?["relayed"] as? Int ?? -1
        #expect(relayedBefore == 10, "\(String(describing: bench.steering("agent")))")

        // A phone that is not configured: 403 from the agent, nothing relayed.
        let stranger = try UDPSocket(bind: "127.0.0.100", port: 5357)
        let register = "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5357;branch=z9hG4bKstranger1\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:stranger@127.0.0.1>;tag=s1\r\nTo: <sip:stranger@127.0.0.1>\r\n"
            + "Call-ID: stranger-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:stranger@127.0.0.100:5357>\r\nExpires: 300\r\n"
            + "Content-Length: 0\r\n\r\n"
        try stranger.send(register, to: "127.0.0.9", port: 5351)
        let answer = stranger.receive(timeoutMilliseconds: 2000) ?? ""
        #expect(answer.hasPrefix("SIP/2.0 403"), "\(answer)")
        #expect(answer.contains("Call-ID: stranger-1"))
        let refused = Bench.wait(3) { bench.steering("agent")?["refused_unknown"] as? Int == 1 ? true : nil }
        #expect(refused == true, "\(String(describing: bench.steering("agent")))")
        #expect(bench.steering("agent")?["relayed"] as? Int == relayedBefore)
        #expect(stranger.receive(timeoutMilliseconds: 300) == nil)  // no 302 later: it went nowhere

        // The proxy (the UAS) had the five calls: it ends by itself, successfully, after them
        // (its built-in scenario lingers 4 s after the last BYE).
        let uasEnded = Bench.wait(6) { uas.isRunning ? nil : true }
        #expect(uasEnded == true && uas.terminationStatus == 0, "UAS status \(uas.isRunning ? -1 : uas.terminationStatus)")
    }

    // MARK: 2. Analog lines and H.323 endpoints

    /// The hook gets every variable right for an analog line and an H.323 endpoint; refreshes
    /// that bring the same proxy run no hook; with node #1 draining, the next refresh moves
    /// both to node #2 and the hook runs again.
    @Test func hookRunsWithTheAssignmentAndARefreshMovesEndpointsOffABusyNode() throws {
        let bench = try Bench("hook")
        let hook = try bench.writeHook()
        try bench.start("n1", config: bench.nodeConfig("n1", member: 1, port: 5365, extra: "contact_expires = 90\n"))
        // #2's identity differs from its address in transport: TRANSPORT comes from the Contact.
        let n2 = bench.nodeConfig("n2", member: 2, port: 5365, identity: "sip:127.0.0.2:5365;transport=tcp",
                                  extra: "contact_expires = 45\n")
        try bench.start("n2", config: n2)
        try bench.start("agent", config: bench.agentConfig("agent",
            steering: "entry_points = 127.0.0.1:5365, 127.0.0.2:5365\nlisten = 127.0.0.9:5366\nhook = \(hook)\n"
                + "refresh_interval = 5\ntimeout_ms = 500\n",
            endpoints: SteeringIntegrationTests.analogAndH323))

        let first = bench.waitForHookRuns(2, within: 3)
        try #require(first.count == 2, "\(first)\n\(bench.log("agent"))")
        let byEndpoint = Dictionary(first.map { ($0.endpoint, $0) }, uniquingKeysWith: { a, _ in a })
        let n1Proxy = "sip:127.0.0.1:5365;transport=udp"
        SteeringIntegrationTests.expectProxy(try #require(byEndpoint["fxs1"]), event: "assigned", endpoint: "fxs1", kind: "analog",
                                             identity: "fxs1", proxy: n1Proxy, host: "127.0.0.1", port: "5365",
                                             transport: "udp", expires: "90")
        SteeringIntegrationTests.expectProxy(try #require(byEndpoint["gk1"]), event: "assigned", endpoint: "gk1", kind: "h323",
                                             identity: "h323:alice@gw", proxy: n1Proxy, host: "127.0.0.1", port: "5365",
                                             transport: "udp", expires: "90")
        let agentLog = bench.log("agent")
        #expect(agentLog.contains("gatewayd: endpoint fxs1: assigned \(n1Proxy)"), "\(agentLog)")
        #expect(agentLog.contains("gatewayd: hook assigned for fxs1: exit 0; stderr: ran assigned for fxs1"), "\(agentLog)")
        #expect(agentLog.contains("gatewayd: hook assigned for gk1: exit 0; stderr: ran assigned for gk1"), "\(agentLog)")

        // The first refresh (at 4.5-5 s) brings the same proxy: asked again, no hook.
        let refreshed = Bench.wait(8) { (bench.steering("agent")?["asks"] as? Int ?? 0) >= 4 ? true : nil }
        #expect(refreshed == true, "\(String(describing: bench.steering("agent")))")
        #expect(bench.hookRuns().count == 2, "\(bench.hookRuns())")
        #expect(bench.endpoint("fxs1", in: "agent")?["last_hook"] as? String == "assigned: exit 0")

        // Node #1 drains: the next refresh goes on to #2, which assigns itself.
        try bench.nodeConfig("n1", member: 1, port: 5365, drain: true, extra: "contact_expires = 90\n")
            .write(toFile: bench.path("n1.conf"), atomically: true, encoding: .utf8)
        bench.signal("n1", SIGHUP)
        let draining = Bench.wait(3) { () -> Bool? in
            ((bench.status("n1")?["node"] as? [String: Any])?["mode"] as? String) == "drain" ? true : nil
        }
        try #require(draining == true, "\(bench.log("n1"))")
        let all = bench.waitForHookRuns(4, within: 7)
        try #require(all.count == 4, "\(all)\n\(bench.log("agent"))")
        let n2Proxy = "sip:127.0.0.2:5365;transport=tcp"
        for (name, kind, identity) in [("fxs1", "analog", "fxs1"), ("gk1", "h323", "h323:alice@gw")] {
            let runs = all.filter { $0.endpoint == name }
            try #require(runs.count == 2, "\(all)")
            SteeringIntegrationTests.expectProxy(runs[1], event: "assigned", endpoint: name, kind: kind, identity: identity,
                                                 proxy: n2Proxy, host: "127.0.0.2", port: "5365", transport: "tcp", expires: "45")
            // Two refreshes after the first assignment, each at 5 s less up to 10 % jitter.
            let gap = runs[1].time - runs[0].time
            print("steering: \(name) moved to #2 \(String(format: "%.3f", gap)) s after its first assignment")
            #expect(gap >= 8.95 && gap < 11.0, "\(name): \(gap) s between assignments")
            // The hook ran; the status file says so at its next write (on the change, or the interval).
            let moved = Bench.wait(5) { () -> Bool? in
                let entry = bench.endpoint(name, in: "agent")
                return entry?["state"] as? String == "assigned" && entry?["proxy"] as? String == n2Proxy ? true : nil
            }
            #expect(moved == true, "\(String(describing: bench.endpoint(name, in: "agent")))")
        }
        let status = try Interop.run(Interop.binary.path, ["status", "-s", bench.path("agent.json")])
        #expect(status.output.contains("endpoint fxs1 (analog) assigned \(n2Proxy)"), "\(status.output)\(status.error)")
        #expect(status.output.contains("endpoint gk1 (h323) assigned \(n2Proxy)"), "\(status.output)\(status.error)")
    }

    // MARK: 3. The proxy lost

    /// Node #1, the assigned proxy, is killed: both endpoints go `lost` (the hook told which
    /// proxy), then get node #2, within failures_to_lost probe intervals after the first
    /// unanswered probe (which leaves at most one interval after the kill), plus slack.
    @Test func aKilledProxyIsLostAndReplacedWithinTheProbeBudget() throws {
        let bench = try Bench("lost")
        let hook = try bench.writeHook()
        try bench.start("n1", config: bench.nodeConfig("n1", member: 1, port: 5367))
        try bench.start("n2", config: bench.nodeConfig("n2", member: 2, port: 5367))
        let interval = 0.3, failures = 3.0
        try bench.start("agent", config: bench.agentConfig("agent",
            steering: "entry_points = 127.0.0.1:5367, 127.0.0.2:5367\nlisten = 127.0.0.9:5368\nhook = \(hook)\n"
                + "timeout_ms = 300\nprobe_interval_ms = 300\nfailures_to_lost = 3\n",
            endpoints: SteeringIntegrationTests.analogAndH323))
        let first = bench.waitForHookRuns(2, within: 3)
        try #require(first.count == 2 && first.allSatisfy { $0["HOST"] == "127.0.0.1" }, "\(first)")
        // Probes of #1 are answered before it goes.
        let probed = Bench.wait(4) { (bench.steering("agent")?["probes_answered"] as? Int ?? 0) >= 4 ? true : nil }
        try #require(probed == true, "\(String(describing: bench.steering("agent")))")

        let killedAt = Date().timeIntervalSince1970
        bench.killHard("n1")
        let all = bench.waitForHookRuns(6, within: 6)
        Thread.sleep(forTimeInterval: 0.5)  // nothing more should come
        let runs = bench.hookRuns()
        #expect(runs.count == 6, "\(runs)\n\(bench.log("agent"))")
        let bound = interval * (failures + 1) + 1.5
        for (name, kind, identity) in [("fxs1", "analog", "fxs1"), ("gk1", "h323", "h323:alice@gw")] {
            let mine = all.filter { $0.endpoint == name }
            try #require(mine.count == 3, "\(all)")
            SteeringIntegrationTests.expectProxy(mine[1], event: "lost", endpoint: name, kind: kind, identity: identity,
                                                 proxy: "sip:127.0.0.1:5367;transport=udp", host: "127.0.0.1", port: "5367",
                                                 transport: "udp", expires: "60")
            SteeringIntegrationTests.expectProxy(mine[2], event: "assigned", endpoint: name, kind: kind, identity: identity,
                                                 proxy: "sip:127.0.0.2:5367;transport=udp", host: "127.0.0.2", port: "5367",
                                                 transport: "udp", expires: "60")
            let lost = mine[1].time - killedAt, assigned = mine[2].time - killedAt
            print("steering: \(name) lost \(String(format: "%.3f", lost)) s and reassigned \(String(format: "%.3f", assigned)) s after the kill")
            // Never before failures_to_lost intervals of silence; the new proxy at most the bound after the kill.
            #expect(lost >= interval * failures - 0.05, "\(name) lost after \(lost) s")
            #expect(assigned >= lost && assigned <= bound, "\(name) reassigned after \(assigned) s (bound \(bound) s)")
            let entry = bench.endpoint(name, in: "agent")
            #expect(entry?["state"] as? String == "assigned" && entry?["proxy"] as? String == "sip:127.0.0.2:5367;transport=udp",
                    "\(String(describing: entry))")
        }
        let agentLog = bench.log("agent")
        #expect(agentLog.contains("gatewayd: endpoint fxs1: lost: the proxy stopped answering probes"), "\(agentLog)")
        #expect(agentLog.contains("gatewayd: hook lost for gk1: exit 0"), "\(agentLog)")
        // #1 is an entry point too: it is known to be down.
        let entryPoints = bench.steering("agent")?["entry_points"] as? [[String: Any]]
        #expect(entryPoints?.first?["address"] as? String == "127.0.0.1:5367" && entryPoints?.first?["up"] as? Bool == false,
                "\(String(describing: entryPoints))")
    }

    // MARK: 4. The primary entry point down

    /// The first entry point is an address nobody listens on: phones' REGISTERs and INVITEs
    /// all get the 302 naming node #2 (none unanswered), and an analog line gets #2.
    @Test func theFallbackEntryPointAnswersWhenThePrimaryIsDown() throws {
        let bench = try Bench("fallback")
        let hook = try bench.writeHook()
        try bench.start("n2", config: bench.nodeConfig("n2", member: 2, port: 5370))
        try bench.start("agent", config: bench.agentConfig("agent",
            steering: "entry_points = 127.0.0.1:5370, 127.0.0.2:5370\nlisten = 127.0.0.9:5371\nhook = \(hook)\ntimeout_ms = 500\nmode = redirect\n",
            endpoints: "[endpoint phone]\nkind = sip\nidentity = sip:phone@127.0.0.1\n[endpoint fxs1]\nkind = analog\nidentity = fxs1\n"))
        // At once: the first requests find the primary silent and go on after timeout_ms.
        let run = try bench.phone("steered_phone_redirect_uac.xml", agent: "127.0.0.9:5371", proxy: "127.0.0.2:5370", calls: 10,
                                  port: 5372, controlPort: 5373, mediaPort: 5374)
        #expect(run.status == 0, "\(run.log)\n\(run.errors)")
        #expect(run.log.filter { $0 == "register contact 127.0.0.2:5370" }.count == 10, "\(run.log)")
        #expect(run.log.filter { $0 == "invite contact 127.0.0.2:5370" }.count == 10, "\(run.log)")
        #expect(run.log.filter { $0.contains("contact") }.count == 20, "\(run.log)")

        let runs = bench.waitForHookRuns(1, within: 3)
        try #require(runs.count >= 1, "\(bench.log("agent"))")
        SteeringIntegrationTests.expectProxy(runs[0], event: "assigned", endpoint: "fxs1", kind: "analog", identity: "fxs1",
                                             proxy: "sip:127.0.0.2:5370;transport=udp", host: "127.0.0.2", port: "5370",
                                             transport: "udp", expires: "60")
        #expect(runs.count == 1, "\(runs)")
        // The status file is written each second: wait for the one after the last request.
        let steering = Bench.wait(5) { () -> [String: Any]? in
            let steering = bench.steering("agent")
            return steering?["relayed"] as? Int == 20 ? steering : nil
        } ?? bench.steering("agent")
        #expect(steering?["relayed"] as? Int == 20, "\(String(describing: steering))")
        #expect(steering?["asks_unanswered"] as? Int == 0, "\(String(describing: steering))")
        let entryPoints = steering?["entry_points"] as? [[String: Any]]
        #expect(entryPoints?.first?["up"] as? Bool == false && entryPoints?.last?["up"] as? Bool == true, "\(String(describing: entryPoints))")
        #expect(bench.endpoint("phone", in: "agent")?["state"] as? String == "assigned")
    }

    // MARK: 5. Busy, silent

    /// Every node draining (Retry-After 3): the line goes `busy`, the hook gets RETRY_AFTER=3,
    /// and the agent asks again only after that long (gaps between busy runs). Every entry
    /// point silent (retry = 2): `busy` with RETRY_AFTER=2, counted as unanswered.
    @Test func allBusyWaitsRetryAfterAndAllSilentWaitsRetry() throws {
        let bench = try Bench("busy")
        let hook = try bench.writeHook()
        try bench.start("n1", config: bench.nodeConfig("n1", member: 1, port: 5385, drain: true, retryAfter: 3))
        try bench.start("n2", config: bench.nodeConfig("n2", member: 2, port: 5385, drain: true, retryAfter: 3))
        try bench.start("busy", config: bench.agentConfig("busy",
            steering: "entry_points = 127.0.0.1:5385, 127.0.0.2:5385\nlisten = 127.0.0.9:5386\nhook = \(hook)\n",
            endpoints: "[endpoint fxs1]\nkind = analog\nidentity = fxs1\n"))
        // Nobody listens on the entry points of this one (an h323 endpoint, to tell the runs apart).
        try bench.start("silent", config: bench.agentConfig("silent",
            steering: "entry_points = 127.0.0.1:5388, 127.0.0.2:5388\nlisten = 127.0.0.9:5387\nhook = \(hook)\n"
                + "retry = 2\ntimeout_ms = 200\n",
            endpoints: "[endpoint gk1]\nkind = h323\nidentity = h323:alice@gw\n"))

        _ = Bench.wait(9) { bench.hookRuns().filter { $0.endpoint == "fxs1" }.count >= 3 ? true : nil }
        let busy = bench.hookRuns().filter { $0.endpoint == "fxs1" }
        try #require(busy.count >= 3, "\(bench.hookRuns())\n\(bench.log("busy"))")
        for run in busy { SteeringIntegrationTests.expectBusy(run, endpoint: "fxs1", kind: "analog", identity: "fxs1", retryAfter: "3") }
        // The times are the hook's own (its first command, after fork and exec of sh): how
        // long that start takes varies by a millisecond or so from run to run, so a gap may
        // measure that much short of the agent's real wait. `startJitter` allows for it; an
        // agent that asked early (or ignored Retry-After) would be off by far more.
        let startJitter = 0.01
        for index in 1..<busy.count {
            let gap = busy[index].time - busy[index - 1].time
            print("steering: busy gap \(String(format: "%.3f", gap)) s (Retry-After 3)")
            #expect(gap >= 3.0 - startJitter && gap < 4.0, "gap \(gap) s between busy runs")
        }
        let line = bench.endpoint("fxs1", in: "busy")
        #expect(line?["state"] as? String == "busy" && line?["retry_after_s"] as? Int == 3, "\(String(describing: line))")
        #expect(line?["proxy"] is NSNull, "\(String(describing: line))")
        #expect(bench.steering("busy")?["asks_unanswered"] as? Int == 0)
        #expect(bench.log("busy").contains("gatewayd: endpoint fxs1: busy, asking again in 3 s"), "\(bench.log("busy"))")

        let silent = bench.hookRuns().filter { $0.endpoint == "gk1" }
        try #require(silent.count >= 2, "\(bench.hookRuns())\n\(bench.log("silent"))")
        for run in silent {
            SteeringIntegrationTests.expectBusy(run, endpoint: "gk1", kind: "h323", identity: "h323:alice@gw", retryAfter: "2")
        }
        for index in 1..<silent.count {
            let gap = silent[index].time - silent[index - 1].time
            print("steering: silent gap \(String(format: "%.3f", gap)) s (retry 2, two entry points × 200 ms)")
            #expect(gap >= 2.0 - startJitter && gap < 2.0 + 2 * 0.2 + 1.0, "gap \(gap) s between busy runs")
        }
        let gk1 = bench.endpoint("gk1", in: "silent")
        #expect(gk1?["state"] as? String == "busy" && gk1?["retry_after_s"] as? Int == 2, "\(String(describing: gk1))")
        #expect((bench.steering("silent")?["asks_unanswered"] as? Int ?? 0) >= 2, "\(String(describing: bench.steering("silent")))")
    }
}
