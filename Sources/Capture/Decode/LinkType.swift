/// The link layers gatewayd decodes, by their libpcap DLT numbers.
public enum LinkType: Equatable, Sendable {
    /// DLT_EN10MB, with any number of 802.1Q / 802.1ad (QinQ) tags.
    case ethernet
    /// DLT_LINUX_SLL: Linux cooked capture v1 (`-i any` on older libpcap).
    case linuxCooked
    /// DLT_LINUX_SLL2: Linux cooked capture v2.
    case linuxCooked2
    /// DLT_RAW, DLT_IPV4, DLT_IPV6: the packet starts with the IP header.
    case rawIP
    /// DLT_NULL: BSD loopback, address family in the capturing host's byte order.
    case bsdLoopback
    /// DLT_LOOP: OpenBSD loopback, address family in network byte order.
    case bsdLoopbackNetworkOrder

    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxCooked
        case 276: self = .linuxCooked2
        case 12, 14, 101, 228, 229: self = .rawIP
        case 0: self = .bsdLoopback
        case 108: self = .bsdLoopbackNetworkOrder
        default: return nil
        }
    }
}
