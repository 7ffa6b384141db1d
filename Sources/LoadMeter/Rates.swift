import Capture

/// Events per second over a sliding window of packet time, in one-second buckets, so a
/// capture file replays with the same figures it had live.
struct SlidingRate {
    let window: Int
    let counts: FixedArray<Int64>
    let seconds: FixedArray<Int64>

    init(windowSeconds: Int) {
        window = max(windowSeconds, 1)
        counts = FixedArray(repeating: 0, count: window)
        seconds = FixedArray(repeating: Int64.min, count: window)
    }

    @inline(__always) func add(_ amount: Int64, at time: PacketTime) {
        let second = time.seconds
        let bucket = Int(second % Int64(window) + Int64(window)) % window
        if seconds[bucket] != second {
            seconds[bucket] = second
            counts[bucket] = 0
        }
        counts[bucket] += amount
    }

    /// The mean rate per second over the `window` seconds ending with the one holding `time`.
    func rate(at time: PacketTime) -> Double {
        let now = time.seconds
        var total: Int64 = 0
        for bucket in 0..<window where seconds[bucket] > now - Int64(window) && seconds[bucket] <= now {
            total += counts[bucket]
        }
        return Double(total) / Double(window)
    }
}
