import Foundation
import Testing

/// A gatewayd process in a lab (started with posix_spawn like the rest: see `ChildProcess`),
/// its config, status file and log in its own directory.
final class GatewaydProcess: LabMember {
    let name: String
    let directory: String
    var config: String { directory + "/gatewayd.conf" }
    var statusFile: String { directory + "/status.json" }
    var log: String { directory + "/gatewayd.log" }
    private var process: ChildProcess?

    /// Starts gatewayd with `config` (a `status_file` line pointing into its directory is
    /// added to `[node]`) and waits for its first status file: it listens by then.
    init(_ lab: PhoneLab, name: String, config text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.name = name
        directory = try lab.subdirectory(name)
        try write(text)
        process = try lab.launch(Interop.binary.path, ["-c", config], in: directory, output: log, error: log)
        _ = lab.add(self)
        let ready = RealPhones.waitUntil(10, every: 0.05) { FileManager.default.fileExists(atPath: statusFile) || process?.isRunning != true }
        try #require(ready && process?.isRunning == true, "gatewayd \(name) did not start: \(RealPhones.tail(log))",
                     sourceLocation: sourceLocation)
    }

    func write(_ text: String) throws {
        let withStatus = text.replacingOccurrences(of: "[node]\n", with: "[node]\nstatus_file = \(statusFile)\nstatus_interval = 1\n")
        try withStatus.write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// Writes a new config and sends SIGHUP; waits until the status file says `accept(status)`.
    func reload(_ text: String, until accept: ([String: Any]) -> Bool) throws -> Bool {
        try write(text)
        guard let process else { return false }
        kill(process.processIdentifier, SIGHUP)
        return RealPhones.waitUntil(10, every: 0.1) { status().map(accept) ?? false }
    }

    func status() -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: statusFile) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    var logText: String { RealPhones.tail(log) }

    func stop() {
        if let process { PhoneLab.end(process, signal: SIGTERM, grace: 10) }
        process = nil
    }
}

/// Real phones from Debian through a two-node group in front of two real Kamailios, as a
/// new user would point them: through the steering agent as outbound proxy (a), and
/// straight at the primary (b). For each: it registers at the proxy the group assigned
/// (checked in that Kamailio's location table, and absent from the other's), a call to
/// another registered phone is set up, RTP flows both ways, BYE ends it, and nothing loops
/// (requests counted in a capture). Draining the assigned node moves a phone at its next
/// registration; all busy gives 503 with Retry-After.
///
/// Loopback only. Nodes n1 127.0.0.1:5450 (the primary) and n2 127.0.0.2:5450, each in front
/// of the Kamailio of its own address on port 5460 (its identity); the agent 127.0.0.1:5470.
/// Phones as in `RealPhonesKamailioTests`, inside whose serialized suite this one runs: they
/// share addresses and ports, so never at the same time.
extension RealPhonesKamailioTests {
    @Suite struct ThroughTheGroup {
        static let primary = "127.0.0.1:5450"
        static let agent = "127.0.0.1:5470"
        static let users = ["alice", "bob", "carol", "dave", "sam"]

        /// TLS ports: the primary's and the agent's, each next to its UDP and TCP port.
        static let primaryTLS = "127.0.0.1:5451"
        static let agentTLS = "127.0.0.1:5471"

        /// `[tls]` with the certificate `tls-certs` made in `certificates` for `name`.
        static func tlsSection(_ certificates: String?, _ name: String) -> String {
            guard let certificates else { return "" }
            return "[tls]\ncertificate = \(certificates)/\(name).pem\nkey = \(certificates)/\(name).key\n"
        }

        /// Each Kamailio's port for `transport`: 5460 (UDP and TCP), 5461 for TLS.
        static func proxyPort(_ transport: String) -> Int { transport == "tls" ? 5461 : 5460 }

