import Foundation
import Testing
import GatewayCore

/// `Node.apply` (SIGHUP) changes what the node does, not only what it reports: the rate
/// limiter, the reservation lifetime and the health thresholds follow the new settings.
struct ReloadTests {
    func options(_ id: String) -> String {
        "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bK\(id)\r\nMax-Forwards: 70\r\n"
            + "From: <sip:c@h>;tag=1\r\nTo: <sip:n@h>\r\nCall-ID: \(id)\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    }

    func answered(_ network: Network, _ count: Int, prefix: String) -> Int {
        let before = network.finalResponses.count
        for i in 0..<count { network.send(options("\(prefix)-\(i)")) }
        return network.finalResponses[before...].filter { $0.hasPrefix("SIP/2.0 302") }.count
    }

    @Test func aNewRateLimitAndBurstTakeEffectOnReload() {
        let network = Network(1) { $0.rateLimitPerSecond = 0 }
        #expect(answered(network, 60, prefix: "open") == 60)
        var limited = network.nodes[0].settings
        limited.rateLimitPerSecond = 5
        limited.rateLimitBurst = 5
        network.nodes[0].apply(limited, now: network.now)
        // The burst the source had saved up under no limit is cut to the new one.
        #expect(answered(network, 60, prefix: "five") == 5)
        // And it refills at the new rate: two seconds, ten more.
        network.run(milliseconds: 2_000)
        #expect(answered(network, 60, prefix: "later") == 5)
        var wider = limited
        wider.rateLimitPerSecond = 50
        wider.rateLimitBurst = 100
        network.nodes[0].apply(wider, now: network.now)
        network.run(milliseconds: 1_000)
        #expect(answered(network, 60, prefix: "fifty") == 50)
    }

    @Test func aNewReservationLifetimeAppliesToTheNextReservations() {
        let network = Network(1) { $0.reservationSeconds = 32 }
        var shorter = network.nodes[0].settings
        shorter.reservationSeconds = 2
        network.nodes[0].apply(shorter, now: network.now)
        network.send(invite("short"))
        #expect(network.nodes[0].reservations.count(at: network.now) == 1)
        #expect(network.nodes[0].reservations.count(at: network.now + 2_000_000_001) == 0)
    }

    @Test func newHealthThresholdsJudgeTheNextProbes() {
        let network = Network(2) { $0.failuresToDown = 10 }
        network.dead = [1]
        network.run(milliseconds: 3_500)
        #expect(network.nodes[0].health[1].isUp, "three silent probes of ten")
        var quicker = network.nodes[0].settings
        quicker.failuresToDown = 3
        network.nodes[0].apply(quicker, now: network.now)
        network.run(milliseconds: 1_100)
        #expect(!network.nodes[0].health[1].isUp)
    }
}
