import Basics
import CSystem
import Capture
import LoadMeter
import SIP

/// What `gatewayd meter` prints: a report for people, or the same figures as JSON.
struct MeterReport {
    let path: UnsafePointer<CChar>
    let decoder: DecodeCounters
    let meter: Meter
    let streams: [RTPStreamSummary]

    private var start: PacketTime { meter.firstTime ?? .zero }

    // MARK: Text

    func text() -> TextBuffer {
        var out = TextBuffer(capacity: 4096)
        out.append("capture   ")
        out.append(cString: path)
        out.append("\npackets   ")
        out.append(decoder.packets); out.append(" seen, ")
        out.append(decoder.decoded); out.append(" decoded, ")
        out.append(decoder.malformed); out.append(" malformed, ")
        out.append(decoder.notUnderstood); out.append(" not understood")
        if decoder.fragments > 0 {
            out.append("\n          ")
            out.append(decoder.fragments); out.append(" fragments, ")
            out.append(decoder.fragmentsReassembled); out.append(" datagrams reassembled, ")
            out.append(decoder.fragmentsTimedOut + decoder.fragmentsEvicted + decoder.fragmentsDropped)
            out.append(" dropped")
        }
        if decoder.tcpSegments > 0 {
            out.append("\n          ")
            out.append(decoder.tcpSegments); out.append(" TCP segments, ")
            out.append(decoder.tcpRetransmissions); out.append(" retransmitted, ")
            out.append(decoder.tcpGaps); out.append(" gaps, ")
            out.append(decoder.tcpOverflows); out.append(" overflows")
        }
        out.append("\nduration  ")
        out.append(fixed: Double(meter.lastTime.nanoseconds - start.nanoseconds) / 1e9, decimals: 3)
        out.append(" s\n\nSIP requests\n")
        for method in SIPMethod.allCases where meter.sip.requests(method) > 0 {
            let line = out.count
            out.append("  ")
            out.append(method.name)
            out.pad(from: line, to: 14)
            out.append(meter.sip.requests(method))
            out.append("\n")
        }
        out.append("SIP responses\n")
        for code in 100...699 where meter.sip.responses(code) > 0 {
            let line = out.count
            out.append("  ")
            out.append(code)
            out.pad(from: line, to: 14)
            out.append(meter.sip.responses(code))
            out.append("\n")
        }
        out.append("SIP other\n  malformed   ")
        out.append(meter.sip.malformed)
        out.append("\n  keep-alive  ")
        out.append(meter.sip.keepalives)
        let calls = meter.calls
        out.append("\n\ncalls\n  attempted   "); out.append(calls.attempts)
        out.append("\n  answered    "); out.append(calls.answered)
        out.append("\n  failed      "); out.append(calls.failed)
        out.append("\n  cancelled   "); out.append(calls.cancelled)
        out.append("\n  completed   "); out.append(calls.completed)
        out.append("\n  timed out   "); out.append(calls.timedOut)
        for reason in CallTimeout.allCases where calls[reason] > 0 {
            out.append("\n    ")
            out.append(reason.name)
            out.append(" ")
            out.append(calls[reason])
        }
        out.append("\n  open at end "); out.append(calls.active)
        out.append("\n  attempting  "); out.append(calls.attempting)
        out.append("\n  peak        "); out.append(calls.peakActive)
        if calls.peakActive > 0 {
            out.append(" concurrent at ")
            appendOffset(calls.peakTime, &out)
            out.append(" s")
        }
        let registrations = meter.registrations.counters
        out.append("\n\nregistrations\n  attempts    "); out.append(registrations.attempts)
        out.append("\n  successes   "); out.append(registrations.successes)
        out.append("\n  challenges  "); out.append(registrations.challenges)
        out.append("\n  failures    "); out.append(registrations.failures)
        out.append("\n\nRTP\n  packets     "); out.append(meter.media.rtpPackets)
        out.append("\n  bytes       "); out.append(meter.media.rtpBytes)
        out.append("\n  RTCP        "); out.append(meter.media.rtcpPackets)
        out.append("\n  other UDP   "); out.append(meter.media.otherUDPPackets + meter.media.otherMediaPackets)
        out.append("\n  streams     "); out.append(streams.count)
        let rates = meter.peakRates
        out.append("\n\npeak rates (mean over 10 s)\n  SIP messages  ")
        out.append(fixed: rates.sipMessages, decimals: 1)
        out.append(" /s\n  call attempts ")
        out.append(fixed: rates.callAttempts, decimals: 1)
        out.append(" /s\n  RTP packets   ")
        out.append(fixed: rates.rtpPackets, decimals: 1)
        out.append(" /s\n  RTP           ")
        out.append(fixed: rates.rtpBits / 1000, decimals: 1)
        out.append(" kbit/s\n\n")
        streamTable(&out)
        let peak = meter.peakWorkload
        out.append("\nworkload\n  peak        ")
        out.append(fixed: peak.value, decimals: 3)
        if peak.value > 0 {
            out.append(" at ")
            appendOffset(meter.peakWorkloadTime, &out)
            out.append(" s, set by ")
            out.append(peak.limitingResource.name)
        }
        out.append("\n")
        for resource in Resource.allCases {
            let line = out.count
            out.append("  ")
            out.append(resource.name)
            out.pad(from: line, to: 20)
            out.append(fixed: peak.inUse(resource), decimals: 1)
            out.append(" / ")
            out.append(peak.capacity(resource))
            out.append("\n")
        }
        return out
    }

