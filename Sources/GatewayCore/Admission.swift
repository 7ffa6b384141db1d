/// Whether this node answers requests to connect itself or passes them on.
public enum AdmissionState: UInt8, Sendable {
    /// Workload below the threshold: answer with this node's identity.
    case accepting
    /// At or over the threshold: forward along the sequence until the workload falls below
    /// threshold − hysteresis.
    case forwarding
    /// Put out of service by the operator: forward everything, never be chosen.
    case draining
}

/// The threshold decision with hysteresis (DESIGN §3): a struct that takes the workload and
/// returns the state, so it is tested without sockets and the daemon only logs changes.
public struct Admission: Sendable {
    /// Workload (0 = idle, 1 = a resource full) at which the node starts forwarding.
    public var threshold: Double
    /// How far below the threshold the workload must fall before the node accepts again.
    public var hysteresis: Double
    public var drain: Bool
    public private(set) var state: AdmissionState = .accepting

    public init(threshold: Double, hysteresis: Double, drain: Bool = false) {
        self.threshold = threshold
        self.hysteresis = hysteresis
        self.drain = drain
        state = drain ? .draining : .accepting
    }

    /// Takes the current workload; returns the new state when it changed, for the log.
    public mutating func update(workload: Double) -> AdmissionState? {
        let before = state
        if drain {
            state = .draining
        } else if state == .accepting {
            state = workload >= threshold ? .forwarding : .accepting
        } else {
            // Forwarding, or just out of drain: accept only once clearly below the threshold.
            state = workload < threshold - hysteresis ? .accepting : .forwarding
        }
        return state == before ? nil : state
    }

    public var accepts: Bool { state == .accepting }
}
