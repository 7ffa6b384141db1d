/// Turns a counter that can move thousands of times a second (requests rate limited,
/// malformed messages, capture drops) into a few log lines: the first increase after a
/// quiet spell is reported at once, then at most one summary per interval while it goes
/// on, and one line when it has stopped for a whole interval.
public struct RepeatedEvent: Sendable {
    public enum Report: Equatable, Sendable {
        /// The counter moved after a quiet spell, by this much.
        case started(count: Int)
        /// It kept moving: this much over the last `seconds`.
        case continuing(count: Int, seconds: Int)
        /// It has not moved for an interval; `total` since it started.
        case stopped(total: Int)
    }

    public let interval: Int64
    private var reported = 0
    private var lastReport: Int64 = 0
    private var active = false
    private var sinceStart = 0
    private var primed = false

    public init(intervalNanoseconds: Int64 = 60_000_000_000) {
        interval = intervalNanoseconds
    }

    /// The counter's value at `now`; a report when one is due. The first call only learns
    /// the starting value.
    public mutating func observe(_ value: Int, now: Int64) -> Report? {
        guard primed else {
            primed = true
            reported = value
            lastReport = now
            return nil
        }
        if value < reported { reported = value }  // the counter was reset
        let moved = value - reported
        if !active {
            guard moved > 0 else { return nil }
            active = true
            sinceStart = moved
            reported = value
            lastReport = now
            return .started(count: moved)
        }
        guard now - lastReport >= interval else { return nil }
        let seconds = Int((now - lastReport) / 1_000_000_000)
        lastReport = now
        reported = value
        if moved > 0 {
            sinceStart += moved
            return .continuing(count: moved, seconds: seconds)
        }
        active = false
        return .stopped(total: sinceStart)
    }
}
