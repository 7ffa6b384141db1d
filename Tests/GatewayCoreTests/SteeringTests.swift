import Foundation
import Testing
import Basics
import GatewayCore
import SIP

/// A group of nodes, a steering agent in front of them and SIP phones, wired in memory.
final class SteeringWorld {
    let network: Network
    let agent: SteeringAgent<SeededEntropy>
    static let agentAddress = endpoint(50, 5070)
    var phoneReceived: [(String, Endpoint)] = []
    var hooks: [(endpoint: String, event: String, proxy: String?)] = []
    /// While set, hooks are left waiting (as while a slow hook runs).
    var holdHooks = false

    /// With `proxies`, node k's identity is a proxy of its own at 127.0.0.(k+11):5460.
    init(nodes: Int, endpoints: [SteeringEndpoint], entryPoints: [Endpoint]? = nil, proxies: Bool = false,
         configureNodes: (inout NodeSettings) -> Void = { _ in }, configure: (inout SteeringSettings) -> Void = { _ in }) {
        network = Network(nodes, proxies: proxies, configure: configureNodes)
        var settings = SteeringSettings(listen: SteeringWorld.agentAddress,
                                        entryPoints: entryPoints ?? (0..<nodes).map { endpoint(UInt32($0 + 1)) })
        settings.entryTimeoutNanoseconds = 1_500_000_000
        configure(&settings)
        agent = SteeringAgent(settings: settings, endpoints: endpoints, relayEntropy: SeededEntropy(state: 77),
                              entropy: SeededEntropy(state: 78), now: network.now)
    }

    var now: Int64 { network.now }

    /// Moves datagrams between the agent, the nodes and the phones until all is quiet.
    func deliver() {
        var moved = true
        while moved {
            moved = false
            let box = agent.outbox
            var pending: [([UInt8], Endpoint)] = []
            for i in 0..<box.count {
                let datagram = box.datagram(i)
                pending.append((Array(box.bytes(datagram)), datagram.destination))
            }
            box.removeAll()
            for (bytes, destination) in pending {
                moved = true
                if let node = network.nodes.firstIndex(where: { $0.sequence.members[$0.sequence.selfIndex].address == destination }) {
                    if !network.dead.contains(node) {
                        bytes.withUnsafeBytes { network.nodes[node].receive($0, from: SteeringWorld.agentAddress, now: now) }
                    }
                } else {
                    phoneReceived.append((String(decoding: bytes, as: UTF8.self), destination))
                }
            }
            for (index, node) in network.nodes.enumerated() {
                let outbox = node.outbox
                var pending: [([UInt8], Endpoint)] = []
                for i in 0..<outbox.count {
                    let datagram = outbox.datagram(i)
                    pending.append((Array(outbox.bytes(datagram)), datagram.destination))
                }
                outbox.removeAll()
                let from = node.sequence.members[index].address
                for (bytes, destination) in pending where !network.dead.contains(index) {
                    moved = true
                    if destination == SteeringWorld.agentAddress {
                        bytes.withUnsafeBytes { agent.receive($0, from: from, now: now) }
                    } else if let target = network.nodes.firstIndex(where: { $0.sequence.members[$0.sequence.selfIndex].address == destination }) {
                        if !network.dead.contains(target) { bytes.withUnsafeBytes { network.nodes[target].receive($0, from: from, now: now) } }
                    }
                }
            }
        }
        while !holdHooks, let hook = agent.takeHook() {
            let name = String(decoding: agent.endpoints[hook.endpoint].name, as: UTF8.self)
            let proxy = agent.states[hook.endpoint].assignment.map { String(decoding: $0.proxy, as: UTF8.self) }
            hooks.append((name, String(describing: hook.event), hook.event == .assigned ? proxy : nil))
        }
    }

