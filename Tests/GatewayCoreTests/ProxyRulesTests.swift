import Foundation
import Testing
import Basics
import GatewayCore
import SIP

/// The header lines named `name` (long form, any case), values only.
func headers(_ name: String, in message: String) -> [String] {
    message.components(separatedBy: "\r\n").compactMap { line in
        guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name.lowercased() else { return nil }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}

func requestLine(_ message: String) -> String { message.components(separatedBy: "\r\n")[0] }

/// What a proxy (or a UAS behind it) answers to `request`: its Vias, From, To (tagged), Call-ID and CSeq.
func answer(_ request: String, _ status: String, extra: String = "") -> String {
    var text = "SIP/2.0 \(status)\r\n"
    for via in headers("Via", in: request) { text += "Via: \(via)\r\n" }
    text += "From: \(headers("From", in: request)[0])\r\nTo: \(headers("To", in: request)[0]);tag=uas\r\n"
    text += "Call-ID: \(headers("Call-ID", in: request)[0])\r\nCSeq: \(headers("CSeq", in: request)[0])\r\n"
    return text + extra + "Content-Length: 0\r\n\r\n"
}

/// RFC 3581 and RFC 3261 §16.4 applied to a request before anything else reads it.
struct ProxyPreparationTests {
    func prepare(_ text: String, source: Endpoint = endpoint(100, 5070), me: Endpoint = endpoint(1)) -> String? {
        Array(text.utf8).withUnsafeBytes { buffer in
            let message = try! SIPScanner.scan(buffer, startLine: SIPScanner.startLine(buffer)!, framing: .datagram)
            var out = TextBuffer()
            let outcome = ProxyPreparation.prepare(message, buffer, source: source, isSelf: { $0 == me }, into: &out)
            return outcome.rewritten ? String(decoding: out.bytes, as: UTF8.self) : nil
        }
    }

    @Test func rportIsFilledAndReceivedAdded() {
        let text = request(vias: ["SIP/2.0/UDP 127.0.0.100:5070;rport;branch=z9hG4bKr", "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKx"])
        let prepared = try! #require(prepare(text, source: endpoint(100, 40000)))
        #expect(headers("Via", in: prepared) == ["SIP/2.0/UDP 127.0.0.100:5070;rport=40000;branch=z9hG4bKr;received=127.0.0.100",
                                                 "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKx"])
    }

    @Test func receivedOnlyWhenTheSentByIsNotTheSource() {
        #expect(prepare(request(vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKs"])) == nil)
        let named = try! #require(prepare(request(vias: ["SIP/2.0/UDP phone.example:5070;branch=z9hG4bKn"])))
        #expect(headers("Via", in: named) == ["SIP/2.0/UDP phone.example:5070;branch=z9hG4bKn;received=127.0.0.100"])
        // Two values in one header: only the first is the sender's.
        let folded = try! #require(prepare(request(vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKa;rport, SIP/2.0/UDP 127.0.0.7;branch=z9hG4bKb"])))
        #expect(headers("Via", in: folded) == ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKa;rport=5070;received=127.0.0.100, SIP/2.0/UDP 127.0.0.7;branch=z9hG4bKb"])
    }

    /// Found by FuzzNode (it trapped): the scanner's top Via need not be on the first Via
    /// line; here the first is malformed and the scanner took the second.
    @Test func theTopViaIsAmendedWhereTheScannerFoundIt() throws {
        let bytes: [UInt8] = [65, 67, 75, 32, 115, 105, 112, 58, 102, 114, 97, 110, 99, 105, 115, 99, 111, 64, 50, 48, 48, 46, 53, 55, 46, 55, 46, 50, 48, 52, 58, 53, 48, 54, 49, 32, 83, 73, 80, 47, 50, 46, 48, 13, 10, 86, 105, 97, 58, 32, 83, 73, 80, 47, 50, 46, 48, 47, 85, 68, 80, 32, 50, 48, 48, 46, 53, 55, 46, 55, 46, 49, 191, 202, 51, 98, 114, 97, 110, 99, 104, 61, 122, 57, 104, 71, 52, 98, 75, 48, 102, 52, 57, 54, 101, 51, 98, 54, 101, 55, 34, 100, 49, 52, 48, 101, 48, 98, 55, 48, 49, 48, 55, 49, 99, 49, 50, 52, 53, 97, 98, 13, 10, 86, 105, 97, 58, 32, 83, 73, 80, 47, 50, 46, 48, 67, 65, 78, 67, 69, 76, 54, 13, 10, 70, 114, 111, 109, 58, 32, 60, 115, 105, 112, 58, 50, 48, 48, 46, 53, 55, 46, 55, 46, 49, 57, 53, 58, 53, 53, 48, 54, 49, 59, 117, 115, 101, 114, 61, 112, 104, 111, 110, 101, 62, 59, 116, 97, 103, 61, 71, 82, 53, 50, 82, 87, 71, 51, 52, 54, 45, 51, 52, 13, 10, 84, 111, 58, 32, 34, 102, 114, 97, 110, 99, 105, 115, 99, 111, 64, 98, 101, 115, 116, 101, 108, 46, 60, 105, 32, 111, 109, 115, 42, 99, 112, 58, 102, 114, 97, 110, 99, 105, 115, 99, 111, 64, 98, 101, 115, 116, 101, 108, 46, 99, 111, 109, 58, 53, 53, 48, 54, 48, 62, 59, 13, 10, 32, 116, 97, 103, 61, 50, 57, 56, 56, 53, 50, 48, 52, 52, 13, 10, 67, 97, 108, 108, 45, 73, 68, 58, 32, 49, 50, 48, 49, 51, 50, 50, 51, 64, 50, 48, 48, 46, 53, 55, 46, 55, 46, 49, 57, 53, 13, 10, 67, 83, 101, 113, 58, 32, 49, 32, 65, 67, 75, 13, 10, 67, 111, 110, 116, 97, 99, 116, 58, 32, 60, 115, 105, 112, 58, 50, 48, 48, 46, 53, 55, 46, 55, 46, 49, 57, 53, 58, 53, 48, 54, 48, 62, 13, 10, 67, 111, 110, 116, 101, 110, 116, 45, 76, 101, 110, 103, 116, 104, 58, 32, 48, 13, 10, 13, 10]
        let prepared = bytes.withUnsafeBytes { buffer -> String? in
            let message = try? SIPScanner.scan(buffer, startLine: SIPScanner.startLine(buffer)!, framing: .datagram)
            guard let message else { return nil }
            #expect(message.topVia.start > 100, "the scanner's top Via is on the second Via line")
            var out = TextBuffer()
            let outcome = ProxyPreparation.prepare(message, buffer, source: endpoint(100, 5070), isSelf: { _ in false }, into: &out)
            return outcome.rewritten ? String(decoding: out.bytes, as: UTF8.self) : nil
        }
        let text = try #require(prepared)
        #expect(text.contains("Via: SIP/2.0CANCEL6;received=127.0.0.100\r\n"))
    }

    @Test func ownRouteValueIsRemovedOthersKept() {
        let text = request().replacingOccurrences(of: "Max-Forwards", with: "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.12:5460;lr>\r\nRoute: <sip:127.0.0.13;lr>\r\nMax-Forwards")
        let prepared = try! #require(prepare(text))
        #expect(headers("Route", in: prepared) == ["<sip:127.0.0.12:5460;lr>", "<sip:127.0.0.13;lr>"])
        #expect(requestLine(prepared) == requestLine(text))
        // Someone else's Route first: nothing to do.
        let foreign = request().replacingOccurrences(of: "Max-Forwards", with: "Route: <sip:127.0.0.12:5460;lr>\r\nMax-Forwards")
        #expect(prepare(foreign) == nil)
        // A Route naming this element with the default port.
        let defaultPort = request().replacingOccurrences(of: "Max-Forwards", with: "Route: \"me\" <sip:127.0.0.1;lr>\r\nMax-Forwards")
        #expect(try! headers("Route", in: #require(prepare(defaultPort))).isEmpty)
    }

    @Test func aStrictRouterUpstreamHasItsRequestURIRestored() {
        // A strict router put this element's Record-Route URI in the Request-URI and the
        // remote target last in Route (§16.4).
        let text = request(uri: "sip:127.0.0.1:5060;lr;gatewayd")
            .replacingOccurrences(of: "Max-Forwards", with: "Route: <sip:127.0.0.12:5460;lr>, <sip:bob@127.0.0.50:7000>\r\nMax-Forwards")
        let prepared = try! #require(prepare(text))
        #expect(requestLine(prepared) == "INVITE sip:bob@127.0.0.50:7000 SIP/2.0")
        #expect(headers("Route", in: prepared) == ["<sip:127.0.0.12:5460;lr>"])
        // A request to connect sent to the node's own address is not that.
        #expect(prepare(request(uri: "sip:alice@127.0.0.1:5060")) == nil)
    }
}

