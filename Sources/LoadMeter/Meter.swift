import Basics
import Capture
import SIP

/// Media figures since start.
public struct MediaCounters: Equatable, Sendable {
    public var rtpPackets = 0
    public var rtpBytes = 0
    public var rtcpPackets = 0
    /// UDP to or from announced non-RTP media (T.38 UDPTL, for example).
    public var otherMediaPackets = 0
    /// UDP that was neither SIP nor media.
    public var otherUDPPackets = 0
    /// MGCP messages that announced media in SDP.
    public var mgcpAnnouncements = 0
    public var streamsOpened = 0
    public var streamsEvicted = 0
    public var mediaEvicted = 0
    /// Closed-stream summaries dropped because nobody took them in time.
    public var summariesDropped = 0

    public init() {}
}

/// Per-second rates over the sliding window.
public struct Rates: Equatable, Sendable {
    public var sipMessages: Double = 0
    public var callAttempts: Double = 0
    public var rtpPackets: Double = 0
    public var rtpBits: Double = 0

    public init() {}
}

/// Turns decoded traffic into load: SIP messages by kind, calls, registrations, RTP streams,
/// rates, and the workload. Pure logic: it is handed datagrams and stream bytes by whoever
/// reads the capture, and does no I/O. All tables are allocated here, once.
public final class Meter {
    public let configuration: MeterConfiguration
    /// What the workload is measured against; a reload may change it.
    public var capacities: WorkloadCapacities
    public let sip = SIPCounters()
    public let dialogs: DialogTracker
    public let registrations: RegistrationTracker
    var mediaCounts = MediaCounters()

    /// Media figures; the table counters are read at the time of asking.
    public var media: MediaCounters {
        var counts = mediaCounts
        counts.streamsOpened = streams.opened
        counts.streamsEvicted = streams.evicted
        counts.mediaEvicted = mediaTable.evicted
        counts.summariesDropped = streams.closedDropped
        return counts
    }
    let mediaTable: MediaTable
    let streams: StreamTable
    let probation: Probation
    let sdp = SDPDescription()
    let sipRate: SlidingRate
    let attemptRate: SlidingRate
    let rtpRate: SlidingRate
    let rtpByteRate: SlidingRate

    public private(set) var firstTime: PacketTime?
    public private(set) var lastTime = PacketTime.zero
    public private(set) var peakWorkload = Workload()
    public private(set) var peakWorkloadTime = PacketTime.zero
    /// The highest of each rate, sampled once a second of packet time.
    public private(set) var peakRates = Rates()
    /// Spells when a live capture was lost (interface down or gone): what passed then is
    /// missing from every figure. Counted so the status file can say so.
    public private(set) var captureGaps = 0
    public private(set) var captureGapNanoseconds: Int64 = 0
    /// The second of packet time being measured, and where it starts, in nanoseconds.
    var lastEvaluatedSecond = Int64.min
    var secondStart = Int64.max

    public init(configuration: MeterConfiguration = MeterConfiguration()) {
        self.configuration = configuration
        capacities = configuration.capacities
        dialogs = DialogTracker(capacity: configuration.dialogCapacity, timeouts: configuration.callTimeouts)
        registrations = RegistrationTracker(capacity: configuration.registrationCapacity)
        mediaTable = MediaTable(capacity: configuration.mediaCapacity, lingerSeconds: configuration.mediaLingerSeconds)
        streams = StreamTable(capacity: configuration.streamCapacity, idleTimeoutSeconds: configuration.streamIdleSeconds)
        probation = Probation(capacity: configuration.probationCapacity, required: configuration.probationPackets)
        sipRate = SlidingRate(windowSeconds: configuration.rateWindowSeconds)
        attemptRate = SlidingRate(windowSeconds: configuration.rateWindowSeconds)
        rtpRate = SlidingRate(windowSeconds: configuration.rateWindowSeconds)
        rtpByteRate = SlidingRate(windowSeconds: configuration.rateWindowSeconds)
    }

    /// When calls end without a BYE; a reload may change them.
    public var callTimeouts: CallTimeouts {
        get { dialogs.timeouts }
        set { dialogs.timeouts = newValue }
    }

    /// Records a spell of `nanoseconds` without capture, just ended. It does not count as
    /// silence: calls that went on unseen are not ended for it.
    public func noteCaptureGap(nanoseconds: Int64) {
        captureGaps += 1
        captureGapNanoseconds += max(nanoseconds, 0)
        dialogs.excuse(gap: max(nanoseconds, 0))
    }