    private func streamTable(_ out: inout TextBuffer) {
        guard !streams.isEmpty else { return }
        let columns = [0, 24, 48, 60, 76, 85, 92, 104, 117, 122]
        var line = out.count
        out.append("  source"); out.pad(from: line, to: columns[1])
        out.append("destination"); out.pad(from: line, to: columns[2])
        out.append("SSRC"); out.pad(from: line, to: columns[3])
        out.append("codec"); out.pad(from: line, to: columns[4])
        out.append("packets"); out.pad(from: line, to: columns[5])
        out.append("lost"); out.pad(from: line, to: columns[6])
        out.append("max jit ms"); out.pad(from: line, to: columns[7])
        out.append("mean jit ms"); out.pad(from: line, to: columns[8])
        out.append("late"); out.pad(from: line, to: columns[9])
        out.append("MOS\n")
        for stream in streams {
            line = out.count
            let stats = stream.statistics
            out.append("  ")
            out.append(stream.key.source)
            nextColumn(&out, line, columns[1])
            out.append(stream.key.destination)
            nextColumn(&out, line, columns[2])
            out.append("0x")
            out.append(hex: UInt64(stream.key.ssrc), width: 8)
            nextColumn(&out, line, columns[3])
            appendCodecs(stream, &out)
            nextColumn(&out, line, columns[4])
            out.append(stats.packets)
            nextColumn(&out, line, columns[5])
            out.append(stats.lost)
            nextColumn(&out, line, columns[6])
            out.append(fixed: stats.maxJitter, decimals: 3)
            nextColumn(&out, line, columns[7])
            out.append(fixed: stats.meanJitter, decimals: 3)
            nextColumn(&out, line, columns[8])
            out.append(stats.late)
            nextColumn(&out, line, columns[9])
            if let score = stream.meanOpinionScore { out.append(fixed: score, decimals: 2) } else { out.append("-") }
            if !stream.announced { out.append("  (no SDP)") }
            out.append("\n")
        }
    }

    // MARK: JSON

