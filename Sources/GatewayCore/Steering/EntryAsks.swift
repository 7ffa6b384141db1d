import Basics
import SIP

/// The steering agent's asks to connect, for its analog and H.323 endpoints: one OPTIONS per
/// ask, sent by the agent itself in an RFC 3261 §17.1.2 client transaction (timer E
/// retransmits) to the first entry point that is up; an entry point silent for the entry
/// timeout gives way to the next (a new transaction, the same Call-ID and CSeq), and the
/// first final answer ends the ask. Asks never pass through the relay that serves the
/// phones, and answers are matched by branch, never by who they were sent to.
final class EntryAsks {
    /// Ask branches: this, then 28 random hex digits.
    static var branchPrefix: StaticString { "z9hG4bKgwsa" }
    static var branchLength: Int { 11 + 28 }
    /// Room for one ask (an OPTIONS with the endpoint's URI twice).
    static let requestCapacity = 2048

    /// Per endpoint: the transaction of its ask (nil: none out), the entry point it went to,
    /// and the request as sent.
    var transactions: [ClientTransaction?]
    var entryPoint: [Int]
    let requests: FixedArray<UInt8>
    var lengths: [Int]
    let branches: FixedArray<UInt8>
    /// Per endpoint: the From tag (16 digits) and Call-ID (24) of its ask, the same to every
    /// entry point it goes to.
    let dialogs: FixedArray<UInt8>

    init(endpoints: Int) {
        transactions = [ClientTransaction?](repeating: nil, count: endpoints)
        entryPoint = [Int](repeating: 0, count: endpoints)
        requests = FixedArray(zeroedCount: max(endpoints, 1) * EntryAsks.requestCapacity)
        lengths = [Int](repeating: 0, count: endpoints)
        branches = FixedArray(repeating: 0, count: max(endpoints, 1) * EntryAsks.branchLength)
        dialogs = FixedArray(repeating: 0, count: max(endpoints, 1) * 40)
    }

    /// A new From tag and Call-ID for `index`'s next ask.
    func newAsk(_ index: Int, entropy: inout some EntropySource) {
        entropy.writeHex(40, into: dialogs, at: index * 40)
    }

    func tag(_ index: Int) -> UnsafeRawBufferPointer { dialogs.bytes(index * 40, 16) }
    func callID(_ index: Int) -> UnsafeRawBufferPointer { dialogs.bytes(index * 40 + 16, 24) }

    /// Writes a new branch for `index`'s next request into `branches`; returns it.
    func newBranch(_ index: Int, entropy: inout some EntropySource) -> UnsafeRawBufferPointer {
        let base = index * EntryAsks.branchLength
        let prefix = EntryAsks.branchPrefix
        for i in 0..<prefix.utf8CodeUnitCount { branches[base + i] = prefix.utf8Start[i] }
        entropy.writeHex(EntryAsks.branchLength - prefix.utf8CodeUnitCount, into: branches, at: base + prefix.utf8CodeUnitCount)
        return branches.bytes(base, EntryAsks.branchLength)
    }

    /// Keeps `request` as `index`'s ask to `entry`, and starts its transaction.
    func started(_ index: Int, _ request: TextBuffer, entry: Int, timers: TransactionTimers, now: Int64) -> Bool {
        guard request.count <= EntryAsks.requestCapacity else { return false }
        request.bytes.withUnsafeBytes { requests.copy($0, to: index * EntryAsks.requestCapacity) }
        lengths[index] = request.count
        entryPoint[index] = entry
        transactions[index] = ClientTransaction(isInvite: false, timers: timers, now: now)
        return true
    }

    func request(_ index: Int) -> UnsafeRawBufferPointer {
        requests.bytes(index * EntryAsks.requestCapacity, lengths[index])
    }

    /// The endpoint whose ask `branch` belongs to, if it is one of ours and still out. Only
    /// branches with the asks' prefix are looked for among the asks out (a few, and answers
    /// to them are rare), so a phone's response costs one prefix test.
    func endpoint(forBranch branch: UnsafeRawBufferPointer) -> Int? {
        // (hasPrefix matches in lower case; the bytes are then compared exactly.)
        guard branch.count == EntryAsks.branchLength, ASCII.hasPrefix(branch, ByteRange(0, branch.count), "z9hg4bkgwsa")
        else { return nil }
        for index in 0..<transactions.count where transactions[index] != nil {
            let base = index * EntryAsks.branchLength
            if (0..<EntryAsks.branchLength).allSatisfy({ branch[$0] == branches[base + $0] }) { return index }
        }
        return nil
    }

    /// The earliest deadline of any ask out.
    var nextDeadline: Int64 {
        var earliest = Int64.max
        for transaction in transactions { if let due = transaction?.deadline { earliest = min(earliest, due) } }
        return earliest
    }
}