    // MARK: Input

    /// One UDP datagram: media if its address was announced, else SIP if it reads as SIP,
    /// else (when enabled) RTP found without SDP.
    public func receive(datagram: Datagram) {
        advance(to: datagram.time)
        let payload = datagram.payload
        // RTP of a stream already measured: one lookup, and done.
        if payload.count >= 12 && payload[0] & 0xC0 == 0x80, let header = RTPHeader(payload), !header.isControl {
            let key = StreamKey(source: datagram.source, destination: datagram.destination, ssrc: header.ssrc)
            let stream = streams.find(key, hash: key.hash)
            if stream >= 0 {
                measured(stream, header, datagram)
                return
            }
        }
        var slot = mediaTable.find(datagram.destination)
        if slot < 0 { slot = mediaTable.find(datagram.source) }
        if slot >= 0 {
            announcedMedia(datagram, slot: slot)
            return
        }
        if payload.count > 0, payload[0] > 0x20 && payload[0] < 0x7F {
            if sipMessage(payload, framing: .datagram, time: datagram.time) { return }
        } else if isKeepalive(payload) {
            sip.keepalives += 1
            return
        }
        if MGCP.isMGCPPort(datagram.source.port) || MGCP.isMGCPPort(datagram.destination.port),
           let body = MGCP.sdpBody(payload) {
            if sdp.scan(payload, body: body) { mediaTable.announce(sdp, owner: .none, offer: nil, time: datagram.time) }
            mediaCounts.mgcpAnnouncements += 1
            return
        }
        if configuration.detectUnannouncedRTP, let header = RTPHeader(payload) {
            if header.looksLikeRTCP {
                mediaCounts.rtcpPackets += 1
                return
            }
            if RTPHeader.isPlausible(payload, wireLength: datagram.payloadLength) {
                unannouncedRTP(datagram, header)
                return
            }
        }
        mediaCounts.otherUDPPackets += 1
    }

    /// In-order bytes of a TCP flow; returns how many were consumed (whole SIP messages and
    /// skipped garbage). A partial message is left for the next call.
    public func receive(stream chunk: StreamChunk) -> Int {
        streamScan = StreamScan()
        advance(to: chunk.time)
        let bytes = chunk.bytes
        var offset = 0
        if chunk.afterGap && SIPScanner.startLine(bytes) == nil {
            // Joined mid-message (or this flow is not SIP at all): skip to the first line
            // that starts a SIP message.
            offset = resynchronise(bytes)
        }
        while offset < bytes.count {
            // CRLF keep-alives between messages (RFC 5626: CRLFCRLF ping, CRLF pong): a run of
            // line ends counts once.
            if bytes[offset] == 0x0D || bytes[offset] == 0x0A {
                while offset < bytes.count && (bytes[offset] == 0x0D || bytes[offset] == 0x0A) { offset += 1 }
                sip.keepalives += 1
                continue
            }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            guard SIPScanner.startLine(rest) != nil else {
                // Not SIP here: skip to the next line that starts a message, or wait for
                // the rest of this line.
                let skip = resynchronise(rest)
                if skip == 0 { return offset }
                offset += skip
                continue
            }
            // A message left unfinished last time starts these bytes: read on where it stopped.
            var scan = offset == 0 ? chunk.resume : StreamScan()
            switch SIPScanner.frameLength(rest, resuming: &scan) {
            case .complete(let length):
                _ = sipMessage(UnsafeRawBufferPointer(rebasing: rest[0..<length]), framing: .stream, time: chunk.time)
                offset += length
            case .needMore:
                streamScan = scan
                return offset
            case .unframeable:
                // A SIP start line but no usable Content-Length: count it, then resynchronise.
                sip.count(SIPScanner.startLine(rest)!)
                sip.malformed += 1
                offset += max(resynchronise(rest), 1)
            }
        }
        return offset
    }

    /// How far the last `receive(stream:)` got into the bytes it did not consume: hand it to
    /// the reassembler with the count, so the flow's next chunk is read on from there.
    public private(set) var streamScan = StreamScan()