/// The node as a proxy for requests that already point at a proxy of the group.
struct ProxyRulesTests {
    let proxy1 = endpoint(12, 5460)  // the proxy behind node 1

    /// Node 0 busy, node 1 accepting: the first round gives the 302 naming node 1's proxy.
    func assigned() -> Network {
        let network = Network(3, proxies: true)
        network.setWorkload(0, calls: 100)
        network.send(invite("first"))
        #expect(contact(network.finalResponses.last ?? "") == "<sip:alice@127.0.0.12:5460;user=phone;transport=udp>;expires=60")
        let toTag = headers("To", in: network.finalResponses.last ?? "").first ?? ""
        network.send("ACK sip:alice@primary.example;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKfirst\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=f\r\nTo: \(toTag)\r\nCall-ID: first\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
        network.received.removeAll()
        return network
    }

    @Test func aRequestNamingAProxyOfTheGroupIsForwardedThereNeverRedirected() throws {
        let network = assigned()
        // The phone follows the 302 but still sends through the primary (its outbound proxy).
        let followed = invite("second").replacingOccurrences(of: "sip:alice@primary.example;user=phone", with: "sip:alice@127.0.0.12:5460;transport=udp")
            .replacingOccurrences(of: "Max-Forwards", with: "Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards")
        network.send(followed)
        #expect(network.finalResponses.isEmpty)
        #expect(network.received.map { requestLine($0) } == ["SIP/2.0 100 Trying"])
        let sent = try #require(network.elsewhere.last)
        #expect(sent.to == proxy1)
        #expect(requestLine(sent.text) == "INVITE sip:alice@127.0.0.12:5460;transport=udp SIP/2.0")
        let vias = headers("Via", in: sent.text)
        #expect(vias.count == 2 && vias[0].hasPrefix("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"))
        #expect(headers("Max-Forwards", in: sent.text) == ["69"])
        #expect(headers("Route", in: sent.text).isEmpty)
        #expect(network.nodes[0].counters.proxied == 1 && network.nodes[0].counters.answeredHere == 0)

        // Ringing, then the answer and its retransmission: all back to the phone.
        for status in ["180 Ringing", "200 OK", "200 OK"] {
            Array(answer(sent.text, status, extra: "Record-Route: <sip:127.0.0.12:5460;lr>\r\nContact: <sip:bob@127.0.0.50:7000>\r\n").utf8)
                .withUnsafeBytes { network.nodes[0].receive($0, from: proxy1, now: network.now) }
            network.deliver()
        }
        #expect(network.received.map { requestLine($0) } == ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK", "SIP/2.0 200 OK"])
        #expect(headers("Via", in: network.received[2]).count == 1)

        // The ACK for the 2xx goes on end to end, along the proxy's Record-Route.
        let ack = "ACK sip:bob@127.0.0.50:7000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKack2\r\n"
            + "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.12:5460;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:a@h>;tag=f\r\n"
            + "To: <sip:b@h>;tag=uas\r\nCall-ID: second\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        let before = network.elsewhere.count
        network.send(ack)
        #expect(network.elsewhere.count == before + 1)
        let forwardedAck = try #require(network.elsewhere.last)
        #expect(forwardedAck.to == proxy1 && requestLine(forwardedAck.text) == "ACK sip:bob@127.0.0.50:7000 SIP/2.0")
        #expect(headers("Route", in: forwardedAck.text) == ["<sip:127.0.0.12:5460;lr>"])
        #expect(network.nodes[0].counters.forwardedStateless == 1)

        // BYE in the dialog, the same way; its answer comes back.
        let bye = ack.replacingOccurrences(of: "ACK sip", with: "BYE sip").replacingOccurrences(of: "1 ACK", with: "2 BYE")
            .replacingOccurrences(of: "z9hG4bKack2", with: "z9hG4bKbye")
        network.send(bye)
        let forwardedBye = try #require(network.elsewhere.last)
        #expect(requestLine(forwardedBye.text).hasPrefix("BYE sip:bob@127.0.0.50:7000"))
        Array(answer(forwardedBye.text, "200 OK").utf8).withUnsafeBytes { network.nodes[0].receive($0, from: proxy1, now: network.now) }
        network.deliver()
        #expect(network.received.last.map { headers("CSeq", in: $0) } == ["2 BYE"])
    }

    @Test func aStrictRouterNextHopGetsTheRequestRewrittenAsSection16_6Step7() throws {
        let network = assigned()
        let bye = "BYE sip:bob@127.0.0.50:7000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKstrict\r\n"
            + "Route: <sip:127.0.0.12:5460>, <sip:127.0.0.77;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:a@h>;tag=f\r\n"
            + "To: <sip:b@h>;tag=x\r\nCall-ID: s\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        network.send(bye)
        let sent = try #require(network.elsewhere.last)
        #expect(sent.to == proxy1)
        #expect(requestLine(sent.text) == "BYE sip:127.0.0.12:5460 SIP/2.0")
        #expect(headers("Route", in: sent.text) == ["<sip:127.0.0.77;lr>, <sip:bob@127.0.0.50:7000>"])
    }

    @Test func inDialogRequestsToSomewhereElseAreRefusedAndCounted() {
        let network = assigned()
        let bye = "BYE sip:bob@127.0.0.50:7000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKbye\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>;tag=x\r\nCall-ID: d\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        network.send(bye)
        #expect(network.finalResponses.map { requestLine($0) } == ["SIP/2.0 403 Forbidden"])
        #expect(network.nodes[0].counters.unroutable == 1)
        #expect(network.elsewhere.isEmpty)
        // Out of a dialog, a method that is not a request to connect is still 405.
        network.send(request("SUBSCRIBE"))
        #expect(network.finalResponses.last.map { requestLine($0) } == "SIP/2.0 405 Method Not Allowed")
    }

    @Test func cancelReachesTheProxyAndItsAnswerComesBack() throws {
        let network = assigned()
        let followed = invite("ring").replacingOccurrences(of: "sip:alice@primary.example;user=phone", with: "sip:alice@127.0.0.12:5460")
        network.send(followed)
        let sent = try #require(network.elsewhere.last)
        Array(answer(sent.text, "180 Ringing").utf8).withUnsafeBytes { network.nodes[0].receive($0, from: proxy1, now: network.now) }
        network.deliver()
        let cancel = followed.replacingOccurrences(of: "INVITE sip", with: "CANCEL sip").replacingOccurrences(of: "1 INVITE", with: "1 CANCEL")
        network.send(cancel)
        #expect(network.finalResponses.last.map { headers("CSeq", in: $0) } == ["1 CANCEL"])
        let cancelled = try #require(network.elsewhere.last)
        #expect(requestLine(cancelled.text) == "CANCEL sip:alice@127.0.0.12:5460 SIP/2.0")
        #expect(headers("Via", in: cancelled.text) == [headers("Via", in: sent.text)[0]])
        // The proxy's 200 to the CANCEL stays here; its 487 to the INVITE is ACKed here and relayed.
        Array(answer(cancelled.text, "200 OK").utf8).withUnsafeBytes { network.nodes[0].receive($0, from: proxy1, now: network.now) }
        Array(answer(sent.text, "487 Request Terminated").utf8).withUnsafeBytes { network.nodes[0].receive($0, from: proxy1, now: network.now) }
        network.deliver()
        #expect(network.finalResponses.last.map { requestLine($0) } == "SIP/2.0 487 Unknown"
            || network.finalResponses.last.map { requestLine($0) } == "SIP/2.0 487 Request Terminated")
        #expect(network.finalResponses.filter { $0.hasPrefix("SIP/2.0 200") }.count == 1)
        let hopAck = try #require(network.elsewhere.last)
        #expect(requestLine(hopAck.text) == "ACK sip:alice@127.0.0.12:5460 SIP/2.0")
    }

