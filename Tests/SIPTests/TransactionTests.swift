import Testing
@testable import SIP

let ms: Int64 = 1_000_000

struct ServerTransactionTests {
    let timers = TransactionTimers()

    @Test func inviteFinalIsRetransmittedUntilTheAck() {
        var transaction = ServerTransaction(isInvite: true)
        #expect(transaction.state == .proceeding)
        transaction.respond(100, now: 0, timers: timers)
        #expect(transaction.requestRetransmitted() == .resendLastResponse)
        transaction.respond(302, now: 0, timers: timers)
        #expect(transaction.state == .completed && transaction.deadline == 500 * ms)
        // Timer G: T1, 2·T1, 4·T1 ...
        #expect(transaction.timerFired(now: 500 * ms, timers: timers) == .resendLastResponse)
        #expect(transaction.deadline == 1500 * ms)
        #expect(transaction.timerFired(now: 1500 * ms, timers: timers) == .resendLastResponse)
        #expect(transaction.deadline == 3500 * ms)
        #expect(transaction.requestRetransmitted() == .resendLastResponse)
        #expect(transaction.ackReceived(now: 2000 * ms, timers: timers) == .none)
        #expect(transaction.state == .confirmed)
        #expect(transaction.timerFired(now: 7000 * ms, timers: timers) == .terminate)  // timer I = T4
    }

    @Test func overTCPNothingIsRetransmittedAndTheAckEndsIt() {
        var transaction = ServerTransaction(isInvite: true, reliable: true)
        transaction.respond(302, now: 0, timers: timers)
        // No timer G: the next deadline is timer H.
        #expect(transaction.state == .completed && transaction.deadline == 32_000 * ms)
        #expect(transaction.timerFired(now: 500 * ms, timers: timers) == .none)
        #expect(transaction.ackReceived(now: 1000 * ms, timers: timers) == .none)
        // Timer I is zero.
        #expect(transaction.deadline == 1000 * ms)
        #expect(transaction.timerFired(now: 1000 * ms, timers: timers) == .terminate)

        var unanswered = ServerTransaction(isInvite: true, reliable: true)
        unanswered.respond(503, now: 0, timers: timers)
        #expect(unanswered.timerFired(now: 32_000 * ms, timers: timers) == .terminate)  // timer H

        var options = ServerTransaction(isInvite: false, reliable: true)
        options.respond(200, now: 0, timers: timers)
        #expect(options.deadline == 0)  // timer J is zero
        #expect(options.timerFired(now: 0, timers: timers) == .terminate)
    }

    @Test func inviteGivesUpWithoutAnAck() {
        var transaction = ServerTransaction(isInvite: true)
        transaction.respond(503, now: 0, timers: timers)
        var resends = 0
        var now: Int64 = 0
        var last = ServerTransaction.Action.none
        while let due = transaction.deadline {
            now = due
            last = transaction.timerFired(now: now, timers: timers)
            if last == .resendLastResponse { resends += 1 }
        }
        #expect(last == .terminate)
        #expect(now == 32_000 * ms)  // timer H = 64·T1
        #expect(resends >= 9)  // 0.5, 1.5, 3.5, 7.5, then every 4 s (T2)
        #expect(transaction.state == .terminated)
    }

    @Test func nonInviteKeepsItsResponseForTimerJ() {
        var transaction = ServerTransaction(isInvite: false)
        #expect(transaction.requestRetransmitted() == .none)  // nothing to resend yet
        transaction.respond(200, now: 0, timers: timers)
        #expect(transaction.requestRetransmitted() == .resendLastResponse)
        #expect(transaction.timerFired(now: 31_999 * ms, timers: timers) == .none)
        #expect(transaction.timerFired(now: 32_000 * ms, timers: timers) == .terminate)
    }

    @Test func twoHundredLeavesAnInviteServerTransactionAcceptedForTimerL() {
        var transaction = ServerTransaction(isInvite: true)
        transaction.respond(200, now: 0, timers: timers)
        #expect(transaction.state == .accepted)
        // Retransmitted INVITEs are absorbed; the UAS's own 2xx retransmissions go through.
        #expect(transaction.requestRetransmitted() == .none)
        #expect(transaction.ackReceived(now: 1, timers: timers) == .none && transaction.state == .accepted)
        #expect(transaction.timerFired(now: 31_999 * ms, timers: timers) == .none)
        #expect(transaction.timerFired(now: 32_000 * ms, timers: timers) == .terminate)
    }
}

struct ClientTransactionTests {
    var timers: TransactionTimers {
        var timers = TransactionTimers()
        timers.forwardTimeout = 2000 * ms
        return timers
    }

    @Test func silenceMovesOnAfterTheForwardTimeout() {
        var transaction = ClientTransaction(isInvite: true, timers: timers, now: 0)
        #expect(transaction.timerFired(now: 500 * ms) == .retransmitRequest)
        #expect(transaction.timerFired(now: 1500 * ms) == .retransmitRequest)
        #expect(transaction.deadline == 2000 * ms)
        #expect(transaction.timerFired(now: 2000 * ms) == .timedOut)
        #expect(transaction.state == .terminated)
    }

