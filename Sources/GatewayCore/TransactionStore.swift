import Capture
import LoadMeter

/// Server transactions by (branch, source, INVITE or not), each with the last response it
/// sent (to retransmit) and the request itself (to forward it again when a member does not
/// answer). Preallocated; when full the oldest transaction is dropped.
final class ServerTransactions {
    static let maxBranch = 64
    let maxMessage: Int
    let index: SlotIndex
    let branches: FixedArray<UInt8>
    let branchLengths: FixedArray<UInt8>
    let sources: FixedArray<Endpoint>
    let invites: FixedArray<Bool>
    let machines: FixedArray<ServerTransaction>
    let generations: FixedArray<UInt32>
    let responses: FixedArray<UInt8>
    let responseLengths: FixedArray<Int32>
    let requests: FixedArray<UInt8>
    let requestLengths: FixedArray<Int32>
    /// Members already tried for a forwarded request (bit i = member i), and the client
    /// transaction now serving it (-1 for none).
    let tried: FixedArray<UInt64>
    let clients: FixedArray<Int32>

    init(capacity: Int, maxMessage: Int, timers: TransactionTimers) {
        self.maxMessage = maxMessage
        index = SlotIndex(capacity: capacity)
        branches = FixedArray(zeroedCount: capacity * ServerTransactions.maxBranch)
        branchLengths = FixedArray(repeating: 0, count: capacity)
        sources = FixedArray(zeroedCount: capacity)
        invites = FixedArray(repeating: false, count: capacity)
        // Zero bytes until `insert` writes a real transaction: a slot is never read before.
        machines = FixedArray(zeroedCount: capacity)
        generations = FixedArray(repeating: 0, count: capacity)
        responses = FixedArray(zeroedCount: capacity * maxMessage)
        responseLengths = FixedArray(repeating: 0, count: capacity)
        requests = FixedArray(zeroedCount: capacity * maxMessage)
        requestLengths = FixedArray(repeating: 0, count: capacity)
        tried = FixedArray(repeating: 0, count: capacity)
        clients = FixedArray(repeating: -1, count: capacity)
    }

    static func hash(_ branch: UnsafeRawBufferPointer, _ source: Endpoint, _ invite: Bool) -> UInt64 {
        KeyHash.combine(KeyHash.bytes(branch), source.hash ^ (invite ? 1 : 0))
    }

    func find(_ branch: UnsafeRawBufferPointer, source: Endpoint, invite: Bool) -> Int {
        let length = min(branch.count, ServerTransactions.maxBranch)
        return index.find(ServerTransactions.hash(branch, source, invite)) { slot in
            guard invites[slot] == invite, Int(branchLengths[slot]) == length, sources[slot] == source else { return false }
            for i in 0..<length where branches[slot * ServerTransactions.maxBranch + i] != branch[i] { return false }
            return true
        }
    }

    /// A new transaction for `request`; `evicted` when an old one had to make room.
    func insert(_ branch: UnsafeRawBufferPointer, source: Endpoint, invite: Bool, request: UnsafeRawBufferPointer,
                timers: TransactionTimers) -> (slot: Int, evicted: Bool) {
        let claimed = index.claim(hash: ServerTransactions.hash(branch, source, invite))
        let slot = claimed.slot
        let length = min(branch.count, ServerTransactions.maxBranch)
        branches.copy(UnsafeRawBufferPointer(rebasing: branch[0..<length]), to: slot * ServerTransactions.maxBranch)
        branchLengths[slot] = UInt8(length)
        sources[slot] = source
        invites[slot] = invite
        machines[slot] = ServerTransaction(isInvite: invite, timers: timers)
        generations[slot] &+= 1
        responseLengths[slot] = 0
        let stored = min(request.count, maxMessage)
        requests.copy(UnsafeRawBufferPointer(rebasing: request[0..<stored]), to: slot * maxMessage)
        requestLengths[slot] = Int32(stored == request.count ? stored : 0)
        tried[slot] = 0
        clients[slot] = -1
        return (slot, claimed.evicted)
    }

    func storeResponse(_ slot: Int, _ bytes: UnsafeRawBufferPointer) {
        let stored = min(bytes.count, maxMessage)
        responses.copy(UnsafeRawBufferPointer(rebasing: bytes[0..<stored]), to: slot * maxMessage)
        responseLengths[slot] = Int32(stored)
    }

    func response(_ slot: Int) -> UnsafeRawBufferPointer { responses.bytes(slot * maxMessage, Int(responseLengths[slot])) }

    func request(_ slot: Int) -> UnsafeRawBufferPointer { requests.bytes(slot * maxMessage, Int(requestLengths[slot])) }
}

/// Client transactions this node opened to forward requests, by the branch it made (and
/// the member it sent to, checked on every response), with the request as sent.
final class ClientTransactions {
    static let branchLength = 7 + 32  // z9hG4bK + 128 random bits in hex
    let maxMessage: Int
    let index: SlotIndex
    let branches: FixedArray<UInt8>
    let members: FixedArray<Int32>
    let destinations: FixedArray<Endpoint>
    let machines: FixedArray<ClientTransaction>
    let generations: FixedArray<UInt32>
    let servers: FixedArray<Int32>
    let serverGenerations: FixedArray<UInt32>
    let requests: FixedArray<UInt8>
    let requestLengths: FixedArray<Int32>

    init(capacity: Int, maxMessage: Int, timers: TransactionTimers) {
        self.maxMessage = maxMessage
        index = SlotIndex(capacity: capacity)
        branches = FixedArray(zeroedCount: capacity * ClientTransactions.branchLength)
        members = FixedArray(repeating: -1, count: capacity)
        destinations = FixedArray(zeroedCount: capacity)
        // Zero bytes until a request is forwarded in the slot.
        machines = FixedArray(zeroedCount: capacity)
        generations = FixedArray(repeating: 0, count: capacity)
        servers = FixedArray(repeating: -1, count: capacity)
        serverGenerations = FixedArray(repeating: 0, count: capacity)
        requests = FixedArray(zeroedCount: capacity * maxMessage)
        requestLengths = FixedArray(repeating: 0, count: capacity)
    }

    func branch(_ slot: Int) -> UnsafeRawBufferPointer {
        branches.bytes(slot * ClientTransactions.branchLength, ClientTransactions.branchLength)
    }

    func find(_ branch: UnsafeRawBufferPointer) -> Int {
        guard branch.count == ClientTransactions.branchLength else { return -1 }
        return index.find(KeyHash.bytes(branch)) { slot in
            let base = slot * ClientTransactions.branchLength
            for i in 0..<ClientTransactions.branchLength where branches[base + i] != branch[i] { return false }
            return true
        }
    }

    func request(_ slot: Int) -> UnsafeRawBufferPointer { requests.bytes(slot * maxMessage, Int(requestLengths[slot])) }
}