    @Test func aProxyThatNeverAnswersGets408NotSilence() {
        let network = assigned()
        network.send(invite("silent").replacingOccurrences(of: "sip:alice@primary.example;user=phone", with: "sip:alice@127.0.0.12:5460"))
        network.run(milliseconds: 31_000)
        #expect(network.finalResponses.isEmpty)
        network.run(milliseconds: 2_000)
        // Retransmitted until the client ACKs it, like any final non-2xx.
        #expect(Set(network.finalResponses.map { requestLine($0) }) == ["SIP/2.0 408 Request Timeout"])
        // Node 1 stays up: a silent proxy is not a silent member.
        #expect(network.nodes[0].health[1].isUp)
    }

    @Test func aNodeWhoseIdentityIsItsOwnAddressRedirectsAsBefore() {
        let network = Network(3)
        network.send(invite("a").replacingOccurrences(of: "sip:alice@primary.example;user=phone", with: "sip:alice@127.0.0.1:5060"))
        #expect(network.finalResponses.map { requestLine($0) } == ["SIP/2.0 302 Moved Temporarily"])
        #expect(network.elsewhere.isEmpty)
    }
}

/// Recursion (RFC 3261 §16.5-16.6): the entry node follows the group's 302 itself.
struct RecursionTests {
    @Test func theEntryNodeFollowsTheChainsRedirectAndTheClientNeverSeesIt() throws {
        let network = Network(3, proxies: true) { $0.recurse = true }
        network.setWorkload(0, calls: 100)
        network.send(invite("r").replacingOccurrences(of: "Via: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKr",
                                                      with: "Via: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKr;rport"))
        #expect(network.received.map { requestLine($0) } == ["SIP/2.0 100 Trying"])
        let sent = try #require(network.elsewhere.last)
        #expect(sent.to == endpoint(12, 5460))
        #expect(requestLine(sent.text) == "INVITE sip:alice@127.0.0.12:5460;user=phone;transport=udp SIP/2.0")
        #expect(headers("Via", in: sent.text).count == 2)
        #expect(headers("Via", in: sent.text)[1].hasSuffix(";rport=5070;received=127.0.0.100"))
        #expect(network.nodes[0].counters.recursed == 1)
        // Node 1 made the reservation; node 0 acknowledged node 1's 302 hop by hop.
        #expect(network.nodes[1].reservations.made == 1)
        Array(answer(sent.text, "200 OK").utf8).withUnsafeBytes { network.nodes[0].receive($0, from: endpoint(12, 5460), now: network.now) }
        network.deliver()
        #expect(network.received.map { requestLine($0) } == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"])
        #expect(network.nodes[0].recursions.count == 1)
    }

