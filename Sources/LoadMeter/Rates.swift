import Basics
import Capture

/// Events per second over a sliding window of packet time, in one-second buckets, so a
/// capture file replays with the same figures it had live.
final class SlidingRate {
    let window: Int
    let counts: FixedArray<Int64>
    let seconds: FixedArray<Int64>
    /// The bucket of the last second added to, so the per-packet path does no division.
    var currentSecond = Int64.min
    var currentBucket = 0

    init(windowSeconds: Int) {
        window = max(windowSeconds, 1)
        counts = FixedArray(repeating: 0, count: window)
        seconds = FixedArray(repeating: Int64.min, count: window)
    }

    @inline(__always) func add(_ amount: Int64, at time: PacketTime) {
        add(amount, second: time.seconds)
    }

    @inline(__always) func add(_ amount: Int64, second: Int64) {
        if second != currentSecond {
            currentSecond = second
            currentBucket = Int(second % Int64(window) + Int64(window)) % window
            if seconds[currentBucket] != second {
                seconds[currentBucket] = second
                counts[currentBucket] = 0
            }
        }
        counts[currentBucket] += amount
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
