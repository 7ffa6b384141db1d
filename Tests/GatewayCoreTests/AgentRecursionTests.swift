import Foundation
import Testing
import Basics
import GatewayCore

/// The steering agent as the phones' outbound proxy: it recurses on the group's 302 and
/// routes what belongs to a dialog, so a phone never has to understand a redirect.
struct AgentRecursionTests {
    static let proxy0 = endpoint(11, 5460)
    static let proxy1 = endpoint(12, 5460)

    func world(path: Bool = false, mode recurse: Bool = true) -> SteeringWorld {
        SteeringWorld(nodes: 2, endpoints: [line("alice", .sip, identity: "sip:alice@example.com")], proxies: true,
                      configure: { $0.recurse = recurse; $0.path = path })
    }

    /// What the agent sent to `destination`, oldest first.
    func sent(_ world: SteeringWorld, to destination: Endpoint) -> [String] {
        world.phoneReceived.filter { $0.1 == destination }.map { $0.0 }
    }

    @Test func anInviteGoesOnToTheProxyTheGroupNamedAndThePhoneSeesItsAnswers() throws {
        let world = world()
        world.busy(0)
        let invite = phoneRequest("INVITE", aor: "sip:alice@example.com", branch: "inv1")
        world.phone(invite)
        world.phone(invite)  // a retransmission: absorbed, not a second request
        let atProxy = sent(world, to: AgentRecursionTests.proxy1)
        #expect(atProxy.count == 1)
        let forwarded = try #require(atProxy.first)
        #expect(requestLine(forwarded) == "INVITE sip:bob@127.0.0.12:5460;transport=udp SIP/2.0")
        #expect(headers("Via", in: forwarded).count == 2)
        #expect(headers("Via", in: forwarded)[0].hasPrefix("SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bK"))
        let toPhone = sent(world, to: endpoint(101, 5080))
        #expect(toPhone.allSatisfy { $0.hasPrefix("SIP/2.0 100 Trying") }, "\(toPhone)")
        #expect(world.agent.counters.relayed == 1 && world.agent.relay.counters.recursed == 1)
        // The phone's assignment is the proxy, not a Request-URI.
        #expect(world.agent.states[0].assignment.map { String(decoding: $0.proxy, as: UTF8.self) } == "sip:127.0.0.12:5460;transport=udp")

        Array(answer(forwarded, "200 OK", extra: "Contact: <sip:bob@127.0.0.60:7000>\r\n").utf8)
            .withUnsafeBytes { world.agent.receive($0, from: AgentRecursionTests.proxy1, now: world.now) }
        world.deliver()
        #expect(sent(world, to: endpoint(101, 5080)).last.map { requestLine($0) } == "SIP/2.0 200 OK")

        // The ACK and the BYE go where the dialog says (here the callee's contact, no Record-Route).
        let ack = "ACK sip:bob@127.0.0.60:7000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.101:5080;branch=z9hG4bKack1\r\n"
            + "Route: <sip:127.0.0.50:5070;lr>\r\nMax-Forwards: 70\r\nFrom: \"Phone\" <sip:alice@example.com>;tag=p1\r\n"
            + "To: <sip:bob@example.com>;tag=uas\r\nCall-ID: inv1@phone\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        world.phone(ack)
        world.phone(ack.replacingOccurrences(of: "ACK sip", with: "BYE sip").replacingOccurrences(of: "1 ACK", with: "2 BYE")
            .replacingOccurrences(of: "z9hG4bKack1", with: "z9hG4bKbye1"))
        let atCallee = sent(world, to: endpoint(60, 7000)).map { requestLine($0) }
        #expect(atCallee == ["ACK sip:bob@127.0.0.60:7000 SIP/2.0", "BYE sip:bob@127.0.0.60:7000 SIP/2.0"])
        #expect(world.agent.counters.relayed == 1, "in-dialog requests are not requests to connect")
    }

