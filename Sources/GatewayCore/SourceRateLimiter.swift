import Basics

/// Limits requests per source address on the public listener (a token bucket each): a
/// source may send `burst` requests at once and `perSecond` on average. The table is
/// preallocated; when full, the least recently seen source is forgotten, which can only
/// let it send more, never block a newcomer.
public final class SourceRateLimiter {
    let index: SlotIndex
    let addresses: FixedArray<IPAddress>
    let tokens: FixedArray<Double>
    let updated: FixedArray<Int64>
    public private(set) var perSecond: Double
    public private(set) var burst: Double
    public private(set) var limited = 0

    public init(sources: Int, perSecond: Double, burst: Double) {
        index = SlotIndex(capacity: sources)
        addresses = FixedArray(zeroedCount: sources)
        tokens = FixedArray(zeroedCount: sources)
        updated = FixedArray(zeroedCount: sources)
        self.perSecond = perSecond
        self.burst = max(burst, 1)
    }

    /// New limits on a reload: sources keep what they have saved up, at most the new burst,
    /// and refill at the new rate from now on.
    public func reconfigure(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = max(burst, 1)
        var slot = index.oldest
        while slot >= 0 {
            tokens[Int(slot)] = min(tokens[Int(slot)], self.burst)
            slot = index.newer(than: Int(slot))
        }
    }

    /// Whether a request from `address` at `now` (nanoseconds) may be served.
    public func allow(_ address: IPAddress, now: Int64) -> Bool {
        let hash = address.hash
        var slot = index.find(hash) { addresses[$0] == address }
        if slot < 0 {
            slot = index.claim(hash: hash).slot
            addresses[slot] = address
            tokens[slot] = burst
            updated[slot] = now
        } else {
            index.touch(slot)
            let elapsed = Double(max(now - updated[slot], 0)) / 1e9
            tokens[slot] = min(burst, tokens[slot] + elapsed * perSecond)
            updated[slot] = now
        }
        guard tokens[slot] >= 1 else {
            limited += 1
            return false
        }
        tokens[slot] -= 1
        return true
    }
}
