/// Where random bits come from: branches and tags must be unguessable (a response is only
/// taken when it matches a branch this node made). The daemon reads the kernel's
/// generator; tests use a seeded one.
public protocol EntropySource {
    mutating func next() -> UInt64
}

/// What a node is told at start (the daemon fills it from the config file).
public struct NodeSettings: Sendable {
    /// This node's SIP URI, handed out in 302s: `sip:host:port;transport=udp`.
    public var identity: [UInt8]
    public var threshold = 0.8
    public var hysteresis = 0.1
    public var drain = false
    /// Retry-After of an "all busy" 503, in seconds.
    public var retryAfterSeconds = 30
    /// The `expires` parameter of a 302's Contact, in seconds.
    public var contactExpiresSeconds = 60
    /// How long a 302 counts as a call if the client's INVITE does not show up.
    public var reservationSeconds = 32
    public var reservationCapacity = 1024
    /// Transactions held at once, each way; the oldest is dropped when full.
    public var serverTransactions = 1024
    public var clientTransactions = 1024
    public var timers = TransactionTimers()
    /// Requests per second and burst allowed from one source outside the group; 0 = no limit.
    public var rateLimitPerSecond: Double = 50
    public var rateLimitBurst: Double = 100
    public var rateLimitSources = 1024
    /// OPTIONS probes to each peer.
    public var probeIntervalNanoseconds: Int64 = 1_000_000_000
    public var failuresToDown = 3
    public var successesToUp = 2

    public init(identity: [UInt8]) { self.identity = identity }
}

/// What a node did, since start.
public struct NodeCounters: Equatable, Sendable {
    public var requestsReceived = 0
    public var answeredHere = 0
    public var forwarded = 0
    public var answeredBusy = 0
    /// 403 to forged chains, 482 loops, 483 hop limits, 405 other methods.
    public var refused = 0
    public var rateLimited = 0
    public var retransmissionsAbsorbed = 0
    public var malformed = 0
    /// Responses that matched no transaction, or came from the wrong address.
    public var responsesDropped = 0
    public var forwardTimeouts = 0
    public var probesSent = 0
    public var probesAnswered = 0
    public var transactionsDropped = 0

    public init() {}
}
