import Capture

/// Where a call stands, by its Call-ID.
public enum CallState: UInt8, Sendable {
    /// INVITE sent, no provisional response with a To tag yet.
    case trying
    /// A 1xx with a To tag: ringing or in early media.
    case early
    /// A 2xx: the call is up.
    case confirmed
    /// The INVITE was challenged (401/407); the same Call-ID usually comes back with
    /// credentials, which is the same call attempt, not a new one.
    case challenged
    /// Over (BYE, CANCEL, failure, silence); kept a while to absorb retransmissions.
    case ended

    var isActive: Bool { self == .trying || self == .early || self == .confirmed }
}

/// Call figures, all since start except the gauges `active` and `peakActive`.
public struct CallCounters: Equatable, Sendable {
    /// Distinct Call-IDs seen in an INVITE (what `tshark -Y sip.Method=="INVITE"` counts).
    public var attempts = 0
    public var answered = 0
    /// Ended by a final response >= 300 other than 487, or a challenge never answered.
    public var failed = 0
    /// CANCELled, or answered 487 Request Terminated.
    public var cancelled = 0
    /// Ended normally by BYE (answered calls, and early dialogs closed by BYE).
    public var completed = 0
    /// Went silent (no SIP, no media) for longer than the inactivity timeout.
    public var timedOut = 0
    /// Pushed out of a full table while still active.
    public var evicted = 0
    public var active = 0
    public var peakActive = 0
    public var peakTime = PacketTime.zero

    public init() {}
}

/// Follows INVITE dialogs by Call-ID (RFC 3261 §12-§15) in a preallocated table.
/// Re-INVITEs and retransmissions are not new calls; a final response to a re-INVITE does
/// not end the call; every call ends exactly once, so no gauge drifts or goes negative.
public final class DialogTracker {
    public private(set) var counters = CallCounters()
    let keys: CallIDKeys
    let state: FixedArray<CallState>
    let inviteSequence: FixedArray<UInt32>
    let cancelSeen: FixedArray<Bool>
    let lastActivity: FixedArray<Int64>
    /// Bumped each time a slot takes a new call, so media can tell whether their call lives.
    let generation: FixedArray<UInt32>
    let inactivityTimeout: Int64
    let endedLinger: Int64
    /// Calls begun since `forEachNewCall` last ran (slot and generation); a full ring drops
    /// the oldest.
    let newCalls = FixedArray<Handle>(repeating: .none, count: 64)
    var newCallCount = 0

    public init(capacity: Int, inactivityTimeoutSeconds: Int, endedLingerSeconds: Int = 32) {
        keys = CallIDKeys(capacity: capacity)
        state = FixedArray(repeating: .ended, count: capacity)
        inviteSequence = FixedArray(repeating: 0, count: capacity)
        cancelSeen = FixedArray(repeating: false, count: capacity)
        lastActivity = FixedArray(repeating: 0, count: capacity)
        generation = FixedArray(repeating: 0, count: capacity)
        inactivityTimeout = Int64(inactivityTimeoutSeconds) * 1_000_000_000
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
        handle.slot >= 0 && keys.index.isInUse(Int(handle.slot)) && generation[Int(handle.slot)] == handle.generation
            && state[Int(handle.slot)] != .ended
    }

    /// Media of a call flowed: the call is not silent.
    public func touch(_ handle: Handle, time: PacketTime) {
        guard handle.slot >= 0, keys.index.isInUse(Int(handle.slot)),
              generation[Int(handle.slot)] == handle.generation else { return }
        lastActivity[Int(handle.slot)] = time.nanoseconds
        keys.index.touch(Int(handle.slot), second: time.seconds)
    }

    /// Takes one SIP message of an INVITE dialog; returns the call it belongs to.
    @discardableResult
    public func take(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, time: PacketTime) -> Handle {
        sweep(now: time)
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
        } else if message.cseqMethod == .invite {
            inviteResponse(message, slot: slot, time: time)
        }
        return Handle(slot: Int32(slot), generation: generation[slot])
    }

    private func begin(_ callID: UnsafeRawBufferPointer, hash: UInt64, message: SIPMessage, time: PacketTime) -> Int {
        let claimed = keys.insert(callID, hash: hash)
        let slot = claimed.slot
        if claimed.evicted && state[slot].isActive {
            counters.evicted += 1
            counters.active -= 1
        }
        generation[slot] &+= 1
        // An INVITE with a To tag is a re-INVITE of a call the capture joined late.
        state[slot] = message.toTag.isEmpty ? .trying : .confirmed
        inviteSequence[slot] = message.cseqNumber
        cancelSeen[slot] = false
        lastActivity[slot] = time.nanoseconds
        counters.attempts += 1
        becameActive(time)
        if newCallCount < newCalls.count {
            newCalls[newCallCount] = Handle(slot: Int32(slot), generation: generation[slot])
            newCallCount += 1
        }
        return slot
    }

    public func forEachNewCall(_ body: (UnsafeRawBufferPointer) -> Void) {
        for i in 0..<newCallCount {
            let handle = newCalls[i]
            if keys.index.isInUse(Int(handle.slot)) && generation[Int(handle.slot)] == handle.generation {
                body(keys.key(Int(handle.slot)))
            }
        }
        newCallCount = 0
    }

    private func request(_ message: SIPMessage, slot: Int, time: PacketTime) {
        switch message.method {
        case .invite:
            // Credentials after a challenge: the same attempt, going on.
            if state[slot] == .challenged && message.toTag.isEmpty && message.cseqNumber > inviteSequence[slot] {
                state[slot] = .trying
                inviteSequence[slot] = message.cseqNumber
                becameActive(time)
            }
        case .cancel:
            if state[slot] == .trying || state[slot] == .early { cancelSeen[slot] = true }
        case .bye:
            if state[slot].isActive {
                counters.completed += 1
                end(slot)
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
        case 100..<200:
            if !message.toTag.isEmpty && code != 100 { state[slot] = .early }
        case 200..<300:
            state[slot] = .confirmed
            counters.answered += 1
        case 401, 407:
            state[slot] = .challenged
            counters.active -= 1
        default:
            if code == 487 || cancelSeen[slot] { counters.cancelled += 1 } else { counters.failed += 1 }
            end(slot)
        }
    }

    private func becameActive(_ time: PacketTime) {
        counters.active += 1
        if counters.active > counters.peakActive {
            counters.peakActive = counters.active
            counters.peakTime = time
        }
    }

    private func end(_ slot: Int) {
        if state[slot].isActive { counters.active -= 1 }
        state[slot] = .ended
    }

    /// Ends calls that went silent and forgets ended ones after their linger. Looks only at
    /// the least recently active entries, so the cost per call is constant.
    public func sweep(now: PacketTime) {
        var budget = 4
        while budget > 0, keys.index.oldest >= 0 {
            budget -= 1
            let slot = Int(keys.index.oldest)
            let idle = now.nanoseconds - lastActivity[slot]
            switch state[slot] {
            case .ended:
                guard idle > endedLinger else { return }
            case .trying, .early, .confirmed, .challenged:
                guard idle > inactivityTimeout else { return }
                if state[slot] == .challenged { counters.failed += 1 } else { counters.timedOut += 1 }
                end(slot)
            }
            keys.index.release(slot)
        }
    }
}
