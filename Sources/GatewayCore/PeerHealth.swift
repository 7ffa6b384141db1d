/// Up or down for one peer, from OPTIONS probes (DESIGN §3): down after `failuresToDown`
/// probes in a row go unanswered, up again after `successesToUp` answered in a row.
public struct PeerHealth: Equatable, Sendable {
    public private(set) var failuresToDown: Int
    public private(set) var successesToUp: Int
    public private(set) var isUp = true
    public private(set) var failuresInARow = 0
    public private(set) var successesInARow = 0
    /// The last answered probe's round trip, in nanoseconds, and the load the peer reported.
    public private(set) var lastRoundTrip: Int64 = 0
    public private(set) var lastReportedLoad: Double = 0
    /// The state the last answered probe reported, and when it came (monotonic).
    public private(set) var lastReportedState: AdmissionState?
    public private(set) var lastAnsweredAt = Int64.min

    public init(failuresToDown: Int, successesToUp: Int) {
        self.failuresToDown = max(failuresToDown, 1)
        self.successesToUp = max(successesToUp, 1)
    }

    /// New thresholds on a reload; the counts so far stand and are judged by them from the
    /// next probe on.
    public mutating func setThresholds(failuresToDown: Int, successesToUp: Int) {
        self.failuresToDown = max(failuresToDown, 1)
        self.successesToUp = max(successesToUp, 1)
    }

    /// A probe was answered; returns true when the peer came back up.
    public mutating func answered(roundTrip: Int64, load: Double, state: AdmissionState? = nil, at now: Int64 = Int64.min) -> Bool {
        lastRoundTrip = roundTrip
        lastReportedLoad = load
        lastReportedState = state
        lastAnsweredAt = now
        failuresInARow = 0
        successesInARow += 1
        if !isUp && successesInARow >= successesToUp {
            isUp = true
            return true
        }
        return false
    }

    /// Whether the last probe answer, no older than `freshness` at `now`, said the peer forwards
    /// (over its threshold, or draining): a reason to go past it, never to take it as down.
    public func reportedBusy(now: Int64, freshness: Int64) -> Bool {
        guard let state = lastReportedState, answeredRecently(now: now, freshness: freshness) else { return false }
        return state != .accepting
    }

    /// Whether a probe was answered no longer than `freshness` before `now`.
    public func answeredRecently(now: Int64, freshness: Int64) -> Bool {
        lastAnsweredAt != Int64.min && now - lastAnsweredAt <= freshness
    }

    /// A probe, or a forwarded request, went unanswered; returns true when the peer went down.
    public mutating func unanswered() -> Bool {
        successesInARow = 0
        failuresInARow += 1
        if isUp && failuresInARow >= failuresToDown {
            isUp = false
            return true
        }
        return false
    }

    /// Someone else found the peer silent (the steering agent's probes of a proxy that is
    /// also an entry point): down at once, up again after `successesToUp` answered probes.
    public mutating func markDown() {
        successesInARow = 0
        failuresInARow = max(failuresInARow, failuresToDown)
        isUp = false
    }
}
