import Basics
import Capture
import SIP

/// Follows INVITE dialogs by Call-ID (RFC 3261 §12-§15) in a preallocated table.
/// Re-INVITEs and retransmissions are not new calls; a final response to a re-INVITE does
/// not end the call; every call ends exactly once — by SIP or on the clock (`CallTimeouts`,
/// RFC 4028 session timers) — so no gauge drifts or goes negative.
public final class DialogTracker {
    public private(set) var counters = CallCounters()
    /// A reload may change them; each call is judged by the values at the time of asking.
    public var timeouts: CallTimeouts
    let keys: CallIDKeys
    let state: FixedArray<CallState>
    let inviteSequence: FixedArray<UInt32>
    let cancelSeen: FixedArray<Bool>
    /// The last SIP or media of the call, in nanoseconds.
    let lastActivity: FixedArray<Int64>
    /// When the current stage's own clock started: the INVITE (trying), the last provisional
    /// response (early), the challenge (challenged).
    let stageStart: FixedArray<Int64>
    /// When an RFC 4028 session ends unless refreshed; 0: no session timer.
    let sessionExpiry: FixedArray<Int64>
    /// Media of the call was seen (`mediaSeenFlag`); its last SDP put it on hold (`onHoldFlag`).
    let flags: FixedArray<UInt8>
    static let mediaSeenFlag: UInt8 = 1
    static let onHoldFlag: UInt8 = 2
    /// Bumped each time a slot takes a new call, so media can tell whether their call lives.
    let generation: FixedArray<UInt32>
    let endedLinger: Int64
    /// Calls counted since `forEachNewCall` last ran (slot and generation); a full ring drops
    /// the oldest.
    let newCalls = FixedArray<Handle>(repeating: .none, count: 64)
    var newCallCount = 0
    /// Attempts in the order they began. Attempts may hold half the table: beyond that a new
    /// INVITE lets the oldest attempt go, so a flood of INVITEs nobody answers (anyone can
    /// send them to the proxy) never pushes out the calls (a full table evicts the least
    /// recently active entry, which is a quiet call).
    let attemptOrder: FixedArray<Handle>
    var attemptStart = 0
    var attemptCount = 0
    let attemptLimit: Int

    public init(capacity: Int, timeouts: CallTimeouts = CallTimeouts(), endedLingerSeconds: Int = 32) {
        self.timeouts = timeouts
        keys = CallIDKeys(capacity: capacity)
        state = FixedArray(repeating: .ended, count: capacity)
        inviteSequence = FixedArray(zeroedCount: capacity)
        cancelSeen = FixedArray(repeating: false, count: capacity)
        lastActivity = FixedArray(zeroedCount: capacity)
        stageStart = FixedArray(zeroedCount: capacity)
        sessionExpiry = FixedArray(zeroedCount: capacity)
        flags = FixedArray(zeroedCount: capacity)
        generation = FixedArray(zeroedCount: capacity)
        attemptOrder = FixedArray(zeroedCount: capacity)
        attemptLimit = max(capacity / 2, 1)
        endedLinger = Int64(endedLingerSeconds) * 1_000_000_000
    }

    public var tracked: Int { keys.index.count }

    /// A call's slot and generation, for tying media to it.
    public struct Handle: Equatable, Sendable {
        public var slot: Int32
        public var generation: UInt32
        public static let none = Handle(slot: -1, generation: 0)
    }

    public func isLive(_ handle: Handle) -> Bool {
        owns(handle) && state[Int(handle.slot)] != .ended
    }

    private func owns(_ handle: Handle) -> Bool {
        handle.slot >= 0 && keys.index.isInUse(Int(handle.slot)) && generation[Int(handle.slot)] == handle.generation
    }

    /// Media of a call flowed: the call is not silent, and its media can be seen.
    public func touch(_ handle: Handle, time: PacketTime) {
        guard owns(handle) else { return }
        let slot = Int(handle.slot)
        lastActivity[slot] = time.nanoseconds
        flags[slot] |= DialogTracker.mediaSeenFlag
        keys.index.touch(slot, second: time.seconds)
    }

    /// The call's latest SDP (offer or answer) says it is on hold, or no longer.
    public func noteHold(_ handle: Handle, _ onHold: Bool) {
        guard owns(handle) else { return }
        let slot = Int(handle.slot)
        if onHold { flags[slot] |= DialogTracker.onHoldFlag } else { flags[slot] &= ~DialogTracker.onHoldFlag }
    }

