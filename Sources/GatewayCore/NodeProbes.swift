import Basics
import SIP

/// OPTIONS probes of the other members, and the small pieces the node's writers share
/// (deadlines, branches, random digits).
extension Node {
    /// OPTIONS with Max-Forwards 0 to every other member; an unanswered previous probe
    /// counts against the member's health.
    func probe(now: Int64) {
        for member in 0..<sequence.members.count where member != sequence.selfIndex {
            if probeSentAt[member] >= 0 { peerMissed(member) }
            let base = member * ClientTransactions.branchLength
            writeBranch(into: probeBranches, at: base)
            let destination = sequence.members[member].address
            let tag = randomHex(16)
            out.removeAll()
            OptionsRequest.write(into: &out, target: destination, sentBy: .endpoint(selfAddress),
                                 branch: probeBranches.bytes(base, ClientTransactions.branchLength), maxForwards: 0,
                                 from: .user("gatewayd", at: selfAddress), fromTag: random.bytes(0, tag), to: .host(destination),
                                 callID: probeBranches.bytes(base + 7, 16), callIDHost: "gatewayd", cseq: 1)
            outbox.send(out, to: destination)
            probeSentAt[member] = now
            counters.probesSent += 1
        }
    }

    func probeAnswered(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, branch: UnsafeRawBufferPointer,
                               from source: Endpoint, now: Int64) -> Bool {
        guard message.cseqMethod == .options, branch.count == ClientTransactions.branchLength,
              let member = sequence.index(of: source), probeSentAt[member] >= 0 else { return false }
        let base = member * ClientTransactions.branchLength
        for i in 0..<branch.count where probeBranches[base + i] != branch[i] { return false }
        let load = ProbeLoad.read(message, buffer)
        if health[member].answered(roundTrip: now - probeSentAt[member], load: load?.workload ?? 0, state: load?.state, at: now) {
            events.push(.peer(member: member, up: true))
        }
        probeSentAt[member] = -1
        counters.probesAnswered += 1
        return true
    }

    // MARK: Pieces

    func schedule(server slot: Int) {
        guard let deadline = servers.machines[slot].deadline else { return }
        deadlines.schedule(DeadlineHeap.Entry(deadline: deadline, slot: Int32(slot), generation: servers.generations[slot],
                                          kind: Node.serverKind))
    }

    func schedule(client slot: Int) {
        guard let deadline = clients.machines[slot].deadline else { return }
        deadlines.schedule(DeadlineHeap.Entry(deadline: deadline, slot: Int32(slot), generation: clients.generations[slot],
                                          kind: Node.clientKind))
    }

    /// `z9hG4bK` and 128 random bits in hex.
    func writeBranch(into storage: FixedArray<UInt8>, at base: Int) {
        let cookie: StaticString = "z9hG4bK"
        for i in 0..<7 { storage[base + i] = cookie.utf8Start[i] }
        writeRandomHex(into: storage, at: base + 7, count: 32)
    }

    /// `count` random hex digits at the start of `random`; returns `count`.
    func randomHex(_ count: Int) -> Int {
        writeRandomHex(into: random, at: 0, count: count)
        return count
    }

    func writeRandomHex(into storage: FixedArray<UInt8>, at base: Int, count: Int) {
        entropy.writeHex(count, into: storage, at: base)
    }
}
