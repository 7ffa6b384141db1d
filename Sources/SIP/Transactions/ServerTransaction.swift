/// An RFC 3261 §17.2 server transaction over UDP, as a state machine: it takes events and
/// returns what to send; the caller owns sockets, buffers and timers.
///
/// INVITE (§17.2.1): a final non-2xx response is retransmitted (timer G, T1 doubling to T2)
/// until the ACK arrives, which is absorbed here (timer I, T4, then gone), or timer H
/// (64·T1) gives up. Non-INVITE (§17.2.2): the final response is kept for timer J (64·T1) to
/// answer retransmitted requests. In both, a retransmitted request gets the last response
/// again. A 2xx to an INVITE leaves it `accepted` (RFC 6026 §7.1, timer L = 64·T1): the
/// request's retransmissions are absorbed, every 2xx the UAS retransmits is sent on, and
/// the ACK for the 2xx is not this transaction's (it is forwarded end to end).
public struct ServerTransaction: Sendable {
    public enum State: UInt8, Sendable {
        /// Non-INVITE: nothing sent yet.
        case trying
        /// A provisional response was sent (INVITE server transactions start here).
        case proceeding
        /// A final response was sent; retransmissions are absorbed.
        case completed
        /// INVITE: the ACK arrived.
        case confirmed
        /// INVITE: a 2xx was sent.
        case accepted
        case terminated
    }

    public enum Action: Equatable, Sendable {
        case none
        /// Send the response that was last given to `respond` again.
        case resendLastResponse
        /// The transaction is over; forget it.
        case terminate
    }

    public let isInvite: Bool
    /// Over a reliable transport (TCP) nothing is retransmitted and timers I and J are zero
    /// (§17.2.1, §17.2.2): the transport delivers or the connection fails.
    public let isReliable: Bool
    public private(set) var state: State
    private var status: UInt16 = 0
    /// `Int64.max` for none: an optional would cost eight more bytes in every slot.
    private var due = Int64.max
    public private(set) var retransmitInterval: Int64 = 0
    public private(set) var giveUpAt: Int64 = 0

    /// The timers are the node's, passed to each call rather than kept: with thousands of
    /// transactions open a copy in each would cost a third of their bookkeeping.
    public init(isInvite: Bool, reliable: Bool = false) {
        self.isInvite = isInvite
        isReliable = reliable
        state = isInvite ? .proceeding : .trying
    }

    /// The status code last sent, 0 before any.
    public var lastStatus: Int { Int(status) }
    /// When `timerFired` is to be called next, or nil.
    public var deadline: Int64? { due == Int64.max ? nil : due }

    /// The transaction user sends a response with `status`.
    public mutating func respond(_ code: Int, now: Int64, timers: TransactionTimers) {
        guard state == .trying || state == .proceeding else { return }
        status = UInt16(clamping: code)
        if code < 200 {
            state = .proceeding
        } else if isInvite && code < 300 {
            state = .accepted
            due = now + timers.timeout  // timer L
        } else {
            state = .completed
            if isInvite {
                retransmitInterval = timers.t1
                giveUpAt = now + timers.timeout
                due = isReliable ? giveUpAt : now + retransmitInterval
            } else {
                due = isReliable ? now : now + timers.timeout
            }
        }
    }

    /// The same request arrived again.
    public mutating func requestRetransmitted() -> Action {
        switch state {
        case .proceeding, .completed: return lastStatus > 0 ? .resendLastResponse : .none
        case .trying, .confirmed, .accepted, .terminated: return .none
        }
    }

    /// An ACK for this INVITE transaction arrived (absorbed: never passed on).
    public mutating func ackReceived(now: Int64, timers: TransactionTimers) -> Action {
        guard isInvite && state == .completed else { return .none }
        state = .confirmed
        due = isReliable ? now : now + timers.t4
        return .none
    }

    /// The deadline passed.
    public mutating func timerFired(now: Int64, timers: TransactionTimers) -> Action {
        guard now >= due else { return .none }
        switch state {
        case .completed where isInvite:
            if now >= giveUpAt {
                // Timer H: the ACK never came.
                state = .terminated
                due = Int64.max
                return .terminate
            }
            // Timer G.
            retransmitInterval = min(retransmitInterval * 2, timers.t2)
            due = min(now + retransmitInterval, giveUpAt)
            return .resendLastResponse
        case .completed, .confirmed, .accepted:
            // Timer J (non-INVITE), timer I or timer L (INVITE).
            state = .terminated
            due = Int64.max
            return .terminate
        default:
            return .none
        }
    }
}
