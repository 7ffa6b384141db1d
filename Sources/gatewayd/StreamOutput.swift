import Basics
import CSystem

/// What a connection does not take at once waits in its output buffer (64 KiB) and goes when
/// it is writable again, in order: a 60 KB INVITE to a member whose socket buffer is smaller,
/// or answers to a phone that reads slowly. A peer that lets more than that pile up loses its
/// connection (counted in `send_failed`).
extension StreamConnections {
    /// Sends `bytes` on `slot` now, or after what already waits (over TLS, through the
    /// connection's session); false (counted, and the connection closed) when it fails or the
    /// output buffer cannot hold what is left.
    func write(_ bytes: UnsafeRawBufferPointer, on slot: Int) -> Bool {
        tls == nil ? writeToSocket(bytes, on: slot) : writeTLS(bytes, on: slot)
    }

    /// `write` of bytes as they go on the wire.
    func writeToSocket(_ bytes: UnsafeRawBufferPointer, on slot: Int) -> Bool {
        var done = 0
        if waitingOutput[slot] == 0 {
            let sent = gw_tcp_send(descriptors[slot], bytes.baseAddress, bytes.count)
            if sent == bytes.count { return true }
            guard sent >= 0 || wouldBlock(sent) else { return fail(slot) }
            done = max(Int(sent), 0)
            counters.waited += 1
        }
        guard queue(UnsafeRawBufferPointer(rebasing: bytes[done...]), on: slot),
              gw_epoll_watch(loop, descriptors[slot], tagBase + UInt64(slot), 1) == 0 else { return fail(slot) }
        return true
    }

    /// Keeps `bytes` after what waits on `slot`; false when they do not fit.
    func queue(_ bytes: UnsafeRawBufferPointer, on slot: Int) -> Bool {
        let waiting = Int(waitingOutput[slot])
        guard waiting + bytes.count <= StreamLimits.bufferBytes else { return false }
        outputs.copy(bytes, to: slot * StreamLimits.bufferBytes + waiting)
        waitingOutput[slot] = Int32(waiting + bytes.count)
        outputUsed[slot] = true
        return true
    }

    /// Sends what waits on `slot`, as much as the connection takes, and watches it for
    /// writing while some is left; false (counted, closed) on an error.
    @discardableResult
    func flushOutput(_ slot: Int) -> Bool {
        let waiting = Int(waitingOutput[slot])
        // Over TLS before the handshake is done, what waits is plaintext (StreamTLS.swift).
        guard waiting > 0, tls == nil || established[slot] else { return true }
        let base = slot * StreamLimits.bufferBytes
        let sent = gw_tcp_send(descriptors[slot], outputs.pointer(at: base), waiting)
        guard sent >= 0 || wouldBlock(sent) else { return fail(slot) }
        let done = max(Int(sent), 0), left = waiting - done
        if left > 0 && done > 0 {
            UnsafeMutableRawPointer(outputs.pointer(at: base)).copyMemory(from: outputs.pointer(at: base + done), byteCount: left)
        }
        waitingOutput[slot] = Int32(left)
        guard gw_epoll_watch(loop, descriptors[slot], tagBase + UInt64(slot), left > 0 ? 1 : 0) == 0 else { return fail(slot) }
        return true
    }

    func wouldBlock(_ result: Int) -> Bool { result == -Int(GW_EAGAIN) || result == -Int(GW_EWOULDBLOCK) }

    func fail(_ slot: Int) -> Bool {
        counters.sendFailed += 1
        close(slot)
        return false
    }
}
