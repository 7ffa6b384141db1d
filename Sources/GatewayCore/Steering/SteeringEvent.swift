/// An endpoint's state changed: a proxy assigned (a new one), all busy, or its proxy lost.
/// The endpoint's state (`SteeringAgent.states`) has the details.
public struct SteeringEvent: Equatable, Sendable {
    public var endpoint: Int
    public var change: HookEvent

    public init(endpoint: Int, change: HookEvent) {
        self.endpoint = endpoint
        self.change = change
    }
}
