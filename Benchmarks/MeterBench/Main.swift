import Foundation
import Basics
import CBench
import Capture
import LoadMeter

/// `swift run -c release meter-bench [--packets N] [--small N] [--concurrent N] [--file PATH]`
///
/// Generates a capture of realistic SIP and RTP (once; kept in /tmp), then in one run
/// measures the packet rate of
///   - a plain C loop over pcap_next_ex on the file (the baseline),
///   - the meter core: decode and meter over the same packets already in memory,
///   - the meter end to end: pcap_next_ex, decode and meter, as `gatewayd meter` runs,
///   - `tshark -q -z rtp,streams` on the file,
/// with the ratios; and counts heap allocations of the end-to-end meter over the whole file
/// and over its first `--small` packets, so growth per packet shows.
@main
struct MeterBench {
    static func main() throws {
        var packets = 1_000_000
        var small = 100_000
        var concurrent = 200
        var path: String?
        var runTshark = true
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let word = arguments.next() {
            switch word {
            case "--packets": packets = Int(arguments.next() ?? "") ?? packets
            case "--small": small = Int(arguments.next() ?? "") ?? small
            case "--concurrent": concurrent = Int(arguments.next() ?? "") ?? concurrent
            case "--file": path = arguments.next()
            case "--no-tshark": runTshark = false
            default: throw BenchError("unknown option \(word)")
            }
        }
        let file = path ?? "/tmp/gatewayd-bench-\(packets)-\(concurrent).pcap"
        if !FileManager.default.fileExists(atPath: file) {
            print("generating \(file): \(packets) packets, about \(concurrent) concurrent calls ...")
            var generator = try TrafficGenerator(path: file + ".part", seed: 2026)
            generator.run(target: packets, concurrent: concurrent)
            try FileManager.default.moveItem(atPath: file + ".part", toPath: file)
        }

        // Warm the page cache, then take the best of three runs of each in-process loop.
        var checksum: UInt64 = 0
        let total = Int(cbench_pcap_loop(file, &checksum))
        guard total > 0 else { throw BenchError("cannot read \(file)") }
        let loaded = try LoadedCapture(path: file)
        var rawBest = Int64.max
        var meterBest = Int64.max
        var mappedBest = Int64.max
        var coreBest = Int64.max
        var full = MeterRun()
        var mapped = MeterRun()
        for _ in 0..<3 {
            let start = cbench_now_ns()
            _ = cbench_pcap_loop(file, &checksum)
            rawBest = min(rawBest, cbench_now_ns() - start)
            full = try MeterRun.measure(file, limit: Int.max)
            meterBest = min(meterBest, full.nanoseconds)
            mapped = try MeterRun.measure(file, limit: Int.max, mapped: true)
            mappedBest = min(mappedBest, mapped.nanoseconds)
            coreBest = min(coreBest, loaded.meter())
        }
        let part = try MeterRun.measure(file, limit: small)
        guard mapped.packets == full.packets, mapped.streams == full.streams, mapped.calls == full.calls,
              mapped.sipMessages == full.sipMessages else {
            throw BenchError("the mapped reader's meter disagrees with libpcap's: \(mapped) against \(full)")
        }

        var tsharkNanoseconds: Int64 = 0
        if runTshark {
            let start = cbench_now_ns()
            let status = cbench_system("tshark -n -r '\(file)' -q -z rtp,streams > /dev/null 2>&1")
            tsharkNanoseconds = cbench_now_ns() - start
            if status != 0 { print("tshark failed (status \(status)); is it installed?") }
        }

        func rate(_ count: Int, _ nanoseconds: Int64) -> Double { Double(count) / (Double(nanoseconds) / 1e9) }
        let rawRate = rate(total, rawBest)
        let meterRate = rate(full.packets, meterBest)
        let mappedRate = rate(mapped.packets, mappedBest)
        let coreRate = rate(loaded.count, coreBest)
        print("")
        print("capture            \(file)")
        print("packets            \(total) (\(full.streams) RTP streams, \(full.calls) calls, \(full.sipMessages) SIP messages)")
        print(String(format: "libpcap loop       %12.0f packets/s   (plain C, pcap_next_ex, best of 3)", rawRate))
        print(String(format: "meter core         %12.0f packets/s   (decode + meter, packets in memory, best of 3)", coreRate))
        print(String(format: "meter end to end   %12.0f packets/s   (pcap_next_ex + decode + meter, best of 3)", meterRate))
        print(String(format: "core / libpcap     %12.2f x          (target >= 0.5)", coreRate / rawRate))
        print(String(format: "end to end / libpcap %10.2f x", meterRate / rawRate))
        print(String(format: "meter, mapped file %12.0f packets/s   (gatewayd meter: own reader of the mapped file + decode + meter, best of 3)",
                     mappedRate))
        print(String(format: "mapped / libpcap   %12.2f x          (target >= 1.0: the whole meter at least as fast as bare pcap_next_ex)",
                     mappedRate / rawRate))
        if runTshark {
            let tsharkRate = rate(total, tsharkNanoseconds)
            print(String(format: "tshark rtp,streams %12.0f packets/s   (one run)", tsharkRate))
            print(String(format: "core / tshark      %12.1f x          (target >= 20)", coreRate / tsharkRate))
            print(String(format: "end to end / tshark %11.1f x", meterRate / tsharkRate))
        }
        print("")
        print("heap allocations   setup   in the packet loop")
        print(String(format: "  %8d packets %6d   %d", full.packets, full.setupAllocations, full.loopAllocations))
        print(String(format: "  %8d packets %6d   %d", part.packets, part.setupAllocations, part.loopAllocations))
        let packetDifference = full.packets - part.packets
        let allocationDifference = Int(full.loopAllocations) - Int(part.loopAllocations)
        print(String(format: "  difference: %d allocations for %d more packets (%.4f%%, limit 1%%)",
                     allocationDifference, packetDifference,
                     packetDifference > 0 ? 100 * Double(allocationDifference) / Double(packetDifference) : 0))
    }
}

