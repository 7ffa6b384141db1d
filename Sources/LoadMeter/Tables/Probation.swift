import Basics
import Capture

/// RTP that no SDP announced, found as RFC 3550 A.1 finds a new source: a packet that
/// passes the header checks starts a candidate for its address pair; it becomes a stream
/// once `required` packets of the same SSRC arrived with consecutive sequence numbers. The
/// probation packets are counted in the stream, so nothing seen is lost from its figures.
final class Probation {
    let required: Int
    let index: SlotIndex
    let flows: FixedArray<FlowKey>
    let candidates: FixedArray<RTPStreamStatistics>
    let formats: FixedArray<StreamFormats>
    let ssrcs: FixedArray<UInt32>
    let lastSequence: FixedArray<UInt16>
    let run: FixedArray<Int32>

    init(capacity: Int, required: Int) {
        self.required = required
        index = SlotIndex(capacity: capacity)
        flows = FixedArray(repeating: FlowKey(source: Endpoint(address: .unspecified, port: 0),
                                              destination: Endpoint(address: .unspecified, port: 0)), count: capacity)
        candidates = FixedArray(repeating: RTPStreamStatistics(), count: capacity)
        formats = FixedArray(repeating: StreamFormats(), count: capacity)
        ssrcs = FixedArray(repeating: 0, count: capacity)
        lastSequence = FixedArray(repeating: 0, count: capacity)
        run = FixedArray(repeating: 0, count: capacity)
    }

    /// Adds a plausible packet; returns the candidate's figures when it has passed probation
    /// (and forgets it: the caller opens the stream).
    func add(_ flow: FlowKey, _ header: RTPHeader, wireBytes: Int, time: PacketTime)
        -> (statistics: RTPStreamStatistics, formats: StreamFormats)?
    {
        let hash = flow.hash
        var slot = index.find(hash) { flows[$0] == flow }
        let format = PayloadFormat.staticFormat(header.payloadType)
        if slot >= 0 && ssrcs[slot] == header.ssrc && header.sequence == lastSequence[slot] &+ 1 {
            index.touch(slot)
            run[slot] += 1
        } else {
            if slot < 0 {
                slot = index.claim(hash: hash).slot
                flows[slot] = flow
            } else {
                index.touch(slot)
            }
            candidates[slot] = RTPStreamStatistics()
            formats[slot] = StreamFormats()
            ssrcs[slot] = header.ssrc
            run[slot] = 1
        }
        lastSequence[slot] = header.sequence
        let seen = candidates[slot].sawPayloadType(header.payloadType)
        candidates.pointer(at: slot).pointee.add(header, wireBytes: wireBytes, time: time,
                                                 clockRate: format?.clockRate ?? 0)
        if !seen { formats.pointer(at: slot).pointee.note(header.payloadType, format) }
        guard Int(run[slot]) >= required else { return nil }
        let passed = (candidates[slot], formats[slot])
        index.release(slot)
        return passed
    }
}
