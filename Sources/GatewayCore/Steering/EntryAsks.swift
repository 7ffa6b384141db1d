import Basics
import SIP

/// The steering agent's asks to connect, for its analog and H.323 endpoints: one OPTIONS per
/// ask, sent by the agent itself in an RFC 3261 §17.1.2 client transaction (timer E
/// retransmits) to the first entry point that is up; an entry point silent for the entry
/// timeout gives way to the next (a new transaction, the same Call-ID and CSeq), and the
/// first final answer ends the ask. Asks never pass through the relay that serves the
/// phones, and answers are matched by branch, never by who they were sent to.
final class EntryAsks {
    /// Ask branches: this, the endpoint's index in four hex digits, then 24 random ones.
    static var branchPrefix: StaticString { "z9hG4bKgwsa" }
    static var branchLength: Int { 11 + 4 + 24 }
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
        let digits: StaticString = "0123456789abcdef"
        for i in 0..<4 { branches[base + 11 + i] = digits.utf8Start[(index >> (12 - 4 * i)) & 0xF] }
        entropy.writeHex(24, into: branches, at: base + 15)
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

    /// The endpoint whose ask `branch` belongs to, if it is one of ours and still out.
    func endpoint(forBranch branch: UnsafeRawBufferPointer) -> Int? {
        guard branch.count == EntryAsks.branchLength else { return nil }
        var index = 0
        for i in 0..<4 {
            let byte = branch[11 + i]
            let digit = byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : byte >= 0x61 && byte <= 0x66 ? Int(byte - 0x61 + 10) : -1
            guard digit >= 0 else { return nil }
            index = index << 4 | digit
        }
        guard index < transactions.count, transactions[index] != nil else { return nil }
        let base = index * EntryAsks.branchLength
        for i in 0..<EntryAsks.branchLength where branch[i] != branches[base + i] { return nil }
        return index
    }

    /// The earliest deadline of any ask out.
    var nextDeadline: Int64 {
        var earliest = Int64.max
        for transaction in transactions { if let due = transaction?.deadline { earliest = min(earliest, due) } }
        return earliest
    }
}
