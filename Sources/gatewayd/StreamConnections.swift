import Basics
import CSystem
import CTLS
import SIP

/// The node's TCP side (RFC 3261 §18): a listening socket and the connections it accepted,
/// each with a bounded buffer that SIP messages are framed out of by Content-Length
/// (`StreamFramer`). A message goes to the node like a datagram from the connection's peer,
/// marked as come over TCP; the node's answers to it come back here by that peer's address
/// and port, which name one connection. Limits on connections in all and from one address,
/// an idle timeout and a deadline for a message once begun (slowloris); every refusal and
/// every close is counted.
///
/// It also opens connections, to members the node forwards to over TCP (`send` to a peer it
/// has no connection to): made without blocking, what is sent meanwhile waits in the
/// connection's output buffer; kept open (no idle timeout), reused for every request to that
/// member, and their answers come back on them.
///
/// With a `TLSContext` the connections carry SIP over TLS (StreamTLS.swift): what is read is
/// ciphertext that the connection's TLS session turns into the bytes framed here, and what
/// is written goes through the session first.
final class StreamConnections {
    struct Counters {
        var accepted = 0
        var refusedLimit = 0
        var refusedPerSource = 0
        var closedByPeer = 0
        var closedIdle = 0
        var closedStalled = 0
        var closedUnframeable = 0
        var closedTooLarge = 0
        /// An answer for a connection that is gone, or one it would not take whole at once
        /// (a peer that does not read its answers loses its connection).
        var sendFailed = 0
        /// Writes the connection did not take whole at once: the rest waited for it.
        var waited = 0
        var keepalives = 0
        var messages = 0
        /// Connections this side opened (to members, proxies, and clients whose connection
        /// went before their answer), and those that could not be made; of those opened, the
        /// ones for answers (RFC 3261 §18.2.2).
        var opened = 0
        var openFailed = 0
        var openedForAnswers = 0
        /// TLS: handshakes completed, and connections closed because theirs failed (refused
        /// certificate, not TLS at all) or did not finish within the message deadline.
        var handshakes = 0
        var closedHandshake = 0
        /// TLS: connections closed on a record that did not decrypt or an alert after the
        /// handshake.
        var closedTLSError = 0
        /// TLS: connections this side opened whose certificate does not name the address they
        /// were opened to (when peers are verified).
        var closedCertificate = 0

        /// Each counter with its name in the status file, in one place for JSON and Prometheus;
        /// the handshake counters only for a TLS listener.
        func forEach(tls: Bool, _ body: (StaticString, Int) -> Void) {
            body("accepted", accepted)
            body("refused_limit", refusedLimit)
            body("refused_per_source", refusedPerSource)
            body("closed_by_peer", closedByPeer)
            body("closed_idle", closedIdle)
            body("closed_stalled", closedStalled)
            body("closed_unframeable", closedUnframeable)
            body("closed_too_large", closedTooLarge)
            body("send_failed", sendFailed)
            body("waited", waited)
            body("keepalives", keepalives)
            body("messages", messages)
            body("opened", opened)
            body("open_failed", openFailed)
            body("opened_for_answers", openedForAnswers)
            if tls {
                body("handshakes", handshakes)
                body("closed_handshake", closedHandshake)
                body("closed_tls_error", closedTLSError)
                body("closed_certificate", closedCertificate)
            }
        }
    }

    /// Connections the kernel completes before the loop accepts them: a burst of connects
    /// beyond it has SYNs dropped and retried a second later.
    static let backlog: Int32 = 1024
    /// How often idle and stalled connections are looked for.
    static let sweepInterval: Int64 = 250_000_000

