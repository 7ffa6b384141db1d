import Testing
import GatewayCore

/// `skip_busy`: a node that must forward goes past members whose fresh probe answers said they
/// forward, in the sequence's order, never to a member twice.
struct SkipBusyTests {
    /// Sixteen nodes, the first `busy` over their threshold, probing each other until every
    /// node has a fresh answer from every other.
    func group(busy: Int, skip: Bool) -> Network {
        let network = Network(16) { $0.skipBusyMembers = skip }
        for node in 0..<busy { network.setWorkload(node, calls: 100) }
        network.run(milliseconds: 1500)
        network.received.removeAll()
        return network
    }

    func forwards(_ network: Network) -> [Int] { network.nodes.map(\.counters.forwarded) }

    @Test func twelveBusyOfSixteenIsOneHopNotTwelve() {
        let network = group(busy: 12, skip: true)
        network.send(invite("past-busy"))
        #expect(network.finalResponses.count == 1)
        #expect(network.finalResponses.first.map(contact) == "<sip:alice@127.0.0.13:5060;user=phone;transport=udp>;expires=60")
        #expect(forwards(network) == [1] + Array(repeating: 0, count: 15))
        #expect(network.nodes[0].counters.forwardedPastBusy == 1)
        #expect(network.nodes[12].counters.answeredHere == 1)
    }

    @Test func withoutItTheChainVisitsEveryBusyMember() {
        let network = group(busy: 12, skip: false)
        network.send(invite("chain"))
        #expect(network.finalResponses.first.map(contact) == "<sip:alice@127.0.0.13:5060;user=phone;transport=udp>;expires=60")
        #expect(forwards(network) == Array(repeating: 1, count: 12) + Array(repeating: 0, count: 4))
        #expect(network.nodes[0].counters.forwardedPastBusy == 0)
    }

    @Test func aReloadTurnsItOn() {
        let network = group(busy: 12, skip: false)
        var settings = network.nodes[0].settings
        settings.skipBusyMembers = true
        _ = network.nodes[0].apply(settings, now: network.now)
        network.send(invite("reloaded"))
        #expect(network.nodes[0].counters.forwardedPastBusy == 1)
        #expect(forwards(network) == [1] + Array(repeating: 0, count: 15))
    }

    @Test func allBelievedBusyGoesAlongTheSequenceToAllBusy() {
        let network = group(busy: 16, skip: true)
        network.send(invite("all-busy"))
        #expect(network.finalResponses.first?.hasPrefix("SIP/2.0 503 Service Unavailable\r\n") == true)
        #expect(forwards(network) == Array(repeating: 1, count: 15) + [0])
        #expect(network.nodes.allSatisfy { $0.counters.forwardedPastBusy == 0 })
    }

    @Test func aMemberBelievedBusyThatIsFreeAgainIsTakenOnceItsNextProbeSaysSo() {
        let network = group(busy: 12, skip: true)
        // #2 is free now, but #1's last answer from it still says forwarding: passed over.
        network.setWorkload(1, calls: 0)
        network.send(invite("stale"))
        #expect(network.finalResponses.first.map(contact) == "<sip:alice@127.0.0.13:5060;user=phone;transport=udp>;expires=60")
        // A probe interval later #1 knows: #2 is chosen, the first free member in order.
        network.run(milliseconds: 1100)
        network.received.removeAll()
        network.send(invite("fresh"))
        #expect(network.finalResponses.first.map(contact) == "<sip:alice@127.0.0.2:5060;user=phone;transport=udp>;expires=60")
    }

    @Test func staleAnswersSayNothing() {
        var health = PeerHealth(failuresToDown: 3, successesToUp: 2)
        _ = health.answered(roundTrip: 1000, load: 1.2, state: .forwarding, at: 10_000_000_000)
        #expect(health.reportedBusy(now: 11_000_000_000, freshness: 2_000_000_000))
        #expect(!health.reportedBusy(now: 12_500_000_000, freshness: 2_000_000_000))
        _ = health.answered(roundTrip: 1000, load: 0.1, state: .accepting, at: 12_000_000_000)
        #expect(!health.reportedBusy(now: 12_100_000_000, freshness: 2_000_000_000))
        _ = health.answered(roundTrip: 1000, load: 0, state: .draining, at: 13_000_000_000)
        #expect(health.reportedBusy(now: 13_100_000_000, freshness: 2_000_000_000))
    }
}
