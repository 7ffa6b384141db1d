import Basics
import Capture
import SIP

/// REGISTER outcomes (RFC 3261 §10), one per transaction: retransmitted requests and
/// responses are not counted twice.
public struct RegistrationCounters: Equatable, Sendable {
    /// REGISTER transactions (a retransmission is not a new one).
    public var attempts = 0
    public var successes = 0
    /// 401 or 407: the client is asked for credentials.
    public var challenges = 0
    public var failures = 0

    public init() {}
}

/// Tracks REGISTER transactions by Call-ID and CSeq in a preallocated table.
public final class RegistrationTracker {
    public private(set) var counters = RegistrationCounters()
    let keys: CallIDKeys
    let requestSequence: FixedArray<UInt32>
    let answeredSequence: FixedArray<UInt32>
    let answered: FixedArray<Bool>
    let lastActivity: FixedArray<Int64>
    let linger: Int64

    public init(capacity: Int, lingerSeconds: Int = 64) {
        keys = CallIDKeys(capacity: capacity)
        requestSequence = FixedArray(repeating: 0, count: capacity)
        answeredSequence = FixedArray(repeating: 0, count: capacity)
        answered = FixedArray(repeating: false, count: capacity)
        lastActivity = FixedArray(repeating: 0, count: capacity)
        linger = Int64(lingerSeconds) * 1_000_000_000
    }

    public func take(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, time: PacketTime) {
        sweep(now: time)
        let callID = message.callID.slice(of: buffer)
        let hash = KeyHash.bytes(callID)
        var slot = keys.find(callID, hash: hash)
        if message.isRequest {
            if slot < 0 {
                slot = keys.insert(callID, hash: hash).slot
                answered[slot] = false
            } else if requestSequence[slot] == message.cseqNumber {
                keys.index.touch(slot)
                lastActivity[slot] = time.nanoseconds
                return  // a retransmission
            }
            keys.index.touch(slot)
            requestSequence[slot] = message.cseqNumber
            answered[slot] = false
            lastActivity[slot] = time.nanoseconds
            counters.attempts += 1
            return
        }
        let code = message.statusCode
        guard slot >= 0, code >= 200 else { return }
        keys.index.touch(slot)
        lastActivity[slot] = time.nanoseconds
        guard !(answered[slot] && answeredSequence[slot] == message.cseqNumber) else { return }
        answered[slot] = true
        answeredSequence[slot] = message.cseqNumber
        switch code {
        case 200..<300: counters.successes += 1
        case 401, 407: counters.challenges += 1
        default: counters.failures += 1
        }
    }

    func sweep(now: PacketTime) {
        var budget = 4
        while budget > 0, keys.index.oldest >= 0 {
            budget -= 1
            let slot = Int(keys.index.oldest)
            guard now.nanoseconds - lastActivity[slot] > linger else { return }
            keys.index.release(slot)
        }
    }
}