/// Every packet of a capture file read into memory once, to time the meter without I/O.
final class LoadedCapture {
    var bytes: [UInt8] = []
    var offsets: [Int] = []
    var lengths: [Int] = []
    var times: [PacketTime] = []
    let linkType: LinkType
    var count: Int { offsets.count }

    init(path: String) throws {
        let source = try CaptureSource.open(file: path)
        linkType = source.linkType
        loop: while true {
            switch try source.next() {
            case .packet(let frame, let time, _):
                offsets.append(bytes.count)
                lengths.append(frame.count)
                times.append(time)
                bytes.append(contentsOf: frame)
            case .idle, .endOfFile:
                break loop
            }
        }
    }

    /// Decodes and meters every packet with a fresh meter; returns the nanoseconds taken.
    func meter() -> Int64 {
        let decoder = PacketDecoder(linkType: linkType)
        let meter = Meter()
        var closed = 0
        return bytes.withUnsafeBytes { all in
            let start = cbench_now_ns()
            for index in 0..<offsets.count {
                let frame = UnsafeRawBufferPointer(rebasing: all[offsets[index]..<(offsets[index] + lengths[index])])
                meter.receive(decoder.decode(frame: frame, time: times[index]), from: decoder)
                while meter.hasClosedStream, meter.takeClosedStream() != nil { closed += 1 }
            }
            let elapsed = cbench_now_ns() - start
            precondition(meter.media.rtpPackets > 0 && closed >= 0)
            return elapsed
        }
    }
}

/// One pass of the meter over a capture file, as `gatewayd meter` does it, without output.
struct MeterRun {
    var packets = 0
    var nanoseconds: Int64 = 0
    var setupAllocations: UInt64 = 0
    var loopAllocations: UInt64 = 0
    var streams = 0
    var calls = 0
    var sipMessages = 0

    /// Through libpcap (`pcap_next_ex`), or with `mapped` through gatewayd's own reader of
    /// the mapped file, as `gatewayd meter` reads files without a filter.
    /// The time includes opening the file, as the libpcap loop's does.
    static func measure(_ path: String, limit: Int, mapped: Bool = false) throws -> MeterRun {
        let before = cbench_allocations()
        let opening = cbench_now_ns()
        if mapped {
            guard let file = MappedCaptureFile.open(file: path) else { throw BenchError("the mapped reader does not take \(path)") }
            return try measure(file, limit: limit, before: before, opened: cbench_now_ns() - opening)
        }
        let source = try CaptureSource.open(file: path)
        return try measure(source, limit: limit, before: before, opened: cbench_now_ns() - opening)
    }

    static func measure<Reader: PacketReader>(_ source: Reader, limit: Int, before: UInt64, opened: Int64) throws -> MeterRun {
        var run = MeterRun()
        let decoder = PacketDecoder(linkType: source.linkType)
        let meter = Meter()
        var closed = 0
        let loopStart = cbench_allocations()
        let start = cbench_now_ns()
        loop: while run.packets < limit {
            switch try source.next() {
            case .packet(let frame, let time, _):
                meter.receive(decoder.decode(frame: frame, time: time), from: decoder)
                while meter.hasClosedStream, meter.takeClosedStream() != nil { closed += 1 }
                run.packets += 1
            case .idle, .endOfFile:
                break loop
            }
        }
        run.nanoseconds = cbench_now_ns() - start + opened
        run.loopAllocations = cbench_allocations() - loopStart
        run.setupAllocations = loopStart - before
        run.streams = meter.openStreams + closed
        run.calls = meter.calls.attempts
        run.sipMessages = meter.sip.totalRequests + meter.sip.totalResponses
        return run
    }
}
