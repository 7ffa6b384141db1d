import Basics
import CSystem
import GatewayCore
import SIP

/// The loop's side of recvmmsg and sendmmsg: datagrams move between a socket and the node in
/// batches of up to `GW_BATCH_MAX`, one system call per batch each way instead of one per
/// datagram. A copy of each goes to HEP when it is on.
final class UDPBatch {
    static let size = Int(GW_BATCH_MAX)
    /// A receive slot holds the largest UDP payload (65,507 bytes), rounded up.
    static let slot = 65_536
    /// Received bytes, a slot per datagram; zeroed pages, so only what datagrams reach is
    /// resident (a batch of small requests touches a page a slot).
    let slots: FixedArray<UInt8>
    let entries: FixedArray<gw_datagram>

    /// `receiving`: room for a batch of received datagrams; a batch that only sends needs none.
    init(receiving: Bool) {
        slots = FixedArray(zeroedCount: receiving ? UDPBatch.size * UDPBatch.slot : 1)
        entries = FixedArray(zeroedCount: UDPBatch.size)
    }

    /// Reads the datagrams waiting on `socket`, a batch at most (the socket stays readable
    /// when more wait, and the loop comes back for them), and hands each to `deliver`.
    func receive(_ socket: Int32, at local: Endpoint, hep: HEPExporter?, _ deliver: (UnsafeRawBufferPointer, Endpoint) -> Void) {
        let count = gw_udp_receive_batch(socket, slots.pointer(at: 0), UDPBatch.slot, entries.pointer(at: 0), Int32(UDPBatch.size))
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            let entry = entries.pointer(at: index)
            let bytes = slots.bytes(index * UDPBatch.slot, Int(entry.pointee.length))
            let from = Endpoint(address: withUnsafeBytes(of: &entry.pointee.address) { NodeDaemon.load($0) }, port: entry.pointee.port)
            hep?.exchanged(bytes, from: from, to: local)
            deliver(bytes, from)
        }
    }

    /// Sends what `outbox` holds, a batch per system call, and empties it; what goes over
    /// TCP goes on a connection in `streams`, over TLS in `secure`: a request on the one to
    /// its next hop (opened when there is none), an answer on the one its request came on
    /// (`StreamConnections.sendAnswer`). A datagram the kernel refuses (or a connection that
    /// is gone) is counted in the outbox and the rest still go.
    func send(_ outbox: Outbox, _ socket: Int32, from local: Endpoint? = nil, hep: HEPExporter? = nil,
              streams: StreamConnections? = nil, secure: StreamConnections? = nil, now: Int64 = 0) {
        var next = 0
        while next < outbox.count {
            var count = 0
            while next < outbox.count && count < UDPBatch.size {
                let datagram = outbox.datagram(next)
                next += 1
                if let hep, let local { hep.exchanged(outbox.bytes(datagram), from: local, to: datagram.destination, over: datagram.transport) }
                if datagram.transport != .udp {
                    // What goes to one connection in a row (the answers to the requests of
                    // one read) goes in one write: one system call, and one segment where
                    // it fits.
                    let first = next - 1
                    while next < outbox.count, case let following = outbox.datagram(next),
                          following.transport == datagram.transport, following.destination == datagram.destination,
                          following.opening == datagram.opening {
                        if let hep, let local { hep.exchanged(outbox.bytes(following), from: local, to: following.destination, over: following.transport) }
                        next += 1
                    }
                    let table = datagram.transport == .tls ? secure : streams
                    let bytes = outbox.bytes(first, through: next - 1)
                    let sent = datagram.opening == .none
                        ? table?.sendAnswer(bytes, to: datagram.destination, now: now)
                        : table?.send(bytes, to: datagram.destination, keeping: datagram.opening == .kept, now: now)
                    if sent != true {
                        for _ in first..<next { outbox.noteSendFailed() }
                    }
                    continue
                }
                let entry = entries.pointer(at: count)
                withUnsafeMutableBytes(of: &entry.pointee.address) { NodeDaemon.store(datagram.destination.address, into: $0) }
                entry.pointee.port = datagram.destination.port
                entry.pointee.offset = UInt32(outbox.offset(datagram))
                entry.pointee.length = UInt32(datagram.length)
                count += 1
            }
            var done = 0
            while done < count {
                let sent = outbox.withStorage {
                    gw_udp_send_batch(socket, $0.baseAddress, entries.pointer(at: done), Int32(count - done))
                }
                if sent > 0 {
                    done += Int(sent)
                } else {
                    outbox.noteSendFailed()
                    done += 1
                }
            }
        }
        outbox.removeAll()
    }
}
