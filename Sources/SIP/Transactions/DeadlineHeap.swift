import Basics

/// Deadlines of transactions and probes in a preallocated binary heap. Entries are not
/// removed when a transaction ends early: each carries the generation of its slot, and a
/// stale one is skipped when it comes up (lazy deletion keeps every operation O(log n)).
/// Generations are 16 bits, so an entry is 16 bytes: a stale entry taken for a slot reused
/// exactly 65,536 times since finds a machine whose own deadline has not come, which does
/// nothing.
public final class DeadlineHeap {
    public struct Entry: Equatable, Sendable {
        public var deadline: Int64
        public var slot: Int32
        public var generation: UInt16
        /// Which table the slot belongs to (the owner's numbering).
        public var kind: UInt8

        public init(deadline: Int64, slot: Int32, generation: UInt16, kind: UInt8) {
            self.deadline = deadline
            self.slot = slot
            self.generation = generation
            self.kind = kind
        }
    }

    public let entries: FixedArray<Entry>
    public private(set) var count = 0
    public private(set) var dropped = 0

    public init(capacity: Int) {
        entries = FixedArray(zeroedCount: capacity)
    }

    public var earliest: Int64? { count > 0 ? entries[0].deadline : nil }

    public var isFull: Bool { count == entries.count }

    /// Drops every entry `keep` rejects (stale ones: their slot moved on) and restores the
    /// heap, in one pass. The owner calls it when the heap fills, before dropping anything.
    public func compact(keeping keep: (Entry) -> Bool) {
        var kept = 0
        for i in 0..<count where keep(entries[i]) {
            entries[kept] = entries[i]
            kept += 1
        }
        count = kept
        var i = count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    /// Adds a deadline; when full (even after `compact`), the new one is dropped and counted:
    /// its transaction then ends by eviction from its table instead of by its timer.
    public func push(_ entry: Entry) {
        if count == entries.count {
            dropped += 1
            return
        }
        entries[count] = entry
        count += 1
        siftUp(count - 1)
    }

    /// The earliest entry if it is due at `now`, removed.
    public func popDue(now: Int64) -> Entry? {
        guard count > 0, entries[0].deadline <= now else { return nil }
        let top = entries[0]
        count -= 1
        if count > 0 {
            entries[0] = entries[count]
            siftDown(0)
        }
        return top
    }

    private func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].deadline < entries[parent].deadline else { return }
            let swap = entries[i]
            entries[i] = entries[parent]
            entries[parent] = swap
            i = parent
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1, right = left + 1
            var smallest = i
            if left < count && entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < count && entries[right].deadline < entries[smallest].deadline { smallest = right }
            guard smallest != i else { return }
            let swap = entries[i]
            entries[i] = entries[smallest]
            entries[smallest] = swap
            i = smallest
        }
    }
}