    let listener: Int32
    /// The listen address: connections this side opens come from it.
    let local: Endpoint
    /// epoll tags of connections: this plus the connection's slot.
    let tagBase: UInt64
    let limits: StreamLimits
    let loop: Int32
    let index: SlotIndex
    let descriptors: FixedArray<Int32>
    let peers: FixedArray<Endpoint>
    /// Bytes waiting in each connection's buffer, and the most it has held (its pages are
    /// given back on close when that passed a page).
    let held: FixedArray<Int32>
    let mostHeld: FixedArray<Int32>
    let scans: FixedArray<StreamScan>
    let lastActivity: FixedArray<Int64>
    /// When the message now in the buffer began arriving; 0 between messages.
    let messageBegan: FixedArray<Int64>
    let buffers: FixedArray<UInt8>
    /// Connections this side opened, and those of them still being made, with what waits to
    /// be sent once they are.
    let outgoing: FixedArray<Bool>
    /// Connections kept open however long they are idle: those opened for requests to a
    /// member (the group's own links; one to a proxy or a dialog's target closes when idle).
    let kept: FixedArray<Bool>
    let connecting: FixedArray<Bool>
    let waitingOutput: FixedArray<Int32>
    let outputUsed: FixedArray<Bool>
    let outputs: FixedArray<UInt8>
    let peerAddress = FixedArray<UInt8>(zeroedCount: 16)
    /// TLS: the context sessions are made from, each connection's session and whether its
    /// handshake is done, and room for ciphertext on its way between a socket and a session.
    let tls: TLSContext?
    let sessions: FixedArray<OpaquePointer?>
    let established: FixedArray<Bool>
    /// TLS: the peer's certificate verified and names the address the connection comes from.
    let authenticated: FixedArray<Bool>
    let ciphertext: FixedArray<UInt8>
    /// A descriptor held back for taking (and closing) a connection when there are no more.
    var spare = gw_spare_descriptor()
    var answer = TextBuffer(capacity: 2048)
    var counters = Counters()
    var nextSweep = Int64.max

    var open: Int { index.count }
    /// Connections open at most: `tcp_connections`, or fewer when the descriptor limit would
    /// not leave the daemon 64 of its own (status and pid files, hooks, its other sockets).
    let most: Int

    /// Listening on `listen` (TCP, the same port as UDP), watched by `loop`; nil, reported,
    /// when the port cannot be had.
    init?(listen: Endpoint, limits: StreamLimits, loop: Int32, tag: UInt64, connectionTags: UInt64, descriptorLimit: Int,
          tls: TLSContext? = nil) {
        var address = [UInt8](repeating: 0, count: 16)
        NodeDaemon.store(listen.address, into: &address)
        let socket = gw_tcp_listen(address, listen.port, StreamConnections.backlog)
        guard socket >= 0, gw_epoll_add(loop, socket, tag) == 0 else {
            var message = TextBuffer()
            message.append(tls == nil ? "cannot listen on TCP " : "cannot listen on TLS ")
            message.append(listen)
            message.append(": ")
            message.append(cString: strerror(socket < 0 ? -socket : gw_errno()))
            Output.error(message)
            if socket >= 0 { gw_close(socket) }
            return nil
        }
        listener = socket
        local = listen
        tagBase = connectionTags
        self.limits = limits
        self.loop = loop
        most = descriptorLimit > 0 ? min(limits.connections, max(8, descriptorLimit - 64)) : limits.connections
        let count = limits.connections
        index = SlotIndex(capacity: count)
        descriptors = FixedArray(repeating: -1, count: count)
        peers = FixedArray(zeroedCount: count)
        held = FixedArray(zeroedCount: count)
        mostHeld = FixedArray(zeroedCount: count)
        scans = FixedArray(zeroedCount: count)
        lastActivity = FixedArray(zeroedCount: count)
        messageBegan = FixedArray(zeroedCount: count)
        buffers = FixedArray(zeroedCount: count * StreamLimits.bufferBytes)
        outgoing = FixedArray(repeating: false, count: count)
        kept = FixedArray(repeating: false, count: count)
        connecting = FixedArray(repeating: false, count: count)
        waitingOutput = FixedArray(zeroedCount: count)
        outputUsed = FixedArray(zeroedCount: count)
        outputs = FixedArray(zeroedCount: count * StreamLimits.bufferBytes)
        self.tls = tls
        sessions = FixedArray(repeating: nil, count: tls == nil ? 1 : count)
        established = FixedArray(repeating: false, count: tls == nil ? 1 : count)
        authenticated = FixedArray(repeating: false, count: tls == nil ? 1 : count)
        ciphertext = FixedArray(zeroedCount: tls == nil ? 1 : StreamConnections.ciphertextBytes)
    }

    /// The connection an epoll tag names, or nil when the tag is not this table's.
    func slot(ofTag tag: UInt64) -> Int? {
        tag >= tagBase && tag - tagBase < UInt64(index.capacity) ? Int(tag - tagBase) : nil
    }

    /// When `sweep` has something to look at.
    var nextDeadline: Int64 { open > 0 ? nextSweep : Int64.max }

    // MARK: Connections