        /// `proxies`: the transport the identities name (the Kamailios also take TCP for `tcp`,
        /// TLS for `tls`).
        static func nodeConfig(_ member: Int, drain: Bool, recurse: Bool = false, certificates: String? = nil,
                               proxies: String = "udp") -> String {
            """
            [node]
            listen = 127.0.0.\(member):5450
            \(certificates != nil && member == 1 ? "tls_port = 5451" : "")
            identity = sip:127.0.0.\(member):\(proxyPort(proxies));transport=\(proxies)
            drain = \(drain ? "yes" : "no")
            recurse = \(recurse ? "yes" : "no")
            rate_limit = 0
            [sequence]
            n1 = 127.0.0.1:5450 sip:127.0.0.1:\(proxyPort(proxies));transport=\(proxies)
            n2 = 127.0.0.2:5450 sip:127.0.0.2:\(proxyPort(proxies));transport=\(proxies)
            [health]
            probe_interval_ms = 200
            \(member == 1 ? tlsSection(certificates, "n1") : "")
            """
        }

        /// `verifyProxies`: the agent checks the certificates of the proxies it reaches over TLS.
        static func agentConfig(path: Bool = false, certificates: String? = nil, verifyProxies: Bool = false) -> String {
            var text = "[node]\n[steering]\nentry_points = 127.0.0.1:5450, 127.0.0.2:5450\nlisten = \(agent)\n"
            text += "path = \(path ? "yes" : "no")\n"
            if certificates != nil { text += "tls_port = 5471\n" + tlsSection(certificates, "agent") }
            if let certificates, verifyProxies { text += "ca = \(certificates)/ca.pem\nverify = peer\n" }
            for user in users { text += "[endpoint \(user)]\nkind = sip\nidentity = sip:\(user)@127.0.0.1\n" }
            return text
        }

        /// Two Kamailios, the nodes (n1 draining unless told otherwise), the agent, a capture.
        final class Bench {
            let lab: PhoneLab
            let k1: KamailioRegistrar
            let k2: KamailioRegistrar
            let capture: LoopbackCapture
            var n1: GatewaydProcess!
            var n2: GatewaydProcess!
            var agent: GatewaydProcess?
            /// The directory of the CA and certificates, with `tls`.
            var certificates: String?

            /// `tls`: the primary and the agent also listen for TLS, with certificates made for this lab.
            init(_ name: String, n1Drains: Bool = true, n2Drains: Bool = false, recurse: Bool = false, agent: Bool = true,
                 path: Bool = false, tls: Bool = false, proxies: String = "udp") throws {
                lab = try PhoneLab(name)
                var certificates: String?
                if tls || proxies == "tls" {
                    let directory = try lab.subdirectory("certificates")
                    let made = try Interop.run(Interop.root.appendingPathComponent("scripts/tls-certs").path,
                                               [directory, "n1=127.0.0.1", "agent=127.0.0.1", "k1=127.0.0.1", "k2=127.0.0.2"])
                    try #require(made.status == 0, "tls-certs: \(made.error)")
                    certificates = directory
                }
                self.certificates = certificates
                func served(_ name: String) -> (certificate: String, key: String)? {
                    guard proxies == "tls", let certificates else { return nil }
                    return ("\(certificates)/\(name).pem", "\(certificates)/\(name).key")
                }
                k1 = try KamailioRegistrar(lab, name: "k1", address: "127.0.0.1", port: 5460, alias: ThroughTheGroup.primary,
                                           tcp: proxies == "tcp", tls: served("k1"))
                k2 = try KamailioRegistrar(lab, name: "k2", address: "127.0.0.2", port: 5460, alias: ThroughTheGroup.primary,
                                           tcp: proxies == "tcp", tls: served("k2"))
                capture = try LoopbackCapture(lab)
                n1 = try GatewaydProcess(lab, name: "n1", config: nodeConfig(1, drain: n1Drains, recurse: recurse, certificates: certificates,
                                                                             proxies: proxies))
                n2 = try GatewaydProcess(lab, name: "n2", config: nodeConfig(2, drain: n2Drains, recurse: recurse, proxies: proxies))
                if agent {
                    self.agent = try GatewaydProcess(lab, name: "agent", config: agentConfig(path: path, certificates: certificates,
                                                                                           verifyProxies: proxies == "tls"))
                }
            }

