import Basics

/// Identifies the datagram an IPv4 or IPv6 fragment belongs to (RFC 791, RFC 8200 §4.5).
public struct FragmentKey: Equatable {
    public var source: IPAddress
    public var destination: IPAddress
    public var identification: UInt32
    /// The IPv4 protocol; for IPv6 the family marker 0xFF (the next header is per fragment).
    public var protocolNumber: UInt8

    @inlinable var hash: UInt64 {
        KeyHash.combine(KeyHash.combine(source.hash, destination.hash),
                        UInt64(identification) << 8 | UInt64(protocolNumber))
    }
}

/// Reassembles fragmented IP datagrams in preallocated buffers. Memory is `slots` times
/// `maxDatagram` bytes, fixed at start; a datagram larger than that, a fragment that arrives
/// when every slot is busy (the oldest is evicted), or one whose datagram waited longer than
/// the timeout are counted and dropped.
public final class FragmentReassembler {
    public let maxDatagram: Int
    let timeout: Int64
    let index: SlotIndex
    let keys: FixedArray<FragmentKey>
    let buffer: FixedArray<UInt8>
    /// One bit per 8-byte block of each slot's datagram.
    let blocks: FixedArray<UInt64>
    let wordsPerSlot: Int
    let totalLength: FixedArray<Int32>
    let blocksReceived: FixedArray<Int32>
    let firstSeen: FixedArray<Int64>
    let nextProtocol: FixedArray<UInt8>

    public init(slots: Int, maxDatagram: Int, timeoutNanoseconds: Int64) {
        precondition(maxDatagram >= 8 && maxDatagram <= 65_535 + 8)
        self.maxDatagram = maxDatagram
        timeout = timeoutNanoseconds
        index = SlotIndex(capacity: slots)
        keys = FixedArray(repeating: FragmentKey(source: .unspecified, destination: .unspecified,
                                                 identification: 0, protocolNumber: 0), count: slots)
        buffer = FixedArray(zeroedCount: slots * maxDatagram)
        wordsPerSlot = (maxDatagram / 8 + 63) / 64
        blocks = FixedArray(repeating: 0, count: slots * wordsPerSlot)
        totalLength = FixedArray(repeating: -1, count: slots)
        blocksReceived = FixedArray(repeating: 0, count: slots)
        firstSeen = FixedArray(repeating: 0, count: slots)
        nextProtocol = FixedArray(repeating: 0, count: slots)
    }

    /// A whole datagram, ready: read it with `datagram(_:)`, then `release` the slot.
    public struct Completed {
        public var slot: Int
        public var length: Int
        public var nextProtocol: UInt8
    }

    /// Adds one fragment: `offset` in bytes from the start of the fragmentable part,
    /// `payload` the fragment's bytes after the IP header(s). `nextProtocol` matters for the
    /// first fragment (offset 0). Returns the datagram when this fragment completed it.
    public func add(_ key: FragmentKey, offset: Int, moreFragments: Bool, payload: UnsafeRawBufferPointer,
                    nextProtocol protocolNumber: UInt8, time: PacketTime,
                    counters: inout DecodeCounters) -> Completed? {
        expire(before: time.nanoseconds - timeout, counters: &counters)
        let end = offset + payload.count
        // Every fragment but the last carries a multiple of 8 bytes (RFC 791, RFC 8200).
        guard end <= maxDatagram, moreFragments ? payload.count % 8 == 0 && payload.count > 0 : true else {
            counters.fragmentsDropped += 1
            return nil
        }
        let hash = key.hash
        var slot = index.find(hash) { keys[$0] == key }
        if slot < 0 {
            let claimed = index.claim(hash: hash)
            if claimed.evicted { counters.fragmentsEvicted += 1 }
            slot = claimed.slot
            keys[slot] = key
            totalLength[slot] = -1
            blocksReceived[slot] = 0
            firstSeen[slot] = time.nanoseconds
            nextProtocol[slot] = protocolNumber
            for word in 0..<wordsPerSlot { blocks[slot * wordsPerSlot + word] = 0 }
        }
        if !moreFragments {
            if totalLength[slot] >= 0 && Int(totalLength[slot]) != end {
                // Two different "last" fragments: the datagram cannot be trusted.
                counters.fragmentsDropped += 1
                index.release(slot)
                return nil
            }
            totalLength[slot] = Int32(end)
        }
        if offset == 0 { nextProtocol[slot] = protocolNumber }
        buffer.copy(payload, to: slot * maxDatagram + offset)
        var block = offset / 8
        let endBlock = (end + 7) / 8
        while block < endBlock {
            let word = slot * wordsPerSlot + block / 64
            let bit = UInt64(1) << UInt64(block % 64)
            if blocks[word] & bit == 0 {
                blocks[word] |= bit
                blocksReceived[slot] += 1
            }
            block += 1
        }
        let total = Int(totalLength[slot])
        guard total >= 0 && Int(blocksReceived[slot]) == (total + 7) / 8 else { return nil }
        return Completed(slot: slot, length: total, nextProtocol: nextProtocol[slot])
    }

    public func datagram(_ completed: Completed) -> UnsafeRawBufferPointer {
        buffer.bytes(completed.slot * maxDatagram, completed.length)
    }

    public func release(_ completed: Completed) { index.release(completed.slot) }

    public var pending: Int { index.count }

    private func expire(before limit: Int64, counters: inout DecodeCounters) {
        while index.oldest >= 0 && firstSeen[Int(index.oldest)] < limit {
            index.release(Int(index.oldest))
            counters.fragmentsTimedOut += 1
        }
    }
}
