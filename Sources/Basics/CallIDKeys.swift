/// Call-ID keyed slots: the `SlotIndex` of a table plus the Call-ID bytes of each slot, kept
/// inline up to `maxKeyBytes` (longer IDs are told apart by their full hash and first bytes).
public final class CallIDKeys {
    public static let maxKeyBytes = 96
    public let index: SlotIndex
    let bytes: FixedArray<UInt8>
    let lengths: FixedArray<UInt8>

    public init(capacity: Int) {
        index = SlotIndex(capacity: capacity)
        bytes = FixedArray(zeroedCount: capacity * CallIDKeys.maxKeyBytes)
        lengths = FixedArray(repeating: 0, count: capacity)
    }

    public func find(_ callID: UnsafeRawBufferPointer, hash: UInt64) -> Int {
        let stored = min(callID.count, CallIDKeys.maxKeyBytes)
        return index.find(hash) { Int(lengths[$0]) == stored && matches($0, callID, stored) }
    }

    /// Claims a slot for `callID`; `evicted` says whether the oldest entry had to go.
    public func insert(_ callID: UnsafeRawBufferPointer, hash: UInt64) -> (slot: Int, evicted: Bool) {
        let claimed = index.claim(hash: hash)
        let stored = min(callID.count, CallIDKeys.maxKeyBytes)
        bytes.copy(UnsafeRawBufferPointer(rebasing: callID[0..<stored]), to: claimed.slot * CallIDKeys.maxKeyBytes)
        lengths[claimed.slot] = UInt8(stored)
        return claimed
    }

    public func key(_ slot: Int) -> UnsafeRawBufferPointer {
        bytes.bytes(slot * CallIDKeys.maxKeyBytes, Int(lengths[slot]))
    }

    private func matches(_ slot: Int, _ callID: UnsafeRawBufferPointer, _ length: Int) -> Bool {
        let base = slot * CallIDKeys.maxKeyBytes
        for i in 0..<length where bytes[base + i] != callID[i] { return false }
        return true
    }
}
