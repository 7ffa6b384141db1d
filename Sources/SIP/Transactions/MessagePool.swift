import Basics

/// A stored message: where it starts in the pool and how long it is. `.none` holds nothing.
///
/// All-zero bytes are `.none` (the block is stored as index + 1), so a table of handles in a
/// zeroed `FixedArray` starts out empty. The stamp is the block's count of stores at the time:
/// a handle kept after its release no longer matches once the block is reused, so a stale or
/// repeated release is recognised and ignored instead of freeing someone else's message
/// (short of 65,536 reuses of one block while the stale handle is kept).
public struct MessageHandle: Equatable, Sendable {
    /// The first smallest block, + 1; 0 for `.none`.
    public let blockPlusOne: Int32
    public let order: UInt8
    public let stamp: UInt16
    public let count: Int32

    public static let none = MessageHandle(blockPlusOne: 0, order: 0, stamp: 0, count: 0)

    public var isNone: Bool { blockPlusOne == 0 }
    public var length: Int { Int(count) }
}

/// Messages of any size a UDP datagram holds, in one buffer allocated at start-up: a buddy
/// allocator, so a transaction keeps a 300-byte response and a 60 KB INVITE alike, with no
/// fixed slot size to truncate to and no allocation per message.
///
/// Blocks are 256 << order bytes (orders 0 ... 8, up to 64 KiB), aligned to their size; a
/// block's buddy is the other half of the block it was split from. Free blocks of each order
/// form a doubly linked list through side arrays indexed by smallest-block number, so the
/// buddy met on release is unlinked in O(1) and store and release take O(log n) (nine orders).
/// Lists are last-in first-out and largest blocks never used are taken in address order only
/// when none is free: the pool reuses the pages it last touched, so with zeroed storage the
/// resident memory follows the peak in use, not the capacity.
public final class MessagePool {
    public static let smallestShift = 8
    public static let largestOrder = 8
    public static let largestBlock = 1 << (smallestShift + largestOrder)

    /// Bytes in the pool.
    public let capacity: Int
    /// Bytes held in blocks (block sizes, not message lengths): what fragmentation costs.
    public private(set) var used = 0
    /// The most `used` has been: what sizing the pool should go by.
    public private(set) var peakUsed = 0
    /// Stores refused for want of room or for a message longer than the largest block.
    public private(set) var failures = 0

    public let storage: FixedArray<UInt8>
    /// Per order, the most recently freed block + 1 (0: the list is empty).
    public let heads: FixedArray<Int32>
    /// Per smallest block heading a free block: its neighbours in that order's list, + 1.
    public let next: FixedArray<Int32>
    public let previous: FixedArray<Int32>
    /// Per smallest block: order + 1 if it heads a free block (what merging asks of a buddy).
    public let freeOrder: FixedArray<UInt8>
    /// Per smallest block: order + 1 if it heads a block in use (what release checks).
    public let heldOrder: FixedArray<UInt8>
    /// Per smallest block: how many stores it has headed (wrapping), copied into handles.
    public let stamps: FixedArray<UInt16>
    /// Largest blocks from here on have never been used and are in no list.
    public var nextUnused = 0
    /// Per largest block: 1 when its pages may be resident (written since they were last
    /// given back), so `trim` knows what is worth a system call.
    public let dirty: FixedArray<UInt8>
    /// Bytes `trim` has given back to the kernel, in all.
    public private(set) var bytesReturned = 0
    /// Free largest blocks `trim` keeps resident for the next burst (1 MiB).
    public static let residentReserve = 16

    /// `bytes` rounded up to a whole number of largest blocks (65,536 bytes), at least one;
    /// the smallest block is 256 bytes. Storage and side arrays are zeroed pages, resident
    /// only as they are used.
    public init(bytes: Int) {
        let largest = MessagePool.largestBlock
        // Block numbers are Int32 links. Divided, not shifted: on a 32-bit board a shift of
        // Int32.max would wrap and refuse every size.
        precondition(bytes >= 0 && bytes / (1 << MessagePool.smallestShift) < Int(Int32.max) - largest)
        capacity = max(1, (bytes + largest - 1) / largest) * largest
        let blocks = capacity >> MessagePool.smallestShift
        storage = FixedArray(zeroedCount: capacity)
        heads = FixedArray(zeroedCount: MessagePool.largestOrder + 1)
        next = FixedArray(zeroedCount: blocks)
        previous = FixedArray(zeroedCount: blocks)
        freeOrder = FixedArray(zeroedCount: blocks)
        heldOrder = FixedArray(zeroedCount: blocks)
        stamps = FixedArray(zeroedCount: blocks)
        dirty = FixedArray(zeroedCount: capacity / largest)
    }

