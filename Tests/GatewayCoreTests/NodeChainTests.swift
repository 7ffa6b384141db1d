import Foundation
import Testing
import Basics
import SIP
import GatewayCore

/// Several nodes and one client wired together in memory: datagrams from each outbox are
/// delivered to whoever has the destination address, unless that address is cut off.
final class Network {
    var nodes: [Node<SeededEntropy>] = []
    let client = endpoint(100, 5070)
    var received: [String] = []
    var now: Int64 = 1_000_000_000
    var dead: Set<Int> = []
    var forged: [(bytes: [UInt8], from: Endpoint, to: Int)] = []
    /// Datagrams to addresses that are neither a node nor the client (the proxies behind
    /// the nodes), oldest first, with their transport and whether a connection may be opened
    /// for them.
    var elsewhere: [(text: String, to: Endpoint, over: Transport, opens: Bool)] = []
    /// Datagrams to the client that asked for a connection to be opened (an answer must not).
    var openingTowardsClient = 0

    /// With `proxies`, member k's identity is a proxy of its own at 127.0.0.(k+11):5460;
    /// otherwise it is the node's own listen address.
    init(_ count: Int, proxies: Bool = false, configure: (inout NodeSettings) -> Void = { _ in }) {
        for me in 0..<count {
            let identity = proxies ? "sip:127.0.0.\(me + 11):5460;transport=udp" : "sip:127.0.0.\(me + 1):5060;transport=udp"
            var settings = NodeSettings(identity: Array(identity.utf8))
            settings.timers.forwardTimeout = 1_000_000_000
            configure(&settings)
            nodes.append(Node(settings: settings, sequence: group(count, me: me), entropy: SeededEntropy(state: UInt64(me + 1))))
        }
    }

    func setWorkload(_ node: Int, calls: Int) {
        nodes[node].update(load: MeasuredLoad(calls: calls, callCapacity: 100), now: now)
    }

    func send(_ text: String, to node: Int = 0, from source: Endpoint? = nil) {
        Array(text.utf8).withUnsafeBytes { nodes[node].receive($0, from: source ?? client, now: now) }
        deliver()
    }

    /// Delivers until every outbox is empty.
    func deliver() {
        var moved = true
        while moved {
            moved = false
            for (index, node) in nodes.enumerated() {
                let outbox = node.outbox
                guard outbox.count > 0 else { continue }
                moved = true
                var pending: [([UInt8], Endpoint, Outbox.Datagram)] = []
                for i in 0..<outbox.count {
                    let datagram = outbox.datagram(i)
                    pending.append((Array(outbox.bytes(datagram)), datagram.destination, datagram))
                }
                outbox.removeAll()
                for (bytes, destination, datagram) in pending {
                    if destination == client {
                        received.append(String(decoding: bytes, as: UTF8.self))
                        if datagram.opening != .none { openingTowardsClient += 1 }
                    } else if let target = nodes.firstIndex(where: { $0.sequence.members[$0.sequence.selfIndex].address == destination }),
                              !dead.contains(target) {
                        bytes.withUnsafeBytes { nodes[target].receive($0, from: nodes[index].sequence.members[index].address, now: now) }
                    } else if nodes.firstIndex(where: { $0.sequence.members[$0.sequence.selfIndex].address == destination }) == nil {
                        elsewhere.append((String(decoding: bytes, as: UTF8.self), destination, datagram.transport,
                                          datagram.opening != .none))
                    }
                }
            }
        }
    }

    /// Lets `milliseconds` pass, ticking every node every 10 ms.
    func run(milliseconds: Int64) {
        let end = now + milliseconds * 1_000_000
        while now < end {
            now += 10_000_000
            for (index, node) in nodes.enumerated() where !dead.contains(index) { node.tick(now: now) }
            deliver()
        }
    }

    var finalResponses: [String] { received.filter { !$0.hasPrefix("SIP/2.0 100") } }
}

