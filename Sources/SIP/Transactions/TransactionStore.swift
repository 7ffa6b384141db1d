import Basics

/// Server transactions by (branch, source, INVITE or not), each with the last response it
/// sent (to retransmit) and, until a final response, the request itself (to forward it
/// again when a member does not answer), both held in the node's message pool at whatever
/// size they are. Preallocated; when full the oldest transaction is dropped.
public final class ServerTransactions {
    public static let maxBranch = 64
    public let pool: MessagePool
    public let index: SlotIndex
    public let branches: FixedArray<UInt8>
    public let branchLengths: FixedArray<UInt8>
    public let sources: FixedArray<Endpoint>
    public let invites: FixedArray<Bool>
    /// What the request came over: where the answers go back.
    public let transports: FixedArray<Transport>
    /// Whether a member of the group sent it (over TCP its source is a connection's port,
    /// not the member's address).
    public let fromMembers: FixedArray<Bool>
    public let machines: FixedArray<ServerTransaction>
    public let generations: FixedArray<UInt16>
    public let responses: FixedArray<MessageHandle>
    public let requests: FixedArray<MessageHandle>
    /// Members already tried for a forwarded request (bit i = member i), and the client
    /// transaction now serving it (-1 for none).
    public let tried: FixedArray<UInt64>
    public let clients: FixedArray<Int32>

    public init(capacity: Int, pool: MessagePool) {
        self.pool = pool
        index = SlotIndex(capacity: capacity)
        branches = FixedArray(zeroedCount: capacity * ServerTransactions.maxBranch)
        branchLengths = FixedArray(repeating: 0, count: capacity)
        sources = FixedArray(zeroedCount: capacity)
        invites = FixedArray(repeating: false, count: capacity)
        transports = FixedArray(repeating: .udp, count: capacity)
        fromMembers = FixedArray(repeating: false, count: capacity)
        // Zero bytes until `insert` writes a real transaction: a slot is never read before.
        machines = FixedArray(zeroedCount: capacity)
        generations = FixedArray(repeating: 0, count: capacity)
        // Zero bytes are `.none` handles.
        responses = FixedArray(zeroedCount: capacity)
        requests = FixedArray(zeroedCount: capacity)
        tried = FixedArray(repeating: 0, count: capacity)
        clients = FixedArray(repeating: -1, count: capacity)
    }

    public static func hash(_ branch: UnsafeRawBufferPointer, _ source: Endpoint, _ invite: Bool) -> UInt64 {
        KeyHash.combine(KeyHash.bytes(branch), source.hash ^ (invite ? 1 : 0))
    }

    public func find(_ branch: UnsafeRawBufferPointer, source: Endpoint, invite: Bool) -> Int {
        let length = min(branch.count, ServerTransactions.maxBranch)
        return index.find(ServerTransactions.hash(branch, source, invite)) { slot in
            guard invites[slot] == invite, Int(branchLengths[slot]) == length, sources[slot] == source else { return false }
            for i in 0..<length where branches[slot * ServerTransactions.maxBranch + i] != branch[i] { return false }
            return true
        }
    }

    /// A new transaction; `evicted` when an old one had to make room. It holds no request
    /// until `holdRequest`: one answered at once (a 302, a 503) never needs it again, so
    /// only one sent on is copied into the pool.
    public func insert(_ branch: UnsafeRawBufferPointer, source: Endpoint, invite: Bool,
                       over transport: Transport = .udp, fromMember: Bool = false) -> (slot: Int, evicted: Bool) {
        let claimed = index.claim(hash: ServerTransactions.hash(branch, source, invite))
        let slot = claimed.slot
        releaseMessages(slot)
        let length = min(branch.count, ServerTransactions.maxBranch)
        branches.copy(UnsafeRawBufferPointer(rebasing: branch[0..<length]), to: slot * ServerTransactions.maxBranch)
        branchLengths[slot] = UInt8(length)
        sources[slot] = source
        invites[slot] = invite
        transports[slot] = transport
        fromMembers[slot] = fromMember
        machines[slot] = ServerTransaction(isInvite: invite, reliable: transport.isReliable)
        generations[slot] &+= 1
        tried[slot] = 0
        clients[slot] = -1
        return (slot, claimed.evicted)
    }

