import Basics
import Capture

/// Where a call stands, by its Call-ID.
public enum CallState: UInt8, Sendable {
    /// INVITE sent, no answer yet but perhaps 100 Trying: an attempt, not yet a call.
    case trying
    /// A 1xx other than 100 with a To tag: ringing or in early media. Counts as a call.
    case early
    /// A 2xx: the call is up. Counts as a call.
    case confirmed
    /// The INVITE was challenged (401/407); the same Call-ID usually comes back with
    /// credentials, which is the same call attempt, not a new one.
    case challenged
    /// Over (BYE, CANCEL, failure, a timeout); kept a while to absorb retransmissions.
    case ended

    /// What the workload's `calls` resource counts: dialogs a callee has taken up, early
    /// (ringing) or confirmed. An INVITE nobody answered costs the proxy one transaction,
    /// not a call, and anyone who can send UDP to the proxy can make one.
    var isCall: Bool { self == .early || self == .confirmed }
}

/// How long each stage of a call may go on without the SIP or media that keeps it going.
/// Every call ends on the meter's clock, so no gauge drifts when a BYE is lost.
public struct CallTimeouts: Equatable, Sendable {
    /// An INVITE with no response, or only 100 Trying: RFC 3261 Timer B (64 × T1 = 32 s),
    /// after which the caller's own transaction has given up. Also how long a challenge
    /// (401/407) waits for the INVITE with credentials.
    public var attemptSeconds = 32
    /// An early dialog after its last provisional response: RFC 3261 Timer C's three minutes
    /// (§16.6 step 11), after which a proxy CANCELs.
    public var ringingSeconds = 180
    /// A confirmed call whose media the capture has seen, with no SIP, RTP or RTCP: media
    /// flows every 20-30 ms, comfort noise and RTCP (every 5 s, RFC 3550 §6.2) at least every
    /// few seconds, so a minute of nothing is a call whose ends have gone.
    public var silenceSeconds = 60
    /// The same for a call whose last SDP put it on hold (sendonly, recvonly, inactive, or
    /// c=0.0.0.0): RTP may rightly stop, and not every phone sends RTCP then.
    public var holdSeconds = 300
    /// A confirmed call whose media the capture never saw (a proxy that does not carry
    /// media), with no SIP: nothing but SIP can say it is alive, and a call lasts minutes.
    public var noMediaSeconds = 900

    public init() {}
}

/// Ways a call ends without a BYE, CANCEL or final failure: on the clock. One row each, in
/// the order the report, the status file and Prometheus list them.
public enum CallTimeout: Int, CaseIterable, Sendable {
    case noAnswer, ringing, silent, onHold, noMedia, sessionExpired

    /// The figure's name in the report, the status file and Prometheus.
    public var name: StaticString {
        switch self {
        case .noAnswer: return "timed_out_no_answer"
        case .ringing: return "timed_out_ringing"
        case .silent: return "timed_out_silent"
        case .onHold: return "timed_out_on_hold"
        case .noMedia: return "timed_out_no_media"
        case .sessionExpired: return "session_expired"
        }
    }

    public var doc: StaticString {
        switch self {
        case .noAnswer: return "INVITEs with no answer but 100 Trying after the attempt timeout (never counted as calls)"
        case .ringing: return "early dialogs with no provisional response for the ringing timeout"
        case .silent: return "confirmed calls with no SIP and no media for the silence timeout"
        case .onHold: return "calls on hold with no SIP and no media for the hold timeout"
        case .noMedia: return "confirmed calls whose media was never seen, with no SIP for the no-media timeout"
        case .sessionExpired: return "calls not refreshed within their Session-Expires (RFC 4028)"
        }
    }
}

/// Call figures, all since start except the gauges `active`, `attempting` and `peakActive`.
public struct CallCounters: Equatable, Sendable {
    /// Distinct Call-IDs seen in an INVITE (what `tshark -Y sip.Method=="INVITE"` counts).
    public var attempts = 0
    public var answered = 0
    /// Ended by a final response >= 300 other than 487, or a challenge never answered.
    public var failed = 0
    /// CANCELled, or answered 487 Request Terminated.
    public var cancelled = 0
    /// Ended normally by BYE (answered calls, and early dialogs closed by BYE).
    public var completed = 0
    /// Pushed out of a full table while still an attempt or a call, or an attempt let go
    /// because attempts held half the table.
    public var evicted = 0
    /// Calls now: early and confirmed dialogs (the workload's `calls`).
    public var active = 0
    /// INVITEs waiting for an answer now: not calls.
    public var attempting = 0
    public var peakActive = 0
    public var peakTime = PacketTime.zero
    var noAnswer = 0, ringing = 0, silent = 0, onHold = 0, noMedia = 0, sessionExpired = 0

    public init() {}

    /// Calls and attempts ended by `reason`.
    public subscript(reason: CallTimeout) -> Int {
        get {
            switch reason {
            case .noAnswer: return noAnswer
            case .ringing: return ringing
            case .silent: return silent
            case .onHold: return onHold
            case .noMedia: return noMedia
            case .sessionExpired: return sessionExpired
            }
        }
        set {
            switch reason {
            case .noAnswer: noAnswer = newValue
            case .ringing: ringing = newValue
            case .silent: silent = newValue
            case .onHold: onHold = newValue
            case .noMedia: noMedia = newValue
            case .sessionExpired: sessionExpired = newValue
            }
        }
    }

    /// Everything that ended on the clock, whatever the reason.
    public var timedOut: Int {
        var total = 0
        for reason in CallTimeout.allCases { total += self[reason] }
        return total
    }
}
