import Basics

/// A stored message: where it starts in the pool and how long it is. `.none` holds nothing.
///
/// All-zero bytes are `.none` (the block is stored as index + 1), so a table of handles in a
/// zeroed `FixedArray` starts out empty. The stamp is the block's count of stores at the time:
/// a handle kept after its release no longer matches once the block is reused, so a stale or
/// repeated release is recognised and ignored instead of freeing someone else's message
/// (short of 65,536 reuses of one block while the stale handle is kept).
public struct MessageHandle: Equatable, Sendable {
    /// The first unit, + 1; 0 for `.none`.
    public let blockPlusOne: Int32
    /// The order of the buddy block it was cut from, or `MessagePool.slabMark` | units per
    /// slot for a slot of a slab.
    public let order: UInt8
    public let stamp: UInt16
    public let count: Int32

    public static let none = MessageHandle(blockPlusOne: 0, order: 0, stamp: 0, count: 0)

    public var isNone: Bool { blockPlusOne == 0 }
    public var length: Int { Int(count) }
}

/// Messages of any size a UDP datagram holds, in one buffer allocated at start-up, so a
/// transaction keeps a 300-byte response and a 60 KB INVITE alike, with no fixed slot size
/// to truncate to and no allocation per message. Lengths are rounded up to 128-byte units.
///
/// Two layers (MessagePoolBuddy.swift, MessagePoolSlabs.swift). Blocks of 128 << order
/// bytes (orders 0 ... 9, up to 64 KiB) come from a buddy allocator; a message over 1 KiB
/// takes the smallest block that holds it and gives the units past its end back at once.
/// A message of up to 1 KiB takes a slot in a slab: an 8 KiB block cut into slots of its own
/// number of units. Most of what a node keeps is a few hundred bytes (a 302 of 355 bytes
/// takes 384; a buddy block would be 512 and the page holding it no better), and thousands
/// of transactions open at once make that difference megabytes of a board's memory.
///
/// The pool reuses what it last freed first and takes never-used largest blocks in address
/// order only when nothing is free, so with zeroed storage the resident memory follows the
/// peak in use, not the capacity; `trim` gives back the pages of largest blocks left free.
public final class MessagePool {
    public static let smallestShift = 7
    public static let largestOrder = 9
    public static let largestBlock = 1 << (smallestShift + largestOrder)
    /// The smallest block: what a message's length is rounded up to.
    public static let unit = 1 << smallestShift
    /// Slabs are blocks of this order (8 KiB), for messages of up to `slabLargestSlot` units.
    public static let slabOrder = 6
    public static let slabLargestSlot = 8
    /// Set in a handle's `order` (and `heldOrder`) for a slot of a slab.
    public static let slabMark: UInt8 = 0x80

    /// Bytes in the pool.
    public let capacity: Int
    /// Bytes held in units (message lengths rounded up to 128): what is stored and what
    /// rounding costs.
    public internal(set) var used = 0
    /// The most `used` has been: what sizing the pool should go by.
    public internal(set) var peakUsed = 0
    /// Stores refused for want of room or for a message longer than the largest block.
    public internal(set) var failures = 0

    public let storage: FixedArray<UInt8>
    /// Per order, the most recently freed block + 1 (0: the list is empty).
    public let heads: FixedArray<Int32>
    /// Per unit heading a free block: its neighbours in that order's list, + 1. In a slab,
    /// per free slot: the next free slot of the slab, + 1.
    public let next: FixedArray<Int32>
    public let previous: FixedArray<Int32>
    /// Per unit: order + 1 if it heads a free block (what merging asks of a buddy).
    public let freeOrder: FixedArray<UInt8>
    /// Per unit: order + 1 if it heads a block in use, `slabMark` | units if it heads a slot
    /// in use (what release checks).
    public let heldOrder: FixedArray<UInt8>
    /// Per unit: how many stores it has headed (wrapping), copied into handles.
    public let stamps: FixedArray<UInt16>
    /// Largest blocks from here on have never been used and are in no list.
    public var nextUnused = 0
    /// Per largest block: 1 when its pages may be resident (written since they were last
    /// given back), so `trim` knows what is worth a system call.
    public let dirty: FixedArray<UInt8>
    /// Bytes `trim` has given back to the kernel, in all.
    public internal(set) var bytesReturned = 0
    /// Free largest blocks `trim` keeps resident for the next burst (1 MiB).
    public static let residentReserve = 16

    /// Per slot size (units), a slab with a free slot + 1 (0: none).
    let slabsWithRoom: FixedArray<Int32>
    /// Per slab (8 KiB of the pool): units per slot (0: not a slab), slots held, slots
    /// never handed out start here, a freed slot + 1, and its neighbours among the slabs
    /// with room of its size, + 1.
    let slabSlotUnits: FixedArray<UInt8>
    let slabHeld: FixedArray<UInt16>
    let slabFresh: FixedArray<UInt16>
    let slabFreeSlot: FixedArray<Int32>
    let slabNext: FixedArray<Int32>
    let slabPrevious: FixedArray<Int32>

