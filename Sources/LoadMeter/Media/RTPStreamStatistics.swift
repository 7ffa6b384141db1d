import Basics
import Capture

/// Per-stream figures: packets, bytes, loss (RFC 3550 A.3), interarrival jitter (A.8),
/// sequence errors, duplicates, and packets a fixed playout buffer would drop as late.
///
/// Jitter follows A.8 computed in milliseconds exactly as Wireshark's RTP analysis does, so
/// the figures can be checked against `tshark -z rtp,streams`: the clock rate is taken in
/// whole kHz; marker, comfort-noise and post-comfort-noise packets update the estimator but
/// are left out of its max/mean; packets with no known clock rate (telephone-event, unmapped
/// dynamic types) add no jitter. Mean jitter is the running mean over packets 2...N.
public struct RTPStreamStatistics: Equatable, Sendable {
    public private(set) var packets = 0
    /// UDP payload bytes on the wire.
    public private(set) var bytes = 0
    public private(set) var firstTime = PacketTime.zero
    public private(set) var lastTime = PacketTime.zero
    public private(set) var firstPayloadType: UInt8 = 0
    /// Payload types seen, one bit each.
    public private(set) var payloadTypesLow: UInt64 = 0
    public private(set) var payloadTypesHigh: UInt64 = 0

    // RFC 3550 A.1: sequence tracking for loss.
    var baseSequence: UInt16 = 0
    var maxSequence: UInt16 = 0
    var cycles: UInt32 = 0
    /// The sequence number that would confirm a restart, plus one; 0 for none. (All-zero
    /// initial state lets stream tables come from untouched zero pages.)
    var badSequencePlusOne: UInt32 = 0
    /// Bit i set: sequence number maxSequence - i arrived (for duplicate detection).
    var recent: UInt64 = 0
    /// Packets in the current sequence space (a restarted source starts a new one).
    var received = 0
    public private(set) var sequenceErrors = 0
    public private(set) var duplicates = 0

    // A.8 jitter in milliseconds.
    var firstTimestamp: UInt32 = 0
    var lastArrival: Double = 0
    var lastNominal: Double = 0
    public private(set) var jitter: Double = 0
    public private(set) var maxJitter: Double = 0
    /// Wireshark's running mean over packets 2...N, kept as a sum so that a packet costs an
    /// addition, not a division: mean = sum / (analysed at the last update - 1).
    var meanJitterSum: Double = 0
    var meanUpdatedAt = 0
    public var meanJitter: Double { meanUpdatedAt >= 2 ? meanJitterSum / Double(meanUpdatedAt - 1) : 0 }
    var previousPayloadType: UInt8 = 0
    var analysed = 0
    /// 1 / the clock in whole kHz, for the clock rate last seen: a multiplication per packet
    /// instead of an integer and a floating division (exact for 8 kHz, where 1/8 is).
    var millisecondsPerTick: Double = 0
    var millisecondsPerTickRate: UInt32 = 0

    // The jitter-buffer model of `EModel`: transit is arrival minus RTP time, in ms after
    // the first packet (whose transit is 0). The buffer plays out against the earliest
    // transit seen, re-centred at each talkspurt (marker bit) and after a jump in transit
    // too large to be jitter, as playout buffers do.
    var earliestTransit: Double = 0
    /// Packets that arrived more than `EModel.jitterBufferMilliseconds` after that.
    public private(set) var late = 0

    static let maxDropout: UInt16 = 3000
    static let maxMisorder: UInt16 = 100

    public init() {}

    /// RFC 3550 A.3: expected minus received, from the highest extended sequence number.
    public var lost: Int {
        guard packets > 0 else { return 0 }
        let extendedMax = Int(cycles) + Int(maxSequence)
        let expected = extendedMax - Int(baseSequence) + 1
        return expected - received
    }

    public var expected: Int {
        guard packets > 0 else { return 0 }
        return Int(cycles) + Int(maxSequence) - Int(baseSequence) + 1
    }

    public func sawPayloadType(_ payloadType: UInt8) -> Bool {
        payloadType < 64 ? payloadTypesLow & (1 << UInt64(payloadType)) != 0
                         : payloadTypesHigh & (1 << UInt64(payloadType - 64)) != 0
    }

