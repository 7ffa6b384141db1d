import Basics
import Capture

/// What an SDP-announced transport address carries.
public enum MediaKind: UInt8, Sendable {
    case rtp
    case rtcp
    /// Announced, but not RTP: T.38 over UDPTL, for example. Not taken for RTP even when
    /// unannounced RTP detection is on.
    case other
}

/// Transport addresses announced in SDP, each tied to the call whose SDP announced it.
///
/// A UDP packet to or from an announced address is media of that call, as Wireshark decides
/// it. An entry outlives its call by `linger` seconds of silence so that packets still in
/// flight after the BYE are counted, then goes; the call's own media keeps the call alive.
final class MediaTable {
    static let formatsPerEntry = 8
    let index: SlotIndex
    let endpoints: FixedArray<Endpoint>
    let kinds: FixedArray<MediaKind>
    let owners: FixedArray<DialogTracker.Handle>
    let formats: FixedArray<SDPFormat>
    let formatCounts: FixedArray<UInt8>
    let lastUsed: FixedArray<Int64>
    let linger: Int64
    var evicted = 0

    /// What an offer changed, so a rejected offer can be undone (RFC 3264 §8: a re-INVITE
    /// answered >= 300 leaves the session as it was). Wireshark does the same.
    struct PendingChange {
        var owner: DialogTracker.Handle
        var sequence: UInt32
        var slot: Int32
        var endpoint: Endpoint
        var previous: MediaKind
    }
    static let pendingCapacity = 64
    let pending: FixedArray<PendingChange>
    var pendingCount = 0

    init(capacity: Int, lingerSeconds: Int) {
        index = SlotIndex(capacity: capacity)
        endpoints = FixedArray(zeroedCount: capacity)
        kinds = FixedArray(repeating: .other, count: capacity)
        owners = FixedArray(repeating: .none, count: capacity)
        formats = FixedArray(zeroedCount: capacity * MediaTable.formatsPerEntry)
        formatCounts = FixedArray(repeating: 0, count: capacity)
        lastUsed = FixedArray(repeating: 0, count: capacity)
        linger = Int64(lingerSeconds) * 1_000_000_000
        pending = FixedArray(repeating: PendingChange(owner: .none, sequence: 0, slot: -1,
                                                      endpoint: Endpoint(address: .unspecified, port: 0),
                                                      previous: .other),
                             count: MediaTable.pendingCapacity)
    }

    @inline(__always) func find(_ endpoint: Endpoint) -> Int {
        index.find(endpoint.hash) { endpoints[$0] == endpoint }
    }

    /// Whether `slot` still holds media for `endpoint` (slots are reused).
    @inline(__always) func holds(_ slot: Int, _ endpoint: Endpoint) -> Bool {
        index.isInUse(slot) && endpoints[slot] == endpoint
    }

    @inline(__always) func used(_ slot: Int, time: PacketTime) {
        lastUsed[slot] = time.nanoseconds
        index.touch(slot, second: time.seconds)
    }

    /// Records every medium of `sdp` for the call `owner`. For an offer, pass its CSeq
    /// number: a change of what an address carries is undone if the offer is rejected.
    func announce(_ sdp: SDPDescription, owner: DialogTracker.Handle, offer: UInt32?, time: PacketTime) {
        for m in 0..<sdp.mediaCount {
            let medium = sdp.medium(m)
            let endpoint = Endpoint(address: medium.address, port: medium.port)
            let existing = find(endpoint)
            let slot = claim(endpoint, time: time)
            let kind: MediaKind = medium.isRTP ? .rtp : .other
            if let offer, existing >= 0, kinds[slot] != kind {
                remember(PendingChange(owner: owner, sequence: offer, slot: Int32(slot), endpoint: endpoint,
                                       previous: kinds[slot]))
            }
            kinds[slot] = kind
            owners[slot] = owner
            let count = min(medium.formatCount, MediaTable.formatsPerEntry)
            for f in 0..<count {
                formats[slot * MediaTable.formatsPerEntry + f] = sdp.format(medium.firstFormat + f)
            }
            formatCounts[slot] = UInt8(count)
            if medium.isRTP && medium.rtcpPort != 0 {
                let rtcp = claim(Endpoint(address: medium.rtcpAddress, port: medium.rtcpPort), time: time)
                kinds[rtcp] = .rtcp
                owners[rtcp] = owner
                formatCounts[rtcp] = 0
            }
        }
    }

    /// The offer `sequence` of `owner` got its final response: keep its changes if accepted,
    /// undo them if rejected.
    func settle(owner: DialogTracker.Handle, sequence: UInt32, accepted: Bool) {
        var kept = 0
        for i in 0..<pendingCount {
            let change = pending[i]
            if change.owner == owner && change.sequence == sequence {
                let slot = Int(change.slot)
                if !accepted && index.isInUse(slot) && endpoints[slot] == change.endpoint {
                    kinds[slot] = change.previous
                }
            } else {
                pending[kept] = change
                kept += 1
            }
        }
        pendingCount = kept
    }

    private func remember(_ change: PendingChange) {
        if pendingCount == MediaTable.pendingCapacity {
            // Oldest first out: an offer that never got an answer is kept as made.
            for i in 1..<pendingCount { pending[i - 1] = pending[i] }
            pendingCount -= 1
        }
        pending[pendingCount] = change
        pendingCount += 1
    }

    /// The format of `payloadType` for media at `slot`: its rtpmap for dynamic types, else
    /// the static table. Wireshark takes rtpmaps for dynamic types (96-127) only.
    func format(_ slot: Int, payloadType: UInt8) -> PayloadFormat? {
        if payloadType >= 96 {
            let base = slot * MediaTable.formatsPerEntry
            for f in 0..<Int(formatCounts[slot]) where formats[base + f].payloadType == payloadType {
                return formats[base + f].format
            }
            return nil
        }
        return PayloadFormat.staticFormat(payloadType)
    }

    private func claim(_ endpoint: Endpoint, time: PacketTime) -> Int {
        var slot = find(endpoint)
        if slot < 0 {
            let claimed = index.claim(hash: endpoint.hash)
            if claimed.evicted { evicted += 1 }
            slot = claimed.slot
            endpoints[slot] = endpoint
        } else {
            index.touch(slot)
        }
        lastUsed[slot] = time.nanoseconds
        return slot
    }

    /// Forgets media silent for longer than the linger whose call is over. Media of a live
    /// call that is merely quiet (on hold) is moved back so the sweep can look past it.
    /// Each entry is looked at once at most: one whose call lives goes to the young end.
    func sweep(now: PacketTime, dialogs: DialogTracker) {
        var budget = index.count
        while budget > 0, index.oldest >= 0 {
            budget -= 1
            let slot = Int(index.oldest)
            guard now.nanoseconds - lastUsed[slot] > linger else { return }
            if dialogs.isLive(owners[slot]) {
                index.touch(slot)
            } else {
                index.release(slot)
            }
        }
    }
}