    /// Takes one SIP message of an INVITE dialog; returns the call it belongs to.
    @discardableResult
    public func take(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, time: PacketTime) -> Handle {
        let callID = message.callID.slice(of: buffer)
        let hash = KeyHash.bytes(callID)
        var slot = keys.find(callID, hash: hash)
        if message.isRequest && message.method == .invite && slot < 0 {
            slot = begin(callID, hash: hash, message: message, time: time)
            return Handle(slot: Int32(slot), generation: generation[slot])
        }
        guard slot >= 0 else { return .none }
        lastActivity[slot] = time.nanoseconds
        keys.index.touch(slot)
        if message.isRequest {
            request(message, slot: slot, time: time)
        } else if message.cseqMethod == .invite || message.cseqMethod == .update {
            if message.cseqMethod == .invite { inviteResponse(message, slot: slot, time: time) }
            if message.statusCode >= 200 && message.statusCode < 300 && state[slot] == .confirmed {
                refreshSession(slot, seconds: message.sessionExpires, time: time)
            }
        }
        return Handle(slot: Int32(slot), generation: generation[slot])
    }

    private func begin(_ callID: UnsafeRawBufferPointer, hash: UInt64, message: SIPMessage, time: PacketTime) -> Int {
        if counters.attempting >= attemptLimit { releaseOldestAttempt(time: time) }
        let claimed = keys.insert(callID, hash: hash)
        let slot = claimed.slot
        if claimed.evicted && state[slot] != .ended && state[slot] != .challenged {
            counters.evicted += 1
        }
        if claimed.evicted { move(slot, to: .ended, time: time) }
        generation[slot] &+= 1
        inviteSequence[slot] = message.cseqNumber
        cancelSeen[slot] = false
        lastActivity[slot] = time.nanoseconds
        stageStart[slot] = time.nanoseconds
        sessionExpiry[slot] = 0
        flags[slot] = 0
        counters.attempts += 1
        // An INVITE with a To tag is a re-INVITE of a call the capture joined late.
        move(slot, to: message.toTag.isEmpty ? .trying : .confirmed, time: time)
        return slot
    }

    public func forEachNewCall(_ body: (UnsafeRawBufferPointer) -> Void) {
        for i in 0..<newCallCount {
            let handle = newCalls[i]
            if owns(handle) { body(keys.key(Int(handle.slot))) }
        }
        newCallCount = 0
    }

    private func request(_ message: SIPMessage, slot: Int, time: PacketTime) {
        switch message.method {
        case .invite:
            // Credentials after a challenge: the same attempt, going on.
            if state[slot] == .challenged && message.toTag.isEmpty && message.cseqNumber > inviteSequence[slot] {
                inviteSequence[slot] = message.cseqNumber
                stageStart[slot] = time.nanoseconds
                move(slot, to: .trying, time: time)
            }
        case .cancel:
            if state[slot] == .trying || state[slot] == .early { cancelSeen[slot] = true }
        case .bye:
            if state[slot] != .ended && state[slot] != .challenged {
                counters.completed += 1
                move(slot, to: .ended, time: time)
            }
        default:
            break
        }
    }

    private func inviteResponse(_ message: SIPMessage, slot: Int, time: PacketTime) {
        let code = message.statusCode
        let current = state[slot]
        // Only the initial INVITE's transaction decides the call; re-INVITE answers do not.
        guard message.cseqNumber == inviteSequence[slot], current == .trying || current == .early else { return }
        switch code {
        case 100:
            break  // hop by hop: says nothing of the callee
        case 101..<200:
            // Ringing goes on while provisional responses keep coming (Timer C is reset).
            guard !message.toTag.isEmpty else { break }
            stageStart[slot] = time.nanoseconds
            move(slot, to: .early, time: time)
        case 200..<300:
            counters.answered += 1
            move(slot, to: .confirmed, time: time)
        case 401, 407:
            stageStart[slot] = time.nanoseconds
            move(slot, to: .challenged, time: time)
        default:
            if code == 487 || cancelSeen[slot] { counters.cancelled += 1 } else { counters.failed += 1 }
            move(slot, to: .ended, time: time)
        }
    }

    /// A 2xx to an INVITE or UPDATE of a confirmed call: its Session-Expires (RFC 4028 §9)
    /// starts the session's interval again; a 2xx without one turns the session timer off.
    private func refreshSession(_ slot: Int, seconds: Int, time: PacketTime) {
        sessionExpiry[slot] = seconds > 0 ? time.nanoseconds + Int64(seconds) * 1_000_000_000 : 0
    }

