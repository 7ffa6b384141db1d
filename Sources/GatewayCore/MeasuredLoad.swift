/// What the node takes from the meter: the calls it counts against their capacity (the one
/// resource that reservations add to) and the largest in-use/capacity ratio of all the
/// others. The daemon makes it from the meter's workload; the node never sees the meter.
public struct MeasuredLoad: Equatable, Sendable {
    public var calls: Int
    /// 0 leaves calls out of the workload.
    public var callCapacity: Int
    /// max over every other resource of in use / capacity.
    public var otherResources: Double

    public init(calls: Int = 0, callCapacity: Int = 0, otherResources: Double = 0) {
        self.calls = calls
        self.callCapacity = callCapacity
        self.otherResources = otherResources
    }

    /// The workload with `reserved` more calls: 0 idle, 1 a resource full.
    public func workload(reserving reserved: Int) -> Double {
        let calls = callCapacity > 0 ? Double(self.calls + reserved) / Double(callCapacity) : 0
        return max(calls, otherResources)
    }
}
