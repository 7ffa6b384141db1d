/// What the steering agent reports for the daemon to log, in the order it happened.
public enum SteeringEvent: Equatable, Sendable {
    /// An endpoint's state changed: a proxy assigned (a new one), all busy, or its proxy
    /// lost. The endpoint's state (`SteeringAgent.states`) has the details.
    case endpoint(Int, HookEvent)
    /// An entry point (a member of the agent's relay sequence) went down or came back up.
    case entryPoint(member: Int, up: Bool)
}
