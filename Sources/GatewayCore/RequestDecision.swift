import Basics
import SIP

/// What a node does with a request that reached it (DESIGN §3), decided from the message
/// and the node's state alone, so every rule is tested without sockets.
public enum RequestDecision: Equatable, Sendable {
    /// Below the threshold: 302 with this node's identity.
    case redirect
    /// Over the threshold or draining: proxy to this member of the sequence.
    case forward(to: Int)
    /// Over the threshold, and no member left to try: 503 with Retry-After.
    case allBusy
    /// OPTIONS with Max-Forwards 0: a probe, answered by this node with its load.
    case answerProbe
    /// Max-Forwards 0: 483 Too Many Hops.
    case tooManyHops
    /// The request already went through this node: 482 Loop Detected.
    case loopDetected
    /// A chain of member Vias from a source that is not a member: 403, and counted.
    case refuse
    /// Not a request to connect (BYE, SUBSCRIBE, ...): 405 Method Not Allowed.
    case methodNotAllowed

    /// The status of a refusal (483, 482, 403, 405); nil for the other decisions.
    public var refusalStatus: Int? {
        switch self {
        case .tooManyHops: return 483
        case .loopDetected: return 482
        case .refuse: return 403
        case .methodNotAllowed: return 405
        default: return nil
        }
    }
}

public enum RequestDecider {
    /// Decides for `message` (scanned from `buffer`), received from `source`.
    /// `selfAddress` is where this node listens; `isUp(i)` is the health of member i,
    /// `isBelievedBusy(i)` whether its fresh probe answer said it forwards (`skip_busy`).
    public static func decide(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, source: Endpoint,
                              admission: Admission, sequence: GroupSequence, isUp: (Int) -> Bool,
                              isBelievedBusy: (Int) -> Bool = { _ in false }) -> RequestDecision {
        let method = message.method
        guard method == .invite || method == .register || method == .options else { return .methodNotAllowed }
        if method == .options && message.maxForwards == 0 { return .answerProbe }
        if message.maxForwards == 0 { return .tooManyHops }

        guard let chain = Chain(message, buffer, sequence: sequence) else { return .loopDetected }
        let visited = chain.visited
        let fromMember = sequence.index(of: source) != nil
        // Member Vias in a request that no member sent us: somebody pretends to be a hop.
        if visited != 0 && !fromMember { return .refuse }

        if admission.accepts { return .redirect }
        if let next = chain.nextHop(sequence, skipping: 0, isUp: isUp, isBelievedBusy: isBelievedBusy) { return .forward(to: next) }
        return .allBusy
    }
}

/// The chain a request went through, read from its Via path: the members it visited and
/// where it entered (the member Via nearest the bottom).
public struct Chain: Sendable {
    public var visited: UInt64 = 0
    public var entry: Int

    /// Nil when the request already carries this node's own Via: a loop.
    public init?(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, sequence: GroupSequence) {
        let selfAddress = sequence.members[sequence.selfIndex].address
        entry = sequence.selfIndex
        var vias = ViaValues.vias(buffer, message)
        while let via = vias.next() {
            guard let sentBy = ViaValues.sentBy(buffer, via),
                  let address = IPAddress(text: sentBy.host.slice(of: buffer)) else { continue }
            let endpoint = Endpoint(address: address, port: UInt16(sentBy.port == 0 ? 5060 : sentBy.port))
            if endpoint == selfAddress { return nil }
            if let member = sequence.index(of: endpoint) {
                if member < 64 { visited |= 1 << UInt64(member) }
                entry = member
            }
        }
    }

    /// The next member to try, leaving out those visited and those in `skipping` (tried).
    public func nextHop(_ sequence: GroupSequence, skipping: UInt64, isUp: (Int) -> Bool) -> Int? {
        let excluded = visited | skipping
        return sequence.nextHop(entry: entry, visited: { $0 < 64 && excluded & (1 << UInt64($0)) != 0 }, isUp: isUp)
    }

    /// The same, going past members believed busy while one believed free is left; when none
    /// is, the next live member as the sequence has it.
    public func nextHop(_ sequence: GroupSequence, skipping: UInt64, isUp: (Int) -> Bool,
                        isBelievedBusy: (Int) -> Bool) -> Int? {
        nextHop(sequence, skipping: skipping, isUp: { isUp($0) && !isBelievedBusy($0) })
            ?? nextHop(sequence, skipping: skipping, isUp: isUp)
    }
}
