import Basics
import Capture
import LoadMeter

/// `gatewayd meter [options] FILE`: reads a capture file through the same decoder and
/// meter the node uses live, and prints what it measured.
enum MeterCommand {
    static func run(_ arguments: inout Arguments) -> Int32 {
        var configuration = MeterConfiguration()
        var json = false
        var filter: UnsafeMutablePointer<CChar>?
        var path: UnsafeMutablePointer<CChar>?
        // Nanoseconds after the first packet at which the report is closed, if given.
        var closeAt: Int64?
        while let word = arguments.next() {
            if Arguments.equals(word, "--json") {
                json = true
            } else if Arguments.equals(word, "--detect-rtp") {
                configuration.detectUnannouncedRTP = true
            } else if Arguments.equals(word, "--filter") {
                guard let value = arguments.next() else { return usage("--filter needs an expression") }
                filter = value
            } else if Arguments.equals(word, "--calls") || Arguments.equals(word, "--streams")
                || Arguments.equals(word, "--rtp-rate") || Arguments.equals(word, "--sip-rate")
                || Arguments.equals(word, "--stream-idle") || Arguments.equals(word, "--poor-quality") {
                guard let value = arguments.next(), let number = Arguments.number(value, in: 0...10_000_000) else {
                    var message = TextBuffer()
                    message.append(cString: word)
                    message.append(" needs a whole number from 0 to 10000000")
                    return usage(message)
                }
                if Arguments.equals(word, "--calls") { configuration.capacities.calls = number }
                if Arguments.equals(word, "--streams") { configuration.capacities.activeStreams = number }
                if Arguments.equals(word, "--rtp-rate") { configuration.capacities.rtpPacketsPerSecond = number }
                if Arguments.equals(word, "--sip-rate") { configuration.capacities.sipMessagesPerSecond = number }
                if Arguments.equals(word, "--stream-idle") { configuration.streamIdleSeconds = max(number, 1) }
                if Arguments.equals(word, "--poor-quality") { configuration.capacities.poorQualityPercent = min(number, 100) }
            } else if let key = ConfigKey.meterOption(word) {
                guard case .integer(let range) = key.spec.type, let value = arguments.next(),
                      let seconds = Arguments.number(value, in: range) else {
                    var message = TextBuffer()
                    message.append(cString: word)
                    message.append(" needs ")
                    key.spec.type.describe(into: &message)
                    return usage(message)
                }
                _ = key.apply(seconds, to: &configuration.callTimeouts)
            } else if Arguments.equals(word, "--close-at") {
                guard let value = arguments.next(), let seconds = Arguments.number(value, in: 0...100_000_000) else {
                    return usage("--close-at needs whole seconds after the first packet")
                }
                closeAt = Int64(seconds) * 1_000_000_000
            } else if word[0] == 0x2D && word[1] != 0 {
                var message = TextBuffer()
                message.append("meter: unknown option ")
                message.append(cString: word)
                return usage(message)
            } else if path == nil {
                path = word
            } else {
                return usage("meter: one capture file at a time")
            }
        }
        guard let path else { return usage("meter: which capture file? (gatewayd meter FILE)") }

        // Read in place when the reader knows the file and no filter is asked for (BPF
        // filters are libpcap's); otherwise through libpcap, which also names what is wrong.
        if filter == nil, let mapped = MappedCaptureFile.open(file: path) {
            return measureAndReport(mapped, path: path, configuration: configuration, closeAt: closeAt, json: json)
        }
        let source: CaptureSource
        do {
            source = try CaptureSource.open(file: path)
            if let filter { try source.setFilter(filter) }
        } catch {
            return failure(error, path: path)
        }
        return measureAndReport(source, path: path, configuration: configuration, closeAt: closeAt, json: json)
    }

    static func measureAndReport<Reader: PacketReader>(_ source: Reader, path: UnsafePointer<CChar>,
                                                       configuration: MeterConfiguration, closeAt: Int64?,
                                                       json: Bool) -> Int32 {
        let decoder = PacketDecoder(linkType: source.linkType)
        let meter = Meter(configuration: configuration)
        var streams: [RTPStreamSummary] = []
        do {
            try measure(source, decoder: decoder, meter: meter, closeAt: closeAt, closed: &streams)
        } catch {
            return failure(error, path: path)
        }
        meter.finish(at: closeAt.map { PacketTime(nanoseconds: (meter.firstTime?.nanoseconds ?? 0) + $0) })
        meter.forEachOpenStream { streams.append($0) }
        // Oldest first, as the streams began; ties by address for a stable order.
        streams.sort { lhs, rhs in
            if lhs.statistics.firstTime != rhs.statistics.firstTime {
                return lhs.statistics.firstTime < rhs.statistics.firstTime
            }
            return MeterReport.orders(lhs.key, before: rhs.key)
        }
        let report = MeterReport(path: path, decoder: decoder.counters, meter: meter, streams: streams)
        Output.standardOutput(json ? report.json() : report.text())
        return 0
    }

    /// The read loop: every packet through the decoder into the meter. No allocation here.
    /// With `closeAt`, packets later than that after the first are not read.
    static func measure<Reader: PacketReader>(_ source: Reader, decoder: PacketDecoder, meter: Meter, closeAt: Int64?,
                        closed: inout [RTPStreamSummary]) throws(CaptureError) {
        while true {
            switch try source.next() {
            case .packet(let frame, let time, _):
                if let closeAt, let first = meter.firstTime, time.nanoseconds - first.nanoseconds > closeAt { return }
                meter.receive(decoder.decode(frame: frame, time: time), from: decoder)
                while meter.hasClosedStream, let stream = meter.takeClosedStream() { closed.append(stream) }
            case .idle, .endOfFile:
                return
            }
        }
    }

    static func usage(_ message: StaticString) -> Int32 {
        var text = TextBuffer()
        text.append(message)
        return usage(text)
    }

    static func usage(_ message: TextBuffer) -> Int32 {
        Output.error(message)
        Output.write(Usage.text, to: 2)
        return 2
    }

    static func failure(_ error: CaptureError, path: UnsafePointer<CChar>) -> Int32 {
        var message = TextBuffer()
        message.append(cString: path)
        message.append(": ")
        error.describe(into: &message)
        Output.error(message)
        return 1
    }
}
