import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter

/// The node's live capture and what keeps it alive: when the interface goes down or away,
/// libpcap reports a read error; the capture is closed, the loss logged, and it is reopened
/// with backoff (1 s doubling to 30 s). The spell without capture is recorded in the meter.
/// Reopening needs CAP_NET_RAW, which is all gatewayd keeps after dropping root.
final class LiveCapture {
    let interface: [CChar]
    let filter: [CChar]
    private(set) var source: CaptureSource?
    private(set) var decoder: PacketDecoder?
    private var backoff = RetryBackoff()
    /// When the capture was lost (monotonic), and when to try again.
    private(set) var lostAt: Int64 = 0
    private(set) var nextAttempt = Int64.max
    /// When to read again though the descriptor shows nothing (libpcap asked for it), or never.
    private(set) var nextPoll = Int64.max
    /// An interface that is down but still there keeps libpcap asking every millisecond;
    /// every 50 ms finds a vanished one soon enough and keeps a downed link from costing a core.
    static let shortestPoll: Int64 = 50_000_000
    /// Why it was lost or why the last reopen failed.
    private(set) var lastError = TextBuffer()
    /// libpcap's counters of the captures closed so far, so the status shows a running total.
    private var closedStatistics = CaptureStatistics()

    init(interface: [UInt8], filter: [UInt8]) {
        self.interface = interface.map { CChar(bitPattern: $0) } + [0]
        self.filter = filter.map { CChar(bitPattern: $0) } + [0]
    }

    var isLost: Bool { source == nil }

    /// Opens the capture; throws what libpcap said.
    func open() throws(CaptureError) {
        let opened = try interface.withUnsafeBufferPointer { name throws(CaptureError) -> CaptureSource in
            try CaptureSource.open(interface: name.baseAddress!, options: LiveCaptureOptions())
        }
        if filter.count > 1 {
            try filter.withUnsafeBufferPointer { expression throws(CaptureError) in
                try opened.setFilter(expression.baseAddress!)
            }
        }
        source = opened
        decoder = PacketDecoder(linkType: opened.linkType)
    }

    /// Reads what is waiting (at most 1000 packets a turn, so SIP is not starved). Returns
    /// false when the capture failed and is now lost.
    func read(into meter: Meter, node: Node<KernelEntropy>, hep: HEPExporter?, now: Int64, random: UInt64) -> Bool {
        guard let source, let decoder else { return true }
        defer {
            if let required = self.source?.requiredPollNanoseconds {
                nextPoll = now + max(required, LiveCapture.shortestPoll)
            } else {
                nextPoll = Int64.max
            }
        }
        for _ in 0..<1000 {
            let next: CaptureSource.Next
            do {
                next = try source.next()
            } catch {
                lose(error, now: now, random: random)
                return false
            }
            guard case .packet(let frame, let time, _) = next else { return true }
            let decoded = decoder.decode(frame: frame, time: time)
            if let hep, case .datagram(let datagram) = decoded { hep.captured(datagram) }
            meter.receive(decoded, from: decoder)
            while meter.hasClosedStream, meter.takeClosedStream() != nil {}
            meter.forEachNewCall { node.callSeen($0) }
        }
        return true
    }

    private func lose(_ error: CaptureError, now: Int64, random: UInt64) {
        if let statistics = source?.statistics() { add(statistics) }
        source = nil
        nextPoll = Int64.max
        decoder = nil
        lostAt = now
        lastError.removeAll()
        error.describe(into: &lastError)
        nextAttempt = backoff.failed(now: now, random: random)
    }

    /// Tries to reopen when it is time; true when the capture is back.
    func retry(now: Int64, random: UInt64) -> Bool {
        guard source == nil, now >= nextAttempt else { return false }
        do {
            try open()
        } catch {
            lastError.removeAll()
            error.describe(into: &lastError)
            nextAttempt = backoff.failed(now: now, random: random)
            return false
        }
        backoff.succeeded()
        nextAttempt = Int64.max
        return true
    }

    /// Failed reopen attempts since the capture was lost.
    var attempts: Int { backoff.failures }

    /// Packets received and dropped, over every capture opened since start.
    func statistics() -> CaptureStatistics {
        var total = closedStatistics
        if let current = source?.statistics() {
            total.received += current.received
            total.dropped += current.dropped
            total.droppedByInterface += current.droppedByInterface
        }
        return total
    }

    private func add(_ statistics: CaptureStatistics) {
        closedStatistics.received += statistics.received
        closedStatistics.dropped += statistics.dropped
        closedStatistics.droppedByInterface += statistics.droppedByInterface
    }
}
