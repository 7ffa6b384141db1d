import Basics
import CSystem
import SIP

/// Where a message for a connection goes: a request on the connection to its next hop
/// (opened when there is none), an answer on the connection its request came on, or on a new
/// one to the client's Via when that is gone (RFC 3261 §18.2.2).
extension StreamConnections {
    /// Sends the request `bytes` on the connection to `peer` (what it does not take at once
    /// waits, see `write`), opened when there is none and `kept` open when idle or not;
    /// false (counted) when it cannot be had or the send fails.
    func send(_ bytes: UnsafeRawBufferPointer, to peer: Endpoint, keeping kept: Bool, now: Int64) -> Bool {
        var slot = find(peer)
        if slot < 0 { slot = open(to: peer, kept: kept, now: now) ?? -1 }
        return send(bytes, on: slot)
    }

    /// Sends the answer `bytes` to the client `peer` on the connection its request came on;
    /// when that is gone, on one opened for it to the port the answer's top Via names at the
    /// client's address (5060, or 5061 over TLS, when it names none: RFC 3261 §18.2.2),
    /// closed once idle like the connections clients open.
    func sendAnswer(_ bytes: UnsafeRawBufferPointer, to peer: Endpoint, now: Int64) -> Bool {
        var slot = find(peer)
        if slot < 0, let line = SIPScanner.startLine(bytes), !line.isRequest,
           let answer = try? SIPScanner.scan(bytes, startLine: line, framing: .stream),
           let sentBy = ViaValues.sentBy(bytes, answer.topVia) {
            let client = Endpoint(address: peer.address, port: sentBy.port > 0 ? UInt16(sentBy.port) : tls != nil ? 5061 : 5060)
            slot = find(client)
            if slot < 0 {
                slot = open(to: client, kept: false, now: now) ?? -1
                if slot >= 0 { counters.openedForAnswers += 1 }
            }
        }
        return send(bytes, on: slot)
    }

    /// Sends `bytes` on connection `slot` (-1: none, counted); while it is being made, they
    /// wait.
    func send(_ bytes: UnsafeRawBufferPointer, on slot: Int) -> Bool {
        guard slot >= 0 else {
            counters.sendFailed += 1
            return false
        }
        if connecting[slot] {
            guard queue(bytes, on: slot) else {
                counters.sendFailed += 1
                return false
            }
            return true
        }
        return write(bytes, on: slot)
    }
}