    /// Hands on what `decoder` found in a packet, and tells the decoder how much of a TCP
    /// stream was consumed: the one step between decoding and metering.
    @inline(__always) public func receive(_ decoded: Decoded, from decoder: PacketDecoder) {
        switch decoded {
        case .datagram(let datagram):
            receive(datagram: datagram)
        case .stream(let chunk):
            decoder.consumed(receive(stream: chunk), scan: streamScan)
        case .nothing:
            break
        }
    }

    // MARK: Output

    /// The workload now: calls, active streams and rates against their capacities.
    public func workload(at time: PacketTime) -> Workload {
        var result = Workload()
        result.capacities = capacities
        result.calls = dialogs.counters.active
        // Scoring every active stream costs a few multiplications each: only when asked for.
        let poorBelow = capacities.poorQualityPercent > 0 ? capacities.poorQualityMOS : nil
        let active = streams.active(now: time, window: Int64(configuration.streamActiveSeconds) * 1_000_000_000,
                                    poorBelow: poorBelow)
        result.activeStreams = active.active
        if active.judged > 0 { result.poorQualityShare = Double(active.poor) * 100 / Double(active.judged) }
        result.rtpPacketRate = rtpRate.rate(at: time)
        result.sipMessageRate = sipRate.rate(at: time)
        return result
    }

    public var calls: CallCounters { dialogs.counters }

    /// The rates over the window ending at `time`.
    public func rates(at time: PacketTime) -> Rates {
        var rates = Rates()
        rates.sipMessages = sipRate.rate(at: time)
        rates.callAttempts = attemptRate.rate(at: time)
        rates.rtpPackets = rtpRate.rate(at: time)
        rates.rtpBits = rtpByteRate.rate(at: time) * 8
        return rates
    }

    /// Streams measured now.
    public var openStreams: Int { streams.index.count }

    /// Calls `body` with the Call-ID of every call that began since the last call of this
    /// method (the node turns reservations into calls with them).
    public func forEachNewCall(_ body: (UnsafeRawBufferPointer) -> Void) {
        dialogs.forEachNewCall(body)
    }

    /// Whether `takeClosedStream` has something: cheap enough to ask after every packet.
    public var hasClosedStream: Bool { streams.closedCount > 0 }

    /// The next stream that closed (went idle or was evicted), oldest first.
    public func takeClosedStream() -> RTPStreamSummary? {
        streams.takeClosed()
    }

    /// Calls `body` with every stream still open, oldest activity first.
    public func forEachOpenStream(_ body: (RTPStreamSummary) -> Void) {
        var slot = streams.index.oldest
        while slot >= 0 {
            body(streams.summary(Int(slot)))
            slot = streams.index.newer(than: Int(slot))
        }
    }

    // MARK: RTP

    private func announcedMedia(_ datagram: Datagram, slot: Int) {
        mediaTable.used(slot, time: datagram.time)
        dialogs.touch(mediaTable.owners[slot], time: datagram.time)
        switch mediaTable.kinds[slot] {
        case .rtcp:
            mediaCounts.rtcpPackets += 1
        case .other:
            // (RTP that goes on in a stream already measured was taken before the media
            // lookup: it is still RTP whatever the last offer said, as when a T.38 switch is
            // offered but not yet answered.)
            mediaCounts.otherMediaPackets += 1
        case .rtp:
            // rtcp-mux (RFC 5761): RTCP on the RTP port, also when shorter than an RTP header.
            if RTPHeader.isRTCP(datagram.payload) {
                mediaCounts.rtcpPackets += 1
                return
            }
            guard let header = RTPHeader(datagram.payload) else {
                mediaCounts.otherMediaPackets += 1
                return
            }
            if header.isControl {
                mediaCounts.rtcpPackets += 1
                return
            }
            let key = StreamKey(source: datagram.source, destination: datagram.destination, ssrc: header.ssrc)
            let hash = key.hash
            var stream = streams.find(key, hash: hash)
            if stream < 0 {
                stream = streams.open(key, hash: hash, announced: true, mediaSlot: slot, initial: RTPStreamStatistics(),
                                      formats: StreamFormats(), time: datagram.time)
            }
            measured(stream, header, datagram)
        }
    }