    func run(milliseconds: Int64) {
        let end = now + milliseconds * 1_000_000
        while now < end {
            network.now += 10_000_000
            for (index, node) in network.nodes.enumerated() where !network.dead.contains(index) { node.tick(now: now) }
            agent.tick(now: now)
            deliver()
        }
    }

    func phone(_ text: String, from: Endpoint = endpoint(101, 5080)) {
        Array(text.utf8).withUnsafeBytes { agent.receive($0, from: from, now: now) }
        deliver()
    }

    func busy(_ node: Int) { network.setWorkload(node, calls: 100) }
}

func line(_ name: String, _ kind: EndpointKind = .analog, identity: String? = nil) -> SteeringEndpoint {
    let uri = identity ?? "sip:\(name)@127.0.0.50:5070"
    return SteeringEndpoint(name: Array(name.utf8), kind: kind, identity: Array(uri.utf8), uri: Array(uri.utf8),
                            addressOfRecord: AddressOfRecord.key(of: Array(uri.utf8)) ?? [])
}

func phoneRequest(_ method: String, aor: String, branch: String) -> String {
    let header = method == "REGISTER" ? "To" : "From"
    let other = method == "REGISTER" ? "From: <\(aor)>;tag=p1" : "To: <sip:bob@example.com>"
    return "\(method) sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.101:5080;branch=z9hG4bK\(branch)\r\n"
        + "Max-Forwards: 70\r\n\(header): \"Phone\" <\(aor)>\(header == "From" ? ";tag=p1" : "")\r\n\(other)\r\n"
        + "Call-ID: \(branch)@phone\r\nCSeq: 1 \(method)\r\nContact: <sip:p@127.0.0.101:5080>\r\nContent-Length: 0\r\n\r\n"
}

struct AssignmentParsingTests {
    func parse(_ response: String) -> Assignment? {
        Array(response.utf8).withUnsafeBytes { buffer in
            guard let line = SIPScanner.startLine(buffer), let message = try? SIPScanner.scan(buffer, startLine: line, framing: .datagram)
            else { return nil }
            return Assignment(message, buffer, defaultExpires: 60)
        }
    }

    func response(contact: String?) -> String {
        "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
            + "To: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n" + (contact.map { "Contact: \($0)\r\n" } ?? "")
            + "Content-Length: 0\r\n\r\n"
    }

    @Test func angleBracketsWithExpiresAndTransport() throws {
        let a = try #require(parse(response(contact: "<sip:127.0.0.2:5062;transport=UDP>;expires=45")))
        #expect(String(decoding: a.proxy, as: UTF8.self) == "sip:127.0.0.2:5062;transport=UDP")
        #expect(String(decoding: a.host, as: UTF8.self) == "127.0.0.2")
        #expect(a.port == 5062 && a.expiresSeconds == 45)
        #expect(String(decoding: a.transport, as: UTF8.self) == "udp")
        #expect(a.address == endpoint(2, 5062))
    }

    @Test func ipv6HostLosesItsBracketsButKeepsThemInTheURI() throws {
        let a = try #require(parse(response(contact: "<sip:[::1]:5063>")))
        #expect(String(decoding: a.host, as: UTF8.self) == "::1")
        #expect(String(decoding: a.proxy, as: UTF8.self) == "sip:[::1]:5063")
        #expect(a.expiresSeconds == 60 && a.port == 5063)
        #expect(a.address?.port == 5063)
    }

    @Test func bareURIHeaderParametersAndAHostName() throws {
        let a = try #require(parse(response(contact: "sips:proxy.example.net;expires=30, <sip:other@x>")))
        #expect(String(decoding: a.proxy, as: UTF8.self) == "sips:proxy.example.net")
        #expect(a.port == 5061 && a.expiresSeconds == 30 && a.address == nil)
        #expect(String(decoding: a.transport, as: UTF8.self) == "tls")
    }

    @Test func noContactOrNotSIPIsNoAssignment() {
        #expect(parse(response(contact: nil)) == nil)
        #expect(parse(response(contact: "<tel:+4930123>")) == nil)
    }

