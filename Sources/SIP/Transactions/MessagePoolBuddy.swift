import Basics

/// The message pool's blocks: a buddy allocator over units. A block's buddy is the other
/// half of the block it was split from; free blocks of each order form a doubly linked list
/// through `next` and `previous`, indexed by unit, so the buddy met on release is unlinked in
/// O(1) and taking and freeing cost O(log n) (ten orders). Lists are last-in first-out.
extension MessagePool {
    /// A free block of `order`, split from a larger one if need be, or a never-used largest
    /// block; nil when there is none.
    func takeBlock(order: Int) -> Int? {
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
            return nil
        }
        // Keep the lower half, free the upper: the next block of that size is taken from it.
        while found > order {
            found -= 1
            push(block + (1 << found), order: found)
        }
        dirty[block >> MessagePool.largestOrder] = 1
        return block
    }

    /// The units of the block of `order` at `block` past the first `units` go back to the free
    /// lists, as the aligned blocks they split into (their buddies are held, so none merges).
    func giveBackTail(of block: Int, order: Int, units: Int) {
        var start = block, remaining = units, order = order
        while remaining < 1 << order {
            order -= 1
            let half = 1 << order
            if remaining <= half {
                push(start + half, order: order)
            } else {
                start += half
                remaining -= half
            }
        }
    }

    /// Frees what `giveBackTail` kept of the block of `order` at `block`, walked the same way:
    /// the lower half of each split is held whole when the message reaches past it.
    func releaseBlock(_ block: Int, order: Int, units: Int) {
        var start = block, remaining = units, order = order
        while remaining < 1 << order {
            order -= 1
            let half = 1 << order
            if remaining > half {
                free(start, order: order)
                start += half
                remaining -= half
            }
        }
        free(start, order: order)
    }

    /// Puts a held block back, merged with its buddy for as long as the buddy is free.
    func free(_ held: Int, order heldOrder: Int) {
        var block = held, order = heldOrder
        while order < MessagePool.largestOrder {
            let buddy = block ^ (1 << order)
            guard freeOrder[buddy] == UInt8(order + 1) else { break }
            unlink(buddy, order: order)
            block = min(block, buddy)
            order += 1
        }
        push(block, order: order)
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
