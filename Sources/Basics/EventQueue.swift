/// A bounded first-in first-out queue of plain values, allocated once: how a state machine
/// tells its caller what happened (a peer went down, the admission state changed) without
/// the caller keeping copies to compare. Full, it drops the newest and counts it: the
/// caller drains it every turn of its loop, so it fills only if that stops.
public final class EventQueue<Event> {
    let ring: FixedArray<Event>
    var start = 0
    public private(set) var count = 0
    /// Events pushed while the queue was full.
    public private(set) var dropped = 0

    /// `filler` is any value: it only initialises the slots.
    public init(capacity: Int, filler: Event) {
        ring = FixedArray(repeating: filler, count: max(capacity, 1))
    }

    public func push(_ event: Event) {
        guard count < ring.count else {
            dropped += 1
            return
        }
        ring[(start + count) % ring.count] = event
        count += 1
    }

    /// The oldest event, taken out; nil when there is none.
    public func take() -> Event? {
        guard count > 0 else { return nil }
        let event = ring[start]
        start = (start + 1) % ring.count
        count -= 1
        return event
    }
}
