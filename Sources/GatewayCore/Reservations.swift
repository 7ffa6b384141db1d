import Capture
import LoadMeter

/// Calls promised but not yet seen (DESIGN §3): every 302 this node sends reserves a call,
/// keyed by the request's Call-ID, until the client's INVITE with that Call-ID shows up in
/// this node's capture or the reservation expires. Counting them as calls stops a burst of
/// requests from all landing on the node that was last below its threshold.
///
/// Preallocated; when full, the oldest reservation is dropped (and counted), which errs on
/// the side of accepting.
public final class Reservations {
    let keys: CallIDKeys
    let expiry: FixedArray<Int64>
    let lifetime: Int64
    public private(set) var made = 0
    /// The client's INVITE arrived.
    public private(set) var honoured = 0
    public private(set) var expired = 0
    public private(set) var dropped = 0

    public init(capacity: Int, lifetimeSeconds: Int) {
        keys = CallIDKeys(capacity: capacity)
        expiry = FixedArray(zeroedCount: capacity)
        lifetime = Int64(lifetimeSeconds) * 1_000_000_000
    }

    /// Reservations held now (after expiring old ones at `now`).
    public func count(at now: Int64) -> Int {
        expire(now: now)
        return keys.index.count
    }

    /// Reserves a call for `callID`; a second 302 for the same Call-ID renews it.
    public func reserve(_ callID: UnsafeRawBufferPointer, now: Int64) {
        expire(now: now)
        let hash = KeyHash.bytes(callID)
        var slot = keys.find(callID, hash: hash)
        if slot < 0 {
            let claimed = keys.insert(callID, hash: hash)
            if claimed.evicted { dropped += 1 }
            slot = claimed.slot
            made += 1
        } else {
            keys.index.touch(slot)
        }
        expiry[slot] = now + lifetime
    }

    /// The client's INVITE with `callID` was seen: the reservation became a real call.
    public func honour(_ callID: UnsafeRawBufferPointer) {
        let slot = keys.find(callID, hash: KeyHash.bytes(callID))
        guard slot >= 0 else { return }
        keys.index.release(slot)
        honoured += 1
    }

    private func expire(now: Int64) {
        // Reservations are renewed by touch, so the oldest expires first.
        while keys.index.oldest >= 0 && expiry[Int(keys.index.oldest)] <= now {
            keys.index.release(Int(keys.index.oldest))
            expired += 1
        }
    }
}
