/// How a message came or goes (RFC 3261 §18). Over TCP a message is framed by its
/// Content-Length and delivered reliably, so transactions do not retransmit over it and
/// answers go back on the connection the request came on.
public enum Transport: UInt8, Sendable {
    case udp = 0
    case tcp = 1

    public var isReliable: Bool { self != .udp }
}