    @Test func aRecursingNodeThatAcceptsForwardsToItsOwnProxy() throws {
        let network = Network(2, proxies: true) { $0.recurse = true }
        network.send(request("REGISTER", uri: "sip:127.0.0.1:5060"))
        let sent = try #require(network.elsewhere.last)
        #expect(sent.to == endpoint(11, 5460))
        #expect(requestLine(sent.text) == "REGISTER sip:127.0.0.11:5460;transport=udp SIP/2.0")
        #expect(network.received.isEmpty)
        #expect(network.nodes[0].counters.answeredHere == 1)
    }

    /// Proxies that take TCP (the identities say `;transport=tcp`): the request goes on to
    /// the proxy the 302 names over TCP, asking for a connection; the answers to the client
    /// go back as the request came and open none.
    @Test func recursionGoesOverTheTransportTheContactNames() throws {
        let network = Network(3, proxies: true) {
            $0.recurse = true
            $0.identity = Array(String(decoding: $0.identity, as: UTF8.self).replacingOccurrences(of: "transport=udp", with: "transport=tcp").utf8)
        }
        network.setWorkload(0, calls: 100)
        network.send(invite("t"))
        let sent = try #require(network.elsewhere.last)
        #expect(sent.to == endpoint(12, 5460) && sent.over == .tcp && sent.opens)
        #expect(requestLine(sent.text) == "INVITE sip:alice@127.0.0.12:5460;user=phone;transport=tcp SIP/2.0")
        #expect(headers("Via", in: sent.text)[0].hasPrefix("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK"))
        Array(answer(sent.text, "200 OK").utf8).withUnsafeBytes {
            network.nodes[0].receive($0, from: endpoint(12, 5460), over: .tcp, now: network.now)
        }
        network.deliver()
        #expect(network.received.map { requestLine($0) } == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"])
        #expect(network.openingTowardsClient == 0)
    }

