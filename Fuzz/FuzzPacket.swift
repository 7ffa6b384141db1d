// libFuzzer target: the whole capture pipeline (PacketDecoder -> Meter) on captured frames.
//
// Input: byte 0 picks the link type (value % 6, in the order of `linkTypes`); the rest is one
// or more frames separated by the 4 bytes FE ED FA CE, each decoded in turn. Every frame is
// copied into its own exactly sized heap block, so ASan sees a read one byte past its end.
//
// State is kept across inputs, like a live capture: one Meter (small tables, so evictions
// happen) and one PacketDecoder per link type (a decoder's link type is fixed at init), all
// feeding that Meter. Packet time advances a few milliseconds per frame. A crash may
// therefore depend on earlier inputs; set GATEWAYD_FUZZ_FRESH=1 to start from new state on
// every input (use it to check whether a saved crash input reproduces on its own).
import Glibc
import Basics
import Capture
import LoadMeter

let linkTypes: [LinkType] = [.ethernet, .linuxCooked, .linuxCooked2, .rawIP, .bsdLoopback, .bsdLoopbackNetworkOrder]
let separator: [UInt8] = [0xFE, 0xED, 0xFA, 0xCE]

final class PipelineState {
    var decoders: [PacketDecoder?] = Array(repeating: nil, count: linkTypes.count)
    let meter: Meter
    var time = PacketTime(seconds: 1_700_000_000, nanoseconds: 0)

    static let limits: DecoderLimits = {
        var limits = DecoderLimits()
        limits.fragmentSlots = 2
        limits.tcpFlows = 2
        limits.tcpFlowBytes = 2048
        return limits
    }()

    static let configuration: MeterConfiguration = {
        var configuration = MeterConfiguration()
        configuration.detectUnannouncedRTP = true
        configuration.dialogCapacity = 8
        configuration.mediaCapacity = 8
        configuration.streamCapacity = 8
        configuration.registrationCapacity = 4
        configuration.probationCapacity = 4
        return configuration
    }()

    init() { meter = Meter(configuration: PipelineState.configuration) }

    func decoder(_ index: Int) -> PacketDecoder {
        if let existing = decoders[index] { return existing }
        let created = PacketDecoder(linkType: linkTypes[index], limits: PipelineState.limits)
        decoders[index] = created
        return created
    }
}

let freshStatePerInput: Bool = {
    guard let value = getenv("GATEWAYD_FUZZ_FRESH") else { return false }
    return value.pointee == 0x31  // "1"
}()
nonisolated(unsafe) var shared = PipelineState()

@inline(never)
func run(frame input: UnsafeRawBufferPointer, decoder: PacketDecoder, state: PipelineState) {
    // An exactly sized copy, so that reading past the frame is a heap overflow for ASan.
    let copy = UnsafeMutableRawPointer.allocate(byteCount: max(input.count, 1), alignment: 1)
    defer { copy.deallocate() }
    if input.count > 0 { copy.copyMemory(from: input.baseAddress!, byteCount: input.count) }
    let frame = UnsafeRawBufferPointer(start: copy, count: input.count)

    // A few milliseconds per frame, varying with the frame so the spacing is not uniform.
    state.time = PacketTime(nanoseconds: state.time.nanoseconds + Int64(1 + input.count % 5) * 1_000_000)
    let meter = state.meter
    switch decoder.decode(frame: frame, time: state.time) {
    case .datagram(let datagram):
        meter.receive(datagram: datagram)
    case .stream(let chunk):
        let used = meter.receive(stream: chunk)
        precondition(used >= 0 && used <= chunk.bytes.count, "Meter consumed more stream bytes than it was given")
        decoder.consumed(used, scan: meter.streamScan)
    case .nothing:
        break
    }
    while meter.takeClosedStream() != nil {}
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    if freshStatePerInput { shared = PipelineState() }
    let state = shared
    let decoder = state.decoder(Int(data[0]) % linkTypes.count)
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)

    var start = 0
    var i = 0
    while i + separator.count <= bytes.count {
        if bytes[i] == separator[0] && bytes[i + 1] == separator[1] && bytes[i + 2] == separator[2]
            && bytes[i + 3] == separator[3] {
            run(frame: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), decoder: decoder, state: state)
            i += separator.count
            start = i
        } else {
            i += 1
        }
    }
    run(frame: UnsafeRawBufferPointer(rebasing: bytes[start...]), decoder: decoder, state: state)

    // The read-only side, as the report and the status file use it.
    let meter = state.meter
    let workload = meter.workload(at: state.time)
    _ = workload.value
    _ = workload.limitingResource
    _ = meter.rates(at: state.time)
    meter.forEachOpenStream { _ = $0 }
    return 0
}
