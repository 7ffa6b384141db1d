import Foundation
import Testing

/// The harness proved with no gatewayd in between: real Debian user agents (baresip,
/// linphone-daemon, sipsak) register at a real Kamailio (checked in its location table),
/// call each other through it (RTP both ways, counted in a capture on lo), and hang up
/// (both phones see the end, Kamailio's dialog count goes back to 0). Then what each UA does
/// with a 302 (docs/phones.md), against a stand-in for a gatewayd node.
///
/// Loopback only. SIP 5400-5499: Kamailio 127.0.0.1:5460 and 127.0.0.2:5460, baresip
/// 127.0.0.21:5421 and 127.0.0.22:5422 (ctrl_tcp 5481, 5482), sipsak 127.0.0.23:5423,
/// linphone 127.0.0.31:5431 and 127.0.0.32:5432, the redirector 127.0.0.9:5455 (as the
/// primary) and 127.0.0.9:5475 (as the agent); Kamailio's readiness probe from its own
/// address, port 5499. RTP 20000-20999: 201xx, 202xx baresip; 203xx, 204xx linphone.
@Suite(.serialized)
struct RealPhonesKamailioTests {
    static let registrar1 = (address: "127.0.0.1", port: 5460)
    static let registrar2 = (address: "127.0.0.2", port: 5460)
    static var domain1: String { "\(registrar1.address):\(registrar1.port)" }
    static var domain2: String { "\(registrar2.address):\(registrar2.port)" }

    static func alice(_ lab: PhoneLab) throws -> BaresipPhone {
        try BaresipPhone(lab, name: "alice", address: "127.0.0.21", sipPort: 5421, controlPort: 5481, rtpPorts: 20100...20199)
    }

    static func bob(_ lab: PhoneLab) throws -> BaresipPhone {
        try BaresipPhone(lab, name: "bob", address: "127.0.0.22", sipPort: 5422, controlPort: 5482, rtpPorts: 20200...20299)
    }

    static func carol(_ lab: PhoneLab) throws -> LinphonePhone {
        try LinphonePhone(lab, name: "carol", address: "127.0.0.31", sipPort: 5431, rtpPorts: 20300...20399)
    }

    static func dave(_ lab: PhoneLab) throws -> LinphonePhone {
        try LinphonePhone(lab, name: "dave", address: "127.0.0.32", sipPort: 5432, rtpPorts: 20400...20499)
    }