    /// `bytes` rounded up to a whole number of largest blocks (65,536 bytes), at least one.
    /// Storage and side arrays are zeroed pages, resident only as they are used.
    public init(bytes: Int) {
        let largest = MessagePool.largestBlock
        // Unit numbers are Int32 links. Divided, not shifted: on a 32-bit board a shift of
        // Int32.max would wrap and refuse every size.
        precondition(bytes >= 0 && bytes / MessagePool.unit < Int(Int32.max) - largest)
        capacity = max(1, (bytes + largest - 1) / largest) * largest
        let units = capacity >> MessagePool.smallestShift
        storage = FixedArray(zeroedCount: capacity)
        heads = FixedArray(zeroedCount: MessagePool.largestOrder + 1)
        next = FixedArray(zeroedCount: units)
        previous = FixedArray(zeroedCount: units)
        freeOrder = FixedArray(zeroedCount: units)
        heldOrder = FixedArray(zeroedCount: units)
        stamps = FixedArray(zeroedCount: units)
        dirty = FixedArray(zeroedCount: capacity / largest)
        let slabs = units >> MessagePool.slabOrder
        slabsWithRoom = FixedArray(zeroedCount: MessagePool.slabLargestSlot + 1)
        slabSlotUnits = FixedArray(zeroedCount: slabs)
        slabHeld = FixedArray(zeroedCount: slabs)
        slabFresh = FixedArray(zeroedCount: slabs)
        slabFreeSlot = FixedArray(zeroedCount: slabs)
        slabNext = FixedArray(zeroedCount: slabs)
        slabPrevious = FixedArray(zeroedCount: slabs)
    }

    /// Copies `message` into the pool. Nil (and a failure counted) when there is no room
    /// for it or it is longer than 65,536 bytes. An empty message takes no room: it comes
    /// back as `.none`, whose bytes are empty.
    public func store(_ message: UnsafeRawBufferPointer) -> MessageHandle? {
        guard message.count > 0 else { return MessageHandle.none }
        guard message.count <= MessagePool.largestBlock else {
            failures += 1
            return nil
        }
        let units = MessagePool.units(message.count)
        let first: Int, mark: UInt8
        if units <= MessagePool.slabLargestSlot {
            guard let slot = takeSlot(units: units) else {
                failures += 1
                return nil
            }
            first = slot
            mark = MessagePool.slabMark | UInt8(units)
            heldOrder[first] = mark
        } else {
            let order = Int.bitWidth - (units - 1).leadingZeroBitCount
            guard let block = takeBlock(order: order) else {
                failures += 1
                return nil
            }
            giveBackTail(of: block, order: order, units: units)
            first = block
            mark = UInt8(order)
            heldOrder[first] = mark + 1
        }
        stamps[first] &+= 1
        used += units << MessagePool.smallestShift
        peakUsed = max(peakUsed, used)
        storage.copy(message, to: first << MessagePool.smallestShift)
        return MessageHandle(blockPlusOne: Int32(first + 1), order: mark, stamp: stamps[first],
                             count: Int32(message.count))
    }

    /// The bytes of a stored message, contiguous because blocks and slots are runs of units.
    /// Empty for `.none` and for a handle already released.
    public func bytes(_ handle: MessageHandle) -> UnsafeRawBufferPointer {
        guard isHeld(handle) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return storage.bytes(Int(handle.blockPlusOne - 1) << MessagePool.smallestShift, handle.length)
    }

    /// Gives the message's room back. Releasing `.none`, or a handle already released, does
    /// nothing: a transaction torn down on two paths must not free room that a newer message
    /// has since taken.
    public func release(_ handle: MessageHandle) {
        guard isHeld(handle) else { return }
        let first = Int(handle.blockPlusOne - 1)
        heldOrder[first] = 0
        let units = MessagePool.units(handle.length)
        used -= units << MessagePool.smallestShift
        if handle.order & MessagePool.slabMark != 0 {
            releaseSlot(first)
        } else {
            releaseBlock(first, order: Int(handle.order), units: units)
        }
    }

    /// Whether `handle` names a message in use that was stored under it (and not since
    /// replaced by another).
    public func isHeld(_ handle: MessageHandle) -> Bool {
        let first = Int(handle.blockPlusOne) - 1
        guard first >= 0 && first < heldOrder.count && stamps[first] == handle.stamp && handle.count >= 0 else {
            return false
        }
        if handle.order & MessagePool.slabMark != 0 {
            let slotUnits = Int(handle.order & ~MessagePool.slabMark)
            return heldOrder[first] == handle.order && handle.length <= slotUnits << MessagePool.smallestShift
        }
        return handle.order <= MessagePool.largestOrder && heldOrder[first] == handle.order + 1
            && handle.length <= 1 << (Int(handle.order) + MessagePool.smallestShift)
    }

    /// Gives the pages of free largest blocks back to the kernel, all but the
    /// `residentReserve` freed most recently (the next burst takes those first): after a
    /// burst the pool's resident memory falls back to what is in use. A system call per
    /// block given back, so the node calls it once a second, not per message. Returns the
    /// bytes given back.
    @discardableResult
    public func trim() -> Int {
        var kept = 0, returned = 0
        var link = heads[MessagePool.largestOrder]
        while link != 0 {
            let block = Int(link) - 1
            let region = block >> MessagePool.largestOrder
            if dirty[region] != 0 {
                if kept < MessagePool.residentReserve {
                    kept += 1
                } else {
                    returned += storage.releasePages(block << MessagePool.smallestShift, MessagePool.largestBlock)
                    dirty[region] = 0
                }
            }
            link = next[block]
        }
        bytesReturned += returned
        return returned
    }

    /// Units a message of `length` bytes takes (at least one).
    static func units(_ length: Int) -> Int { max(1, (length + unit - 1) >> smallestShift) }
}
