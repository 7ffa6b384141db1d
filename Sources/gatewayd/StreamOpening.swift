import Basics
import CSystem

/// Connections the node opens itself, to members and proxies it sends requests to over TCP
/// or TLS, and to clients whose connection went before their answer: made without blocking,
/// from the listen address; what is sent before they are made waits in their output buffer.
extension StreamConnections {
    /// A connection to `peer`, being made, `kept` open when idle or not; nil (counted) when
    /// the table is full or the socket cannot be had.
    func open(to peer: Endpoint, kept keep: Bool, now: Int64) -> Int? {
        guard open < most else {
            counters.openFailed += 1
            return nil
        }
        var from = [UInt8](repeating: 0, count: 16), to = [UInt8](repeating: 0, count: 16)
        NodeDaemon.store(local.address, into: &from)
        NodeDaemon.store(peer.address, into: &to)
        var pending: Int32 = 0
        let descriptor = gw_tcp_connect(from, to, peer.port, &pending)
        guard descriptor >= 0 else {
            counters.openFailed += 1
            return nil
        }
        let slot = index.claim(hash: peer.hash).slot
        let tag = tagBase + UInt64(slot)
        guard gw_epoll_add(loop, descriptor, tag) == 0, pending == 0 || gw_epoll_watch(loop, descriptor, tag, 1) == 0,
              start(slot, descriptor, peer, outgoing: true, now: now) else {
            index.release(slot)
            counters.openFailed += 1
            gw_close(descriptor)
            return nil
        }
        connecting[slot] = pending != 0
        kept[slot] = keep
        counters.opened += 1
        if pending == 0 && tls != nil {
            startHandshake(slot, now: now)
            guard index.isInUse(slot) else { return nil }
        }
        return slot
    }

    /// The connection being made at `slot` is writable: made (what waited goes) or failed.
    func finishOpening(_ slot: Int, now: Int64) {
        connecting[slot] = false
        guard gw_socket_error(descriptors[slot]) == 0,
              gw_epoll_watch(loop, descriptors[slot], tagBase + UInt64(slot), 0) == 0 else {
            counters.openFailed += 1
            close(slot)
            return
        }
        if tls != nil {
            startHandshake(slot, now: now)
        } else {
            flushOutput(slot)
        }
    }
}
