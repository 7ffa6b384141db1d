import Basics
import SIP

/// Calls promised but not yet seen (DESIGN §3): every 302 this node sends for an INVITE
/// reserves a call, keyed by the request's Call-ID, until the client's INVITE with that
/// Call-ID shows up in this node's capture or the reservation expires. Counting them as
/// calls stops a burst of requests from all landing on the node that was last below its
/// threshold.
///
/// One reservation per attempt: an attempt is the caller and the callee (From and To
/// addresses of record, without case). A client that asks again for the same call with a
/// new Call-ID (liblinphone does, on every round of a redirect it loops on) moves its one
/// reservation to the new Call-ID instead of taking another, so a looping or retrying phone
/// cannot make the group look full.
///
/// Preallocated; when full, the oldest reservation is dropped (and counted), which errs on
/// the side of accepting.
public final class Reservations {
    let keys: CallIDKeys
    let expiry: FixedArray<Int64>
    /// Attempts by their hash, each linked to its reservation and back (slot + 1; 0: none).
    let attempts: SlotIndex
    let attemptHashes: FixedArray<UInt64>
    let reservationOfAttempt: FixedArray<Int32>
    let attemptOfReservation: FixedArray<Int32>
    /// How long a reservation holds; a reload changes it for reservations made from then on.
    public var lifetimeSeconds: Int {
        get { Int(lifetime / 1_000_000_000) }
        set { lifetime = Int64(newValue) * 1_000_000_000 }
    }
    var lifetime: Int64
    public private(set) var made = 0
    /// The same attempt asked again under a new Call-ID: moved, not added.
    public private(set) var moved = 0
    /// The client's INVITE arrived.
    public private(set) var honoured = 0
    public private(set) var expired = 0
    public private(set) var dropped = 0

    public init(capacity: Int, lifetimeSeconds: Int) {
        keys = CallIDKeys(capacity: capacity)
        expiry = FixedArray(zeroedCount: capacity)
        attempts = SlotIndex(capacity: capacity)
        attemptHashes = FixedArray(zeroedCount: capacity)
        reservationOfAttempt = FixedArray(zeroedCount: capacity)
        attemptOfReservation = FixedArray(zeroedCount: capacity)
        lifetime = Int64(lifetimeSeconds) * 1_000_000_000
    }

    /// The attempt of a request: its From and To addresses of record, hashed without case;
    /// 0 when either is missing.
    public static func attempt(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) -> UInt64 {
        guard let from = AddressOfRecord.key(buffer, header: message.from),
              let to = AddressOfRecord.key(buffer, header: message.to) else { return 0 }
        // FNV-1a over both, lower-cased, with a space between them.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in from.start..<from.end { hash = (hash ^ UInt64(ASCII.lower(buffer[i]))) &* 0x0000_0100_0000_01B3 }
        hash = (hash ^ 0x20) &* 0x0000_0100_0000_01B3
        for i in to.start..<to.end { hash = (hash ^ UInt64(ASCII.lower(buffer[i]))) &* 0x0000_0100_0000_01B3 }
        return max(KeyHash.mix(hash), 1)
    }

    /// Reservations held now (after expiring old ones at `now`).
    public func count(at now: Int64) -> Int {
        expire(now: now)
        return keys.index.count
    }

    /// Reserves a call for `callID`; a second 302 for the same Call-ID renews it, and one
    /// for the same `attempt` (0: none known) under a new Call-ID moves it there.
    public func reserve(_ callID: UnsafeRawBufferPointer, attempt: UInt64 = 0, now: Int64) {
        expire(now: now)
        let hash = KeyHash.bytes(callID)
        let existing = keys.find(callID, hash: hash)
        if existing >= 0 {
            keys.index.touch(existing)
            expiry[existing] = now + lifetime
            return
        }
        var attemptSlot = attempt == 0 ? -1 : attempts.find(attempt) { attemptHashes[$0] == attempt }
        if attemptSlot >= 0 {
            let previous = Int(reservationOfAttempt[attemptSlot]) - 1
            if previous >= 0 {
                keys.index.release(previous)
                attemptOfReservation[previous] = 0
            }
            moved += 1
        } else {
            made += 1
        }
        let claimed = keys.insert(callID, hash: hash)
        let slot = claimed.slot
        if claimed.evicted {
            dropped += 1
            unlinkAttempt(of: slot)
        }
        expiry[slot] = now + lifetime
        guard attempt != 0 else { return }
        if attemptSlot < 0 {
            attemptSlot = attempts.claim(hash: attempt).slot
            attemptHashes[attemptSlot] = attempt
        }
        reservationOfAttempt[attemptSlot] = Int32(slot + 1)
        attemptOfReservation[slot] = Int32(attemptSlot + 1)
    }

    /// The meter counts the call with `callID`: the reservation became a real call. False
    /// when there was none (a call this node did not redirect, or one already expired).
    @discardableResult
    public func honour(_ callID: UnsafeRawBufferPointer) -> Bool {
        let slot = keys.find(callID, hash: KeyHash.bytes(callID))
        guard slot >= 0 else { return false }
        release(slot)
        honoured += 1
        return true
    }

    private func expire(now: Int64) {
        // Reservations are renewed by touch, so the oldest expires first.
        while keys.index.oldest >= 0 && expiry[Int(keys.index.oldest)] <= now {
            release(Int(keys.index.oldest))
            expired += 1
        }
    }

    private func release(_ slot: Int) {
        keys.index.release(slot)
        unlinkAttempt(of: slot)
    }

    private func unlinkAttempt(of slot: Int) {
        let attemptSlot = Int(attemptOfReservation[slot]) - 1
        attemptOfReservation[slot] = 0
        guard attemptSlot >= 0 else { return }
        attempts.release(attemptSlot)
        reservationOfAttempt[attemptSlot] = 0
    }
}
