/// How a message came or goes (RFC 3261 §18). Over TCP and TLS a message is framed by its
/// Content-Length and delivered reliably, so transactions do not retransmit over them and
/// answers go back on the connection the request came on.
public enum Transport: UInt8, Sendable {
    case udp = 0
    case tcp = 1
    /// TCP with TLS on it (§26.2): a connection to a TLS listener.
    case tls = 2

    public var isReliable: Bool { self != .udp }

    /// The transport as a Via names it (§20.42).
    public var viaName: StaticString {
        switch self {
        case .udp: return "UDP"
        case .tcp: return "TCP"
        case .tls: return "TLS"
        }
    }
}
