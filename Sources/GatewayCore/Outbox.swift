import Basics
import SIP

/// Datagrams a node wants sent, written into one preallocated buffer; the daemon drains it
/// after every event. When it is full, further datagrams are dropped and counted: UDP
/// loses them anyway and the transactions retransmit.
public final class Outbox {
    public struct Datagram: Sendable {
        public var destination: Endpoint
        var offset: Int
        public var length: Int
        /// UDP, or the connection a request came on (the daemon finds it by `destination`).
        public var transport: Transport
        /// Over TCP or TLS, whether a connection is opened for it when there is none.
        public var opening = ConnectionOpening.none
    }

    /// What the daemon does when a datagram goes over TCP or TLS and there is no connection
    /// to its destination.
    public enum ConnectionOpening: UInt8, Sendable {
        /// An answer: it goes on the connection its request came on, or to the client's Via
        /// (RFC 3261 §18.2.2).
        case none
        /// A request to a next hop this node chose, a proxy or the target of a dialog: a
        /// connection is opened, and closed when idle.
        case whileUsed
        /// A request to a member: a connection is opened and kept, however long idle.
        case kept
    }

    let storage: FixedArray<UInt8>
    let datagrams: FixedArray<Datagram>
    public private(set) var count = 0
    var used = 0
    public private(set) var dropped = 0
    /// Datagrams the socket refused (the daemon counts them as it sends).
    public private(set) var sendsFailed = 0

    public init(bytes: Int = 256 * 1024, datagrams maxDatagrams: Int = 256) {
        storage = FixedArray(zeroedCount: bytes)
        datagrams = FixedArray(repeating: Datagram(destination: Endpoint(address: .unspecified, port: 0), offset: 0, length: 0, transport: .udp),
                               count: maxDatagrams)
    }

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Endpoint, over transport: Transport = .udp,
                     opening: ConnectionOpening = .none) {
        guard count < datagrams.count, used + bytes.count <= storage.count else {
            dropped += 1
            return
        }
        storage.copy(bytes, to: used)
        datagrams[count] = Datagram(destination: destination, offset: used, length: bytes.count, transport: transport,
                                    opening: opening)
        used += bytes.count
        count += 1
    }

    public func send(_ text: TextBuffer, to destination: Endpoint, over transport: Transport = .udp,
                     opening: ConnectionOpening = .none) {
        text.bytes.withUnsafeBytes { send($0, to: destination, over: transport, opening: opening) }
    }

    public func datagram(_ index: Int) -> Datagram { datagrams[index] }

    public func bytes(_ datagram: Datagram) -> UnsafeRawBufferPointer { storage.bytes(datagram.offset, datagram.length) }

    /// The bytes of datagrams `first` through `last` (their indices), which lie side by side
    /// in the storage as they were written.
    public func bytes(_ first: Int, through last: Int) -> UnsafeRawBufferPointer {
        let start = datagrams[first].offset
        return storage.bytes(start, datagrams[last].offset + datagrams[last].length - start)
    }

    /// Where `datagram` starts in the storage `withStorage` hands out (a batch send names each
    /// datagram by its offset there).
    public func offset(_ datagram: Datagram) -> Int { datagram.offset }

    /// All the bytes the outbox holds.
    public func withStorage<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { body(storage.bytes(0, used)) }

    public func noteSendFailed() { sendsFailed += 1 }

    public func removeAll() {
        count = 0
        used = 0
    }
}