    /// Adds one packet. `clockRate` is the RTP clock of its payload type, 0 when unknown.
    public mutating func add(_ header: RTPHeader, wireBytes: Int, time: PacketTime, clockRate: UInt32) {
        if header.payloadType < 64 {
            payloadTypesLow |= 1 << UInt64(header.payloadType)
        } else {
            payloadTypesHigh |= 1 << UInt64(header.payloadType - 64)
        }
        bytes += wireBytes
        guard packets > 0 else {
            packets = 1
            received = 1
            firstTime = time
            lastTime = time
            firstPayloadType = header.payloadType
            previousPayloadType = header.payloadType
            baseSequence = header.sequence
            maxSequence = header.sequence
            recent = 1
            firstTimestamp = header.timestamp
            lastArrival = 0
            lastNominal = 0
            analysed = 1
            return
        }
        packets += 1
        received += 1
        lastTime = time
        updateSequence(header.sequence)
        updateJitter(header, time: time, clockRate: clockRate)
    }

    private mutating func updateSequence(_ sequence: UInt16) {
        let delta = sequence &- maxSequence
        if delta == 0 {
            duplicates += 1
        } else if delta < RTPStreamStatistics.maxDropout {
            // In order, with a permissible gap.
            if sequence < maxSequence { cycles += 0x1_0000 }
            maxSequence = sequence
            recent = delta >= 64 ? 1 : recent << UInt64(delta) | 1
            if delta > 1 { sequenceErrors += 1 }
        } else if delta <= UInt16.max - RTPStreamStatistics.maxMisorder {
            // A very large jump: if the next packet follows it, the source restarted.
            sequenceErrors += 1
            if badSequencePlusOne != 0 && UInt32(sequence) == badSequencePlusOne - 1 {
                baseSequence = sequence
                maxSequence = sequence
                cycles = 0
                recent = 1
                // Earlier packets no longer count towards this sequence space.
                received = 1
                badSequencePlusOne = 0
            } else {
                badSequencePlusOne = UInt32(sequence &+ 1) + 1
            }
        } else {
            // Late or duplicated, within the misorder window.
            let distance = maxSequence &- sequence
            if distance < 64 {
                let bit = UInt64(1) << UInt64(distance)
                if recent & bit != 0 { duplicates += 1 } else { recent |= bit }
            }
            sequenceErrors += 1
        }
    }

    private mutating func updateJitter(_ header: RTPHeader, time: PacketTime, clockRate: UInt32) {
        let arrival = Double(time.nanoseconds - firstTime.nanoseconds) * 1e-6
        let comfortNoise = header.payloadType == 13 || header.payloadType == 19
        let afterComfortNoise = previousPayloadType == 13 || previousPayloadType == 19
        previousPayloadType = header.payloadType
        // Timestamps more than half the clock space ahead of the first are out of sequence.
        let offset = header.timestamp &- firstTimestamp
        let inSequence = offset < 0x8000_0000
        var current = jitter
        if inSequence && clockRate >= 1000 {
            if clockRate != millisecondsPerTickRate {
                millisecondsPerTickRate = clockRate
                millisecondsPerTick = 1 / Double(clockRate / 1000)
            }
            let nominal = Double(offset) * millisecondsPerTick
            let transitChange = (arrival - (lastArrival + nominal - lastNominal)).magnitude
            jitter = (15 * jitter + transitChange) * 0.0625  // / 16, exactly
            current = jitter
            lastNominal = nominal
            let transit = arrival - nominal
            let lateness = transit - earliestTransit
            if lateness < 0 || header.marker || lateness > EModel.resyncMilliseconds {
                earliestTransit = transit
            } else if lateness > EModel.jitterBufferMilliseconds {
                late += 1
            }
        }
        analysed += 1
        let regular = !header.marker && !comfortNoise && !afterComfortNoise && inSequence
        if regular && clockRate >= 1000 {
            if current > maxJitter { maxJitter = current }
            // mean' = (mean · (analysed − 2) + current) / (analysed − 1), as Wireshark has it: as a
            // sum, one addition, and a rescaling only when packets were left out since the last.
            if meanUpdatedAt >= 2 && analysed != meanUpdatedAt + 1 {
                meanJitterSum = meanJitterSum * Double(analysed - 2) / Double(meanUpdatedAt - 1)
            }
            meanJitterSum += current
            meanUpdatedAt = analysed
        }
        if inSequence { lastArrival = arrival }
    }
}
