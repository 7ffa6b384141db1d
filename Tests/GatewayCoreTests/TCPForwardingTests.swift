import Foundation
import Testing
import Basics
import SIP
import GatewayCore

/// What goes over TCP (RFC 3261 §18): answers on the connection a request came on, a request
/// that came so or is large goes on to the next member over TCP, and a member's request that
/// comes from a connection's port is still known for the member's.
struct TCPForwardingTests {
    /// A node of a three-member group, draining (so it forwards), with TCP to members on or off.
    func node(_ me: Int, drain: Bool = true, membersOverTCP: Bool = true) -> Node<SeededEntropy> {
        var settings = NodeSettings(identity: Array("sip:127.0.0.\(me + 1):5060;transport=udp".utf8))
        settings.drain = drain
        settings.membersOverTCP = membersOverTCP
        settings.rateLimitPerSecond = 0
        return Node(settings: settings, sequence: group(3, me: me), entropy: SeededEntropy(state: UInt64(me + 1)))
    }

    /// What the outbox holds: text, destination and transport of each datagram; emptied.
    func sent(_ node: Node<SeededEntropy>) -> [(text: String, to: Endpoint, over: Transport)] {
        let outbox = node.outbox
        let items = (0..<outbox.count).map { index -> (text: String, to: Endpoint, over: Transport) in
            let datagram = outbox.datagram(index)
            return (String(decoding: outbox.bytes(datagram), as: UTF8.self), datagram.destination, datagram.transport)
        }
        outbox.removeAll()
        return items
    }

    func receive(_ text: String, at node: Node<SeededEntropy>, from source: Endpoint, over transport: Transport) {
        _ = Array(text.utf8).withUnsafeBytes { node.receive($0, from: source, over: transport, now: 1_000_000_000) }
    }

    let client = endpoint(100, 40_000)
    let tcpInvite = request(vias: ["SIP/2.0/TCP 127.0.0.100:5070;branch=z9hG4bKtcp1"])

    @Test func aRequestThatCameOverTCPGoesOnOverTCPAndItsAnswersBackOnItsConnection() {
        let first = node(0)
        receive(tcpInvite, at: first, from: client, over: .tcp)
        let out = sent(first)
        #expect(out.count == 2)
        // 100 Trying back on the client's connection; the INVITE on to member 2 over TCP.
        #expect(out[0].text.hasPrefix("SIP/2.0 100") && out[0].to == client && out[0].over == .tcp)
        #expect(out[1].text.hasPrefix("INVITE ") && out[1].to == endpoint(2) && out[1].over == .tcp)
        #expect(out[1].text.contains("\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK"))
        // Member 2's 302, over its connection, goes back to the client's.
        let forwarded = out[1].text
        receive(answer(forwarded, "302 Moved Temporarily", extra: "Contact: <sip:127.0.0.3:5060>\r\n"), at: first,
                from: endpoint(2), over: .tcp)
        let back = sent(first)
        #expect(back.contains { $0.text.hasPrefix("SIP/2.0 302") && $0.to == client && $0.over == .tcp })
        #expect(back.contains { $0.text.hasPrefix("ACK ") && $0.to == endpoint(2) && $0.over == .tcp })
    }

