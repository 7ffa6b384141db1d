import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter
import SIP

/// Copies of SIP for a Homer collector (`[hep]`): what the capture sees, and what the node's
/// and the agent's own sockets receive and send, each as a HEPv3 datagram with the Call-ID as
/// correlation id. Encoded into a bounded queue (an Outbox) and sent once per turn of the loop
/// from a non-blocking socket of its own: a slow or absent collector costs a failed send,
/// never a wait. What the queue cannot hold, or what is too large for HEP's 16-bit length,
/// is dropped and counted; so is every send the kernel refuses (a collector that is down
/// answers with ICMP, which the connected socket reports on a later send).
final class HEPExporter {
    let collector: Endpoint
    let captureID: UInt32
    let authKey: [UInt8]
    let socket: Int32
    let queue = Outbox(bytes: 256 * 1024, datagrams: 256)
    let sending = UDPBatch(receiving: false)
    /// One encoded datagram before it is queued: the largest HEP packet.
    let scratch = FixedArray<UInt8>(zeroedCount: HEPv3.maximumLength)
    private(set) var queued = 0
    private(set) var tooLarge = 0

    /// Messages queued and handed to the kernel.
    var sent: Int { queued - queue.dropped - queue.sendsFailed }
    /// Messages lost here: the queue was full, or the message too large for HEP.
    var dropped: Int { queue.dropped + tooLarge }
    var sendsFailed: Int { queue.sendsFailed }

    /// A socket towards the collector; nil, reported, when it cannot be made.
    init?(collector: Endpoint, captureID: UInt32, authKey: [UInt8]) {
        self.collector = collector
        self.captureID = captureID
        self.authKey = authKey
        var address = [UInt8](repeating: 0, count: 16)
        NodeDaemon.store(collector.address.isIPv4 ? IPAddress(ipv4: 0) : .unspecified, into: &address)
        let descriptor = gw_udp_bind(address, 0)
        var local = [UInt8](repeating: 0, count: 16)
        var localPort: UInt16 = 0
        NodeDaemon.store(collector.address, into: &address)
        let connected = descriptor < 0 ? descriptor : gw_udp_connect(descriptor, address, collector.port, &local, &localPort)
        guard connected >= 0 else {
            var message = TextBuffer()
            message.append("cannot open a socket to the HEP collector ")
            message.append(collector)
            message.append(": ")
            message.append(cString: strerror(-connected))
            Output.error(message)
            if descriptor >= 0 { gw_close(descriptor) }
            return nil
        }
        socket = descriptor
    }

    /// A datagram the capture decoded: exported when it reads as SIP.
    func captured(_ datagram: Datagram) {
        export(datagram.payload, from: datagram.source, to: datagram.destination, at: datagram.time)
    }

    /// A datagram one of gatewayd's own sockets received or sent, now.
    func exchanged(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, to destination: Endpoint,
                   over transport: Transport = .udp) {
        export(bytes, from: source, to: destination, at: PacketTime(nanoseconds: gw_realtime_ns()),
               transport: transport == .udp ? HEPv3.udp : HEPv3.tcp)
    }

    private func export(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, to destination: Endpoint, at time: PacketTime,
                        transport: UInt8 = HEPv3.udp) {
        guard let startLine = SIPScanner.startLine(bytes) else { return }
        let callID = SIPScanner.headerSection(bytes, startLine: startLine)?.callID.slice(of: bytes)
        let message = HEPv3.Message(source: source, destination: destination, time: time, transport: transport, payload: bytes,
                                    correlation: callID ?? UnsafeRawBufferPointer(start: nil, count: 0))
        let length = authKey.withUnsafeBytes { key in
            HEPv3.encode(message, captureID: captureID, authKey: key,
                         into: UnsafeMutableRawBufferPointer(start: scratch.pointer(at: 0), count: scratch.count))
        }
        guard length > 0 else {
            tooLarge += 1
            return
        }
        queued += 1
        queue.send(scratch.bytes(0, length), to: collector)
    }

    /// Sends what the turn queued.
    func flush() {
        if queue.count > 0 { sending.send(queue, socket) }
    }
}