    @Test func addressesOfRecordCompareWithoutCaseParametersOrPort() {
        let header = "\"Alice\" <sip:Alice@Example.COM:5060;transport=udp>;tag=9"
        let matched = Array(header.utf8).withUnsafeBytes { buffer -> Bool in
            guard let key = AddressOfRecord.key(buffer, header: ByteRange(0, buffer.count)) else { return false }
            return AddressOfRecord.matches(buffer, key, Array("alice@example.com".utf8))
        }
        #expect(matched)
        #expect(AddressOfRecord.key(of: Array("sip:[2001:db8::1]:5060".utf8)).map { String(decoding: $0, as: UTF8.self) } == "[2001:db8::1]")
        #expect(AddressOfRecord.key(of: Array("sip:bob@example.com".utf8)).map { String(decoding: $0, as: UTF8.self) } == "bob@example.com")
    }
}

struct SteeringAgentTests {
    @Test func analogAndH323EndpointsGetTheIdlePrimaryAndTheHookRunsOnce() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("fxs1"), line("h323a", .h323, identity: "h323:alice@gw")])
        world.run(milliseconds: 500)
        #expect(world.hooks.map { $0.event } == ["assigned", "assigned"])
        #expect(world.hooks.allSatisfy { $0.proxy == "sip:127.0.0.1:5060;transport=udp" })
        #expect(world.agent.states.allSatisfy { $0.state == .assigned })
        // Refreshes (at most 30 s, 80 % of 60 s) keep the same proxy: no further hook, and no
        // further event for the daemon to log.
        world.run(milliseconds: 70_000)
        #expect(world.hooks.count == 2, "\(world.hooks.prefix(6)) \(world.agent.counters)")
        var events: [SteeringEvent] = []
        while let event = world.agent.events.take() { events.append(event) }
        #expect(events.count == 2 && events.contains(.endpoint(0, .assigned)) && events.contains(.endpoint(1, .assigned)))
        #expect(world.agent.counters.asks >= 4)
    }

    @Test func aBusyPrimarySendsNewAssignmentsToTheSecond() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("fxs1"), line("fxs2")])
        world.busy(0)
        world.run(milliseconds: 500)
        #expect(world.hooks.count == 2)
        #expect(world.hooks.allSatisfy { $0.proxy == "sip:127.0.0.2:5060;transport=udp" })
    }

    @Test func aRefreshThatNamesAnotherProxyRunsTheHookAgain() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("fxs1")], configure: { $0.timers.refresh = 5_000_000_000 })
        world.run(milliseconds: 300)
        world.busy(0)
        world.run(milliseconds: 6000)
        #expect(world.hooks.map { $0.proxy } == ["sip:127.0.0.1:5060;transport=udp", "sip:127.0.0.2:5060;transport=udp"])
    }

    @Test func everyNodeBusyIsBusyAndTheAgentWaitsRetryAfterBeforeAskingAgain() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("fxs1")], configureNodes: { $0.retryAfterSeconds = 7 })
        world.busy(0)
        world.busy(1)
        world.run(milliseconds: 100)
        #expect(world.hooks.map { $0.event } == ["busy"])
        #expect(world.agent.states[0].retryAfterSeconds == 7)
        let asks = world.agent.counters.asks
        world.run(milliseconds: 6800)
        #expect(world.agent.counters.asks == asks, "asked again before Retry-After")
        world.run(milliseconds: 300)
        #expect(world.agent.counters.asks == asks + 1)
        #expect(world.hooks.map { $0.event } == ["busy", "busy"])
    }

    @Test func aSilentFirstEntryPointFallsBackToTheNext() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("fxs1")])
        world.network.dead = [0]
        world.run(milliseconds: 1000)
        #expect(world.hooks.isEmpty)
        world.run(milliseconds: 1000)
        #expect(world.hooks.map { $0.proxy } == ["sip:127.0.0.2:5060;transport=udp"])
        // Once the agent's probes mark it down, the first entry point is not tried at all.
        let phone = endpoint(101, 5080)
        world.run(milliseconds: 4000)
        world.phone(phoneRequest("REGISTER", aor: "sip:fxs9@127.0.0.50", branch: "reg1"), from: phone)
        // Not configured, not open: 403 at once.
        #expect(world.phoneReceived.last?.0.hasPrefix("SIP/2.0 403 Forbidden") == true)
    }

    @Test func everyEntryPointSilentIsBusyWithTheConfiguredRetry() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("fxs1")], configure: { $0.timers.retry = 9_000_000_000 })
        world.network.dead = [0, 1]
        world.run(milliseconds: 3200)
        #expect(world.hooks.map { $0.event } == ["busy"])
        #expect(world.agent.states[0].retryAfterSeconds == 9)
        #expect(world.agent.counters.entryPointsSilent == 1)
    }

    /// The relay's own 503 to a phone (no entry point answered it) and the group's 503 to an
    /// ask, read in one batch (the daemon ticks the relay alone while it stops): the ask
    /// keeps the group's Retry-After. The agent once sent asks through the relay and guessed
    /// "no entry point answered" from the relay's busy counter moving, and took the group's
    /// 503 for silence; asks now have transactions of their own.
    @Test func aPhonesOwn503AndAnAsksGroup503InOneBatchAreToldApart() throws {
        let world = SteeringWorld(nodes: 1, endpoints: [line("fxs1"), line("alice", .sip, identity: "sip:alice@example.com")],
                                  configureNodes: { $0.retryAfterSeconds = 7 }, configure: { $0.timers.retry = 9_000_000_000 })
        world.busy(0)
        let agent = world.agent, node = world.network.nodes[0]
        let phone = endpoint(101, 5080)
        let entry = node.sequence.members[node.sequence.selfIndex].address
        func take(_ box: Outbox) -> [([UInt8], Endpoint)] {
            defer { box.removeAll() }
            return (0..<box.count).map { (Array(box.bytes(box.datagram($0))), box.datagram($0).destination) }
        }
        // The phone's INVITE goes on to the entry point, which never hears it.
        Array(phoneRequest("INVITE", aor: "sip:alice@example.com", branch: "inv9").utf8).withUnsafeBytes {
            agent.receive($0, from: phone, now: world.now)
        }
        _ = take(agent.outbox)
        // A second later the agent asks for fxs1; the entry point answers 503 (busy), held back.
        world.network.now += 1_000_000_000
        agent.tick(now: world.now)
        // (Only OPTIONS: the INVITE's retransmissions stay unheard.)
        for (bytes, destination) in take(agent.outbox) where destination == entry && bytes.starts(with: Array("OPTIONS".utf8)) {
            bytes.withUnsafeBytes { _ = node.receive($0, from: SteeringWorld.agentAddress, now: world.now) }
        }
        // Only the 503 (the entry point's answers to the relay's own probes would be read first).
        let held = take(node.outbox).filter { String(decoding: $0.0, as: UTF8.self).hasPrefix("SIP/2.0 503") }
        #expect(held.count == 1)
        // The phone's request times out at the only entry point: the relay answers 503 itself;
        // then the group's 503 to the ask arrives, and both are read together.
        world.network.now += 600_000_000
        agent.relay.tick(now: world.now)
        for (bytes, _) in held { bytes.withUnsafeBytes { agent.receive($0, from: entry, now: world.now) } }
        let toPhone = take(agent.outbox).filter { $0.1 == phone }.map { String(decoding: $0.0, as: UTF8.self) }
        #expect(toPhone.contains { $0.hasPrefix("SIP/2.0 503") })
        #expect(agent.states[0].state == .busy)
        #expect(agent.states[0].retryAfterSeconds == 7, "the group's Retry-After, not the configured retry")
        #expect(agent.counters.entryPointsSilent == 0)
    }

    @Test func aProxyThatStopsAnsweringProbesIsLostThenReplaced() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("fxs1")])
        world.run(milliseconds: 300)
        #expect(world.hooks.map { $0.proxy } == ["sip:127.0.0.1:5060;transport=udp"])
        world.network.dead = [0]
        let killed = world.now
        var lostAt: Int64?
        while world.now - killed < 10_000_000_000 && world.hooks.count < 3 {
            world.run(milliseconds: 10)
            if lostAt == nil && world.hooks.count == 2 { lostAt = world.now }
        }
        #expect(world.hooks.map { $0.event } == ["assigned", "lost", "assigned"])
        #expect(world.hooks.last?.proxy == "sip:127.0.0.2:5060;transport=udp")
        // Three unanswered probes a second apart.
        let lost = (lostAt ?? .max) - killed
        #expect(lost <= 4_000_000_000, "lost after \(lost) ns")
    }

    @Test func aLostHookWaitingToRunIsNotSwallowedByTheNextAssignment() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("a"), line("b"), line("c")])
        world.run(milliseconds: 500)
        world.network.dead = [0]
        // Hooks are taken only at the end: as if a slow hook held the others back.
        world.holdHooks = true
        let end = world.now + 8_000_000_000
        while world.now < end {
            world.network.now += 10_000_000
            world.network.nodes[1].tick(now: world.now)
            world.agent.tick(now: world.now)
            world.deliver()
        }
        world.holdHooks = false
        world.deliver()
        let events = world.hooks.dropFirst(3).map { "\($0.endpoint) \($0.event)" }
        #expect(events.sorted() == ["a assigned", "a lost", "b assigned", "b lost", "c assigned", "c lost"])
        for name in ["a", "b", "c"] {
            #expect(events.firstIndex(of: "\(name) lost")! < events.firstIndex(of: "\(name) assigned")!)
        }
    }

    @Test func configuredPhonesAreRelayedAndTheirAssignmentRecordedUnknownOnesRefused() {
        let world = SteeringWorld(nodes: 2, endpoints: [line("alice", .sip, identity: "sip:alice@example.com")])
        world.busy(0)
        world.phone(phoneRequest("INVITE", aor: "sip:Alice@example.com", branch: "inv1"))
        let answers = world.phoneReceived.map { $0.0 }
        #expect(answers.first?.hasPrefix("SIP/2.0 100 Trying") == true)
        #expect(answers.last?.hasPrefix("SIP/2.0 302 Moved Temporarily") == true)
        #expect(answers.last.flatMap(contact) == "<sip:bob@127.0.0.2:5060;transport=udp>;expires=60")
        #expect(world.agent.states[0].state == .assigned)
        #expect(world.agent.states[0].assignment.map { String(decoding: $0.host, as: UTF8.self) } == "127.0.0.2")
        #expect(world.hooks.isEmpty, "phones follow the 302 themselves")
        // No hook, but the change is an event for the daemon's log.
        #expect(world.agent.events.take() == .endpoint(0, .assigned))
        world.phone(phoneRequest("REGISTER", aor: "sip:mallory@example.com", branch: "reg2"))
        #expect(world.phoneReceived.last?.0.hasPrefix("SIP/2.0 403 Forbidden") == true)
        #expect(world.agent.counters.refusedUnknown == 1 && world.agent.counters.relayed == 1)
    }

    @Test func openServesPhonesNobodyConfigured() {
        let world = SteeringWorld(nodes: 1, endpoints: [], configure: { $0.open = true })
        world.phone(phoneRequest("REGISTER", aor: "sip:guest@example.com", branch: "reg3"))
        #expect(world.phoneReceived.last?.0.hasPrefix("SIP/2.0 302 Moved Temporarily") == true)
    }
}