    /// A packet of a measured stream. Once a second the stream's media entry and call are
    /// marked active too, so neither is swept while media flows.
    @inline(__always) private func measured(_ stream: Int, _ header: RTPHeader, _ datagram: Datagram) {
        let mediaSlot = Int(streams.mediaSlots[stream])
        if streams.index.touch(stream, second: lastEvaluatedSecond) && mediaSlot >= 0 {
            if mediaTable.holds(mediaSlot, datagram.destination) || mediaTable.holds(mediaSlot, datagram.source) {
                mediaTable.used(mediaSlot, time: datagram.time)
                dialogs.touch(mediaTable.owners[mediaSlot], time: datagram.time)
            } else {
                streams.mediaSlots[stream] = -1
            }
        }
        var format: PayloadFormat?
        if streams.needsFormat(stream, header.payloadType) {
            let slot = Int(streams.mediaSlots[stream])
            format = slot >= 0 && (mediaTable.holds(slot, datagram.destination) || mediaTable.holds(slot, datagram.source))
                ? mediaTable.format(slot, payloadType: header.payloadType)
                : PayloadFormat.staticFormat(header.payloadType)
        }
        streams.add(stream, header, wireBytes: datagram.payloadLength, time: datagram.time, format: format)
        countRTP(datagram)
    }

    private func unannouncedRTP(_ datagram: Datagram, _ header: RTPHeader) {
        let key = StreamKey(source: datagram.source, destination: datagram.destination, ssrc: header.ssrc)
        let hash = key.hash
        let flow = FlowKey(source: datagram.source, destination: datagram.destination)
        guard let passed = probation.add(flow, header, wireBytes: datagram.payloadLength, time: datagram.time) else {
            mediaCounts.otherUDPPackets += 1
            return
        }
        _ = streams.open(key, hash: hash, announced: false, mediaSlot: -1, initial: passed.statistics,
                         formats: passed.formats, time: datagram.time)
        // The probation packets were held back from the counters until now.
        mediaCounts.otherUDPPackets -= passed.statistics.packets - 1
        mediaCounts.rtpPackets += passed.statistics.packets - 1
        mediaCounts.rtpBytes += passed.statistics.bytes - datagram.payloadLength
        countRTP(datagram)
    }

    @inline(__always) private func countRTP(_ datagram: Datagram) {
        mediaCounts.rtpPackets += 1
        mediaCounts.rtpBytes += datagram.payloadLength
        rtpRate.add(1, second: lastEvaluatedSecond)
        rtpByteRate.add(Int64(datagram.payloadLength), second: lastEvaluatedSecond)
    }

    // MARK: Time

    /// The meter's clock moves on to `time` without a packet: live, the daemon calls this on
    /// its own timer, so calls, streams and rates expire while the capture is silent.
    public func advance(clock time: PacketTime) {
        advance(to: time)
    }

    /// Time moves on (a packet's, or the clock's): once a second, end what is due in the
    /// tables and take the workload. The clock never goes back: a packet stamped before the
    /// second already evaluated (a kernel buffer read after a clock tick) changes nothing.
    @inline(__always) private func advance(to time: PacketTime) {
        if time > lastTime { lastTime = time }
        // Within the second already seen (the common case), there is nothing more to do.
        if UInt64(bitPattern: time.nanoseconds &- secondStart) < 1_000_000_000 { return }
        if firstTime == nil { firstTime = time }
        let second = time.seconds
        guard lastEvaluatedSecond == Int64.min || second > lastEvaluatedSecond else { return }
        secondStart = second * 1_000_000_000
        lastEvaluatedSecond = second
        dialogs.sweep(now: time)
        mediaTable.sweep(now: time, dialogs: dialogs)
        streams.sweep(now: time)
        let rates = rates(at: time)
        peakRates.sipMessages = max(peakRates.sipMessages, rates.sipMessages)
        peakRates.callAttempts = max(peakRates.callAttempts, rates.callAttempts)
        peakRates.rtpPackets = max(peakRates.rtpPackets, rates.rtpPackets)
        peakRates.rtpBits = max(peakRates.rtpBits, rates.rtpBits)
        let now = workload(at: time)
        if now.value > peakWorkload.value {
            peakWorkload = now
            peakWorkloadTime = time
        }
    }

    /// Takes the final workload sample at the end of a capture: at its last packet, or at
    /// `end` when that is later (what has timed out by then has ended).
    public func finish(at end: PacketTime? = nil) {
        let time = max(end ?? lastTime, lastTime)
        lastEvaluatedSecond = Int64.min
        secondStart = Int64.max
        advance(to: time)
    }
}
