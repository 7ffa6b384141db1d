/// What a node can carry. A capacity of 0 leaves that resource out of the workload.
public struct WorkloadCapacities: Equatable, Sendable {
    /// Concurrent calls (trying, ringing or up).
    public var calls = 100
    /// RTP streams with a packet in the last few seconds.
    public var activeStreams = 200
    /// RTP packets per second, all streams together.
    public var rtpPacketsPerSecond = 0
    /// SIP messages per second, requests and responses.
    public var sipMessagesPerSecond = 500
    /// The share of active streams (those the E-model can judge) below `poorQualityMOS`, in
    /// percent, at which the node is full: a proxy whose media degrades stops taking calls
    /// before it runs out of anything else. 0 (the default) leaves call quality out.
    public var poorQualityPercent = 0
    /// What counts as poor: 3.6 is R = 70, the lower bound of G.109's "medium" quality, below
    /// which many users are dissatisfied.
    public var poorQualityMOS = 3.6

    public init() {}
}

/// The resources the workload is taken over.
public enum Resource: UInt8, CaseIterable, Sendable {
    case calls, activeStreams, rtpPacketRate, sipMessageRate, poorQuality

    public var name: StaticString {
        switch self {
        case .calls: return "calls"
        case .activeStreams: return "active_streams"
        case .rtpPacketRate: return "rtp_packet_rate"
        case .sipMessageRate: return "sip_message_rate"
        case .poorQuality: return "poor_quality_streams"
        }
    }
}

/// Each resource's use against its capacity, and the workload: the largest ratio.
public struct Workload: Equatable, Sendable {
    public var calls = 0
    public var activeStreams = 0
    public var rtpPacketRate: Double = 0
    public var sipMessageRate: Double = 0
    /// Percent of the active streams the E-model judges that are below `poorQualityMOS`.
    public var poorQualityShare: Double = 0
    public var capacities = WorkloadCapacities()

    public init() {}

    public func inUse(_ resource: Resource) -> Double {
        switch resource {
        case .calls: return Double(calls)
        case .activeStreams: return Double(activeStreams)
        case .rtpPacketRate: return rtpPacketRate
        case .sipMessageRate: return sipMessageRate
        case .poorQuality: return poorQualityShare
        }
    }

    public func capacity(_ resource: Resource) -> Int {
        switch resource {
        case .calls: return capacities.calls
        case .activeStreams: return capacities.activeStreams
        case .rtpPacketRate: return capacities.rtpPacketsPerSecond
        case .sipMessageRate: return capacities.sipMessagesPerSecond
        case .poorQuality: return capacities.poorQualityPercent
        }
    }

    /// in use / capacity for one resource, 0 when its capacity is 0 (not counted).
    public func ratio(_ resource: Resource) -> Double {
        let capacity = capacity(resource)
        return capacity > 0 ? inUse(resource) / Double(capacity) : 0
    }

    /// max over resources of in use / capacity: 1.0 means one resource is full.
    public var value: Double {
        var largest = 0.0
        for resource in Resource.allCases { largest = max(largest, ratio(resource)) }
        return largest
    }

    /// max over every resource but `left` of in use / capacity.
    public func largestRatio(excluding left: Resource) -> Double {
        var largest = 0.0
        for resource in Resource.allCases where resource != left { largest = max(largest, ratio(resource)) }
        return largest
    }

    /// The resource that sets the workload.
    public var limitingResource: Resource {
        var best = Resource.calls
        for resource in Resource.allCases where ratio(resource) > ratio(best) { best = resource }
        return best
    }
}