    /// Lets the oldest attempt still waiting go (counted as evicted) and frees its slot.
    private func releaseOldestAttempt(time: PacketTime) {
        while attemptCount > 0 {
            let handle = attemptOrder[attemptStart]
            attemptStart = (attemptStart + 1) % attemptOrder.count
            attemptCount -= 1
            guard owns(handle), state[Int(handle.slot)] == .trying else { continue }
            counters.evicted += 1
            move(Int(handle.slot), to: .ended, time: time)
            keys.index.release(Int(handle.slot))
            return
        }
    }

    private func rememberAttempt(_ slot: Int) {
        if attemptCount == attemptOrder.count {
            // Full of entries that mostly moved on: the oldest is dropped from the order.
            attemptStart = (attemptStart + 1) % attemptOrder.count
            attemptCount -= 1
        }
        attemptOrder[(attemptStart + attemptCount) % attemptOrder.count] = Handle(slot: Int32(slot),
                                                                                 generation: generation[slot])
        attemptCount += 1
    }

    /// Every change of state goes through here, so the gauges follow the states exactly.
    private func move(_ slot: Int, to next: CallState, time: PacketTime) {
        let previous = state[slot]
        guard previous != next else { return }
        if previous == .trying { counters.attempting -= 1 }
        if next == .trying {
            counters.attempting += 1
            rememberAttempt(slot)
        }
        if previous.isCall && !next.isCall { counters.active -= 1 }
        if !previous.isCall && next.isCall {
            counters.active += 1
            if counters.active > counters.peakActive {
                counters.peakActive = counters.active
                counters.peakTime = time
            }
            if newCallCount < newCalls.count {
                newCalls[newCallCount] = Handle(slot: Int32(slot), generation: generation[slot])
                newCallCount += 1
            }
        }
        state[slot] = next
    }

    /// When the call at `slot` ends unless something happens, and what it ends as (nil: it
    /// is forgotten, being over already).
    private func deadline(_ slot: Int) -> (time: Int64, reason: CallTimeout?) {
        let second: Int64 = 1_000_000_000
        switch state[slot] {
        case .ended:
            return (lastActivity[slot] + endedLinger, nil)
        case .trying, .challenged:
            return (stageStart[slot] + Int64(timeouts.attemptSeconds) * second, .noAnswer)
        case .early:
            return (stageStart[slot] + Int64(timeouts.ringingSeconds) * second, .ringing)
        case .confirmed:
            let flags = flags[slot]
            let quiet: (seconds: Int, reason: CallTimeout)
            if flags & DialogTracker.mediaSeenFlag == 0 {
                quiet = (timeouts.noMediaSeconds, .noMedia)
            } else if flags & DialogTracker.onHoldFlag != 0 {
                quiet = (timeouts.holdSeconds, .onHold)
            } else {
                quiet = (timeouts.silenceSeconds, .silent)
            }
            // Media marks its call at the first packet of each second, so the last packet may
            // be up to a second later than the mark: the call is given that second.
            let marked: Int64 = flags & DialogTracker.mediaSeenFlag != 0 ? second : 0
            let silent = lastActivity[slot] + Int64(quiet.seconds) * second + marked
            let expiry = sessionExpiry[slot]
            if expiry != 0 && expiry < silent { return (expiry, .sessionExpired) }
            return (silent, quiet.reason)
        }
    }

    /// Ends every call whose deadline has passed and forgets ended ones after their linger.
    /// Each call has its own deadline (its stage, its media, its session timer), so every
    /// tracked entry is looked at: once a second of the meter's clock, a few microseconds
    /// for thousands of calls, whatever the packet rate.
    public func sweep(now: PacketTime) {
        var slot = keys.index.oldest
        while slot >= 0 {
            let current = Int(slot)
            slot = keys.index.newer(than: current)
            let due = deadline(current)
            guard now.nanoseconds > due.time else { continue }
            if let reason = due.reason {
                if state[current] == .challenged { counters.failed += 1 } else { counters[reason] += 1 }
                move(current, to: .ended, time: now)
                lastActivity[current] = now.nanoseconds
            } else {
                keys.index.release(current)
            }
        }
    }

    /// A spell without capture (`nanoseconds` long, ending now) is not silence: every call's
    /// clocks move on by it, so calls that went on unseen are not ended for it.
    public func excuse(gap nanoseconds: Int64) {
        var slot = keys.index.oldest
        while slot >= 0 {
            let current = Int(slot)
            lastActivity[current] += nanoseconds
            stageStart[current] += nanoseconds
            if sessionExpiry[current] != 0 { sessionExpiry[current] += nanoseconds }
            slot = keys.index.newer(than: current)
        }
    }
}