    /// A `sips:` identity: the node that accepts sends the request to its own proxy over TLS,
    /// at the port the URI names (5061 when it names none).
    @Test func aSipsIdentityIsReachedOverTLS() throws {
        let network = Network(2, proxies: true) {
            $0.recurse = true
            $0.identity = Array(String(decoding: $0.identity, as: UTF8.self).replacingOccurrences(of: "sip:", with: "sips:")
                .replacingOccurrences(of: ":5460;transport=udp", with: "").utf8)
        }
        network.send(request("REGISTER", uri: "sip:127.0.0.1:5060"))
        let sent = try #require(network.elsewhere.last)
        #expect(sent.to == endpoint(11, 5061) && sent.over == .tls && sent.opens)
        #expect(headers("Via", in: sent.text)[0].hasPrefix("SIP/2.0/TLS "))
    }

    @Test func requestsFromMembersAreNeverRecursed() {
        // Node 1 recurses, but the request reaches it from node 0: the chain's answer is a 302.
        let network = Network(3, proxies: true) { $0.recurse = $0.identity == Array("sip:127.0.0.12:5460;transport=udp".utf8) }
        network.setWorkload(0, calls: 100)
        network.send(invite("m"))
        #expect(network.finalResponses.map { requestLine($0) } == ["SIP/2.0 302 Moved Temporarily"])
    }
}

