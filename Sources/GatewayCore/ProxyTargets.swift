import Capture

/// The proxies a request may be sent to directly, without asking the group again: for a
/// node, the identities of the group's members (the proxies behind the nodes); for the
/// steering agent, the proxies the group has assigned, learned from its 302s. A request
/// whose Request-URI (or next Route) names one of them is no longer a request to connect:
/// its sender already knows where to go (DESIGN §3, "Already assigned").
///
/// Preallocated and small; when full, the entry learned longest ago makes room.
public final class ProxyTargets {
    let addresses: FixedArray<Endpoint>
    public private(set) var count = 0
    /// Where the next learned entry goes once full: entries given at start stay.
    var nextReplaced: Int
    let fixed: Int

    /// `fixed` entries that are never replaced, room for `learned` more.
    public init(fixed: [Endpoint], learned: Int) {
        addresses = FixedArray(repeating: Endpoint(address: .unspecified, port: 0), count: max(fixed.count + learned, 1))
        for endpoint in fixed where !ProxyTargets.contains(endpoint, in: addresses, count: count) {
            addresses[count] = endpoint
            count += 1
        }
        self.fixed = count
        nextReplaced = count
    }

    /// The first entry given at start: a node's own proxy.
    public var fixedEntry: Endpoint? { fixed > 0 ? addresses[0] : nil }

    public func contains(_ endpoint: Endpoint) -> Bool { ProxyTargets.contains(endpoint, in: addresses, count: count) }

    /// Remembers a proxy the group named.
    public func learn(_ endpoint: Endpoint) {
        guard !contains(endpoint), addresses.count > fixed else { return }
        if count < addresses.count {
            addresses[count] = endpoint
            count += 1
            return
        }
        addresses[nextReplaced] = endpoint
        nextReplaced = nextReplaced + 1 < addresses.count ? nextReplaced + 1 : fixed
    }

    static func contains(_ endpoint: Endpoint, in addresses: FixedArray<Endpoint>, count: Int) -> Bool {
        for i in 0..<count where addresses[i] == endpoint { return true }
        return false
    }
}