    func json() -> TextBuffer {
        var out = TextBuffer(capacity: 4096)
        out.append("{\n  \"capture\": \"")
        out.appendJSONEscaped(UnsafeRawBufferPointer(start: path, count: strlen(path)))
        out.append("\",\n  \"packets\": {\"seen\": "); out.append(decoder.packets)
        out.append(", \"decoded\": "); out.append(decoder.decoded)
        out.append(", \"malformed\": "); out.append(decoder.malformed)
        out.append(", \"not_understood\": "); out.append(decoder.notUnderstood)
        out.append(", \"fragments\": "); out.append(decoder.fragments)
        out.append(", \"fragments_reassembled\": "); out.append(decoder.fragmentsReassembled)
        out.append(", \"fragments_dropped\": ")
        out.append(decoder.fragmentsTimedOut + decoder.fragmentsEvicted + decoder.fragmentsDropped)
        out.append(", \"tcp_segments\": "); out.append(decoder.tcpSegments)
        out.append(", \"tcp_gaps\": "); out.append(decoder.tcpGaps)
        out.append("},\n  \"duration_s\": ")
        out.append(fixed: Double(meter.lastTime.nanoseconds - start.nanoseconds) / 1e9, decimals: 6)
        out.append(",\n  \"sip\": {\"requests\": {")
        var first = true
        for method in SIPMethod.allCases where meter.sip.requests(method) > 0 {
            if !first { out.append(", ") }
            first = false
            out.append("\""); out.append(method.name); out.append("\": ")
            out.append(meter.sip.requests(method))
        }
        out.append("}, \"responses\": {")
        first = true
        for code in 100...699 where meter.sip.responses(code) > 0 {
            if !first { out.append(", ") }
            first = false
            out.append("\""); out.append(code); out.append("\": ")
            out.append(meter.sip.responses(code))
        }
        out.append("}, \"malformed\": "); out.append(meter.sip.malformed)
        out.append(", \"keepalives\": "); out.append(meter.sip.keepalives)
        let calls = meter.calls
        out.append("},\n  \"calls\": {\"attempted\": "); out.append(calls.attempts)
        out.append(", \"answered\": "); out.append(calls.answered)
        out.append(", \"failed\": "); out.append(calls.failed)
        out.append(", \"cancelled\": "); out.append(calls.cancelled)
        out.append(", \"completed\": "); out.append(calls.completed)
        out.append(", \"timed_out\": "); out.append(calls.timedOut)
        out.appendCallTimeouts(of: calls)
        out.append(", \"open_at_end\": "); out.append(calls.active)
        out.append(", \"attempting_at_end\": "); out.append(calls.attempting)
        out.append(", \"peak_concurrent\": "); out.append(calls.peakActive)
        out.append(", \"peak_at_s\": ")
        if calls.peakActive > 0 { appendOffset(calls.peakTime, &out) } else { out.append("null") }
        let registrations = meter.registrations.counters
        out.append("},\n  \"registrations\": {\"attempts\": "); out.append(registrations.attempts)
        out.append(", \"successes\": "); out.append(registrations.successes)
        out.append(", \"challenges\": "); out.append(registrations.challenges)
        out.append(", \"failures\": "); out.append(registrations.failures)
        out.append("},\n  \"rtp\": {\"packets\": "); out.append(meter.media.rtpPackets)
        out.append(", \"bytes\": "); out.append(meter.media.rtpBytes)
        out.append(", \"rtcp_packets\": "); out.append(meter.media.rtcpPackets)
        out.append(", \"other_udp_packets\": "); out.append(meter.media.otherUDPPackets + meter.media.otherMediaPackets)
        out.append(", \"streams_evicted\": "); out.append(meter.media.streamsEvicted)
        let rates = meter.peakRates
        out.append("},\n  \"peak_rates\": {\"sip_messages_per_s\": "); out.append(fixed: rates.sipMessages, decimals: 3)
        out.append(", \"call_attempts_per_s\": "); out.append(fixed: rates.callAttempts, decimals: 3)
        out.append(", \"rtp_packets_per_s\": "); out.append(fixed: rates.rtpPackets, decimals: 3)
        out.append(", \"rtp_bits_per_s\": "); out.append(fixed: rates.rtpBits, decimals: 1)
        out.append("},\n  \"streams\": [")
        for (index, stream) in streams.enumerated() {
            let stats = stream.statistics
            out.append(index == 0 ? "\n    {" : ",\n    {")
            out.append("\"source\": \""); out.append(stream.key.source.address)
            out.append("\", \"source_port\": "); out.append(Int(stream.key.source.port))
            out.append(", \"destination\": \""); out.append(stream.key.destination.address)
            out.append("\", \"destination_port\": "); out.append(Int(stream.key.destination.port))
            out.append(", \"ssrc\": "); out.append(UInt64(stream.key.ssrc))
            out.append(", \"codecs\": \""); appendCodecs(stream, &out)
            out.append("\", \"announced\": "); out.append(stream.announced ? "true" : "false")
            out.append(", \"packets\": "); out.append(stats.packets)
            out.append(", \"bytes\": "); out.append(stats.bytes)
            out.append(", \"expected\": "); out.append(stats.expected)
            out.append(", \"lost\": "); out.append(stats.lost)
            out.append(", \"sequence_errors\": "); out.append(stats.sequenceErrors)
            out.append(", \"duplicates\": "); out.append(stats.duplicates)
            out.append(", \"max_jitter_ms\": "); out.append(fixed: stats.maxJitter, decimals: 6)
            out.append(", \"mean_jitter_ms\": "); out.append(fixed: stats.meanJitter, decimals: 6)
            out.append(", \"late\": "); out.append(stats.late)
            out.append(", \"mos\": ")
            if let score = stream.meanOpinionScore { out.append(fixed: score, decimals: 3) } else { out.append("null") }
            out.append(", \"first_s\": "); appendOffset(stats.firstTime, &out)
            out.append(", \"last_s\": "); appendOffset(stats.lastTime, &out)
            out.append("}")
        }
        out.append(streams.isEmpty ? "],\n" : "\n  ],\n")
        let peak = meter.peakWorkload
        out.append("  \"workload\": {\"peak\": "); out.append(fixed: peak.value, decimals: 6)
        out.append(", \"peak_at_s\": "); appendOffset(meter.peakWorkloadTime, &out)
        out.append(", \"limiting\": \""); out.append(peak.limitingResource.name)
        out.append("\", ")
        out.appendResources(of: peak, decimals: 3)
        out.append("}\n}\n")
        return out
    }

