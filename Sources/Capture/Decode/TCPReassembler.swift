import Basics
import CSystem

/// One direction of a TCP connection.
public struct FlowKey: Equatable {
    public var source: Endpoint
    public var destination: Endpoint

    public init(source: Endpoint, destination: Endpoint) {
        self.source = source
        self.destination = destination
    }

    @inlinable public var hash: UInt64 { KeyHash.mix(source.folded ^ KeyHash.rotate(destination.folded, 29)) }
}

/// Puts each TCP flow's payload back in order so that messages split across segments, or
/// several in one segment, reach the sink as one contiguous stream.
///
/// Bounded: `flows` flows of at most `flowBytes` unconsumed bytes each, preallocated. When a
/// segment arrives in order and the flow holds nothing, the reader reads it straight from the
/// capture buffer; only what it leaves unconsumed is copied. Retransmitted bytes are skipped;
/// a gap (a lost segment, or one that arrives out of order) drops what was buffered and the
/// stream resumes at the new segment, flagged `afterGap` so the reader resynchronises.
public final class TCPReassembler {
    public let flowBytes: Int
    let idleTimeout: Int64
    let index: SlotIndex
    let keys: FixedArray<FlowKey>
    let nextSequence: FixedArray<UInt32>
    let buffered: FixedArray<Int32>
    let afterGap: FixedArray<Bool>
    let lastSeen: FixedArray<Int64>
    /// How far the reader got into the bytes it left (valid while `buffered` holds them).
    let scans: FixedArray<StreamScan>
    let buffer: FixedArray<UInt8>

    public init(flows: Int, flowBytes: Int, idleTimeoutNanoseconds: Int64) {
        self.flowBytes = flowBytes
        idleTimeout = idleTimeoutNanoseconds
        index = SlotIndex(capacity: flows)
        let none = Endpoint(address: .unspecified, port: 0)
        keys = FixedArray(repeating: FlowKey(source: none, destination: none), count: flows)
        nextSequence = FixedArray(repeating: 0, count: flows)
        buffered = FixedArray(repeating: 0, count: flows)
        afterGap = FixedArray(repeating: false, count: flows)
        lastSeen = FixedArray(repeating: 0, count: flows)
        scans = FixedArray(repeating: StreamScan(), count: flows)
        buffer = FixedArray(zeroedCount: flows * flowBytes)
    }

    public var activeFlows: Int { index.count }

    public struct Flags {
        public var syn: Bool
        public var fin: Bool
        public var rst: Bool
        public init(syn: Bool, fin: Bool, rst: Bool) {
            self.syn = syn
            self.fin = fin
            self.rst = rst
        }
    }

    /// The flow whose bytes were last handed out, waiting for `consumed`.
    var pendingSlot = -1
    var pendingBytes = UnsafeRawBufferPointer(start: nil, count: 0)
    var pendingClose = false

    /// Takes one segment; returns the flow's unconsumed in-order bytes when it brought new ones.
    public func segment(_ key: FlowKey, sequence: UInt32, flags: Flags, payload: UnsafeRawBufferPointer,
                        time: PacketTime, counters: inout DecodeCounters) -> StreamChunk? {
        consumed(0, counters: &counters)
        expire(before: time.nanoseconds - idleTimeout)
        let hash = key.hash
        var slot = index.find(hash) { keys[$0] == key }
        if slot < 0 {
            // Pure ACKs and closes of flows we do not know create nothing.
            guard flags.syn || (payload.count > 0 && !flags.rst) else { return nil }
            let claimed = index.claim(hash: hash)
            if claimed.evicted { counters.tcpFlowsEvicted += 1 }
            slot = claimed.slot
            keys[slot] = key
            buffered[slot] = 0
            // Without the SYN the capture joined mid-connection.
            nextSequence[slot] = flags.syn ? sequence &+ 1 : sequence
            afterGap[slot] = !flags.syn
        } else {
            index.touch(slot)
            if flags.syn {
                // A new connection on the same ports.
                nextSequence[slot] = sequence &+ 1
                buffered[slot] = 0
                afterGap[slot] = false
            }
        }
        lastSeen[slot] = time.nanoseconds
        var data = payload
        let dataSequence = flags.syn ? sequence &+ 1 : sequence
        if data.count > 0 {
            let delta = Int32(bitPattern: dataSequence &- nextSequence[slot])
            if delta > 0 {
                counters.tcpGaps += 1
                buffered[slot] = 0
                afterGap[slot] = true
                nextSequence[slot] = dataSequence
            } else if delta < 0 {
                counters.tcpRetransmissions += 1
                let skip = Int(delta.magnitude)
                data = skip >= data.count ? UnsafeRawBufferPointer(start: nil, count: 0)
                                          : UnsafeRawBufferPointer(rebasing: data[skip...])
            }
        }
        let closing = flags.fin || flags.rst
        guard data.count > 0 else {
            if closing { index.release(slot) }
            return nil
        }
        nextSequence[slot] = nextSequence[slot] &+ UInt32(truncatingIfNeeded: data.count)
        let base = slot * flowBytes
        let held = Int(buffered[slot])
        var bytes = data
        var resume = StreamScan()
        if held > 0 {
            if held + data.count > flowBytes {
                // The reader could not frame what it holds within the bound: drop it.
                counters.tcpOverflows += 1
                afterGap[slot] = true
            } else {
                buffer.copy(data, to: base + held)
                bytes = buffer.bytes(base, held + data.count)
                resume = scans[slot]
            }
        }
        buffered[slot] = 0
        pendingSlot = slot
        pendingBytes = bytes
        pendingClose = closing
        return StreamChunk(source: key.source, destination: key.destination, bytes: bytes, time: time,
                           afterGap: afterGap[slot], resume: resume)
    }

    /// The reader consumed `count` bytes from the front of the last chunk; the rest is kept,
    /// with how far the reader got into it (`scan`).
    public func consumed(_ count: Int, scan: StreamScan = StreamScan(), counters: inout DecodeCounters) {
        guard pendingSlot >= 0 else { return }
        let slot = pendingSlot
        pendingSlot = -1
        let used = min(max(count, 0), pendingBytes.count)
        if used > 0 { afterGap[slot] = false }
        let rest = pendingBytes.count - used
        if pendingClose {
            index.release(slot)
        } else if rest > flowBytes {
            counters.tcpOverflows += 1
            afterGap[slot] = true
        } else if rest > 0 {
            // The rest may overlap its destination when it already sits in the buffer.
            memmove(buffer.pointer(at: slot * flowBytes), pendingBytes.baseAddress! + used, rest)
            buffered[slot] = Int32(rest)
            scans[slot] = scan.lineStart <= rest && scan.bodyStart <= rest ? scan : StreamScan()
        }
        pendingBytes = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    private func expire(before limit: Int64) {
        while index.oldest >= 0 && lastSeen[Int(index.oldest)] < limit {
            index.release(Int(index.oldest))
        }
    }
}
