/// The bookkeeping shared by every bounded table in gatewayd: a fixed number of slots, found
/// by hash through chains, kept in least-recently-used order, reused through a free list.
///
/// It stores no keys or values: each table keeps those in its own `FixedArray`s indexed by
/// slot number, and compares keys itself while walking `candidates(hash)`. When all slots are
/// taken, `claim` hands back the oldest one and says so, and the table counts the eviction.
///
/// Links are stored as slot + 1, so that 0 means "none" and every array starts as zero
/// bytes: a table's bookkeeping becomes resident only as slots are first used.
public final class SlotIndex {
    public let capacity: Int
    public private(set) var count = 0
    /// The least recently touched slot in use, or -1.
    public private(set) var oldest: Int32 = -1
    /// The most recently touched slot in use, or -1.
    public private(set) var newest: Int32 = -1

    @usableFromInline let bucketMask: Int
    @usableFromInline let buckets: FixedArray<Int32>
    @usableFromInline let chain: FixedArray<Int32>
    @usableFromInline let hashes: FixedArray<UInt64>
    let older: FixedArray<Int32>
    let newer: FixedArray<Int32>
    let inUse: FixedArray<Bool>
    let touchedSecond: FixedArray<Int64>
    /// Freed slots, linked through `chain`; slots never used yet start at `nextUnused`.
    var freeHead: Int32 = -1
    var nextUnused = 0

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(Int32.max) / 2)
        self.capacity = capacity
        var bucketCount = 1
        while bucketCount < capacity * 2 { bucketCount <<= 1 }
        bucketMask = bucketCount - 1
        buckets = FixedArray(zeroedCount: bucketCount)
        chain = FixedArray(zeroedCount: capacity)
        hashes = FixedArray(zeroedCount: capacity)
        older = FixedArray(zeroedCount: capacity)
        newer = FixedArray(zeroedCount: capacity)
        inUse = FixedArray(zeroedCount: capacity)
        touchedSecond = FixedArray(zeroedCount: capacity)
    }

    public var isFull: Bool { count == capacity }

    /// The slot in use whose hash is `hash` and whose key `matches` (the table compares its
    /// own keys), or -1.
    @inlinable public func find(_ hash: UInt64, matching matches: (Int) -> Bool) -> Int {
        var candidate = firstCandidate(hash)
        while candidate >= 0 {
            if matches(Int(candidate)) { return Int(candidate) }
            candidate = nextCandidate(after: candidate)
        }
        return -1
    }

    /// The first slot in use whose hash equals `hash`, or -1; continue with `nextCandidate`.
    @inlinable public func firstCandidate(_ hash: UInt64) -> Int32 {
        var slot = buckets[Int(truncatingIfNeeded: hash) & bucketMask] - 1
        while slot >= 0 && hashes[Int(slot)] != hash { slot = chain[Int(slot)] - 1 }
        return slot
    }

    @inlinable public func nextCandidate(after slot: Int32) -> Int32 {
        let hash = hashes[Int(slot)]
        var next = chain[Int(slot)] - 1
        while next >= 0 && hashes[Int(next)] != hash { next = chain[Int(next)] - 1 }
        return next
    }

    /// Takes a slot for a new entry with `hash` and makes it the newest. When the table is
    /// full the oldest entry is evicted first: `evicted` is true and the caller must forget
    /// what it stored in that slot before storing the new entry.
    public func claim(hash: UInt64) -> (slot: Int, evicted: Bool) {
        var evicted = false
        if freeHead < 0 && nextUnused == capacity {
            release(Int(oldest))
            evicted = true
        }
        let slot: Int
        if freeHead >= 0 {
            slot = Int(freeHead)
            freeHead = chain[slot] - 1
        } else {
            slot = nextUnused
            nextUnused += 1
        }
        inUse[slot] = true
        touchedSecond[slot] = 0
        hashes[slot] = hash
        let bucket = Int(truncatingIfNeeded: hash) & bucketMask
        chain[slot] = buckets[bucket]
        buckets[bucket] = Int32(slot) + 1
        linkAsNewest(slot)
        count += 1
        return (slot, evicted)
    }

    /// Files `slot` under a new hash (for keys known only after the slot was taken).
    public func rekey(_ slot: Int, hash: UInt64) {
        precondition(inUse[slot])
        unlinkBucket(slot)
        hashes[slot] = hash
        let bucket = Int(truncatingIfNeeded: hash) & bucketMask
        chain[slot] = buckets[bucket]
        buckets[bucket] = Int32(slot) + 1
    }

    /// Marks `slot` as used at `second` (of packet time), moving it in the age order at most
    /// once a second: on the per-packet path the order need not be finer than the timeouts
    /// it serves, and relinking on every RTP packet would cost more than the rest of it.
    @discardableResult
    @inline(__always) public func touch(_ slot: Int, second: Int64) -> Bool {
        guard touchedSecond[slot] != second else { return false }
        touchedSecond[slot] = second
        touch(slot)
        return true
    }

    /// Marks `slot` as just used.
    public func touch(_ slot: Int) {
        guard Int32(slot) != newest else { return }
        unlinkAge(slot)
        linkAsNewest(slot)
    }

    /// Gives `slot` back to the free list.
    public func release(_ slot: Int) {
        precondition(inUse[slot])
        unlinkBucket(slot)
        unlinkAge(slot)
        inUse[slot] = false
        chain[slot] = freeHead + 1
        freeHead = Int32(slot)
        count -= 1
    }

    /// The slot touched after `slot`, or -1: walks from `oldest` towards `newest`.
    public func newer(than slot: Int) -> Int32 { newer[slot] - 1 }

    /// The slot touched before `slot`, or -1: walks from `newest` towards `oldest`.
    public func older(than slot: Int) -> Int32 { older[slot] - 1 }

    public func isInUse(_ slot: Int) -> Bool { inUse[slot] }

    private func unlinkBucket(_ slot: Int) {
        let bucket = Int(truncatingIfNeeded: hashes[slot]) & bucketMask
        if buckets[bucket] - 1 == Int32(slot) {
            buckets[bucket] = chain[slot]
        } else {
            var previous = buckets[bucket] - 1
            while chain[Int(previous)] - 1 != Int32(slot) { previous = chain[Int(previous)] - 1 }
            chain[Int(previous)] = chain[slot]
        }
    }

    private func linkAsNewest(_ slot: Int) {
        older[slot] = newest + 1
        newer[slot] = 0
        if newest >= 0 { newer[Int(newest)] = Int32(slot) + 1 } else { oldest = Int32(slot) }
        newest = Int32(slot)
    }

    private func unlinkAge(_ slot: Int) {
        let before = older[slot] - 1, after = newer[slot] - 1
        if before >= 0 { newer[Int(before)] = after + 1 } else { oldest = after }
        if after >= 0 { older[Int(after)] = before + 1 } else { newest = before }
    }
}
