// libFuzzer target: TCP stream reassembly (TCPReassembler) and SIP stream framing (the Meter's
// stream reader) on one connection's bytes cut into segments.
//
// Input: byte 0 picks how the stream is cut and delivered, bytes 1-2 seed the cuts; the rest is
// the stream (a SIP-over-TCP byte stream, at most 4 KiB, 512 bytes byte by byte: longer is cut off).
//   mode 0  one byte per segment, in order;
//   mode 1  segments of 1-64 bytes in order, some sent twice and some overlapping the one before
//           (TCP retransmissions, which the reassembler trims);
//   mode 2  the same segments shuffled, some lost: gaps, resynchronisation, overflow.
// In modes 0 and 1 the SIP messages counted (requests by method, responses by code, malformed)
// must equal those counted when the whole stream arrives as one segment: cutting a stream
// differently must not change what is read from it. Keep-alives are left out (a CRLF run cut in
// two counts twice, by design). In every mode each chunk handed to the reader must be bytes
// of the stream, in one piece, and the reader may consume no more than it was given.
import Glibc
import Basics
import Capture
import LoadMeter
import SIP

struct StreamRandom {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}

let client = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 40_000)
let server = Endpoint(address: IPAddress(ipv4: 0x7F00_0002), port: 5060)
let flow = FlowKey(source: client, destination: server)
let initialSequence: UInt32 = 0xFFFF_FF00  // the sequence number wraps inside the stream

/// Small tables: one connection's messages need few, and each input makes two meters.
let streamMeter: MeterConfiguration = {
    var configuration = MeterConfiguration()
    configuration.dialogCapacity = 16
    configuration.mediaCapacity = 8
    configuration.streamCapacity = 8
    configuration.registrationCapacity = 8
    configuration.probationCapacity = 4
    return configuration
}()

/// What the meter counted: requests by method, responses by code, malformed.
func counts(_ meter: Meter) -> [Int] {
    var result: [Int] = []
    for raw in 0...SIPMethod.other.rawValue { result.append(meter.sip.requests(SIPMethod(rawValue: raw)!)) }
    for code in 100...699 { result.append(meter.sip.responses(code)) }
    result.append(meter.sip.malformed)
    return result
}

/// One reader of the connection: a reassembler and a meter that live across inputs (making
/// them costs more than reading an input). Each input is a new connection (a SYN), and what
/// it yields is the difference in the meter's counts.
final class Reader {
    let reassembler = TCPReassembler(flows: 1, flowBytes: 2048, idleTimeoutNanoseconds: 60_000_000_000)
    let meter = Meter(configuration: streamMeter)
    var time = PacketTime(seconds: 1_700_000_000, nanoseconds: 0)

    /// Delivers `segments` (offset, length) of `stream`; what was counted, and whether the
    /// reassembler had to drop bytes it could not hold.
    func deliver(_ stream: UnsafeRawBufferPointer, _ segments: [(offset: Int, length: Int)]) -> (counts: [Int], overflowed: Bool) {
        var decodeCounters = DecodeCounters()
        let before = counts(meter)
        time = PacketTime(nanoseconds: time.nanoseconds + 1_000_000)
        _ = reassembler.segment(flow, sequence: initialSequence, flags: TCPReassembler.Flags(syn: true, fin: false, rst: false),
                                payload: UnsafeRawBufferPointer(start: nil, count: 0), time: time, counters: &decodeCounters)
        for segment in segments {
            time = PacketTime(nanoseconds: time.nanoseconds + 1_000_000)
            let payload = UnsafeRawBufferPointer(rebasing: stream[segment.offset..<(segment.offset + segment.length)])
            let sequence = initialSequence &+ 1 &+ UInt32(segment.offset)
            guard let chunk = reassembler.segment(flow, sequence: sequence, flags: TCPReassembler.Flags(syn: false, fin: false, rst: false),
                                                  payload: payload, time: time, counters: &decodeCounters) else { continue }
            // The chunk is the flow's unread bytes: they end where this segment ends.
            let end = segment.offset + segment.length
            precondition(chunk.bytes.count <= end && memcmp(chunk.bytes.baseAddress!, stream.baseAddress! + end - chunk.bytes.count,
                                                             chunk.bytes.count) == 0, "a chunk that is not the stream's bytes before its end")
            let used = meter.receive(stream: chunk)
            precondition(used >= 0 && used <= chunk.bytes.count, "the reader consumed more than it was given")
            reassembler.consumed(used, scan: meter.streamScan, counters: &decodeCounters)
        }
        // The connection ends here: what the reader left unread goes with it.
        time = PacketTime(nanoseconds: time.nanoseconds + 1_000_000)
        _ = reassembler.segment(flow, sequence: initialSequence &+ 1 &+ UInt32(stream.count),
                                flags: TCPReassembler.Flags(syn: false, fin: false, rst: true),
                                payload: UnsafeRawBufferPointer(start: nil, count: 0), time: time, counters: &decodeCounters)
        let after = counts(meter)
        return (zip(after, before).map { $0 - $1 }, decodeCounters.tcpOverflows > 0)
    }
}

nonisolated(unsafe) let cutReader = Reader()
nonisolated(unsafe) let wholeReader = Reader()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStream(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 3 else { return 0 }
    let mode = Int(data[0] % 3)
    var random = StreamRandom(state: UInt64(data[1]) << 8 | UInt64(data[2]))
    // A copy of exactly the stream's size, so a read past its end is a heap overflow for ASan.
    // Byte by byte the reader rescans what it holds at every byte, so that mode reads less.
    let length = min(size - 3, mode == 0 ? 512 : 4096)
    let copy = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 1)
    defer { copy.deallocate() }
    copy.copyMemory(from: data + 3, byteCount: length)
    let stream = UnsafeRawBufferPointer(start: copy, count: length)

    var segments: [(offset: Int, length: Int)] = []
    var offset = 0
    while offset < length {
        let cut = mode == 0 ? 1 : min(1 + random.next(64), length - offset)
        if mode == 1 && offset > 0 && random.next(8) == 0 {
            // Starting up to 16 bytes back: old bytes again, then new ones.
            let back = min(offset, 1 + random.next(16))
            segments.append((offset - back, back + cut))
        } else {
            segments.append((offset, cut))
        }
        if mode == 1 && random.next(8) == 0 { segments.append((offset, cut)) }  // sent again
        offset += cut
    }
    if mode == 2 {
        for i in stride(from: segments.count - 1, to: 0, by: -1) { segments.swapAt(i, random.next(i + 1)) }
        segments.removeLast(random.next(max(segments.count / 4, 1)))
    }

    let cut = cutReader.deliver(stream, segments)
    if mode < 2 && !cut.overflowed {
        let whole = wholeReader.deliver(stream, [(0, length)])
        if !whole.overflowed { precondition(cut.counts == whole.counts, "cutting the stream changed what was read from it") }
    }
    return 0
}