    // MARK: Pieces

    /// At least one space, then up to `column`: a long value pushes the rest right.
    private func nextColumn(_ out: inout TextBuffer, _ line: Int, _ column: Int) {
        out.append(" ")
        out.pad(from: line, to: column)
    }

    private func appendOffset(_ time: PacketTime, _ out: inout TextBuffer) {
        out.append(fixed: Double(time.nanoseconds - start.nanoseconds) / 1e9, decimals: 6)
    }

    /// The payload formats a stream carried, in payload-type order, as Wireshark names them.
    private func appendCodecs(_ stream: RTPStreamSummary, _ out: inout TextBuffer) {
        var first = true
        for payloadType in 0..<128 where stream.statistics.sawPayloadType(UInt8(payloadType)) {
            if !first { out.append(",") }
            first = false
            var named = false
            for i in 0..<StreamFormats.capacity {
                if let format = stream.formats.format(i), Int(format.payloadType) == payloadType,
                   !format.format.name.isEmpty {
                    format.format.name.withBytes { out.append(bytes: $0) }
                    named = true
                    break
                }
            }
            if !named {
                out.append("RTPType-")
                out.append(payloadType)
            }
        }
    }

    /// A total order on stream keys, for a stable report.
    static func orders(_ lhs: StreamKey, before rhs: StreamKey) -> Bool {
        if lhs.source.address.high != rhs.source.address.high { return lhs.source.address.high < rhs.source.address.high }
        if lhs.source.address.low != rhs.source.address.low { return lhs.source.address.low < rhs.source.address.low }
        if lhs.source.port != rhs.source.port { return lhs.source.port < rhs.source.port }
        if lhs.destination.address.low != rhs.destination.address.low {
            return lhs.destination.address.low < rhs.destination.address.low
        }
        if lhs.destination.port != rhs.destination.port { return lhs.destination.port < rhs.destination.port }
        return lhs.ssrc < rhs.ssrc
    }
}