    /// Copies `message` into the smallest free block that holds it. Nil (and a failure
    /// counted) when no block that large is free or the message is longer than 65,536 bytes.
    /// An empty message takes no block: it comes back as `.none`, whose bytes are empty.
    public func store(_ message: UnsafeRawBufferPointer) -> MessageHandle? {
        guard message.count > 0 else { return MessageHandle.none }
        guard message.count <= MessagePool.largestBlock else {
            failures += 1
            return nil
        }
        let bits = Int.bitWidth - (message.count - 1).leadingZeroBitCount
        let order = max(0, bits - MessagePool.smallestShift)
        var found = order
        while found <= MessagePool.largestOrder && heads[found] == 0 { found += 1 }
        var block: Int
        if found <= MessagePool.largestOrder {
            block = Int(heads[found]) - 1
            unlink(block, order: found)
        } else if nextUnused < capacity / MessagePool.largestBlock {
            found = MessagePool.largestOrder
            block = nextUnused << MessagePool.largestOrder
            nextUnused += 1
        } else {
            failures += 1
            return nil
        }
        // Keep the lower half, free the upper: the next store of that size takes it first.
        while found > order {
            found -= 1
            push(block + (1 << found), order: found)
        }
        heldOrder[block] = UInt8(order + 1)
        dirty[block >> MessagePool.largestOrder] = 1
        stamps[block] &+= 1
        used += 1 << (order + MessagePool.smallestShift)
        peakUsed = max(peakUsed, used)
        storage.copy(message, to: block << MessagePool.smallestShift)
        return MessageHandle(blockPlusOne: Int32(block + 1), order: UInt8(order),
                             stamp: stamps[block], count: Int32(message.count))
    }

    /// The bytes of a stored message, contiguous because a buddy block is one run of bytes.
    /// Empty for `.none` and for a handle already released.
    public func bytes(_ handle: MessageHandle) -> UnsafeRawBufferPointer {
        guard isHeld(handle) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return storage.bytes(Int(handle.blockPlusOne - 1) << MessagePool.smallestShift, handle.length)
    }

    /// Gives the block back, merging it with its buddy for as long as the buddy is free too.
    /// Releasing `.none`, or a handle already released, does nothing: a transaction torn down
    /// on two paths must not free a block that a newer message has since taken.
    public func release(_ handle: MessageHandle) {
        guard isHeld(handle) else { return }
        var block = Int(handle.blockPlusOne - 1), order = Int(handle.order)
        heldOrder[block] = 0
        used -= 1 << (order + MessagePool.smallestShift)
        while order < MessagePool.largestOrder {
            let buddy = block ^ (1 << order)
            guard freeOrder[buddy] == UInt8(order + 1) else { break }
            unlink(buddy, order: order)
            block = min(block, buddy)
            order += 1
        }
        push(block, order: order)
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

    /// Whether `handle` names a block in use that was stored under it (and not since reused).
    public func isHeld(_ handle: MessageHandle) -> Bool {
        let block = Int(handle.blockPlusOne) - 1
        return block >= 0 && block < heldOrder.count && handle.order <= MessagePool.largestOrder
            && heldOrder[block] == handle.order + 1 && stamps[block] == handle.stamp
            && handle.count >= 0 && handle.length <= 1 << (Int(handle.order) + MessagePool.smallestShift)
    }

    private func push(_ block: Int, order: Int) {
        let head = heads[order]
        next[block] = head
        previous[block] = 0
        if head != 0 { previous[Int(head) - 1] = Int32(block + 1) }
        heads[order] = Int32(block + 1)
        freeOrder[block] = UInt8(order + 1)
    }

    private func unlink(_ block: Int, order: Int) {
        let before = previous[block], after = next[block]
        if before != 0 { next[Int(before) - 1] = after } else { heads[order] = after }
        if after != 0 { previous[Int(after) - 1] = before }
        freeOrder[block] = 0
    }
}
