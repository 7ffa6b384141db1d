import Foundation
import Testing

/// `gatewayd ask` against real groups of 1, 3 and 5 nodes: idle, chained, all busy, entered in
/// the middle of the ring, and with the entry node down.
@Suite(.serialized) struct AskTests {
    struct Asked {
        var status: Int32
        var lines: [String]
    }

    func ask(_ arguments: [String]) throws -> Asked {
        let result = try Interop.run(Interop.binary.path, ["ask"] + arguments)
        return Asked(status: result.status, lines: result.output.split(separator: "\n").map(String.init))
    }

    @Test func oneIdleNodeAssignsItself() throws {
        let group = try GroupTests.Group(1, port: 5850, draining: [])
        defer { _ = group.stop() }
        let asked = try ask(["127.0.0.1:5850"])
        #expect(asked.status == 0)
        #expect(asked.lines.first?.hasPrefix("assigned sip:ask@127.0.0.1:5850;transport=udp (302 from 127.0.0.1:5850 in ") == true,
                "\(asked.lines)")
        #expect(asked.lines.last == "path: 127.0.0.1:5850")
    }

    @Test func threeNodesChainedAnswerFromTheThirdWithThePath() throws {
        let group = try GroupTests.Group(3, port: 5851, draining: [1, 2])
        defer { _ = group.stop() }
        for method in ["INVITE", "REGISTER", "OPTIONS"] {
            let asked = try ask(["-m", method, "127.0.0.1:5851"])
            #expect(asked.status == 0, "\(method): \(asked.lines)")
            let proxy = method == "INVITE" ? "sip:ask@127.0.0.3:5851;transport=udp" : "sip:127.0.0.3:5851;transport=udp"
            #expect(asked.lines.first?.hasPrefix("assigned \(proxy) (302 from 127.0.0.1:5851 in ") == true, "\(method): \(asked.lines)")
            #expect(asked.lines.last == "path: 127.0.0.1:5851 -> 127.0.0.2:5851 -> 127.0.0.3:5851", "\(method): \(asked.lines)")
        }
        #expect(group.stop() == [0, 0, 0])
    }

    @Test func fiveNodesAllBusyAndEnteredInTheMiddle() throws {
        let busy = try GroupTests.Group(5, port: 5852, draining: [1, 2, 3, 4, 5])
        let allBusy = try ask(["127.0.0.1:5852"])
        _ = busy.stop()
        #expect(allBusy.status == 1)
        #expect(allBusy.lines.first?.hasPrefix("all busy, retry after 30 s (503 from 127.0.0.1:5852 in ") == true, "\(allBusy.lines)")
        #expect(allBusy.lines.last == "path: " + [1, 2, 3, 4, 5].map { "127.0.0.\($0):5852" }.joined(separator: " -> "))

        // Entered at #4 of five, #4 and #5 busy: round the ring to #1.
        let ring = try GroupTests.Group(5, port: 5853, draining: [4, 5])
        defer { _ = ring.stop() }
        let entered = try ask(["127.0.0.4:5853"])
        #expect(entered.status == 0)
        #expect(entered.lines.first?.hasPrefix("assigned sip:ask@127.0.0.1:5853;transport=udp (302 from 127.0.0.4:5853") == true,
                "\(entered.lines)")
        #expect(entered.lines.last == "path: 127.0.0.4:5853 -> 127.0.0.5:5853 -> 127.0.0.1:5853")
    }

    /// `skip_busy` with eight real nodes, six of them draining: once the probes have told the
    /// primary, its request goes straight to #7, and `gatewayd ask` shows the two hops.
    @Test func eightNodesSkippingBusyMembersTakeTwoHops() throws {
        let group = try GroupTests.Group(8, port: 5855, draining: [1, 2, 3, 4, 5, 6],
                                         extra: { _ in "[health]\nskip_busy = yes\n" })
        defer { _ = group.stop() }
        var last: Asked?
        let direct = Interop.eventually(15) {
            last = try? ask(["127.0.0.1:5855"])
            return last?.lines.last == "path: 127.0.0.1:5855 -> 127.0.0.7:5855"
        }
        #expect(direct, "\(String(describing: last))")
        #expect(last?.lines.first?.hasPrefix("assigned sip:ask@127.0.0.7:5855;transport=udp") == true)
        // Without it the same group takes all seven hops.
        let chain = try GroupTests.Group(8, port: 5857, draining: [1, 2, 3, 4, 5, 6])
        defer { _ = chain.stop() }
        let along = try ask(["127.0.0.1:5857"])
        #expect(along.lines.last == "path: " + (1...7).map { "127.0.0.\($0):5857" }.joined(separator: " -> "), "\(along.lines)")
    }

    @Test func anEntryNodeThatIsDownIsNoAnswer() throws {
        let group = try GroupTests.Group(3, port: 5854, draining: [])
        defer { _ = group.stop() }
        group.kill(1)
        let started = Date()
        let asked = try ask(["-t", "2", "127.0.0.1:5854"])
        #expect(asked.status == 2)
        #expect(asked.lines == ["no answer from 127.0.0.1:5854 within 2 s"])
        #expect(Date().timeIntervalSince(started) >= 2)
        // The next entry still answers.
        #expect(try ask(["127.0.0.2:5854"]).status == 0)
    }

    @Test func badUsageIsExit2WithTheUsage() throws {
        for arguments in [[], ["-m", "BYE", "127.0.0.1:5060"], ["not-an-address"], ["-t", "0", "127.0.0.1:5060"]] {
            let result = try Interop.run(Interop.binary.path, ["ask"] + arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.error.contains("usage: gatewayd ask"), "\(arguments): \(result.error)")
        }
    }
}