            var logs: String { "n1: \(n1.logText)\nn2: \(n2.logText)\nagent: \(agent?.logText ?? "-")" }

            func steering() -> [String: Any]? { agent?.status()?["steering"] as? [String: Any] }

            func endpoint(_ name: String) -> [String: Any]? {
                (agent?.status()?["endpoints"] as? [[String: Any]])?.first { $0["name"] as? String == name }
            }
        }

        static func account(_ user: String, throughAgent: Bool) -> SIPAccount {
            SIPAccount(user: user, registrar: primary, outboundProxy: throughAgent ? agent : nil)
        }

        /// alice and bob (baresip), registered through the agent or straight at the primary;
        /// alice over `aliceTransport` (nil: UDP).
        static func registeredBaresips(_ bench: Bench, throughAgent: Bool, aliceTransport: String? = nil,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws -> (BaresipPhone, BaresipPhone) {
            let alice = try RealPhonesKamailioTests.alice(bench.lab), bob = try RealPhonesKamailioTests.bob(bench.lab)
            var aliceAccount = account("alice", throughAgent: throughAgent)
            aliceAccount.transport = aliceTransport
            // Over TLS the phone's requests go to the TLS port, as its outbound proxy.
            if aliceTransport == "tls" { aliceAccount.outboundProxy = throughAgent ? agentTLS : primaryTLS }
            try alice.register(aliceAccount)
            try bob.register(account("bob", throughAgent: throughAgent))
            try #require(alice.waitForRegistration(within: 15) && bob.waitForRegistration(within: 15),
                         "\(alice.logText)\n\(bob.logText)\n\(bench.logs)", sourceLocation: sourceLocation)
            return (alice, bob)
        }

        /// `phone` registered at `expected` and not at `other`.
        static func expectRegistered(_ user: String, at expected: KamailioRegistrar, not other: KamailioRegistrar, _ phone: RegisteringPhone,
                                     sourceLocation: SourceLocation = #_sourceLocation) throws {
            let binding = expected.waitForBinding(of: user, within: 10)
            try #require(binding != nil, "\(user) not at \(expected.name): \(expected.bindings()) \(phone.logText)",
                         sourceLocation: sourceLocation)
            #expect(binding?.contact.contains(phone.address) == true, "\(String(describing: binding))", sourceLocation: sourceLocation)
            #expect(other.bindings(of: user).isEmpty, "\(user) also at \(other.name): \(other.bindings())", sourceLocation: sourceLocation)
        }

