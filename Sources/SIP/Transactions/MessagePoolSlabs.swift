import Basics

/// The message pool's slabs: an 8 KiB block cut into slots of one number of units (1 ... 8),
/// so messages of up to 1 KiB lie back to back (a 384-byte slot every 384 bytes), where
/// buddy blocks would leave the rest of a power of two unused. Slots are handed out in
/// address order first, then the most recently freed; a slab whose last slot is freed goes
/// back to the buddy blocks at once, so `trim` can return its pages.
extension MessagePool {
    /// A free slot of `units` units, from a slab of that size with room or a new one; nil
    /// when no 8 KiB block is free.
    func takeSlot(units: Int) -> Int? {
        var slab = Int(slabsWithRoom[units]) - 1
        if slab < 0 {
            guard let block = takeBlock(order: MessagePool.slabOrder) else { return nil }
            slab = block >> MessagePool.slabOrder
            slabSlotUnits[slab] = UInt8(units)
            slabHeld[slab] = 0
            slabFresh[slab] = 0
            slabFreeSlot[slab] = 0
            linkWithRoom(slab, units: units)
        }
        let slot: Int
        if slabFreeSlot[slab] != 0 {
            slot = Int(slabFreeSlot[slab]) - 1
            slabFreeSlot[slab] = next[slot]
        } else {
            slot = (slab << MessagePool.slabOrder) + Int(slabFresh[slab]) * units
            slabFresh[slab] += 1
        }
        slabHeld[slab] += 1
        if isFull(slab) { unlinkWithRoom(slab) }
        return slot
    }

    /// Frees the slot at `slot`; the slab goes back when it was the last one held.
    func releaseSlot(_ slot: Int) {
        let slab = slot >> MessagePool.slabOrder
        let wasFull = isFull(slab)
        next[slot] = slabFreeSlot[slab]
        slabFreeSlot[slab] = Int32(slot + 1)
        slabHeld[slab] -= 1
        if slabHeld[slab] == 0 {
            if !wasFull { unlinkWithRoom(slab) }
            slabSlotUnits[slab] = 0
            free(slab << MessagePool.slabOrder, order: MessagePool.slabOrder)
        } else if wasFull {
            linkWithRoom(slab, units: Int(slabSlotUnits[slab]))
        }
    }

    private func isFull(_ slab: Int) -> Bool {
        slabFreeSlot[slab] == 0 && Int(slabFresh[slab]) == (1 << MessagePool.slabOrder) / Int(slabSlotUnits[slab])
    }

    private func linkWithRoom(_ slab: Int, units: Int) {
        let head = slabsWithRoom[units]
        slabNext[slab] = head
        slabPrevious[slab] = 0
        if head != 0 { slabPrevious[Int(head) - 1] = Int32(slab + 1) }
        slabsWithRoom[units] = Int32(slab + 1)
    }

    private func unlinkWithRoom(_ slab: Int) {
        let before = slabPrevious[slab], after = slabNext[slab]
        if before != 0 {
            slabNext[Int(before) - 1] = after
        } else {
            slabsWithRoom[Int(slabSlotUnits[slab])] = after
        }
        if after != 0 { slabPrevious[Int(after) - 1] = before }
    }
}
