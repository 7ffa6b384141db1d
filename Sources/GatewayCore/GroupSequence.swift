import Basics

/// A member of the group: where it listens and the identity it hands out in 302s.
public struct Member: Sendable {
    public var address: Endpoint
    /// The SIP URI clients are sent to (`sip:host:port;transport=udp`).
    public var identity: [UInt8]

    public init(address: Endpoint, identity: [UInt8]) {
        self.address = address
        self.identity = identity
    }
}

/// The predefined sequence as a ring (DESIGN §3): a request that enters at member k visits
/// k, k+1, ..., k-1, never one member twice. Which members a request has visited is read
/// from its Via headers (every node puts its own on top), so the ring needs no state per
/// request.
public struct GroupSequence: Sendable {
    public let members: [Member]
    /// This node's place in `members`.
    public let selfIndex: Int

    public init(members: [Member], selfIndex: Int) {
        precondition(selfIndex >= 0 && selfIndex < members.count)
        self.members = members
        self.selfIndex = selfIndex
    }

    /// The member whose address is `endpoint`, or nil.
    public func index(of endpoint: Endpoint) -> Int? {
        for i in 0..<members.count where members[i].address == endpoint { return i }
        return nil
    }

    /// Where to forward: the next member after this one, in ring order, that is up and that
    /// the request has not visited, stopping before the member it entered at. `visited(i)`
    /// says whether member i appears in the request's Via path; `isUp(i)` is peer health.
    /// Nil: this node is the last one the request can reach.
    public func nextHop(entry: Int, visited: (Int) -> Bool, isUp: (Int) -> Bool) -> Int? {
        var candidate = (selfIndex + 1) % members.count
        while candidate != entry && candidate != selfIndex {
            if !visited(candidate) && isUp(candidate) { return candidate }
            candidate = (candidate + 1) % members.count
        }
        return nil
    }
}
