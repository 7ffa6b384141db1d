/// When to try again after something failed: 1 s, then doubling up to a ceiling, with up
/// to a quarter of random spread so gateways that lost the same switch do not retry in step.
/// Used to reopen a lost capture; starts over after a success.
public struct RetryBackoff: Sendable {
    public let first: Int64
    public let ceiling: Int64
    /// Failures since the last success.
    public private(set) var failures = 0

    public init(firstNanoseconds: Int64 = 1_000_000_000, ceilingNanoseconds: Int64 = 30_000_000_000) {
        first = firstNanoseconds
        ceiling = ceilingNanoseconds
    }

    /// Records a failure at `now`; returns when to try next. `random` is any 64 bits.
    public mutating func failed(now: Int64, random: UInt64) -> Int64 {
        let doublings = min(failures, 30)
        failures += 1
        let delay = min(first << Int64(doublings), ceiling)
        let spread = Int64(random % UInt64(delay / 4 + 1))
        return now + delay - spread
    }

    public mutating func succeeded() {
        failures = 0
    }
}
