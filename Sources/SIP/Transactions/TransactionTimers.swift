/// RFC 3261 §17 timer values, in nanoseconds. T1 is the round-trip estimate, T2 the cap
/// on retransmission intervals for non-INVITE requests and INVITE responses, T4 how long
/// the network may keep a message.
public struct TransactionTimers: Sendable {
    public var t1: Int64 = 500_000_000
    public var t2: Int64 = 4_000_000_000
    public var t4: Int64 = 5_000_000_000
    /// How long a forwarded request may go unanswered (not even 100 Trying) before the next
    /// member of the sequence is tried. Replaces timers B and F for forwarding: a group
    /// member on a LAN answers in milliseconds, and the client is waiting.
    public var forwardTimeout: Int64 = 1_000_000_000

    public init() {}

    /// 64·T1: how long a transaction waits for an ACK or a final response.
    public var timeout: Int64 { 64 * t1 }
}
