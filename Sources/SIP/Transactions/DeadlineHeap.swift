import Basics

/// Deadlines of transactions in a preallocated binary heap with one entry per transaction
/// slot: scheduling a slot that has an entry moves that entry, earlier or later, instead of
/// adding another. So the heap never holds more entries than there are slots, and never a
/// trail of stale ones: a transaction over TCP that ends at its ACK leaves no Timer H entry
/// behind for 32 seconds, and the next transaction in its slot takes the same entry. At
/// thousands of calls a second that keeps the heap as small as the transactions really
/// waiting, instead of tens of thousands of stale entries each pop had to sift through.
///
/// An entry is not removed when its transaction ends: it carries the generation of its
/// slot, and when it comes up for a slot that has moved on it is skipped by the owner.
/// Generations are 16 bits: an entry taken for a slot reused exactly 65,536 times since
/// finds a machine whose own deadline has not come, which does nothing.
public final class DeadlineHeap {
    public struct Entry: Equatable, Sendable {
        public var deadline: Int64
        public var slot: Int32
        public var generation: UInt16
        /// Which table the slot belongs to (the owner's numbering, below `kinds`).
        public var kind: UInt8

        public init(deadline: Int64, slot: Int32, generation: UInt16, kind: UInt8) {
            self.deadline = deadline
            self.slot = slot
            self.generation = generation
            self.kind = kind
        }
    }

    let entries: FixedArray<Entry>
    /// Where the entry of each slot of each kind is in `entries`, plus one (0: it has none).
    let positions: FixedArray<Int32>
    let slotsPerKind: Int
    public private(set) var count = 0

    /// Room for one entry for each of `slotsPerKind` slots of each of `kinds` tables.
    public init(kinds: Int, slotsPerKind: Int) {
        self.slotsPerKind = slotsPerKind
        entries = FixedArray(zeroedCount: kinds * slotsPerKind)
        positions = FixedArray(zeroedCount: kinds * slotsPerKind)
    }

    public var earliest: Int64? { count > 0 ? entries[0].deadline : nil }

    /// Sets the deadline of `entry`'s slot: its entry, if it has one, takes the new deadline
    /// and generation and moves to its place; otherwise one is added.
    public func schedule(_ entry: Entry) {
        let key = Int(entry.kind) * slotsPerKind + Int(entry.slot)
        let position = Int(positions[key]) - 1
        guard position >= 0 else {
            place(entry, at: count, key: key)
            count += 1
            siftUp(count - 1)
            return
        }
        let earlier = entry.deadline < entries[position].deadline
        entries[position] = entry
        if earlier { siftUp(position) } else { siftDown(position) }
    }

    /// The earliest entry if it is due at `now`, removed.
    public func popDue(now: Int64) -> Entry? {
        guard count > 0, entries[0].deadline <= now else { return nil }
        let top = entries[0]
        positions[key(of: top)] = 0
        count -= 1
        if count > 0 {
            place(entries[count], at: 0, key: key(of: entries[count]))
            siftDown(0)
        }
        return top
    }

    private func key(of entry: Entry) -> Int { Int(entry.kind) * slotsPerKind + Int(entry.slot) }

    private func place(_ entry: Entry, at position: Int, key: Int) {
        entries[position] = entry
        positions[key] = Int32(position + 1)
    }

    private func siftUp(_ start: Int) {
        var i = start
        let moving = entries[i]
        while i > 0 {
            let parent = (i - 1) / 2
            guard moving.deadline < entries[parent].deadline else { break }
            place(entries[parent], at: i, key: key(of: entries[parent]))
            i = parent
        }
        place(moving, at: i, key: key(of: moving))
    }

    private func siftDown(_ start: Int) {
        var i = start
        let moving = entries[i]
        while true {
            let left = 2 * i + 1, right = left + 1
            guard left < count else { break }
            let child = right < count && entries[right].deadline < entries[left].deadline ? right : left
            guard entries[child].deadline < moving.deadline else { break }
            place(entries[child], at: i, key: key(of: entries[child]))
            i = child
        }
        place(moving, at: i, key: key(of: moving))
    }
}
