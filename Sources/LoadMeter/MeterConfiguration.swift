/// Sizes, timeouts and options of the meter. Tables are preallocated from these at start.
public struct MeterConfiguration: Sendable {
    /// Calls tracked at once (INVITE dialogs, including recently ended ones).
    public var dialogCapacity = 4096
    /// REGISTER transactions remembered at once, to tell retransmissions.
    public var registrationCapacity = 1024
    /// SDP-announced transport addresses (RTP and RTCP) remembered at once.
    public var mediaCapacity = 8192
    /// RTP streams measured at once.
    public var streamCapacity = 4096
    /// Candidate unannounced streams in probation at once.
    public var probationCapacity = 256
    /// How long each stage of a call may last without the SIP or media that keeps it going.
    public var callTimeouts = CallTimeouts()
    /// A stream with no packet for this long is closed.
    public var streamIdleSeconds = 60
    /// A stream counts as active for the workload while its last packet is this recent.
    public var streamActiveSeconds = 5
    /// Announced media outlive their call by this much silence.
    public var mediaLingerSeconds = 10
    /// Take RTP that no SDP announced (RFC 3550 A.1 probation).
    public var detectUnannouncedRTP = false
    /// Consecutive packets an unannounced stream needs to be taken as RTP.
    public var probationPackets = 2
    /// The window of the per-second rates.
    public var rateWindowSeconds = 10
    public var capacities = WorkloadCapacities()

    public init() {}
}