/// Messages of any size a datagram holds (RFC 3261 §18.1.1 leaves UDP up to 65,507 bytes).
struct MessageSizeTests {
    /// An INVITE of exactly `size` bytes (its SDP-like body padded).
    func sized(_ callID: String, size: Int) -> String {
        let head = request("INVITE", vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bK\(callID)"])
            .replacingOccurrences(of: "Call-ID: call-1", with: "Call-ID: \(callID)")
            .replacingOccurrences(of: "Content-Length: 0\r\n\r\n", with: "Content-Type: application/sdp\r\n")
        var bodyLength = size - head.utf8.count - "Content-Length: \r\n\r\n".utf8.count
        bodyLength -= String(bodyLength).count
        let body = "v=0\r\n" + String(repeating: "a", count: max(bodyLength - 7, 0)) + "\r\n"
        let text = head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        return text
    }

    @Test(arguments: [1_000, 2_100, 8_000, 60_000])
    func aLargeRequestCrossesAThreeNodeChainAndIsAcknowledgedHopByHop(size: Int) throws {
        // Probes once only, so that their transactions are over too when the pool is checked.
        let network = Network(3) { $0.probeIntervalNanoseconds = 3_600_000_000_000 }
        network.setWorkload(0, calls: 100)
        network.setWorkload(1, calls: 100)
        let text = sized("big-\(size)", size: size)
        #expect(text.utf8.count == size)
        network.send(text)
        let finals = network.finalResponses
        #expect(finals.map { requestLine($0) } == ["SIP/2.0 302 Moved Temporarily"])
        #expect(contact(finals[0])?.hasPrefix("<sip:alice@127.0.0.3:5060") == true)
        #expect(network.nodes[0].counters.forwarded == 1 && network.nodes[1].counters.forwarded == 1)
        // The client ACKs; every hop ACKs the one after it, so nothing is retransmitted.
        let toTag = headers("To", in: finals[0])[0]
        network.send("ACK sip:alice@primary.example;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKbig-\(size)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=f\r\nTo: \(toTag)\r\nCall-ID: big-\(size)\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
        let before = network.received.count
        network.run(milliseconds: 40_000)
        #expect(network.received.count == before)
        for node in network.nodes {
            #expect(node.counters.messagesRefused == 0 && node.counters.responsesUnheld == 0)
            #expect(node.messages.used == 0)  // every transaction over and its messages given back
        }
    }

    @Test func aRequestThatWouldNoLongerFitWithOurViaGets513() {
        let network = Network(2)
        network.setWorkload(0, calls: 100)
        network.send(sized("huge", size: 65_480))
        #expect(network.finalResponses.map { requestLine($0) } == ["SIP/2.0 513 Message Too Large"])
        #expect(network.nodes[0].counters.messagesRefused == 1)
    }

    /// A request answered at once (a 302) is never copied into the pool: only the 302 kept
    /// for retransmission is. One sent on is held until it is answered.
    @Test func onlyARequestSentOnIsHeldInThePool() {
        let network = Network(2)
        network.dead = [1]
        network.send(sized("here", size: 20_000))
        #expect(network.finalResponses.map { requestLine($0) } == ["SIP/2.0 302 Moved Temporarily"])
        let answered = network.nodes[0].messages.used
        // The 302 only, at any moment: the 20,000-byte request was never copied in.
        #expect(answered > 0 && answered < 2_048 && network.nodes[0].messages.peakUsed == answered)
        network.setWorkload(0, calls: 100)
        network.send(sized("onwards", size: 20_000).replacingOccurrences(of: "From: <sip:a@h>", with: "From: <sip:z@h>"))
        #expect(network.nodes[0].counters.forwarded == 1)
        #expect(network.nodes[0].messages.used >= answered + 2 * 20_000)  // as received, and as sent on
    }

    @Test func aFullPoolAnswers503AndCounts() {
        let network = Network(2) { $0.messagePoolBytes = 65_536 }
        network.setWorkload(0, calls: 100)
        network.setWorkload(1, calls: 100)
        network.send(sized("one", size: 40_000))
        network.send(sized("two", size: 40_000).replacingOccurrences(of: "From: <sip:a@h>", with: "From: <sip:z@h>"))
        #expect(network.finalResponses.contains { requestLine($0) == "SIP/2.0 503 Service Unavailable" && $0.contains("Call-ID: two") })
        #expect(network.nodes[0].counters.messagesRefused >= 1)
    }

    @Test func aLargeResponseIsRetransmittedWhole() throws {
        let network = Network(3, proxies: true)
        network.setWorkload(0, calls: 100)
        network.send(invite("first"))
        network.received.removeAll()
        network.send(invite("busy").replacingOccurrences(of: "sip:alice@primary.example;user=phone", with: "sip:alice@127.0.0.12:5460"))
        let sent = try #require(network.elsewhere.last)
        let padding = "Warning: 399 proxy \"" + String(repeating: "x", count: 9_000) + "\"\r\n"
        Array(answer(sent.text, "486 Busy Here", extra: padding).utf8)
            .withUnsafeBytes { network.nodes[0].receive($0, from: endpoint(12, 5460), now: network.now) }
        network.deliver()
        network.run(milliseconds: 1_600)
        let busy = network.received.filter { $0.hasPrefix("SIP/2.0 486") }
        #expect(busy.count >= 2)
        #expect(busy.allSatisfy { $0 == busy[0] } && busy[0].utf8.count > 9_000)
    }
}

/// The proxies a node knows: its own, those `[sequence]` names, those it learned.
struct ProxyTargetsTests {
    @Test func configuredIdentitiesAreKnownBeforeAny302() {
        let members = (0..<3).map { Member(address: endpoint(UInt32($0 + 1)), identity: Array("sip:127.0.0.\($0 + 11):5460".utf8)) }
        let node = Node(settings: NodeSettings(identity: Array("sip:127.0.0.11:5460".utf8)),
                        sequence: GroupSequence(members: members, selfIndex: 0), entropy: SeededEntropy(state: 5))
        #expect(node.proxies.own == endpoint(11, 5460))
        #expect(node.proxies.contains(endpoint(13, 5460)) && !node.proxies.contains(endpoint(2)))
        let text = invite("x").replacingOccurrences(of: "sip:alice@primary.example;user=phone", with: "sip:alice@127.0.0.13:5460")
        Array(text.utf8).withUnsafeBytes { _ = node.receive($0, from: endpoint(100, 5070), now: 1) }
        #expect(node.counters.proxied == 1 && node.counters.answeredHere == 0)
        #expect((0..<node.outbox.count).map { node.outbox.datagram($0).destination }.contains(endpoint(13, 5460)))
    }

    @Test func learnedProxiesReplaceTheOldestLearnedOnly() {
        let targets = ProxyTargets(own: endpoint(11, 5460), fixed: [endpoint(12, 5460)], learned: 2)
        for last in 20..<25 { targets.learn(endpoint(UInt32(last), 5460)) }
        #expect(targets.contains(endpoint(11, 5460)) && targets.contains(endpoint(12, 5460)))
        #expect(targets.contains(endpoint(24, 5460)) && targets.contains(endpoint(23, 5460)) && !targets.contains(endpoint(22, 5460)))
        #expect(targets.count == 4)
    }
}