    /// Takes every connection waiting, or closes it at once when a limit says no.
    func acceptAll(now: Int64) {
        while true {
            var port: UInt16 = 0
            let descriptor = gw_tcp_accept(listener, peerAddress.pointer(at: 0), &port, &spare)
            if descriptor == -Int32(GW_ECONNABORTED) {
                // Out of descriptors: taken with the spare one and closed.
                counters.refusedLimit += 1
                continue
            }
            // EAGAIN: none left; another error waits for the next turn.
            guard descriptor >= 0 else { return }
            let peer = Endpoint(address: NodeDaemon.load(peerAddress.bytes(0, 16)), port: port)
            if open >= most {
                counters.refusedLimit += 1
                gw_close(descriptor)
                continue
            }
            if connections(from: peer.address) >= limits.perSource {
                counters.refusedPerSource += 1
                gw_close(descriptor)
                continue
            }
            let slot = index.claim(hash: peer.hash).slot
            guard gw_epoll_add(loop, descriptor, tagBase + UInt64(slot)) == 0,
                  start(slot, descriptor, peer, outgoing: false, now: now) else {
                index.release(slot)
                counters.refusedLimit += 1
                gw_close(descriptor)
                continue
            }
            counters.accepted += 1
        }
    }

    /// Sets up `slot` for a connection; false when its TLS session cannot be had (memory).
    func start(_ slot: Int, _ descriptor: Int32, _ peer: Endpoint, outgoing opened: Bool, now: Int64) -> Bool {
        if let tls {
            guard let session = gw_tls_new(tls.context, opened ? 0 : 1) else { return false }
            sessions[slot] = session
            established[slot] = false
            authenticated[slot] = false
        }
        descriptors[slot] = descriptor
        peers[slot] = peer
        held[slot] = 0
        mostHeld[slot] = 0
        scans[slot] = StreamScan()
        lastActivity[slot] = now
        messageBegan[slot] = 0
        outgoing[slot] = opened
        kept[slot] = false
        connecting[slot] = false
        waitingOutput[slot] = 0
        // The handshake has the message deadline to finish (half a handshake is closed).
        if tls != nil { messageBegan[slot] = now }
        if nextSweep == Int64.max { nextSweep = now + StreamConnections.sweepInterval }
        return true
    }

    func connections(from address: IPAddress) -> Int {
        var count = 0
        for slot in 0..<index.capacity where index.isInUse(slot) && peers[slot].address == address { count += 1 }
        return count
    }

    /// The connection to `peer`, or -1.
    func find(_ peer: Endpoint) -> Int {
        index.find(peer.hash) { peers[$0] == peer }
    }

    func close(_ slot: Int) {
        gw_close(descriptors[slot])
        descriptors[slot] = -1
        if tls != nil {
            gw_tls_free(sessions[slot])
            sessions[slot] = nil
        }
        if Int(mostHeld[slot]) > 4096 {
            buffers.releasePages(slot * StreamLimits.bufferBytes, StreamLimits.bufferBytes)
        }
        if outputUsed[slot] {
            outputs.releasePages(slot * StreamLimits.bufferBytes, StreamLimits.bufferBytes)
            outputUsed[slot] = false
        }
        index.release(slot)
        if open == 0 { nextSweep = Int64.max }
    }

    // MARK: Reading

    /// Where a whole message goes: its bytes, the message as scanned when framing scanned it
    /// (nil: not scanned yet), the peer, and whether the connection is authenticated (TLS:
    /// the peer's certificate names the address it comes from).
    typealias Delivery = (UnsafeRawBufferPointer, SIPMessage?, Endpoint, Bool) -> Void

    /// Reads what connection `slot` has (once: the loop comes back while more waits) and
    /// hands each whole message to `deliver`; answers keep-alives; closes the connection
    /// when the peer did, or when what it sent cannot be framed or is too large.
    func readable(_ slot: Int, now: Int64, _ deliver: Delivery) {
        guard slot >= 0 && slot < index.capacity && index.isInUse(slot) else { return }
        if connecting[slot] {
            finishOpening(slot, now: now)
            return
        }
        // Writable again, maybe: what waits goes first.
        guard flushOutput(slot) else { return }
        if tls != nil {
            readTLS(slot, now: now, deliver)
            return
        }
        let waiting = Int(held[slot])
        guard let read = receive(slot, into: buffers.pointer(at: slot * StreamLimits.bufferBytes + waiting),
                                 StreamLimits.bufferBytes - waiting, now: now) else { return }
        frame(slot, total: waiting + read, now: now, deliver)
    }

