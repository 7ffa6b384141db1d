import Basics
import Capture

/// One RTP stream: a direction of packets from one SSRC.
public struct StreamKey: Equatable, Sendable {
    public var source: Endpoint
    public var destination: Endpoint
    public var ssrc: UInt32

    /// This runs for every RTP packet, and the table lookup waits for it: one multiply of
    /// the folded key (splitmix's two cost the meter a tenth of its time), then its top bits
    /// folded onto the low ones, which pick the bucket: a product's high bits depend on every
    /// bit of the key, so the source port (bits 48-63 of its endpoint) reaches the bucket too.
    /// StreamTableTests checks the spread for streams that differ only in a port or the SSRC.
    @inlinable var hash: UInt64 {
        let folded = source.folded ^ KeyHash.rotate(destination.folded, 29) ^ (UInt64(ssrc) << 16)
        let z = folded &* 0x9E37_79B9_7F4A_7C15
        return z ^ (z >> 52)
    }
}

/// Up to four payload formats a stream carried, by payload type, for the report. Plain
/// fields rather than optionals, so that an empty one is all zero bytes.
public struct StreamFormats: Equatable, Sendable {
    public static let capacity = 4
    var count: UInt8 = 0
    var first = SDPFormat(payloadType: 0, format: PayloadFormat(name: ShortName(), clockRate: 0))
    var second = SDPFormat(payloadType: 0, format: PayloadFormat(name: ShortName(), clockRate: 0))
    var third = SDPFormat(payloadType: 0, format: PayloadFormat(name: ShortName(), clockRate: 0))
    var fourth = SDPFormat(payloadType: 0, format: PayloadFormat(name: ShortName(), clockRate: 0))

    public init() {}

    public func format(_ index: Int) -> SDPFormat? {
        guard index < Int(count) else { return nil }
        switch index {
        case 0: return first
        case 1: return second
        case 2: return third
        default: return fourth
        }
    }

    mutating func note(_ payloadType: UInt8, _ format: PayloadFormat?) {
        for i in 0..<Int(count) where self.format(i)?.payloadType == payloadType { return }
        guard Int(count) < StreamFormats.capacity else { return }
        let entry = SDPFormat(payloadType: payloadType, format: format ?? PayloadFormat(name: ShortName(), clockRate: 0))
        switch count {
        case 0: first = entry
        case 1: second = entry
        case 2: third = entry
        default: fourth = entry
        }
        count += 1
    }
}

/// A stream's figures when it closed (idle, evicted) or at the end of a capture.
public struct RTPStreamSummary: Equatable, Sendable {
    public var key: StreamKey
    /// Announced in SDP, or found by unannounced RTP detection.
    public var announced: Bool
    public var statistics: RTPStreamStatistics
    public var formats: StreamFormats
}

/// RTP streams in a preallocated table, found by hash of addresses, ports and SSRC: never
/// by scanning calls. Streams silent for longer than the idle timeout close.
final class StreamTable {
    let index: SlotIndex
    let keys: FixedArray<StreamKey>
    let statistics: FixedArray<RTPStreamStatistics>
    let formats: FixedArray<StreamFormats>
    let announced: FixedArray<Bool>
    let lastUsed: FixedArray<Int64>
    /// The announced media entry the stream was found by (-1 for unannounced streams), and
    /// the payload type and clock rate of its last packet: per packet, the stream needs no
    /// other lookup.
    let mediaSlots: FixedArray<Int32>
    let lastPayloadType: FixedArray<UInt8>
    let lastClockRate: FixedArray<UInt32>
    let idleTimeout: Int64
    /// Closed streams waiting for `takeClosed`; a full ring drops the oldest and counts it.
    let closed: FixedArray<RTPStreamSummary>
    var closedStart = 0
    var closedCount = 0
    var closedDropped = 0
    var evicted = 0
    var opened = 0

    init(capacity: Int, idleTimeoutSeconds: Int, closedRing: Int = 64) {
        index = SlotIndex(capacity: capacity)
        let noKey = StreamKey(source: Endpoint(address: .unspecified, port: 0),
                              destination: Endpoint(address: .unspecified, port: 0), ssrc: 0)
        keys = FixedArray(zeroedCount: capacity)
        statistics = FixedArray(zeroedCount: capacity)
        formats = FixedArray(zeroedCount: capacity)
        announced = FixedArray(repeating: false, count: capacity)
        lastUsed = FixedArray(repeating: 0, count: capacity)
        mediaSlots = FixedArray(repeating: -1, count: capacity)
        lastPayloadType = FixedArray(repeating: 0xFF, count: capacity)
        lastClockRate = FixedArray(repeating: 0, count: capacity)
        idleTimeout = Int64(idleTimeoutSeconds) * 1_000_000_000
        closed = FixedArray(repeating: RTPStreamSummary(key: noKey, announced: false, statistics: RTPStreamStatistics(),
                                                        formats: StreamFormats()),
                            count: closedRing)
    }

