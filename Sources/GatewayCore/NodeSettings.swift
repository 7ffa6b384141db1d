import Basics
import SIP

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
    /// Bytes for the messages transactions hold (requests to forward again, responses to
    /// retransmit), at any size a datagram holds; 0: 4 KiB per transaction, 1 to 256 MiB.
    /// Zeroed pages: only what is in use becomes resident.
    public var messagePoolBytes = 0
    public var timers = TransactionTimers()
    /// Requests per second and burst allowed from one source outside the group; 0 = no limit.
    public var rateLimitPerSecond: Double = 50
    public var rateLimitBurst: Double = 100
    public var rateLimitSources = 1024
    /// OPTIONS probes to each peer.
    public var probeIntervalNanoseconds: Int64 = 1_000_000_000
    /// Go past members whose fresh probe answer said forwarding or draining (`skip_busy`).
    public var skipBusyMembers = false
    public var failuresToDown = 3
    public var successesToUp = 2
    /// Follow the group's answer instead of handing it back (RFC 3261 §16.5-16.6) for
    /// INVITEs and REGISTERs from outside the group: a 302 from the chain is not passed to
    /// the client, the request goes on to the proxy it names, and a node that accepts itself
    /// forwards to its own proxy (its identity). The steering agent does this by default;
    /// for a node it is the `recurse` key, for clients that do not follow 302s.
    public var recurse = false
    /// With `recurse`: stay in the path of what is recursed, a `Path` on REGISTER (RFC 3327)
    /// and a `Record-Route` on INVITE, so incoming calls and in-dialog requests come back
    /// through this element (phones the proxy cannot reach directly).
    public var stayInPath = false
    /// Note the server transactions whose final answer went to a client (`Node.answeredClients`):
    /// the steering agent's relay, whose phones' states follow those answers.
    public var reportsAnswers = false
    /// In-dialog requests, ACKs for 2xx and requests that came back along this element's
    /// own Path or Record-Route may go to any address their Route or Request-URI names (the
    /// steering agent, which phones use as outbound proxy). Off for a node: it proxies only
    /// to the group's proxies.
    public var routeAnywhere = false
    /// The daemon has TCP: a request that came over TCP, or is larger than
    /// `Node.largeRequest`, goes on to the next member over TCP (RFC 3261 §18.1.1).
    public var membersOverTCP = false
    /// Where this node also listens, for SIP over TLS: a Route or Request-URI naming it
    /// names this node (a phone with the TLS port as its outbound proxy).
    public var tlsAddress: Endpoint?
    /// The group runs TLS between members: requests go on to members over TLS, at their
    /// address with this node's TLS port, and a request is taken as a member's only when it
    /// came over a TLS connection whose certificate names the address it comes from (the
    /// daemon says so: `authenticated`); from anywhere else it is a stranger's, whatever its
    /// source address or Via say.
    public var membersOverTLS = false

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
    /// Requests sent straight to a proxy (already assigned, in a dialog, or recursed).
    public var proxied = 0
    /// 302s from the chain followed here rather than handed back.
    public var recursed = 0
    /// ACKs for 2xx sent on without a transaction.
    public var forwardedStateless = 0
    /// In-dialog requests and ACKs whose next hop is neither the group nor a proxy it named.
    public var unroutable = 0
    /// Requests answered 503 because the message pool could not hold them, or 513 because
    /// with this node's Via they no longer fit in a datagram.
    public var messagesRefused = 0
    /// Responses sent once but not kept for retransmission (the pool was full).
    public var responsesUnheld = 0
    /// Requests forwarded past members whose fresh probe answers said they were busy.
    public var forwardedPastBusy = 0

    public init() {}

    /// Every counter with its name in the status file, in one place for every writer.
    public func forEach(_ body: (_ name: StaticString, _ value: Int) -> Void) {
        body("requests_received", requestsReceived)
        body("answered_here", answeredHere)
        body("forwarded", forwarded)
        body("answered_busy", answeredBusy)
        body("refused", refused)
        body("rate_limited", rateLimited)
        body("malformed", malformed)
        body("forward_timeouts", forwardTimeouts)
        body("proxied", proxied)
        body("recursed", recursed)
        body("forwarded_stateless", forwardedStateless)
        body("unroutable", unroutable)
        body("messages_refused", messagesRefused)
        body("responses_unheld", responsesUnheld)
        body("retransmissions_absorbed", retransmissionsAbsorbed)
        body("responses_dropped", responsesDropped)
        body("transactions_dropped", transactionsDropped)
        body("forwarded_past_busy", forwardedPastBusy)
    }
}
