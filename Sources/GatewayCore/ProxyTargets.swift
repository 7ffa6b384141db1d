import Basics

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

    /// The node's own proxy (its identity), when it has one behind it.
    public let own: Endpoint?

    /// `own` and `fixed` entries that are never replaced, room for `learned` more.
    public init(own: Endpoint?, fixed: [Endpoint], learned: Int) {
        self.own = own
        let given = (own.map { [$0] } ?? []) + fixed
        addresses = FixedArray(repeating: Endpoint(address: .unspecified, port: 0), count: max(given.count + learned, 1))
        for endpoint in given where !ProxyTargets.contains(endpoint, in: addresses, count: count) {
            addresses[count] = endpoint
            count += 1
        }
        self.fixed = count
        nextReplaced = count
    }

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