    @Test func overUDPOnlyALargeRequestGoesOnOverTCP() {
        let first = node(0)
        receive(request(vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKsmall"]), at: first, from: client, over: .udp)
        #expect(sent(first).allSatisfy { $0.over == .udp })
        let large = request(vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKlarge"])
            .replacingOccurrences(of: "Content-Length: 0\r\n", with: "X-Padding: \(String(repeating: "p", count: 1400))\r\nContent-Length: 0\r\n")
        receive(large, at: first, from: client, over: .udp)
        let out = sent(first)
        #expect(out.contains { $0.text.hasPrefix("INVITE ") && $0.to == endpoint(2) && $0.over == .tcp })
        #expect(out.contains { $0.text.hasPrefix("SIP/2.0 100") && $0.to == client && $0.over == .udp })
        // Without TCP to members (the daemon's `tcp = no`), everything stays on UDP.
        let udpOnly = node(0, membersOverTCP: false)
        receive(large, at: udpOnly, from: client, over: .udp)
        #expect(sent(udpOnly).allSatisfy { $0.over == .udp })
    }

    @Test func aMembersRequestFromAConnectionsPortIsTheMembers() {
        let first = node(0)
        receive(tcpInvite, at: first, from: client, over: .tcp)
        let forwarded = sent(first)[1].text
        // Member 2 accepts: the request came from 127.0.0.1 (member 1's address) on a port of
        // its connection's own; the top Via names member 1. Its 302 goes back on that connection.
        let second = node(1, drain: false)
        let connection = endpoint(1, 45_678)
        receive(forwarded, at: second, from: connection, over: .tcp)
        let out = sent(second)
        #expect(out.count == 1 && out[0].text.hasPrefix("SIP/2.0 302") && out[0].to == connection && out[0].over == .tcp,
                "\(out.map(\.text))")
        // The same Vias from another address: somebody pretending to be a hop, refused.
        let stranger = node(1, drain: false)
        receive(forwarded, at: stranger, from: endpoint(9, 45_678), over: .tcp)
        #expect(sent(stranger).first?.text.hasPrefix("SIP/2.0 403") == true)
    }

    /// Over TLS (RFC 3261 §26.2) answers go back on the client's TLS connection, the request
    /// goes on to the member over TCP (members over TLS are not built), and a Route naming the
    /// node's TLS address names the node: it is taken off, never followed.
    @Test func aRequestOverTLSIsAnsweredOverTLSAndARouteToTheTLSPortIsThisNode() {
        var settings = NodeSettings(identity: Array("sip:127.0.0.1:5060;transport=udp".utf8))
        settings.drain = true
        settings.membersOverTCP = true
        settings.rateLimitPerSecond = 0
        settings.tlsAddress = endpoint(1, 5061)
        let first = Node(settings: settings, sequence: group(3, me: 0), entropy: SeededEntropy(state: 1))
        let routed = request(vias: ["SIP/2.0/TLS 127.0.0.100:5070;branch=z9hG4bKtls1"])
            .replacingOccurrences(of: "Max-Forwards", with: "Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\nMax-Forwards")
        receive(routed, at: first, from: client, over: .tls)
        let out = sent(first)
        #expect(out.count == 2, "\(out.map(\.text))")
        #expect(out[0].text.hasPrefix("SIP/2.0 100") && out[0].to == client && out[0].over == .tls)
        #expect(out[1].text.hasPrefix("INVITE ") && out[1].to == endpoint(2) && out[1].over == .tcp)
        #expect(!out[1].text.contains("\r\nRoute:"), "\(out[1].text)")
        // Without the TLS address known, the Route is somebody else's and stays.
        settings.tlsAddress = nil
        let unaware = Node(settings: settings, sequence: group(3, me: 0), entropy: SeededEntropy(state: 1))
        receive(routed, at: unaware, from: client, over: .tls)
        #expect(sent(unaware).contains { $0.text.hasPrefix("INVITE ") && $0.text.contains("\r\nRoute: <sip:127.0.0.1:5061") })
    }

    /// With TLS between members: requests go on to the next member over TLS at its address
    /// and the group's TLS port, and only an authenticated TLS connection speaks for a member;
    /// the same forward over UDP from the member's own address is a stranger's.
    @Test func withTLSBetweenMembersOnlyAnAuthenticatedConnectionSpeaksForAMember() {
        func tlsNode(_ me: Int, drain: Bool) -> Node<SeededEntropy> {
            var settings = NodeSettings(identity: Array("sip:127.0.0.\(me + 1):5060;transport=udp".utf8))
            settings.drain = drain
            settings.membersOverTCP = true
            settings.membersOverTLS = true
            settings.rateLimitPerSecond = 0
            settings.tlsAddress = endpoint(UInt32(me + 1), 5061)
            return Node(settings: settings, sequence: group(3, me: me), entropy: SeededEntropy(state: UInt64(me + 1)))
        }
        let first = tlsNode(0, drain: true)
        receive(request(vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKtlsm1"]), at: first, from: client, over: .udp)
        let out = sent(first)
        let forward = out.first { $0.text.hasPrefix("INVITE ") }
        #expect(forward?.to == endpoint(2, 5061) && forward?.over == .tls, "\(out.map { ($0.to, $0.over) })")
        #expect(forward?.text.contains("\r\nVia: SIP/2.0/TLS 127.0.0.1:5060;branch=z9hG4bK") == true)
        let forwarded = forward?.text ?? ""
        // Member 2 accepts what comes over an authenticated connection from member 1's address.
        let second = tlsNode(1, drain: false)
        _ = Array(forwarded.utf8).withUnsafeBytes {
            second.receive($0, from: endpoint(1, 45_000), over: .tls, authenticated: true, now: 1_000_000_000)
        }
        let accepted = sent(second)
        #expect(accepted.count == 1 && accepted[0].text.hasPrefix("SIP/2.0 302") && accepted[0].to == endpoint(1, 45_000)
                && accepted[0].over == .tls, "\(accepted.map(\.text))")
        // The same over UDP from member 1's own address, or over TLS unauthenticated: refused.
        for (transport, authenticated) in [(Transport.udp, false), (.tls, false), (.tcp, false)] {
            let forged = tlsNode(1, drain: false)
            let source = transport == .udp ? endpoint(1) : endpoint(1, 45_001)
            _ = Array(forwarded.utf8).withUnsafeBytes {
                forged.receive($0, from: source, over: transport, authenticated: authenticated, now: 1_000_000_000)
            }
            #expect(sent(forged).first?.text.hasPrefix("SIP/2.0 403") == true, "\(transport)")
        }
    }
}