    @inline(__always) func find(_ key: StreamKey, hash: UInt64) -> Int {
        index.find(hash) { keys[$0] == key }
    }

    /// Opens a stream, starting from `initial` figures (a detected stream brings those of
    /// its probation packets).
    func open(_ key: StreamKey, hash: UInt64, announced isAnnounced: Bool, mediaSlot: Int, initial: RTPStreamStatistics,
              formats initialFormats: StreamFormats, time: PacketTime) -> Int {
        let claimed = index.claim(hash: hash)
        if claimed.evicted {
            evicted += 1
            pushClosed(claimed.slot)
        }
        let slot = claimed.slot
        keys[slot] = key
        statistics[slot] = initial
        formats[slot] = initialFormats
        announced[slot] = isAnnounced
        mediaSlots[slot] = Int32(mediaSlot)
        lastPayloadType[slot] = 0xFF
        lastUsed[slot] = time.nanoseconds
        opened += 1
        return slot
    }

    /// Whether the next packet of `slot` with `payloadType` needs its format looked up: a
    /// payload type other than the last one's.
    @inline(__always) func needsFormat(_ slot: Int, _ payloadType: UInt8) -> Bool {
        lastPayloadType[slot] != payloadType
    }

    /// Adds a packet. `format` is needed only when `needsFormat` said so; otherwise the last
    /// packet's clock rate applies.
    @inline(__always) func add(_ slot: Int, _ header: RTPHeader, wireBytes: Int, time: PacketTime, format: PayloadFormat?) {
        var clockRate = lastClockRate[slot]
        if lastPayloadType[slot] != header.payloadType {
            clockRate = format?.clockRate ?? 0
            lastPayloadType[slot] = header.payloadType
            lastClockRate[slot] = clockRate
            if !statistics[slot].sawPayloadType(header.payloadType) {
                formats.pointer(at: slot).pointee.note(header.payloadType, format)
            }
        }
        statistics.pointer(at: slot).pointee.add(header, wireBytes: wireBytes, time: time, clockRate: clockRate)
        lastUsed[slot] = time.nanoseconds
    }

    /// Streams with a packet in the last `window` nanoseconds; with `poorBelow`, also how
    /// many of them the E-model judges and how many of those score below it.
    func active(now: PacketTime, window: Int64, poorBelow: Double? = nil) -> (active: Int, judged: Int, poor: Int) {
        var count = (active: 0, judged: 0, poor: 0)
        var slot = index.newest
        while slot >= 0 && now.nanoseconds - lastUsed[Int(slot)] <= window {
            count.active += 1
            if let poorBelow, let score = EModel.meanOpinionScore(of: statistics[Int(slot)], formats: formats[Int(slot)]) {
                count.judged += 1
                if score < poorBelow { count.poor += 1 }
            }
            slot = index.older(than: Int(slot))
        }
        return count
    }

    /// Closes every stream idle past the timeout, oldest first (the age list is in order of
    /// last packet, so the first one still in time ends the walk).
    func sweep(now: PacketTime) {
        while index.oldest >= 0 {
            let slot = Int(index.oldest)
            guard now.nanoseconds - lastUsed[slot] > idleTimeout else { return }
            pushClosed(slot)
            index.release(slot)
        }
    }

    func summary(_ slot: Int) -> RTPStreamSummary {
        RTPStreamSummary(key: keys[slot], announced: announced[slot], statistics: statistics[slot], formats: formats[slot])
    }

    private func pushClosed(_ slot: Int) {
        if closedCount == closed.count {
            closedStart = (closedStart + 1) % closed.count
            closedCount -= 1
            closedDropped += 1
        }
        closed[(closedStart + closedCount) % closed.count] = summary(slot)
        closedCount += 1
    }

    func takeClosed() -> RTPStreamSummary? {
        guard closedCount > 0 else { return nil }
        let summary = closed[closedStart]
        closedStart = (closedStart + 1) % closed.count
        closedCount -= 1
        return summary
    }
}
