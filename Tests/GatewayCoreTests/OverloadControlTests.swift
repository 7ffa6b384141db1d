import Foundation
import Testing
import GatewayCore
import SIP

/// RFC 7339 in the node: the figures a client that offers `oc` gets, their grammar (§5), and
/// members that honour each other's.
struct OverloadControlTests {
    @Test func theMappingFromWorkload() {
        // Nothing below 90 % of the threshold; a straight line to 100 at a full resource.
        #expect(OverloadControl.reduction(workload: 0.5, threshold: 0.8) == 0)
        #expect(OverloadControl.reduction(workload: 0.72, threshold: 0.8) == 0)
        #expect(OverloadControl.reduction(workload: 0.86, threshold: 0.8) == 50)
        #expect(OverloadControl.reduction(workload: 1.0, threshold: 0.8) == 100)
        #expect(OverloadControl.reduction(workload: 3.0, threshold: 0.8) == 100)
        #expect(OverloadControl.reduction(workload: 0.95, threshold: 1.0) == 50)
        #expect(OverloadControl.reduction(workload: 1.2, threshold: 1.5) == 100)
        #expect(OverloadControl.reduction(workload: 0.99, threshold: 1.5) == 0)
    }

    /// RFC 7339 §5: oc = "oc" [EQUAL oc-num]; oc-validity = "oc-validity" [EQUAL delta-ms];
    /// oc-seq = "oc-seq" EQUAL 1*12DIGIT "." 1*5DIGIT; oc-algo = "oc-algo" EQUAL DQUOTE algo-list
    /// *(COMMA algo-list) DQUOTE — and the server names one algorithm, the one it chose.
    static let grammar = try! NSRegularExpression(pattern:
        #"^Via: SIP/2\.0/UDP 127\.0\.0\.100:5070;branch=z9hG4bKoc[0-9]+;oc=([0-9]{1,3});oc-algo="loss";oc-validity=([0-9]+);oc-seq=[0-9]{1,12}\.[0-9]{5}$"#)

    func ocVia(_ response: String) -> (reduction: Int, validity: Int)? {
        guard let via = response.split(separator: "\r\n").first(where: { $0.hasPrefix("Via: ") }).map(String.init),
              let match = OverloadControlTests.grammar.firstMatch(in: via, range: NSRange(via.startIndex..., in: via)),
              let reduction = Range(match.range(at: 1), in: via).flatMap({ Int(via[$0]) }),
              let validity = Range(match.range(at: 2), in: via).flatMap({ Int(via[$0]) }) else { return nil }
        return (reduction, validity)
    }

    func offering(_ callID: String) -> String {
        invite(callID, branch: "oc\(callID)")
            .replacingOccurrences(of: "\r\nMax-Forwards", with: ";oc;oc-algo=\"loss,rate\"\r\nMax-Forwards")
    }

    @Test func aClientThatOffersItGetsFiguresThatRiseWithLoad() throws {
        let network = Network(1)
        network.setWorkload(0, calls: 50)
        network.send(offering("1"))
        let idle = try #require(ocVia(network.received.last ?? ""), "\(network.received)")
        #expect(idle.reduction == 0 && idle.validity == 0)  // no reduction in force
        network.setWorkload(0, calls: 90)
        network.send(offering("2"))
        #expect(network.received.last?.hasPrefix("SIP/2.0 503") == true)
        let busy = try #require(ocVia(network.received.last ?? ""), "\(network.received)")
        // 90 calls and the reservation the first 302 made: (0.91 - 0.72) / 0.28, for two probe intervals.
        #expect(busy.reduction == 68 && busy.validity == 2000, "\(busy)")
        network.setWorkload(0, calls: 120)
        network.send(offering("3"))
        #expect(ocVia(network.received.last ?? "")?.reduction == 100)
        // A client that does not offer it sees no oc parameter.
        network.send(invite("plain"))
        #expect(network.received.last?.contains(";oc") == false)
    }

    @Test func theGroupsRoomCountsNotTheEntryNodesAlone() throws {
        // The entry is full, but a member it heard from a moment ago has room: no reduction.
        let network = Network(2)
        network.setWorkload(0, calls: 100)
        network.setWorkload(1, calls: 10)
        network.run(milliseconds: 1100)
        network.received.removeAll()
        network.send(offering("4"))
        let final = try #require(network.finalResponses.last)
        #expect(final.hasPrefix("SIP/2.0 302"))
        #expect(ocVia(final)?.reduction == 0, "\(final)")
    }

    @Test func aMemberAskingForLessIsSentLessWithSkipBusy() {
        // No probes yet: only the members' answers tell. #2 is full, so its answer to #1
        // carries oc=100 in #1's Via; #1 then sends the next request straight to #3.
        let network = Network(3) { $0.skipBusyMembers = true }
        network.setWorkload(0, calls: 100)
        network.setWorkload(1, calls: 100)
        network.send(invite("first"))
        #expect(network.nodes.map(\.counters.forwarded) == [1, 1, 0])
        network.received.removeAll()
        network.send(invite("second"))
        #expect(network.finalResponses.first.map(contact) == "<sip:alice@127.0.0.3:5060;user=phone;transport=udp>;expires=60")
        #expect(network.nodes.map(\.counters.forwarded) == [2, 1, 0])
        #expect(network.nodes[0].counters.forwardedPastBusy == 1)
    }
}