    /// Processes whose command line mentions `text` (a lab directory): none may be left.
    static func processes(mentioning text: String) -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry in
            guard Int32(entry) != nil, Int32(entry) != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return line.contains(text) ? "\(entry): \(line)" : nil
        }
    }

    // MARK: Kamailio alone

    /// Two instances (the two proxies that will stand behind gatewayd nodes) start as root
    /// from their own directories with small memory, answer OPTIONS, have empty location
    /// tables and no dialogs, and stop on SIGTERM with exit 0, removing pid file and socket.
    @Test(RealPhones.needs(.kamailio, .kamcmd))
    func twoKamailiosStartAndStopCleanly() throws {
        try RealPhones.require(.kamailio, .kamcmd)
        let lab = try PhoneLab("kamailio")
        let first = try KamailioRegistrar(lab, name: "k1", address: Self.registrar1.address, port: Self.registrar1.port)
        let second = try KamailioRegistrar(lab, name: "k2", address: Self.registrar2.address, port: Self.registrar2.port)
        for kamailio in [first, second] {
            let pid = RealPhones.read(kamailio.pidFile).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(Int32(pid) != nil && kill(Int32(pid)!, 0) == 0, "\(kamailio.name): pid file \(pid)")
            #expect(FileManager.default.fileExists(atPath: kamailio.controlSocket))
            #expect(kamailio.bindings().isEmpty, "\(kamailio.bindings())")
            #expect(kamailio.activeDialogs() == 0)
        }
        for kamailio in [first, second] {
            let status = kamailio.stopAndWait()
            #expect(status == 0, "\(kamailio.name) exit \(String(describing: status)): \(RealPhones.tail(kamailio.log))")
            #expect(!FileManager.default.fileExists(atPath: kamailio.pidFile), "\(kamailio.name): pid file left")
            #expect(!FileManager.default.fileExists(atPath: kamailio.controlSocket), "\(kamailio.name): ctl socket left")
            let left = RealPhones.wait(5) { () -> [String]? in
                let left = Self.processes(mentioning: kamailio.directory)
                return left.isEmpty ? left : nil
            }
            #expect(left != nil, "\(kamailio.name) left processes: \(Self.processes(mentioning: kamailio.directory))")
        }
    }

    // MARK: Registration

    /// sipsak registers (and unregisters) a binding; a Path header from an intermediate proxy
    /// is stored with it (use_path); OPTIONS to Kamailio gets 200, and `-p -r` sends it to
    /// an outbound proxy instead.
    @Test(RealPhones.needs(.kamailio, .kamcmd, .sipsak, .tshark))
    func sipsakRegistersAtKamailio() throws {
        try RealPhones.require(.kamailio, .kamcmd, .sipsak, .tshark)
        let lab = try PhoneLab("sipsak")
        let kamailio = try KamailioRegistrar(lab, name: "k1", address: Self.registrar1.address, port: Self.registrar1.port)
        let proxy = try KamailioRegistrar(lab, name: "k2", address: Self.registrar2.address, port: Self.registrar2.port)
        let capture = try LoopbackCapture(lab)
        let sipsak = try SipsakPhone(lab, name: "sipsak", address: "127.0.0.23", sipPort: 5423)

        let plain = try sipsak.register(SIPAccount(user: "sam", registrar: Self.domain1), headers: [])
        #expect(plain.status == 0, "\(plain.output)")
        let binding = kamailio.waitForBinding(of: "sam")
        #expect(binding?.contact == "sip:sam@127.0.0.23:5423", "\(kamailio.bindings())")
        #expect(binding?.path == nil)
        #expect(binding?.userAgent?.hasPrefix("sipsak") == true, "\(String(describing: binding))")

        let withPath = try sipsak.register(SIPAccount(user: "pat", registrar: Self.domain1),
                                          headers: ["Path: <sip:127.0.0.1:5470;lr>"])
        #expect(withPath.status == 0, "\(withPath.output)")
        #expect(kamailio.waitForBinding(of: "pat")?.path == "<sip:127.0.0.1:5470;lr>", "\(kamailio.bindings())")

        var gone = SIPAccount(user: "sam", registrar: Self.domain1)
        gone.expires = 0
        #expect(try sipsak.register(gone, headers: []).status == 0)
        #expect(RealPhones.waitUntil(5, every: 0.1) { kamailio.bindings(of: "sam").isEmpty }, "\(kamailio.bindings())")

        #expect(try sipsak.options("sip:\(Self.domain1)").status == 0)
        // Through an outbound proxy: the OPTIONS goes to 127.0.0.2:5460 (which answers it itself).
        let viaProxy = try sipsak.options("sip:\(Self.domain1)", outboundProxy: Self.domain2)
        #expect(viaProxy.status == 0, "\(viaProxy.output)")
        let arrived = capture.waitForRequest("OPTIONS", to: Self.registrar2.address, port: Self.registrar2.port)
        #expect(arrived.contains { $0.source == "127.0.0.23" && $0.sourcePort == 5423 }, "\(capture.packets().count) packets")
        #expect(proxy.bindings().isEmpty)
    }

    /// baresip registers through ctrl_tcp's `uanew`: its binding names its own address.
    @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip))
    func baresipRegistersAtKamailio() throws {
        try RealPhones.require(.kamailio, .kamcmd, .baresip)
        let lab = try PhoneLab("baresip-register")
        let kamailio = try KamailioRegistrar(lab, name: "k1", address: Self.registrar1.address, port: Self.registrar1.port)
        let alice = try Self.alice(lab)
        try alice.register(SIPAccount(user: "alice", registrar: Self.domain1))
        #expect(alice.waitForRegistration(within: 10), "\(alice.logText)")
        let binding = kamailio.waitForBinding(of: "alice")
        #expect(binding?.contact.hasSuffix("@127.0.0.21:5421") == true, "\(kamailio.bindings())")
        #expect(binding?.userAgent?.hasPrefix("baresip") == true, "\(String(describing: binding))")
        #expect(binding?.path == nil)
        // SIGTERM unregisters.
        alice.stop()
        #expect(RealPhones.waitUntil(5, every: 0.1) { kamailio.bindings(of: "alice").isEmpty }, "\(kamailio.bindings())")
    }

    /// linphone-daemon registers from its config; its binding names its own address.
    @Test(RealPhones.needs(.kamailio, .kamcmd, .linphone))
    func linphoneRegistersAtKamailio() throws {
        try RealPhones.require(.kamailio, .kamcmd, .linphone)
        let lab = try PhoneLab("linphone-register")
        let kamailio = try KamailioRegistrar(lab, name: "k1", address: Self.registrar1.address, port: Self.registrar1.port)
        let carol = try Self.carol(lab)
        try carol.register(SIPAccount(user: "carol", registrar: Self.domain1))
        #expect(carol.waitForRegistration(within: 15), "\(carol.logText)")
        let binding = kamailio.waitForBinding(of: "carol")
        #expect(binding?.contact == "sip:carol@127.0.0.31:5431;transport=udp", "\(kamailio.bindings())")
        #expect(binding?.path == nil)
        // `quit` unregisters.
        carol.stop()
        #expect(RealPhones.waitUntil(5, every: 0.1) { kamailio.bindings(of: "carol").isEmpty }, "\(kamailio.bindings())")
    }

    // MARK: Calls

    /// One call from `caller` to `callee` (both registered at `kamailio`), held until RTP
    /// went both ways, ended by `hanger`; checks both ends, Kamailio's dialogs, and that
    /// each request crossed Kamailio once (retransmissions allowed: at most twice).
    static func call(from caller: CallingPhone, to callee: CallingPhone, user: String, through kamailio: KamailioRegistrar,
                     capture: LoopbackCapture, hungUpBy hanger: CallingPhone) throws {
        (callee as? BaresipPhone)?.expectCall()
        let processedBefore = kamailio.statistic("processed_dialogs") ?? 0
        try caller.call("sip:\(user)@\(kamailio.address):\(kamailio.port)")
        try #require(caller.waitForEstablished(within: 15), "caller: \(caller.logText)\n\(RealPhones.tail(kamailio.log))")
        try #require(callee.waitForEstablished(within: 10), "callee: \(callee.logText)")
        #expect(RealPhones.waitUntil(5, every: 0.1) { kamailio.activeDialogs() == 1 }, "dialogs: \(String(describing: kamailio.activeDialogs()))")

        // 50 packets a second each way with 20 ms G.711: 100 is two seconds of audio.
        let media = capture.waitForMedia(between: caller.rtpPorts, and: callee.rtpPorts, atLeast: 100, within: 15)
        print("real phones: \(caller.name) -> \(callee.name): \(media.0) packets, back \(media.1)")
        #expect(media.0 >= 100 && media.1 >= 100, "RTP \(caller.name)->\(callee.name) \(media.0), back \(media.1)")

        try hanger.hangup()
        #expect(caller.waitForCallEnd(within: 10), "caller did not see the end: \(caller.logText)")
        #expect(callee.waitForCallEnd(within: 10), "callee did not see the end: \(callee.logText)")
        #expect(RealPhones.waitUntil(10, every: 0.1) { kamailio.activeDialogs() == 0 },
                "dialogs left: \(String(describing: kamailio.activeDialogs()))")
        #expect(RealPhones.waitUntil(5, every: 0.1) { (kamailio.statistic("processed_dialogs") ?? 0) == processedBefore + 1 },
                "processed dialogs: \(String(describing: kamailio.statistic("processed_dialogs"))), before \(processedBefore)")
        // The BYE reached the other phone before it reported the end; the capture has it
        // once tshark printed it.
        let other = hanger === caller ? callee : caller
        #expect(!capture.waitForRequest("BYE", to: other.address, port: other.sipPort).isEmpty, "no BYE to \(other.name)")
        capture.stop()

        let toKamailio = try SIPCount.byMethod(in: capture.file, ports: [kamailio.port])
        print("real phones: requests to Kamailio \(toKamailio.sorted { $0.key < $1.key })")
        for method in ["INVITE", "ACK", "BYE"] {
            #expect((1...2).contains(toKamailio[method] ?? 0), "\(method) to Kamailio: \(toKamailio)")
        }
        let invites = try SIPCount.perCall("INVITE", in: capture.file, ports: [callee.sipPort])
        #expect(invites.count == 1 && invites.values.allSatisfy { $0 <= 2 }, "INVITEs to the callee per call: \(invites)")
    }

    @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .tshark))
    func baresipCallsBaresipThroughKamailio() throws {
        try RealPhones.require(.kamailio, .kamcmd, .baresip, .tshark)
        let lab = try PhoneLab("baresip-call")
        let kamailio = try KamailioRegistrar(lab, name: "k1", address: Self.registrar1.address, port: Self.registrar1.port)
        let capture = try LoopbackCapture(lab)
        let alice = try Self.alice(lab), bob = try Self.bob(lab)
        try alice.register(SIPAccount(user: "alice", registrar: Self.domain1))
        try bob.register(SIPAccount(user: "bob", registrar: Self.domain1))
        try #require(alice.waitForRegistration(within: 10) && bob.waitForRegistration(within: 10), "\(alice.logText)\n\(bob.logText)")
        try Self.call(from: alice, to: bob, user: "bob", through: kamailio, capture: capture, hungUpBy: alice)
        #expect(bob.callEndReason() != nil)
    }

    @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .tshark))
    func linphoneCallsBaresipAndHangsUp() throws {
        try RealPhones.require(.kamailio, .kamcmd, .baresip, .linphone, .tshark)
        let lab = try PhoneLab("linphone-calls-baresip")
        let kamailio = try KamailioRegistrar(lab, name: "k1", address: Self.registrar1.address, port: Self.registrar1.port)
        let capture = try LoopbackCapture(lab)
        let carol = try Self.carol(lab), alice = try Self.alice(lab)
        try carol.register(SIPAccount(user: "carol", registrar: Self.domain1))
        try alice.register(SIPAccount(user: "alice", registrar: Self.domain1))
        try #require(carol.waitForRegistration(within: 15) && alice.waitForRegistration(within: 10), "\(carol.logText)\n\(alice.logText)")
        try Self.call(from: carol, to: alice, user: "alice", through: kamailio, capture: capture, hungUpBy: carol)
    }

    @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip, .linphone, .tshark))
    func baresipCallsLinphoneWhichHangsUp() throws {
        try RealPhones.require(.kamailio, .kamcmd, .baresip, .linphone, .tshark)
        let lab = try PhoneLab("baresip-calls-linphone")
        let kamailio = try KamailioRegistrar(lab, name: "k1", address: Self.registrar1.address, port: Self.registrar1.port)
        let capture = try LoopbackCapture(lab)
        let bob = try Self.bob(lab), dave = try Self.dave(lab)
        try bob.register(SIPAccount(user: "bob", registrar: Self.domain1))
        try dave.register(SIPAccount(user: "dave", registrar: Self.domain1))
        try #require(bob.waitForRegistration(within: 10) && dave.waitForRegistration(within: 15), "\(bob.logText)\n\(dave.logText)")
        try Self.call(from: bob, to: dave, user: "dave", through: kamailio, capture: capture, hungUpBy: dave)
        #expect(bob.callEndReason() != nil)
    }

    // MARK: What each UA does with a 302 (docs/phones.md)

    /// The primary's stand-in at 127.0.0.9:5455 and the agent's at 127.0.0.9:5475, both
    /// redirecting to Kamailio #2 (127.0.0.2:5460).
    static func redirectors(_ lab: PhoneLab) throws -> (primary: SIPRedirector, agent: SIPRedirector) {
        (try SIPRedirector(lab, name: "primary", address: "127.0.0.9", port: 5455, target: domain2),
         try SIPRedirector(lab, name: "agent", address: "127.0.0.9", port: 5475, target: domain2))
    }

    /// sipsak follows a 302 to REGISTER and to OPTIONS: straight to the Contact without an
    /// outbound proxy; with one, the retargeted request goes to the proxy again.
    @Test(RealPhones.needs(.kamailio, .kamcmd, .sipsak))
    func sipsakFollowsRedirects() throws {
        try RealPhones.require(.kamailio, .kamcmd, .sipsak)
        let lab = try PhoneLab("sipsak-302")
        let kamailio = try KamailioRegistrar(lab, name: "k2", address: Self.registrar2.address, port: Self.registrar2.port)
        let (primary, agent) = try Self.redirectors(lab)
        let sipsak = try SipsakPhone(lab, name: "sipsak", address: "127.0.0.23", sipPort: 5423)

        let direct = try sipsak.register(SIPAccount(user: "sam", registrar: "127.0.0.9:5455"), headers: [])
        #expect(direct.status == 0, "\(direct.output)")
        #expect(primary.requests("REGISTER").map(\.requestURI) == ["sip:127.0.0.9:5455"], "\(primary.requests)")
        #expect(kamailio.waitForBinding(of: "sam")?.contact == "sip:sam@127.0.0.23:5423", "\(kamailio.bindings())")

        let proxied = try sipsak.register(SIPAccount(user: "sid", registrar: "127.0.0.9:5455", outboundProxy: "127.0.0.9:5475"),
                                          headers: [])
        #expect(proxied.status != 0, "\(proxied.output)")  // the 480 for the request that came back
        #expect(agent.requests("REGISTER").map(\.requestURI) == ["sip:127.0.0.9:5455", "sip:\(Self.domain2)"], "\(agent.requests)")
        #expect(agent.requests("REGISTER").allSatisfy { $0.route.isEmpty && $0.via.first?.contains(";rport") == true })
        #expect(kamailio.bindings(of: "sid").isEmpty)

        let options = try sipsak.options("sip:127.0.0.9:5455")
        #expect(options.status == 0, "\(options.output)")  // Kamailio #2 answered the OPTIONS it was sent
        #expect(primary.requests("OPTIONS").count == 1, "\(primary.requests)")
    }

    /// baresip does not follow a 302 to REGISTER (REGISTER_FAIL); it follows one to INVITE:
    /// straight to the Contact without an outbound proxy, through the proxy again (Route
    /// header with `lr`) with one.
    @Test(RealPhones.needs(.kamailio, .kamcmd, .baresip))
    func baresipFollowsInviteRedirectsOnly() throws {
        try RealPhones.require(.kamailio, .kamcmd, .baresip)
        let lab = try PhoneLab("baresip-302")
        let kamailio = try KamailioRegistrar(lab, name: "k2", address: Self.registrar2.address, port: Self.registrar2.port)
        let (primary, agent) = try Self.redirectors(lab)
        let alice = try Self.alice(lab), bob = try Self.bob(lab)
        try bob.register(SIPAccount(user: "bob", registrar: Self.domain2))
        try #require(bob.waitForRegistration(within: 10), "\(bob.logText)")

        try alice.register(SIPAccount(user: "alice", registrar: "127.0.0.9:5455"))
        #expect(!alice.waitForRegistration(within: 10))
        #expect(alice.registrationFailure()?.hasPrefix("302") == true, "\(alice.events)")
        #expect(primary.requests("REGISTER").count == 1 && kamailio.bindings(of: "alice").isEmpty, "\(primary.requests)")
        #expect(primary.requests("REGISTER").first?.via.first?.contains(";rport") == true)

        // The call follows the 302 to Kamailio #2, where bob is: it is set up and ended.
        bob.expectCall()
        try alice.call("sip:bob@127.0.0.9:5455")
        #expect(alice.waitForEstablished(within: 15), "\(alice.logText)")
        #expect(bob.waitForEstablished(within: 10))
        #expect(primary.requests("INVITE").map(\.requestURI) == ["sip:bob@127.0.0.9:5455"], "\(primary.requests)")
        #expect(primary.requests("ACK").count == 1)  // for the 302, hop by hop
        try alice.hangup()
        #expect(alice.waitForCallEnd(within: 10) && bob.waitForCallEnd(within: 10))

        // With the agent as outbound proxy: everything goes there, the retargeted INVITE too.
        let erin = try BaresipPhone(lab, name: "erin", address: "127.0.0.24", sipPort: 5424, controlPort: 5484, rtpPorts: 20500...20599)
        try erin.register(SIPAccount(user: "erin", registrar: "127.0.0.9:5455", outboundProxy: "127.0.0.9:5475"))
        #expect(!erin.waitForRegistration(within: 10))
        try erin.call("sip:bob@127.0.0.9:5455")
        #expect(erin.waitForCallEnd(within: 10), "\(erin.logText)")
        let invites = agent.requests("INVITE")
        #expect(invites.map(\.requestURI) == ["sip:bob@127.0.0.9:5455", "sip:bob@\(Self.domain2)"], "\(agent.requests)")
        #expect(invites.allSatisfy { $0.route == ["<sip:127.0.0.9:5475;lr>"] }, "\(invites)")
        #expect(agent.requests("REGISTER").first?.route == ["<sip:127.0.0.9:5475;lr>"], "\(agent.requests)")
        #expect(primary.requests("INVITE").count == 1, "nothing went to the primary: \(primary.requests)")
    }

    /// linphone follows a 302 to REGISTER straight to the Contact (and refreshes there); a
    /// 302 to INVITE is followed through its proxy again (reg_proxy serves as outbound proxy
    /// for calls, no Route header). With reg_route, REGISTER still goes to reg_proxy; INVITE
    /// goes to the route, and without a Route header when its host equals the Request-URI's.
    @Test(RealPhones.needs(.kamailio, .kamcmd, .linphone))
    func linphoneFollowsRegisterRedirectsToTheContact() throws {
        try RealPhones.require(.kamailio, .kamcmd, .linphone)
        let lab = try PhoneLab("linphone-302")
        let kamailio = try KamailioRegistrar(lab, name: "k2", address: Self.registrar2.address, port: Self.registrar2.port)
        let (primary, agent) = try Self.redirectors(lab)
        let carol = try Self.carol(lab)

        try carol.register(SIPAccount(user: "carol", registrar: "127.0.0.9:5455"))
        #expect(carol.waitForRegistration(within: 15), "\(carol.logText)")
        #expect(kamailio.waitForBinding(of: "carol")?.contact == "sip:carol@127.0.0.31:5431;transport=udp", "\(kamailio.bindings())")
        #expect(primary.requests("REGISTER").map(\.requestURI) == ["sip:127.0.0.9:5455"], "\(primary.requests)")
        #expect(primary.requests("REGISTER").first?.via.first?.contains(";rport") == true)

        try carol.call("sip:bob@127.0.0.9:5455")
        #expect(carol.waitForCallEnd(within: 10))
        let sent = RealPhones.wait(5) { () -> [SIPRedirector.Request]? in
            let invites = primary.requests("INVITE")
            return invites.count >= 2 ? invites : nil
        } ?? primary.requests("INVITE")
        #expect(sent.map(\.requestURI) == ["sip:bob@127.0.0.9:5455", "sip:bob@\(Self.domain2)"], "\(primary.requests)")
        #expect(sent.allSatisfy { $0.route.isEmpty }, "\(sent)")

        // reg_route = the agent, on the same host as the registrar.
        try carol.register(SIPAccount(user: "carol", registrar: "127.0.0.9:5455", outboundProxy: "127.0.0.9:5475"))
        #expect(carol.waitForRegistration(within: 15), "\(carol.logText)")
        #expect(agent.requests("REGISTER").isEmpty, "REGISTER went to the route: \(agent.requests)")
        try carol.call("sip:bob@127.0.0.9:5455")
        #expect(carol.waitForCallEnd(within: 10))
        let routed = RealPhones.wait(5) { () -> [SIPRedirector.Request]? in
            let invites = agent.requests("INVITE")
            return invites.count >= 2 ? invites : nil
        } ?? agent.requests("INVITE")
        #expect(routed.map(\.requestURI) == ["sip:bob@127.0.0.9:5455", "sip:bob@\(Self.domain2)"], "\(agent.requests)")
        #expect(routed.allSatisfy { $0.route.isEmpty }, "same host: the Route is dropped: \(routed)")
    }
}