    @Test func aRegisterCarriesPathAndAnIncomingCallComesBackAlongIt() throws {
        let world = world(path: true)
        let register = phoneRequest("REGISTER", aor: "sip:alice@example.com", branch: "reg1")
        world.phone(register)
        let forwarded = try #require(sent(world, to: AgentRecursionTests.proxy0).first)
        #expect(requestLine(forwarded) == "REGISTER sip:127.0.0.11:5460;transport=udp SIP/2.0")
        #expect(headers("Path", in: forwarded) == ["<sip:127.0.0.50:5070;lr;gatewayd>"])
        Array(answer(forwarded, "200 OK", extra: "Path: <sip:127.0.0.50:5070;lr;gatewayd>\r\n").utf8)
            .withUnsafeBytes { world.agent.receive($0, from: AgentRecursionTests.proxy0, now: world.now) }
        world.deliver()
        #expect(sent(world, to: endpoint(101, 5080)).last.map { requestLine($0) } == "SIP/2.0 200 OK")

        // The proxy calls the phone along the stored Path: the caller is nobody the agent knows.
        let incoming = "INVITE sip:p@127.0.0.101:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.11:5460;branch=z9hG4bKin1\r\n"
            + "Route: <sip:127.0.0.50:5070;lr;gatewayd>\r\nMax-Forwards: 69\r\nFrom: <sip:carol@example.com>;tag=c1\r\n"
            + "To: <sip:alice@example.com>\r\nCall-ID: in1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        Array(incoming.utf8).withUnsafeBytes { world.agent.receive($0, from: AgentRecursionTests.proxy0, now: world.now) }
        world.deliver()
        let atPhone = try #require(sent(world, to: endpoint(101, 5080)).last)
        #expect(requestLine(atPhone) == "INVITE sip:p@127.0.0.101:5080 SIP/2.0")
        #expect(headers("Route", in: atPhone).isEmpty)
        #expect(world.agent.counters.refusedUnknown == 0)
        // The same INVITE with a Route a phone could have preloaded (no mark) is a request to
        // connect from a stranger: refused.
        let preloaded = incoming.replacingOccurrences(of: ";lr;gatewayd>", with: ";lr>").replacingOccurrences(of: "in1", with: "in2")
        Array(preloaded.utf8).withUnsafeBytes { world.agent.receive($0, from: endpoint(99, 5060), now: world.now) }
        world.deliver()
        #expect(world.agent.counters.refusedUnknown == 1)
    }

    @Test func redirectModeHandsTheRedirectBack() {
        let world = world(mode: false)
        world.busy(0)
        world.phone(phoneRequest("INVITE", aor: "sip:alice@example.com", branch: "inv2"))
        #expect(world.phoneReceived.last.map { requestLine($0.0) } == "SIP/2.0 302 Moved Temporarily")
        #expect(sent(world, to: AgentRecursionTests.proxy1).isEmpty)
        // The phone follows it and still sends through the agent: straight to that proxy now.
        world.phone(phoneRequest("INVITE", aor: "sip:alice@example.com", branch: "inv3")
            .replacingOccurrences(of: "INVITE sip:bob@example.com", with: "INVITE sip:bob@127.0.0.12:5460;transport=udp"))
        #expect(sent(world, to: AgentRecursionTests.proxy1).count == 1)
        #expect(world.network.nodes[0].counters.requestsReceived == 1, "the group was asked once")
    }
}

extension AgentRecursionTests {
    /// Alice calls Bob, both behind the agent with `path = yes`: the proxy sends Bob's leg
    /// back through the agent, whose Via is already in it. A spiral, not a loop.
    @Test func aCallBetweenTwoPhonesBehindTheAgentSpiralsThroughIt() throws {
        let world = world(path: true)
        let spiral = "INVITE sip:bob@127.0.0.102:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.11:5460;branch=z9hG4bKk1\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKfirstpass\r\nVia: SIP/2.0/UDP 127.0.0.101:5080;branch=z9hG4bKa1\r\n"
            + "Route: <sip:127.0.0.50:5070;lr;gatewayd>\r\nRecord-Route: <sip:127.0.0.11:5460;lr>, <sip:127.0.0.50:5070;lr;gatewayd>\r\n"
            + "Max-Forwards: 68\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\nCall-ID: spiral\r\n"
            + "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        Array(spiral.utf8).withUnsafeBytes { world.agent.receive($0, from: AgentRecursionTests.proxy0, now: world.now) }
        world.deliver()
        let atBob = try #require(sent(world, to: endpoint(102, 5080)).first)
        #expect(requestLine(atBob) == "INVITE sip:bob@127.0.0.102:5080 SIP/2.0")
        #expect(headers("Via", in: atBob).count == 4)
        #expect(headers("Max-Forwards", in: atBob) == ["67"])
    }
}