    /// Keeps `bytes` as the response to retransmit; false when the pool cannot hold it
    /// (then there is none to retransmit, rather than a cut one).
    public func storeResponse(_ slot: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        pool.release(responses[slot])
        responses[slot] = pool.store(bytes) ?? .none
        return !responses[slot].isNone || bytes.count == 0
    }

    public func response(_ slot: Int) -> UnsafeRawBufferPointer { pool.bytes(responses[slot]) }

    /// Keeps `request` as the request of `slot`, to send on (and again to the next member);
    /// false when the pool cannot hold it.
    public func holdRequest(_ slot: Int, _ request: UnsafeRawBufferPointer) -> Bool {
        guard requests[slot].isNone else { return true }
        requests[slot] = pool.store(request) ?? .none
        return !requests[slot].isNone
    }

    /// The request of `slot` between `holdRequest` and `releaseRequest`; empty otherwise.
    public func request(_ slot: Int) -> UnsafeRawBufferPointer { pool.bytes(requests[slot]) }

    /// The request is needed no more (a final response was sent): its bytes go back to the pool.
    public func releaseRequest(_ slot: Int) {
        pool.release(requests[slot])
        requests[slot] = .none
    }

    /// The transaction is over: its slot and its messages are free.
    public func release(_ slot: Int) {
        index.release(slot)
        releaseMessages(slot)
    }

    private func releaseMessages(_ slot: Int) {
        releaseRequest(slot)
        pool.release(responses[slot])
        responses[slot] = .none
    }
}

/// Client transactions this node opened to forward requests, by the branch it made (and
/// the member it sent to, checked on every response), with the request as sent.
public final class ClientTransactions {
    public static let branchLength = 7 + 32  // z9hG4bK + 128 random bits in hex
    public let pool: MessagePool
    public let index: SlotIndex
    public let branches: FixedArray<UInt8>
    public let members: FixedArray<Int32>
    public let destinations: FixedArray<Endpoint>
    /// What the request went over (TCP to a member: the daemon's connection to it).
    public let transports: FixedArray<Transport>
    public let machines: FixedArray<ClientTransaction>
    public let generations: FixedArray<UInt16>
    public let servers: FixedArray<Int32>
    public let serverGenerations: FixedArray<UInt16>
    public let requests: FixedArray<MessageHandle>

    public init(capacity: Int, pool: MessagePool) {
        self.pool = pool
        index = SlotIndex(capacity: capacity)
        branches = FixedArray(zeroedCount: capacity * ClientTransactions.branchLength)
        members = FixedArray(repeating: -1, count: capacity)
        destinations = FixedArray(zeroedCount: capacity)
        transports = FixedArray(repeating: .udp, count: capacity)
        // Zero bytes until a request is forwarded in the slot.
        machines = FixedArray(zeroedCount: capacity)
        generations = FixedArray(repeating: 0, count: capacity)
        servers = FixedArray(repeating: -1, count: capacity)
        serverGenerations = FixedArray(repeating: 0, count: capacity)
        requests = FixedArray(zeroedCount: capacity)
    }

    public func branch(_ slot: Int) -> UnsafeRawBufferPointer {
        branches.bytes(slot * ClientTransactions.branchLength, ClientTransactions.branchLength)
    }

    public func find(_ branch: UnsafeRawBufferPointer) -> Int {
        guard branch.count == ClientTransactions.branchLength else { return -1 }
        return index.find(KeyHash.bytes(branch)) { slot in
            let base = slot * ClientTransactions.branchLength
            for i in 0..<ClientTransactions.branchLength where branches[base + i] != branch[i] { return false }
            return true
        }
    }

    public func request(_ slot: Int) -> UnsafeRawBufferPointer { pool.bytes(requests[slot]) }

    /// Keeps the request as sent in `slot` (claimed for it); false when the pool cannot.
    public func storeRequest(_ slot: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        pool.release(requests[slot])
        requests[slot] = pool.store(bytes) ?? .none
        return !requests[slot].isNone
    }

    public func release(_ slot: Int) {
        index.release(slot)
        pool.release(requests[slot])
        requests[slot] = .none
    }
}