    /// Reads what the socket of `slot` has into `buffer` (once); nil when nothing came: it
    /// would block, or the peer closed (counted, and closed here too).
    func receive(_ slot: Int, into buffer: UnsafeMutablePointer<UInt8>, _ capacity: Int, now: Int64) -> Int? {
        let read = gw_read(descriptors[slot], buffer, capacity)
        if wouldBlock(read) { return nil }
        guard read > 0 else {
            counters.closedByPeer += 1
            close(slot)
            return nil
        }
        lastActivity[slot] = now
        return read
    }

    /// Hands each whole message among the `total` bytes connection `slot` holds to `deliver`
    /// and keeps the rest; false when the connection was closed (what it sent cannot be
    /// framed or is too large, or a keep-alive's answer failed).
    @discardableResult
    func frame(_ slot: Int, total: Int, now: Int64, _ deliver: Delivery) -> Bool {
        let base = slot * StreamLimits.bufferBytes
        held[slot] = Int32(total)
        mostHeld[slot] = max(mostHeld[slot], Int32(total))
        var start = 0
        frames: while true {
            let bytes = buffers.bytes(base + start, total - start)
            var scan = scans[slot]
            var scanned: SIPMessage?
            switch StreamFramer.next(bytes, resuming: &scan, limit: StreamLimits.bufferBytes, scanned: &scanned) {
            case .message(let length):
                counters.messages += 1
                scans[slot] = StreamScan()
                messageBegan[slot] = 0
                deliver(UnsafeRawBufferPointer(rebasing: bytes[0..<length]), scanned, peers[slot], tls != nil && authenticated[slot])
                start += length
            case .ping(let length):
                // RFC 5626 §4.4.1: a double CRLF is answered with one.
                counters.keepalives += 1
                start += length
                let pong: StaticString = "\r\n"
                guard write(UnsafeRawBufferPointer(start: pong.utf8Start, count: 2), on: slot) else { return false }
            case .skip(let length):
                start += length
            case .needMore:
                scans[slot] = scan
                messageBegan[slot] = start == total ? 0 : (messageBegan[slot] == 0 ? now : messageBegan[slot])
                break frames
            case .unframeable:
                counters.closedUnframeable += 1
                answerUnframeable(bytes, on: slot)
                if index.isInUse(slot) { close(slot) }
                return false
            case .tooLarge:
                counters.closedTooLarge += 1
                close(slot)
                return false
            }
        }
        if start > 0 {
            let remaining = total - start
            if remaining > 0 {
                UnsafeMutableRawPointer(buffers.pointer(at: base))
                    .copyMemory(from: buffers.pointer(at: base + start), byteCount: remaining)
            }
            held[slot] = Int32(remaining)
        }
        return true
    }

    /// A request without Content-Length on a stream gets 400 before the connection closes
    /// (RFC 3261 §18.3); anything else that cannot be framed is just closed.
    func answerUnframeable(_ bytes: UnsafeRawBufferPointer, on slot: Int) {
        guard let line = SIPScanner.startLine(bytes), line.isRequest, line.method != .ack,
              let headers = SIPScanner.headerSection(bytes, startLine: line) else { return }
        ResponseWriter.begin(400, for: headers, bytes, toTag: nil, into: &answer)
        ResponseWriter.end(into: &answer)
        answer.bytes.withUnsafeBytes { _ = write($0, on: slot) }
    }

    // MARK: Timers

    /// Closes connections idle past the idle timeout, and those whose message has been
    /// arriving for longer than the message deadline.
    func sweep(now: Int64) {
        guard now >= nextSweep else { return }
        nextSweep = now + StreamConnections.sweepInterval
        for slot in 0..<index.capacity where index.isInUse(slot) {
            if messageBegan[slot] != 0 && now - messageBegan[slot] > limits.messageNanoseconds {
                if tls != nil && !established[slot] {
                    counters.closedHandshake += 1
                } else {
                    counters.closedStalled += 1
                }
                close(slot)
            } else if !kept[slot] && now - lastActivity[slot] > limits.idleNanoseconds {
                counters.closedIdle += 1
                close(slot)
            }
        }
        if open == 0 { nextSweep = Int64.max }
    }
}