func invite(_ callID: String, branch: String? = nil) -> String {
    request("INVITE", vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bK\(branch ?? callID)"])
        .replacingOccurrences(of: "Call-ID: call-1", with: "Call-ID: \(callID)")
}

func contact(_ response: String) -> String? {
    response.split(separator: "\r\n").first { $0.hasPrefix("Contact: ") }.map { String($0.dropFirst(9)) }
}

struct NodeChainTests {
    @Test func idlePrimaryRedirectsToItself() {
        let network = Network(3)
        network.send(invite("a"))
        #expect(network.received.count == 1)
        #expect(network.received[0].hasPrefix("SIP/2.0 302 Moved Temporarily\r\n"))
        #expect(contact(network.received[0]) == "<sip:alice@127.0.0.1:5060;user=phone;transport=udp>;expires=60")
        #expect(network.nodes[0].counters.answeredHere == 1)
    }

    @Test func busyNodesForwardAlongTheChain() {
        let network = Network(3)
        network.setWorkload(0, calls: 100)
        network.setWorkload(1, calls: 95)
        network.send(invite("b"))
        #expect(network.received.first?.hasPrefix("SIP/2.0 100 Trying") == true)
        let final = network.finalResponses
        #expect(final.count == 1)
        #expect(final.first.map(contact) == "<sip:alice@127.0.0.3:5060;user=phone;transport=udp>;expires=60")
        // The answer came back along the chain with only the client's Via left.
        #expect(final.first?.components(separatedBy: "Via: ").count == 2)
        #expect(network.nodes[0].counters.forwarded == 1 && network.nodes[1].counters.forwarded == 1)
        #expect(network.nodes[2].counters.answeredHere == 1)
    }

    @Test func allBusyIsA503WithRetryAfter() {
        let network = Network(3)
        for node in 0..<3 { network.setWorkload(node, calls: 100) }
        network.send(invite("c"))
        let final = network.finalResponses
        #expect(final.count == 1)
        #expect(final.first?.hasPrefix("SIP/2.0 503 Service Unavailable\r\n") == true)
        #expect(final.first?.contains("Retry-After: 30\r\n") == true)
        #expect(network.nodes[2].counters.answeredBusy == 1)
    }

    @Test func aSilentMemberIsSkippedAfterTheForwardTimeout() {
        let network = Network(3)
        network.setWorkload(0, calls: 100)
        network.dead = [1]
        network.send(invite("d"))
        #expect(network.finalResponses.isEmpty)
        network.run(milliseconds: 1100)
        let final = network.finalResponses
        #expect(final.count == 1)
        #expect(final.first.map(contact) == "<sip:alice@127.0.0.3:5060;user=phone;transport=udp>;expires=60")
        #expect(network.nodes[0].counters.forwardTimeouts == 1)
    }

    @Test func deadPeersAreFoundByProbesAndSkippedAtOnce() {
        let network = Network(3)
        network.dead = [1]
        network.run(milliseconds: 3500)  // probes every second; down after 3 unanswered
        #expect(!network.nodes[0].health[1].isUp)
        #expect(network.nodes[0].health[2].isUp)
        network.setWorkload(0, calls: 100)
        network.send(invite("e"))
        #expect(network.finalResponses.first.map(contact) == "<sip:alice@127.0.0.3:5060;user=phone;transport=udp>;expires=60")
        // Back: up again after two answered probes.
        network.dead = []
        network.run(milliseconds: 2500)
        #expect(network.nodes[0].health[1].isUp)
    }

    @Test func probeAnswersCarryTheLoadToMembersOnly() {
        let network = Network(3)
        network.setWorkload(0, calls: 42)
        let probe = request("OPTIONS", vias: ["SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKprobe"], maxForwards: 0)
        // From member 2's address: the answer (read from the outbox before delivery) has the load.
        Array(probe.utf8).withUnsafeBytes { network.nodes[0].receive($0, from: endpoint(2), now: network.now) }
        let toMember = network.nodes[0].outbox
        #expect(toMember.count == 1)
        let memberAnswer = String(decoding: toMember.bytes(toMember.datagram(0)), as: UTF8.self)
        #expect(memberAnswer.hasPrefix("SIP/2.0 200 OK\r\n"))
        #expect(memberAnswer.contains("\r\nX-Gatewayd-Load: 0.420;state=accepting\r\n"), "\(memberAnswer)")
        toMember.removeAll()
        // From anyone else: alive, nothing more.
        network.send(request("OPTIONS", maxForwards: 0).replacingOccurrences(of: "call-1", with: "probe-2"))
        #expect(network.received.count == 1)
        #expect(network.received.first?.hasPrefix("SIP/2.0 200 OK\r\n") == true)
        #expect(network.received.first?.lowercased().contains("x-gatewayd-load") == false, "\(network.received)")
    }

    @Test func theAnsweringMemberListsThePathOnlyWhenAsked() {
        let network = Network(3)
        network.setWorkload(0, calls: 100)
        network.setWorkload(1, calls: 100)
        network.send(invite("traced").replacingOccurrences(of: "Content-Length: 0", with: "X-Gatewayd-Trace: path\r\nContent-Length: 0"))
        let traced = network.finalResponses.first ?? ""
        #expect(traced.contains("\r\nX-Gatewayd-Path: 127.0.0.1:5060, 127.0.0.2:5060, 127.0.0.3:5060\r\n"), "\(traced)")
        network.received.removeAll()
        network.send(invite("plain"))
        #expect(network.finalResponses.first?.hasPrefix("SIP/2.0 302") == true)
        #expect(network.finalResponses.first?.contains("X-Gatewayd-Path") == false)
        // All busy: the 503 lists every member.
        network.setWorkload(2, calls: 100)
        network.received.removeAll()
        network.send(invite("busy").replacingOccurrences(of: "Content-Length: 0", with: "X-Gatewayd-Trace: path\r\nContent-Length: 0"))
        let busy = network.finalResponses.first ?? ""
        #expect(busy.hasPrefix("SIP/2.0 503") && busy.contains("\r\nX-Gatewayd-Path: 127.0.0.1:5060, 127.0.0.2:5060, 127.0.0.3:5060\r\n"),
                "\(busy)")
    }

    /// More datagrams due in one turn than the outbox holds: the rest are dropped and counted
    /// (UDP would lose them anyway; each transaction retransmits again later).
    @Test func anOutboxOverflowIsCounted() {
        let network = Network(2) { $0.rateLimitPerSecond = 0 }
        network.setWorkload(0, calls: 100)
        network.dead = [1]
        // 300 INVITEs forwarded to #2, which never answers; the 100 Tryings go to the client.
        for i in 0..<300 { network.send(invite("overflow-\(i)")) }
        #expect(network.nodes[0].counters.forwarded == 300)
        #expect(network.nodes[0].outbox.dropped == 0)
        // Timer A fires for all 300 in the same tick, and a probe of #2 is due: 256 fit, 45 do not.
        network.nodes[0].tick(now: network.now + 500_000_000)
        #expect(network.nodes[0].counters.probesSent == 1)
        #expect(network.nodes[0].outbox.count == 256)
        #expect(network.nodes[0].outbox.dropped == 45)
    }

    /// Datagrams written one after another can be sent as one run (answers to one TCP
    /// connection go in one write): their bytes lie side by side.
    @Test func datagramsWrittenInARowCanBeTakenAsOneRun() {
        let outbox = Outbox(bytes: 64, datagrams: 4)
        let to = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 5060)
        for text in ["one.", "two..", "three"] {
            Array(text.utf8).withUnsafeBytes { outbox.send($0, to: to, over: .tcp) }
        }
        #expect(Array(outbox.bytes(0, through: 2)) == Array("one.two..three".utf8))
        #expect(Array(outbox.bytes(1, through: 1)) == Array("two..".utf8))
    }

    @Test func retransmissionsGetTheSameAnswerAndAreNotForwardedAgain() {
        let network = Network(3)
        network.setWorkload(0, calls: 100)
        network.send(invite("f"))
        network.send(invite("f"))
        #expect(network.nodes[0].counters.forwarded == 1)
        #expect(network.nodes[0].counters.retransmissionsAbsorbed == 1)
        let finals = network.finalResponses
        #expect(finals.count == 2 && finals[0] == finals[1])
    }

    @Test func theAckEndsTheTransactionHopByHop() {
        let network = Network(3)
        network.setWorkload(0, calls: 100)
        network.send(invite("g"))
        let ack = request("ACK", vias: ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKg"])
        network.send(ack)
        // Without the ACK node 0 would go on resending the final answer (timer G).
        let before = network.finalResponses.count
        network.run(milliseconds: 4000)
        #expect(network.finalResponses.count == before)
    }

    @Test func forgedResponsesAreDropped() {
        let network = Network(3)
        network.setWorkload(0, calls: 100)
        network.dead = [1]
        network.send(invite("h"))
        let forged = "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKguess\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKh\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>;tag=x\r\n"
            + "Call-ID: h\r\nCSeq: 1 INVITE\r\nContact: <sip:evil@127.0.0.66>\r\nContent-Length: 0\r\n\r\n"
        Array(forged.utf8).withUnsafeBytes { network.nodes[0].receive($0, from: endpoint(66), now: network.now) }
        network.deliver()
        #expect(network.finalResponses.isEmpty)
        #expect(network.nodes[0].counters.responsesDropped == 1)
    }

    @Test func reservationsSpreadABurst() {
        let network = Network(3) { $0.threshold = 1.0 }
        network.setWorkload(0, calls: 80)  // room for 20 more calls of 100
        // Two hundred callers at once (one caller asking again is one attempt: see below).
        for i in 0..<200 {
            network.send(invite("burst-\(i)").replacingOccurrences(of: "From: <sip:a@h>", with: "From: <sip:caller\(i)@h>"))
        }
        let finals = network.finalResponses
        #expect(finals.count == 200)
        let onFirst = finals.filter { contact($0)?.contains("127.0.0.1:5060") == true }.count
        let onSecond = finals.filter { contact($0)?.contains("127.0.0.2:5060") == true }.count
        #expect(onFirst == 20)
        #expect(onSecond > 0 && onFirst + onSecond <= 200)
        #expect(network.nodes[0].reservations.made == 20)
    }

    @Test func aReservationTheMeterHonoursCountsUntilTheNextMeasure() {
        let network = Network(3)
        network.setWorkload(0, calls: 78)  // 0.78: one more call reaches the threshold 0.8
        network.send(invite("first"))
        #expect(contact(network.finalResponses[0])?.contains("127.0.0.1:5060") == true)
        // The meter counts the call; the node's measure (78) is older than that.
        Array("first".utf8).withUnsafeBytes { network.nodes[0].callSeen($0) }
        #expect(network.nodes[0].reservations.honoured == 1)
        #expect(abs(network.nodes[0].effectiveWorkload(now: network.now) - 0.79) < 1e-9)
        // A call the node did not redirect here is in the meter's next measure only.
        Array("someone-else".utf8).withUnsafeBytes { network.nodes[0].callSeen($0) }
        #expect(abs(network.nodes[0].effectiveWorkload(now: network.now) - 0.79) < 1e-9)
        network.send(invite("second").replacingOccurrences(of: "From: <sip:a@h>", with: "From: <sip:c@h>"))
        network.send(invite("third").replacingOccurrences(of: "From: <sip:a@h>", with: "From: <sip:d@h>"))
        let finals = network.finalResponses
        #expect(finals.count == 3)
        #expect(contact(finals[1])?.contains("127.0.0.1:5060") == true)
        #expect(contact(finals[2])?.contains("127.0.0.2:5060") == true, "one call over the threshold")
        // The next measure has the first call and replaces what was carried; the second is
        // still a reservation (79 + 1).
        network.setWorkload(0, calls: 79)
        #expect(abs(network.nodes[0].effectiveWorkload(now: network.now) - 0.80) < 1e-9)
    }

    @Test func aClientAskingAgainWithNewCallIDsHoldsOneReservation() {
        let network = Network(3)
        // liblinphone takes a new Call-ID on each round; the caller and callee stay.
        for i in 0..<80 { network.send(invite("round-\(i)")) }
        #expect(network.finalResponses.count == 80)
        let reservations = network.nodes[0].reservations
        #expect(reservations.count(at: network.now) == 1)
        #expect(reservations.made == 1 && reservations.moved == 79)
        // The latest Call-ID is the one the capture honours.
        Array("round-79".utf8).withUnsafeBytes { network.nodes[0].callSeen($0) }
        #expect(reservations.count(at: network.now) == 0 && reservations.honoured == 1)
        // Another caller is another attempt.
        network.send(invite("other").replacingOccurrences(of: "From: <sip:a@h>", with: "From: <sip:B@H>"))
        network.send(invite("other-again").replacingOccurrences(of: "From: <sip:a@h>", with: "From: <sip:b@h>"))
        #expect(reservations.count(at: network.now) == 1 && reservations.made == 2)
    }

    @Test func loopsAndHopLimitsEndInErrorsNotStorms() {
        let network = Network(3)
        for node in 0..<3 { network.setWorkload(node, calls: 100) }
        network.send(request("INVITE", maxForwards: 1))
        // Node 0 forwards with Max-Forwards 0; node 1 answers 483, which comes back.
        #expect(network.finalResponses.first?.hasPrefix("SIP/2.0 483 Too Many Hops") == true)
        #expect(network.nodes[0].counters.forwarded == 1 && network.nodes[1].counters.forwarded == 0)
    }
}

struct MalformedRequestTests {
    @Test func badRequestsGet400WhenAnAnswerCanBeFormed() {
        let network = Network(1)
        // CSeq names another method (RFC 4475 mismatch01).
        network.send(request("OPTIONS").replacingOccurrences(of: "CSeq: 1 OPTIONS", with: "CSeq: 8 INVITE"))
        #expect(network.received.count == 1)
        #expect(network.received.first?.hasPrefix("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 127.0.0.100:5070") == true)
        // No Via: nowhere to answer; nothing is sent.
        network.send("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n")
        #expect(network.received.count == 1)
        #expect(network.nodes[0].counters.malformed == 2)
    }
}