    @Test func trying100StopsRetransmissionsAndTheForwardTimeout() {
        var transaction = ClientTransaction(isInvite: true, timers: timers, now: 0)
        #expect(transaction.responseReceived(100, now: 10 * ms) == .none)
        #expect(transaction.state == .proceeding)
        #expect(transaction.timerFired(now: 2000 * ms) == .none)
        #expect(transaction.responseReceived(302, now: 30 * ms) == .sendAckAndPassUp)
        // A retransmitted 302 is ACKed again, not passed up twice.
        #expect(transaction.responseReceived(302, now: 530 * ms) == .sendAck)
        #expect(transaction.timerFired(now: 32_030 * ms) == .terminate)  // timer D
    }

    @Test func nonInviteFinalPassesUpOnce() {
        var transaction = ClientTransaction(isInvite: false, timers: timers, now: 0)
        #expect(transaction.timerFired(now: 500 * ms) == .retransmitRequest)
        #expect(transaction.responseReceived(302, now: 600 * ms) == .passUp)
        #expect(transaction.responseReceived(302, now: 700 * ms) == .none)
        #expect(transaction.timerFired(now: 5600 * ms) == .terminate)  // timer K = T4
    }

    @Test func inviteTwoHundredsArePassedUpUntilTimerM() {
        var transaction = ClientTransaction(isInvite: true, timers: timers, now: 0)
        #expect(transaction.responseReceived(180, now: 10 * ms) == .passUp)
        #expect(transaction.responseReceived(200, now: 20 * ms) == .passUp)
        #expect(transaction.state == .accepted)
        // The UAS retransmits its 2xx until the ACK reaches it: each goes up, none is ACKed here.
        #expect(transaction.responseReceived(200, now: 520 * ms) == .passUp)
        #expect(transaction.responseReceived(486, now: 530 * ms) == .none)
        #expect(transaction.timerFired(now: 32_019 * ms) == .none)
        #expect(transaction.timerFired(now: 32_020 * ms) == .terminate)
    }

    @Test func nonInviteProvisionalKeepsTimerFFromTheStart() {
        var transaction = ClientTransaction(isInvite: false, timers: timers, now: 0)
        #expect(transaction.responseReceived(180, now: 100 * ms) == .passUp)
        var now: Int64 = 0
        var last = ClientTransaction.Action.none
        while let due = transaction.deadline, last != .timedOut {
            now = due
            last = transaction.timerFired(now: now)
        }
        #expect(last == .timedOut && now == 32_000 * ms)
    }
}

struct DeadlineHeapTests {
    func drain(_ heap: DeadlineHeap, now: Int64 = 1000) -> [DeadlineHeap.Entry] {
        var popped: [DeadlineHeap.Entry] = []
        while let entry = heap.popDue(now: now) { popped.append(entry) }
        return popped
    }

    @Test func popsInOrderOfDeadlineOnlyWhatIsDue() {
        let heap = DeadlineHeap(kinds: 2, slotsPerKind: 8)
        for (i, deadline) in [50, 10, 40, 30, 20, 60, 70, 80].enumerated() {
            heap.schedule(.init(deadline: Int64(deadline), slot: Int32(i), generation: 0, kind: UInt8(i % 2)))
        }
        #expect(heap.earliest == 10)
        #expect(drain(heap, now: 45).map(\.deadline) == [10, 20, 30, 40])
        #expect(heap.count == 4 && heap.earliest == 50)
        #expect(drain(heap).map(\.deadline) == [50, 60, 70, 80])
        #expect(heap.earliest == nil)
    }

    /// Scheduling a slot again moves its one entry, earlier or later, with the new
    /// generation: however often slots are scheduled and reused, the heap holds one entry
    /// for each, and what pops is each slot's last deadline.
    @Test func aSlotHasOneEntryThatMoves() {
        let heap = DeadlineHeap(kinds: 2, slotsPerKind: 4)
        heap.schedule(.init(deadline: 500, slot: 1, generation: 0, kind: 0))
        heap.schedule(.init(deadline: 300, slot: 2, generation: 0, kind: 0))
        heap.schedule(.init(deadline: 400, slot: 1, generation: 0, kind: 1))  // another table's slot 1
        heap.schedule(.init(deadline: 100, slot: 1, generation: 3, kind: 0))  // earlier, reused
        heap.schedule(.init(deadline: 900, slot: 2, generation: 0, kind: 0))  // later
        #expect(heap.count == 3)
        #expect(drain(heap).map { [$0.deadline, Int64($0.slot), Int64($0.generation), Int64($0.kind)] }
            == [[100, 1, 3, 0], [400, 1, 0, 1], [900, 2, 0, 0]])
        // Many moves of many slots, against a plain model of the last deadline of each.
        var random = SeededEntropy(state: 7)
        var last: [Int: Int64] = [:]
        for _ in 0..<2000 {
            let key = Int(random.next() % 8), deadline = Int64(random.next() % 10_000)
            heap.schedule(.init(deadline: deadline, slot: Int32(key % 4), generation: 0, kind: UInt8(key / 4)))
            last[key] = deadline
            #expect(heap.count == last.count)
            if random.next() % 5 == 0, let popped = heap.popDue(now: 10_000) {
                let poppedKey = Int(popped.kind) * 4 + Int(popped.slot)
                #expect(popped.deadline == last.values.min() && last[poppedKey] == popped.deadline)
                last[poppedKey] = nil
            }
        }
        #expect(drain(heap, now: 10_000).map(\.deadline) == last.values.sorted())
    }
}
