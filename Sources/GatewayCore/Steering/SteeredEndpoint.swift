/// What a gateway endpoint is: its call stack decides how an assignment reaches it.
public enum EndpointKind: UInt8, Sendable {
    /// An FXS line behind the gateway's own SIP user agent: the hook repoints that agent.
    case analog
    /// A SIP phone that uses the agent as outbound proxy and follows the 302 itself.
    case sip
    /// An H.323 endpoint behind the gateway: the hook sets its gatekeeper.
    case h323

    public var name: StaticString {
        switch self {
        case .analog: "analog"
        case .sip: "sip"
        case .h323: "h323"
        }
    }
}

/// Why the agent runs an endpoint's hook (its first argument).
public enum HookEvent: UInt8, Sendable {
    case assigned = 1
    case busy
    case lost

    public var name: StaticString {
        switch self {
        case .assigned: "assigned"
        case .busy: "busy"
        case .lost: "lost"
        }
    }
}

/// Timing the agent's endpoints share.
public struct SteeringTimers: Sendable {
    /// Ask again this long after an assignment at the latest (sooner when it expires sooner).
    public var refresh: Int64 = 30_000_000_000
    /// When every entry point is silent, or an answer is neither 302 nor 503: ask again after this.
    public var retry: Int64 = 30_000_000_000
    /// Probes of the assigned proxy.
    public var probeInterval: Int64 = 1_000_000_000
    /// Unanswered probes in a row that make the proxy lost.
    public var failuresToLost = 3
    /// Longest an ask may stay unanswered before it counts as silence.
    public var askLimit: Int64 = 10_000_000_000

    public init() {}
}

/// One endpoint an analog line or H.323 endpoint stands for, as a state machine the agent
/// drives with answers and time (DESIGN §5): ask the group, hold what it assigned, refresh
/// before it expires, probe the proxy, and ask again when the proxy is lost or when the
/// group was busy for as long as it said. Returns the hook to run; does no I/O.
public struct SteeredEndpoint: Sendable {
    public enum State: UInt8, Sendable {
        case pending
        case assigned
        case busy
        case lost

        public var name: StaticString {
            switch self {
            case .pending: "pending"
            case .assigned: "assigned"
            case .busy: "busy"
            case .lost: "lost"
            }
        }
    }

    public private(set) var state = State.pending
    public private(set) var assignment: Assignment?
    /// Since when the state (or the assigned proxy) is what it is; when the assignment ends.
    public private(set) var since: Int64
    public private(set) var expiresAt: Int64 = 0
    /// The Retry-After of the last busy answer, in seconds.
    public private(set) var retryAfterSeconds = 0
    /// When to ask the group next; `Int64.max` while an ask is out.
    public private(set) var nextAsk: Int64
    /// The CSeq of the ask that is out (answers to older ones are ignored).
    public private(set) var askSequence: UInt32 = 0
    public private(set) var askDeadline = Int64.max
    public private(set) var nextProbe = Int64.max
    public private(set) var probeOutstanding = false
    public private(set) var probeFailures = 0

    public init(now: Int64, stagger: Int64 = 0) {
        since = now
        nextAsk = now + stagger
    }

    public var isAsking: Bool { askDeadline != Int64.max }

    /// The earliest time something is due.
    public var nextDeadline: Int64 { min(nextAsk, askDeadline, nextProbe) }

    // MARK: Asking

    /// Whether an ask is due; if so it is counted as out, with this CSeq.
    public mutating func takeAsk(now: Int64, timers: SteeringTimers) -> UInt32? {
        guard now >= nextAsk, !isAsking else { return nil }
        askSequence &+= 1
        nextAsk = Int64.max
        askDeadline = now + timers.askLimit
        return askSequence
    }

    /// A 302 answered the ask: the hook runs when the proxy is new (or the endpoint had none).
    public mutating func assigned(_ new: Assignment, now: Int64, timers: SteeringTimers, jitter: Double) -> HookEvent? {
        askDeadline = Int64.max
        let changed = state != .assigned || assignment?.proxy != new.proxy
        if changed { since = now }
        state = .assigned
        assignment = new
        let lifetime = Int64(new.expiresSeconds) * 1_000_000_000
        expiresAt = now + lifetime
        // Refresh well before expiry, spread by up to a tenth so endpoints do not ask in step.
        let refresh = min(timers.refresh, lifetime * 8 / 10)
        nextAsk = now + max(refresh - Int64(Double(refresh) * 0.1 * jitter), 1_000_000_000)
        if changed {
            probeFailures = 0
            probeOutstanding = false
            nextProbe = new.address == nil ? Int64.max : now + timers.probeInterval
        }
        return changed ? .assigned : nil
    }

    /// A 503 (or no answer from any entry point: `retryAfter` is then the configured retry).
    /// An endpoint that holds a live proxy keeps it and only asks again later; one without
    /// gets `busy`.
    public mutating func busy(retryAfterSeconds seconds: Int, now: Int64) -> HookEvent? {
        askDeadline = Int64.max
        retryAfterSeconds = seconds
        nextAsk = now + Int64(seconds) * 1_000_000_000
        if state == .assigned { return nil }
        state = .busy
        since = now
        return .busy
    }

    /// Checks the ask's time limit: an ask the agent lost track of counts as silence.
    public mutating func askTimedOut(now: Int64, timers: SteeringTimers) -> HookEvent? {
        guard isAsking, now >= askDeadline else { return nil }
        return busy(retryAfterSeconds: Int(timers.retry / 1_000_000_000), now: now)
    }

    // MARK: Probes

    /// Whether a probe of the assigned proxy is due. An unanswered previous one counts
    /// against it; enough in a row and the proxy is lost (the hook runs, and the group is
    /// asked again at once).
    public mutating func takeProbe(now: Int64, timers: SteeringTimers) -> (probe: Bool, event: HookEvent?) {
        guard state == .assigned, now >= nextProbe else { return (false, nil) }
        if probeOutstanding {
            probeFailures += 1
            if probeFailures >= timers.failuresToLost {
                state = .lost
                since = now
                probeOutstanding = false
                nextProbe = Int64.max
                if !isAsking { nextAsk = now }
                return (false, .lost)
            }
        }
        probeOutstanding = true
        nextProbe = now + timers.probeInterval
        return (true, nil)
    }

    /// The proxy answered a probe (any status: it is there).
    public mutating func probeAnswered() {
        probeOutstanding = false
        probeFailures = 0
    }
}