        /// A call from `caller` to `user` at the group's domain (`callee` answers): set up, RTP both
        /// ways, ended by the caller; each side sees the end; `kamailio` had one dialog. Then the
        /// INVITEs of that call, counted in the capture: bounded by the hops (no loop).
        static func call(_ bench: Bench, from caller: CallingPhone, to callee: CallingPhone, user: String, through kamailio: KamailioRegistrar,
                         maximumInvites: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
            (callee as? BaresipPhone)?.expectCall()
            try caller.call("sip:\(user)@\(primary)")
            try #require(caller.waitForEstablished(within: 15), "caller: \(caller.logText)\n\(bench.logs)", sourceLocation: sourceLocation)
            try #require(callee.waitForEstablished(within: 10), "callee: \(callee.logText)", sourceLocation: sourceLocation)
            #expect(RealPhones.waitUntil(5, every: 0.1) { kamailio.activeDialogs() == 1 }, "dialogs at \(kamailio.name)",
                    sourceLocation: sourceLocation)
            let media = bench.capture.waitForMedia(between: caller.rtpPorts, and: callee.rtpPorts, atLeast: 100, within: 15)
            #expect(media.0 >= 100 && media.1 >= 100, "RTP \(media.0), back \(media.1)", sourceLocation: sourceLocation)
            try caller.hangup()
            #expect(caller.waitForCallEnd(within: 10) && callee.waitForCallEnd(within: 10), "end of the call",
                    sourceLocation: sourceLocation)
            #expect(RealPhones.waitUntil(10, every: 0.1) { kamailio.activeDialogs() == 0 }, "dialogs left at \(kamailio.name)",
                    sourceLocation: sourceLocation)
            #expect(!bench.capture.waitForRequest("BYE", to: callee.address, port: callee.sipPort).isEmpty, "no BYE to the callee",
                    sourceLocation: sourceLocation)
            let invites = try SIPCount.requests(in: bench.capture.file).filter { $0.method == "INVITE" }
            let perCall = Dictionary(grouping: invites, by: \.callID).mapValues(\.count)
            #expect(perCall.values.allSatisfy { $0 <= maximumInvites }, "INVITEs per call: \(perCall)", sourceLocation: sourceLocation)
            #expect(invites.filter { $0.destination == callee.address && $0.destinationPort == callee.sipPort }.count == 1,
                    "INVITEs to the callee: \(invites.map { "\($0.source):\($0.sourcePort)->\($0.destination):\($0.destinationPort) \($0.requestURI)" })",
                    sourceLocation: sourceLocation)
        }

        // MARK: (a) through the steering agent

        /// baresip, with the agent as outbound proxy: REGISTER and INVITE go to the agent, which
        /// asks the group (n1 drains, n2 accepts) and forwards them on to n2's Kamailio; baresip
        /// never sees a 302. The agent records each phone's proxy as host and port.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipThroughTheAgentRegistersAndCallsAtTheAssignedProxy() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("agent-baresip")
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: true)
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            try Self.expectRegistered("bob", at: bench.k2, not: bench.k1, bob)
            // phone -> agent, agent -> n1, n1 -> n2, agent -> k2, k2 -> bob: five, and room for one retransmission.
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 6)
            let phone = RealPhones.wait(5) { () -> [String: Any]? in
                let entry = bench.endpoint("alice")
                return entry?["state"] as? String == "assigned" ? entry : nil
            }
            #expect(phone?["proxy"] as? String == "sip:127.0.0.2:5460;transport=udp", "\(String(describing: phone))")
            // Two REGISTERs and one INVITE from the phones: each counted once.
            let relayed = RealPhones.wait(5) { () -> Int? in
                let relayed = bench.steering()?["relayed"] as? Int
                return relayed == 3 ? relayed : nil
            }
            #expect(relayed == 3, "\(String(describing: bench.steering()))")
        }

        /// The same with alice on TCP to the agent: her REGISTER and INVITE come over a
        /// connection, the agent asks the group over UDP, and her answers go back on it.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipOverTCPThroughTheAgent() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("agent-baresip-tcp")
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: true, aliceTransport: "tcp")
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 6)
            let tcp = bench.agent?.status()?["steering_tcp"] as? [String: Any]
            #expect((tcp?["accepted"] as? Int ?? 0) >= 1 && (tcp?["messages"] as? Int ?? 0) >= 2, "\(String(describing: tcp))")
            #expect(tcp?["send_failed"] as? Int == 0 && tcp?["closed_unframeable"] as? Int == 0, "\(String(describing: tcp))")
        }

        /// The group's proxies take TCP or TLS (the identities say `;transport=tcp` or `tls`;
        /// Kamailio's tls module on port 5461): the agent recurses over that transport, on a
        /// connection it opens to the proxy (over TLS checking k2's certificate against the
        /// group's CA and that it names 127.0.0.2); alice and bob reach the agent over UDP, and
        /// their REGISTERs reach Kamailio over that connection.
        func baresipThroughTheAgentToAProxy(over transport: String) throws {
            let bench = try Bench("agent-proxy-\(transport)", proxies: transport)
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: true)
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            let proxy = "127.0.0.2:\(Self.proxyPort(transport))"
            #expect(bench.k2.bindings(of: "alice").first?.socket == "\(transport):\(proxy)", "\(bench.k2.bindings())")
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 5)
            let counters = bench.agent?.status()?["steering_\(transport)"] as? [String: Any]
            #expect((counters?["opened"] as? Int ?? 0) >= 1 && counters?["open_failed"] as? Int == 0, "\(String(describing: counters))")
            #expect(counters?["send_failed"] as? Int == 0, "\(String(describing: counters))")
            if transport == "tls" {
                #expect((counters?["handshakes"] as? Int ?? 0) >= 1 && counters?["closed_certificate"] as? Int == 0,
                        "\(String(describing: counters))")
            }
            #expect(bench.endpoint("alice")?["proxy"] as? String == "sip:\(proxy);transport=\(transport)")
        }

        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipThroughTheAgentToAProxyOverTCP() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            try baresipThroughTheAgentToAProxy(over: "tcp")
        }

        @Test(RealPhones.needs(.kamailio, .kamcmd, .kamailioTLS, .baresip, .tshark))
        func baresipThroughTheAgentToAProxyOverTLS() throws {
            try RealPhones.require(.kamailio, .kamcmd, .kamailioTLS, .baresip, .tshark)
            try baresipThroughTheAgentToAProxy(over: "tls")
        }

        /// The same straight at a recursing primary: n1 follows n2's 302 over TCP to k2.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipStraightAtAPrimaryThatRecursesToAProxyOverTCP() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("primary-proxy-tcp", recurse: true, agent: false, proxies: "tcp")
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: false)
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            #expect(bench.k2.bindings(of: "alice").first?.socket == "tcp:127.0.0.2:5460", "\(bench.k2.bindings())")
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 5)
            let tcp = bench.n1.status()?["tcp"] as? [String: Any]
            #expect((tcp?["opened"] as? Int ?? 0) >= 1 && tcp?["open_failed"] as? Int == 0, "\(String(describing: tcp))")
        }

        /// liblinphone with the agent as its proxy (linphone sends REGISTER to its reg_proxy
        /// only, so the agent is that) calls baresip, also behind the agent; sipsak registers
        /// through the agent too.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .sipsak, .tshark))
        func linphoneAndSipsakThroughTheAgent() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .linphone, .sipsak, .tshark)
            let bench = try Bench("agent-linphone")
            let carol = try RealPhonesKamailioTests.carol(bench.lab), alice = try RealPhonesKamailioTests.alice(bench.lab)
            carol.proxyMode = .server
            try carol.register(Self.account("carol", throughAgent: true))
            try alice.register(Self.account("alice", throughAgent: true))
            try #require(carol.waitForRegistration(within: 15) && alice.waitForRegistration(within: 15),
                         "\(carol.logText)\n\(alice.logText)\n\(bench.logs)")
            try Self.expectRegistered("carol", at: bench.k2, not: bench.k1, carol)
            try Self.call(bench, from: carol, to: alice, user: "alice", through: bench.k2, maximumInvites: 6)

            let sipsak = try SipsakPhone(bench.lab, name: "sam", address: "127.0.0.23", sipPort: 5423)
            let run = try sipsak.register(Self.account("sam", throughAgent: true), headers: [])
            #expect(run.status == 0, "\(run.output)\n\(bench.logs)")
            try Self.expectRegistered("sam", at: bench.k2, not: bench.k1, sipsak)
        }

        /// With `path = yes` the agent adds Path to REGISTER: Kamailio stores it, and a call to a
        /// phone behind the agent comes back through the agent (along the Path) to the phone.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func withPathIncomingCallsComeThroughTheAgent() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("agent-path", path: true)
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: true)
            let binding = bench.k2.waitForBinding(of: "bob")
            #expect(binding?.path == "<sip:127.0.0.1:5470;lr;gatewayd>", "\(bench.k2.bindings())")
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 7)
            let toBob = try SIPCount.requests(in: bench.capture.file).filter { $0.method == "INVITE" && $0.destinationPort == 5422 }
            #expect(toBob.allSatisfy { $0.source == "127.0.0.1" && $0.sourcePort == 5470 }, "\(toBob.map { "\($0.source):\($0.sourcePort)" })")
        }

        /// Draining the node a phone was assigned moves it at its next registration (sipsak
        /// registers on demand); with every node draining, the phone hears 503 with Retry-After
        /// and asks once.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .sipsak, .baresip, .tshark))
        func drainingMovesAPhoneAndAllBusyIs503WithRetryAfter() throws {
            try RealPhones.require(.kamailio, .kamcmd, .sipsak, .baresip, .tshark)
            let bench = try Bench("agent-drain", n1Drains: false)
            let sipsak = try SipsakPhone(bench.lab, name: "sam", address: "127.0.0.23", sipPort: 5423)
            #expect(try sipsak.register(Self.account("sam", throughAgent: true), headers: []).status == 0, "\(bench.logs)")
            try Self.expectRegistered("sam", at: bench.k1, not: bench.k2, sipsak)

            let draining = try bench.n1.reload(Self.nodeConfig(1, drain: true)) { ($0["node"] as? [String: Any])?["state"] as? String == "draining" }
            try #require(draining, "\(bench.n1.logText)")
            #expect(try sipsak.register(Self.account("sam", throughAgent: true), headers: []).status == 0, "\(bench.logs)")
            #expect(bench.k2.waitForBinding(of: "sam") != nil, "\(bench.k2.bindings())")

            let allDraining = try bench.n2.reload(Self.nodeConfig(2, drain: true)) { ($0["node"] as? [String: Any])?["state"] as? String == "draining" }
            try #require(allDraining, "\(bench.n2.logText)")
            let alice = try RealPhonesKamailioTests.alice(bench.lab)
            try alice.register(Self.account("alice", throughAgent: true))
            #expect(!alice.waitForRegistration(within: 10))
            #expect(alice.registrationFailure()?.hasPrefix("503") == true, "\(alice.events)")
            // Once tshark has printed the 503, the file holds it too.
            let seen = RealPhones.waitUntil(10, every: 0.1) {
                bench.capture.packets().contains { $0.status == 503 && $0.destination == "127.0.0.21" && $0.destinationPort == 5421 }
            }
            #expect(seen, "no 503 to the phone in the capture")
            bench.capture.stop()
            let answers = try Interop.run(RealPhones.path(.tshark), ["-r", bench.capture.file, "-n", "-Y",
                "sip.Status-Code == 503 && udp.dstport == 5421", "-T", "fields", "-e", "sip.Retry-After"])
            #expect(answers.output.split(separator: "\n").first == "30", "503s to the phone, Retry-After: \(answers.output)")
            let registers = try SIPCount.requests(in: bench.capture.file).filter { $0.method == "REGISTER" && $0.sourcePort == 5421 }
            #expect(registers.count == 1, "REGISTERs from the phone: \(registers.count)")
            #expect(bench.k1.bindings(of: "alice").isEmpty && bench.k2.bindings(of: "alice").isEmpty)
        }

        // MARK: (b) straight at the primary

        /// liblinphone with the primary as its proxy: it follows the 302 to REGISTER to n2's
        /// Kamailio, and its INVITE after the 302 still goes to the primary, now naming that
        /// proxy: the primary proxies it there instead of redirecting it to itself again.
        /// sipsak follows the 302 to REGISTER too.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .sipsak, .tshark))
        func linphoneAndSipsakStraightAtThePrimaryFollowTheRedirect() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .linphone, .sipsak, .tshark)
            let bench = try Bench("primary-linphone", agent: false)
            let carol = try RealPhonesKamailioTests.carol(bench.lab), alice = try RealPhonesKamailioTests.alice(bench.lab)
            try carol.register(Self.account("carol", throughAgent: false))
            try #require(carol.waitForRegistration(within: 15), "\(carol.logText)\n\(bench.logs)")
            try Self.expectRegistered("carol", at: bench.k2, not: bench.k1, carol)
            // alice registers at n2's Kamailio directly (baresip does not follow a 302 to REGISTER).
            try alice.register(SIPAccount(user: "alice", registrar: "127.0.0.2:5460"))
            try #require(alice.waitForRegistration(within: 10), "\(alice.logText)")
            // carol -> n1, n1 -> n2 (302 back), carol -> n1 again, n1 -> k2, k2 -> alice.
            try Self.call(bench, from: carol, to: alice, user: "alice", through: bench.k2, maximumInvites: 6)
            let counters = bench.n1.status()?["counters"] as? [String: Any]
            #expect((counters?["proxied"] as? Int ?? 0) >= 1, "\(String(describing: counters))")

            let sipsak = try SipsakPhone(bench.lab, name: "sam", address: "127.0.0.23", sipPort: 5423)
            #expect(try sipsak.register(Self.account("sam", throughAgent: false), headers: []).status == 0, "\(bench.logs)")
            try Self.expectRegistered("sam", at: bench.k2, not: bench.k1, sipsak)
        }

        /// baresip straight at the primary: with `recurse = yes` the primary follows the group's
        /// 302 itself, so baresip (which does not follow a 302 to REGISTER) registers at n2's
        /// Kamailio and calls through the primary.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipStraightAtARecursingPrimary() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("primary-baresip", recurse: true, agent: false)
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: false)
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            // alice -> n1, n1 -> n2 (302 back), n1 -> k2, k2 -> bob.
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 5)
            let counters = bench.n1.status()?["counters"] as? [String: Any]
            #expect((counters?["recursed"] as? Int ?? 0) >= 3, "\(String(describing: counters))")
        }

        /// The same with alice on TCP (RFC 3261 §18): her REGISTER and INVITE reach the primary
        /// over a connection, the answers come back on it, and bob, on UDP, gets the call.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipOverTCPStraightAtARecursingPrimary() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("primary-baresip-tcp", recurse: true, agent: false)
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: false, aliceTransport: "tcp")
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 5)
            let tcp = bench.n1.status()?["tcp"] as? [String: Any]
            // alice's REGISTER and INVITE (and ACK, BYE's route aside) came over her connection.
            #expect((tcp?["accepted"] as? Int ?? 0) >= 1 && (tcp?["messages"] as? Int ?? 0) >= 2, "\(String(describing: tcp))")
            #expect(tcp?["send_failed"] as? Int == 0 && tcp?["closed_unframeable"] as? Int == 0, "\(String(describing: tcp))")
        }

        /// alice over TLS (RFC 3261 §26.2) with the primary's TLS port as her outbound proxy:
        /// her REGISTER and INVITE come over a TLS connection, the primary takes its own Route
        /// off, recurses over UDP, and the answers go back on her connection; bob is on UDP.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipOverTLSStraightAtARecursingPrimary() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("primary-baresip-tls", recurse: true, agent: false, tls: true)
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: false, aliceTransport: "tls")
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 5)
            let tls = bench.n1.status()?["tls"] as? [String: Any]
            #expect((tls?["handshakes"] as? Int ?? 0) >= 1 && (tls?["messages"] as? Int ?? 0) >= 2, "\(String(describing: tls))")
            #expect(tls?["send_failed"] as? Int == 0 && tls?["closed_handshake"] as? Int == 0, "\(String(describing: tls))")
        }

        /// The same through the agent: alice's TLS connection ends at the agent, which asks the
        /// group over UDP and relays to the proxy assigned.
        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
        func baresipOverTLSThroughTheAgent() throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
            let bench = try Bench("agent-baresip-tls", tls: true)
            let (alice, bob) = try Self.registeredBaresips(bench, throughAgent: true, aliceTransport: "tls")
            try Self.expectRegistered("alice", at: bench.k2, not: bench.k1, alice)
            try Self.call(bench, from: alice, to: bob, user: "bob", through: bench.k2, maximumInvites: 6)
            let tls = bench.agent?.status()?["steering_tls"] as? [String: Any]
            #expect((tls?["handshakes"] as? Int ?? 0) >= 1 && (tls?["messages"] as? Int ?? 0) >= 2, "\(String(describing: tls))")
            #expect(tls?["send_failed"] as? Int == 0 && tls?["closed_handshake"] as? Int == 0, "\(String(describing: tls))")
        }

        /// liblinphone with the agent (a) or the recursing primary (b) as its server, over TCP
        /// or TLS (checking the server's certificate against the lab's CA): its REGISTER and
        /// INVITE go over a connection, and it calls baresip, on UDP. Its binding is the address
        /// of its connection (it takes the Via's received/rport as its contact); its ACK and BYE
        /// follow Kamailio's Record-Route over UDP, as liblinphone does.
        func linphoneOverAConnection(_ transport: String, throughAgent: Bool) throws {
            try RealPhones.require(.kamailio, .kamcmd, .baresip, .linphone, .tshark)
            let bench = try Bench("linphone-\(transport)-\(throughAgent ? "agent" : "primary")", recurse: !throughAgent,
                                  agent: throughAgent, tls: transport == "tls")
            let carol = try RealPhonesKamailioTests.carol(bench.lab), alice = try RealPhonesKamailioTests.alice(bench.lab)
            carol.proxyMode = .server
            carol.rootCA = bench.certificates.map { $0 + "/ca.pem" }
            var account = Self.account("carol", throughAgent: throughAgent)
            account.transport = transport
            account.outboundProxy = transport == "tls" ? (throughAgent ? Self.agentTLS : Self.primaryTLS) : (throughAgent ? Self.agent : Self.primary)
            try carol.register(account)
            try alice.register(Self.account("alice", throughAgent: throughAgent))
            try #require(carol.waitForRegistration(within: 15) && alice.waitForRegistration(within: 15),
                         "\(carol.logText)\n\(alice.logText)\n\(bench.logs)")
            let binding = bench.k2.waitForBinding(of: "carol", within: 10)
            #expect(binding?.contact.hasSuffix(";transport=\(transport)") == true, "\(String(describing: binding))")
            #expect(bench.k1.bindings(of: "carol").isEmpty, "\(bench.k1.bindings())")
            try Self.call(bench, from: carol, to: alice, user: "alice", through: bench.k2, maximumInvites: 6)
            let process = throughAgent ? bench.agent : bench.n1
            let object = (throughAgent ? "steering_" : "") + transport
            let counters = process?.status()?[object] as? [String: Any]
            #expect((counters?["accepted"] as? Int ?? 0) >= 1 && (counters?["messages"] as? Int ?? 0) >= 2, "\(String(describing: counters))")
            #expect(counters?["send_failed"] as? Int == 0 && counters?["closed_unframeable"] as? Int == 0, "\(String(describing: counters))")
            if transport == "tls" { #expect((counters?["handshakes"] as? Int ?? 0) >= 1, "\(String(describing: counters))") }
        }

        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .tshark))
        func linphoneOverTCPThroughTheAgent() throws { try linphoneOverAConnection("tcp", throughAgent: true) }

        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .tshark))
        func linphoneOverTLSThroughTheAgent() throws { try linphoneOverAConnection("tls", throughAgent: true) }

        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .tshark))
        func linphoneOverTCPStraightAtARecursingPrimary() throws { try linphoneOverAConnection("tcp", throughAgent: false) }

        @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .tshark))
        func linphoneOverTLSStraightAtARecursingPrimary() throws { try linphoneOverAConnection("tls", throughAgent: false) }
    }
}
