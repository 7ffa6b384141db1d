import Basics
import CSystem
import CTLS
import SIP

/// SIP over TLS on a connection (RFC 3261 §26.2): the socket carries ciphertext, which the
/// connection's session (CTLS, memory BIOs) takes in and gives back as the plaintext that is
/// framed like TCP's; plaintext written goes through the session and its ciphertext through
/// the connection's output buffer. Until the handshake is done, what is written waits in the
/// output buffer as plaintext (a connection this side opened to a member), and the
/// handshake's own records go straight to the socket: they are a few kilobytes, which an
/// empty socket buffer always takes. A handshake that fails, or does not finish within the
/// message deadline, closes the connection (counted as closed_handshake).
extension StreamConnections {
    /// TLS records are at most 16 KiB of plaintext plus their header and padding: read and
    /// taken a record or so at a time.
    static let ciphertextBytes = 17 * 1024

    /// Reads the ciphertext connection `slot` has (once: the loop comes back while more
    /// waits), moves its handshake on, and frames the plaintext that comes out.
    func readTLS(_ slot: Int, now: Int64, _ deliver: Delivery) {
        guard let session = sessions[slot],
              let read = receive(slot, into: ciphertext.pointer(at: 0), StreamConnections.ciphertextBytes, now: now) else { return }
        guard gw_tls_feed(session, ciphertext.pointer(at: 0), read) == 0 else { return closeOnError(slot) }
        if !established[slot] {
            let step = gw_tls_handshake(session)
            // Its records (or the alert that says why it failed) go first.
            guard sendCiphertext(slot) else { return }
            guard step != Int32(GW_TLS_FAILED) else { return closeOnError(slot) }
            guard step == 1 else { return }
            established[slot] = true
            messageBegan[slot] = 0
            counters.handshakes += 1
            authenticated[slot] = certificateNames(session, peers[slot].address)
            // A connection this side opened (to a member, a proxy): when peers are verified,
            // its certificate must name the address it was opened to, or nothing is sent on it.
            guard !outgoing[slot] || authenticated[slot] || tls?.verifiesPeers == false else {
                counters.closedCertificate += 1
                close(slot)
                return
            }
            guard sendWaitingPlaintext(slot) else { return }
        }
        let base = slot * StreamLimits.bufferBytes
        while true {
            let waiting = Int(held[slot])
            guard waiting < StreamLimits.bufferBytes else {
                // The framer refuses a message larger than the buffer before it is full.
                counters.closedTooLarge += 1
                close(slot)
                return
            }
            let plain = gw_tls_read(session, buffers.pointer(at: base + waiting), StreamLimits.bufferBytes - waiting)
            if plain == GW_TLS_WANT_MORE { break }
            guard plain > 0 else {
                if plain == GW_TLS_CLOSED {
                    counters.closedByPeer += 1
                    close(slot)
                } else {
                    closeOnError(slot)
                }
                return
            }
            guard frame(slot, total: waiting + plain, now: now, deliver) else { return }
        }
        // TLS 1.3 may answer records of the peer's (a key update) on its own.
        sendCiphertext(slot)
    }

    /// `write` over TLS: plaintext through the session, its ciphertext on to the socket; held
    /// as plaintext until the handshake is done.
    func writeTLS(_ bytes: UnsafeRawBufferPointer, on slot: Int) -> Bool {
        guard let session = sessions[slot] else { return fail(slot) }
        guard established[slot] else { return queue(bytes, on: slot) || fail(slot) }
        guard bytes.count == 0 || gw_tls_write(session, bytes.baseAddress, bytes.count) == bytes.count else { return fail(slot) }
        return sendCiphertext(slot)
    }

    /// Sends the ciphertext the session has for the peer; false (closed, counted) when the
    /// connection fails. Before the handshake is done it goes straight to the socket, which
    /// must take it whole.
    @discardableResult
    func sendCiphertext(_ slot: Int) -> Bool {
        guard let session = sessions[slot] else { return false }
        while gw_tls_pending(session) > 0 {
            let count = gw_tls_take(session, ciphertext.pointer(at: 0), StreamConnections.ciphertextBytes)
            let bytes = ciphertext.bytes(0, count)
            if established[slot] {
                guard writeToSocket(bytes, on: slot) else { return false }
            } else {
                guard gw_tcp_send(descriptors[slot], bytes.baseAddress, count) == count else { return fail(slot) }
            }
        }
        return true
    }

    /// Whether the session's peer certificate verified and names `address` (an IP
    /// subjectAltName).
    func certificateNames(_ session: OpaquePointer, _ address: IPAddress) -> Bool {
        NodeDaemon.store(address, into: UnsafeMutableRawBufferPointer(start: peerAddress.pointer(at: 0), count: 16))
        // IPv4 as its four bytes, not the mapped sixteen.
        let start = address.isIPv4 ? 12 : 0
        return gw_tls_peer_names(session, nil, peerAddress.pointer(at: start), 16 - start) == 1
    }

    /// Once the handshake is done: what was written meanwhile goes through the session.
    func sendWaitingPlaintext(_ slot: Int) -> Bool {
        let waiting = Int(waitingOutput[slot])
        guard waiting > 0, let session = sessions[slot] else { return true }
        // The session encrypts it all at once, so the buffer is free for ciphertext after.
        waitingOutput[slot] = 0
        guard gw_tls_write(session, outputs.pointer(at: slot * StreamLimits.bufferBytes), waiting) == waiting else {
            return fail(slot)
        }
        return sendCiphertext(slot)
    }

    /// A connection this side opened is made: its handshake starts (the ClientHello goes).
    func startHandshake(_ slot: Int, now: Int64) {
        guard let session = sessions[slot] else { return }
        messageBegan[slot] = now
        if gw_tls_handshake(session) == Int32(GW_TLS_FAILED) { return closeOnError(slot) }
        sendCiphertext(slot)
    }

    /// Closes a connection whose session failed: counted as its handshake's failure, or
    /// as an error after it.
    func closeOnError(_ slot: Int) {
        if established[slot] { counters.closedTLSError += 1 } else { counters.closedHandshake += 1 }
        close(slot)
    }
}
