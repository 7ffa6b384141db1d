/// An RFC 3261 §17.1 client transaction, for requests this node forwards to the next member
/// of the sequence; a state machine that returns what to send. Over TCP (`reliable`) nothing
/// is retransmitted and timers D and K are zero.
///
/// The request is retransmitted (INVITE: timer A, T1 doubling; non-INVITE: timer E, doubling
/// to T2) until a response arrives. If nothing at all arrives within the forward timeout,
/// the transaction reports `.timedOut` and the node tries the next member. A final response
/// is passed up once; for INVITE a non-2xx final is ACKed here, hop by hop, and its
/// retransmissions are ACKed again without being passed up (timer D). A 2xx to an INVITE
/// leaves it `accepted` (RFC 6026 §7.2, timer M = 64·T1): retransmitted 2xx responses are
/// passed up too, since the ACK for a 2xx goes end to end and only the UAS stops them.
public struct ClientTransaction: Sendable {
    public enum State: UInt8, Sendable {
        case calling
        case proceeding
        case completed
        /// INVITE: a 2xx arrived; later 2xx responses are passed up until timer M.
        case accepted
        case terminated
    }

    public enum Action: Equatable, Sendable {
        case none
        case retransmitRequest
        /// Pass this response to the server transaction it serves.
        case passUp
        /// Send an ACK for the non-2xx final response (INVITE).
        case sendAck
        /// Send the ACK and pass the response up.
        case sendAckAndPassUp
        /// No answer within the forward timeout: try the next member.
        case timedOut
        case terminate
    }

    public let isInvite: Bool
    public let isReliable: Bool
    public let timers: TransactionTimers
    public private(set) var state = State.calling
    public private(set) var deadline: Int64?
    public var retransmitInterval: Int64
    public var giveUpAt: Int64
    public let startedAt: Int64

    public init(isInvite: Bool, timers: TransactionTimers, now: Int64, reliable: Bool = false) {
        self.isInvite = isInvite
        isReliable = reliable
        self.timers = timers
        startedAt = now
        retransmitInterval = timers.t1
        giveUpAt = now + timers.forwardTimeout
        deadline = reliable ? giveUpAt : min(now + retransmitInterval, giveUpAt)
    }

    /// A response matched this transaction.
    public mutating func responseReceived(_ status: Int, now: Int64) -> Action {
        switch state {
        case .calling, .proceeding:
            if status < 200 {
                if state == .calling {
                    state = .proceeding
                    if isInvite {
                        // An INVITE in progress waits for its final response without
                        // retransmitting; a proxy's overall limit (timer C) still applies.
                        deadline = now + 180_000_000_000
                        giveUpAt = deadline!
                    } else {
                        // Timer E at T2 from now on; timer F still counts from the start.
                        retransmitInterval = timers.t2
                        giveUpAt = startedAt + timers.timeout
                        deadline = isReliable ? giveUpAt : min(now + retransmitInterval, giveUpAt)
                    }
                }
                return status == 100 ? .none : .passUp
            }
            if isInvite && status >= 300 {
                state = .completed
                deadline = now + (isReliable ? 0 : 32_000_000_000)  // timer D
                return .sendAckAndPassUp
            }
            if isInvite {
                state = .accepted
                deadline = now + timers.timeout  // timer M
                return .passUp
            }
            state = .completed
            deadline = now + (isReliable ? 0 : timers.t4)  // timer K
            return .passUp
        case .completed:
            return isInvite && status >= 300 ? .sendAck : .none
        case .accepted:
            return status >= 200 && status < 300 ? .passUp : .none
        case .terminated:
            return .none
        }
    }

    /// The deadline passed.
    public mutating func timerFired(now: Int64) -> Action {
        guard let due = deadline, now >= due else { return .none }
        switch state {
        case .calling, .proceeding:
            if now >= giveUpAt {
                state = .terminated
                deadline = nil
                return .timedOut
            }
            retransmitInterval = isInvite ? retransmitInterval * 2 : min(retransmitInterval * 2, timers.t2)
            deadline = min(now + retransmitInterval, giveUpAt)
            return .retransmitRequest
        case .completed, .accepted:
            state = .terminated
            deadline = nil
            return .terminate
        case .terminated:
            return .none
        }
    }
}
