/// What a node reports for the daemon to act on and log, in the order it happened (the
/// node's `events`; datagrams to send are in its outbox).
public enum NodeEvent: Equatable, Sendable {
    /// The admission state changed, at this workload.
    case admission(AdmissionState, workload: Double)
    /// A member came back up (its probes answered again), or went down (probes or a
    /// forwarded request unanswered, or found silent by the steering agent).
    case peer(member: Int, up: Bool)
}
