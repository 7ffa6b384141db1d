import Basics
import SIP

/// A member of the group (DESIGN §3) as pure logic: datagrams and the clock go in,
/// datagrams to send come out in `outbox`. It answers requests to connect, forwards them
/// along the sequence through RFC 3261 transactions, relays answers back, absorbs
/// retransmissions and ACKs, probes its peers and keeps their health. No sockets here: the
/// daemon reads and writes them, and tests wire several nodes together in memory.
public final class Node<Entropy: EntropySource> {
    public internal(set) var settings: NodeSettings
    /// Shutting down: new requests get 503 (Retry-After) while open transactions finish.
    public var refusingNew = false
    public let sequence: GroupSequence
    public internal(set) var admission: Admission
    public internal(set) var counters = NodeCounters()
    public internal(set) var health: [PeerHealth]
    public let outbox: Outbox
    /// What happened that the daemon acts on and logs (`NodeEvent`), oldest first.
    public let events = EventQueue<NodeEvent>(capacity: 256, filler: .peer(member: 0, up: true))
    public let reservations: Reservations
    /// Every message a transaction holds, at its own size.
    public let messages: MessagePool
    /// Proxies requests may go to directly: this node's own (its identity) and those the
    /// group named in 302s this node relayed.
    public let proxies: ProxyTargets
    /// Client transactions opened by following a 302 since the owner last looked (the
    /// steering agent records its phones' proxies from them); at most 32 are kept.
    public internal(set) var recursions: [Int32] = []
    /// With `reportsAnswers`: server transactions whose final answer went to a client since
    /// the owner last looked (it reads the answer from the transaction); at most 256.
    var answeredClients: [Int32] = []
    let limiter: SourceRateLimiter
    let servers: ServerTransactions
    let clients: ClientTransactions
    let deadlines: DeadlineHeap
    var entropy: Entropy
    /// The time of the event being handled (what responses written deep inside read).
    var clock: Int64 = 0
    /// What members' answers asked of this node (RFC 7339 `oc` in its Via): the share of
    /// requests to send past each, and until when.
    var throttleReduction: [Int]
    var throttleUntil: [Int64]
    var out = TextBuffer(capacity: 4096)
    /// ACKs and CANCELs this node makes for its own client transactions.
    var hopRequest = TextBuffer(capacity: 1024)
    /// A received request amended by `ProxyPreparation` (rport, received, own Route gone).
    var prepared = TextBuffer(capacity: 4096)
    /// A Request-URI being retargeted for a forwarded request.
    var target = TextBuffer(capacity: 256)
    /// Random hex written per response or request: tags and branches.
    let random = FixedArray<UInt8>(repeating: 0, count: 64)
    let identity: SIPURI?
    var measured = MeasuredLoad()
    /// Probes: one outstanding per member at most.
    let probeBranches: FixedArray<UInt8>
    let probeSentAt: FixedArray<Int64>
    var nextProbeAt: Int64 = 0
    /// When the message pool next gives free pages back (`MessagePool.trim`): once a second.
    var nextTrimAt: Int64 = 0

    /// The largest UDP payload over IPv4 (65,535 less the IP and UDP headers).
    static var largestDatagram: Int { 65_507 }
    /// RFC 3261 §18.1.1: a request within 200 bytes of the path MTU (1,500) goes over TCP.
    public static var largeRequest: Int { 1_300 }
    static var serverKind: UInt8 { 0 }
    static var clientKind: UInt8 { 1 }

    /// `outbox`: where the datagrams go (the steering agent's relay shares the agent's).
    public init(settings: NodeSettings, sequence: GroupSequence, entropy: Entropy, outbox: Outbox = Outbox()) {
        self.settings = settings
        self.outbox = outbox
        self.sequence = sequence
        self.entropy = entropy
        throttleReduction = [Int](repeating: 0, count: sequence.members.count)
        throttleUntil = [Int64](repeating: 0, count: sequence.members.count)
        admission = Admission(threshold: settings.threshold, hysteresis: settings.hysteresis, drain: settings.drain)
        health = [PeerHealth](repeating: PeerHealth(failuresToDown: settings.failuresToDown,
                                                    successesToUp: settings.successesToUp), count: sequence.members.count)
        reservations = Reservations(capacity: settings.reservationCapacity, lifetimeSeconds: settings.reservationSeconds)
        limiter = SourceRateLimiter(sources: settings.rateLimitSources, perSecond: settings.rateLimitPerSecond,
                                    burst: settings.rateLimitBurst)
        // 4 KiB a transaction, at least 1 MiB and at most 256 MiB (which also keeps the product
        // inside a 32-bit Int for any configured number of transactions).
        let transactions = min(settings.serverTransactions + settings.clientTransactions, 65_536)
        let poolBytes = settings.messagePoolBytes > 0 ? settings.messagePoolBytes : max(4096 * transactions, 1 << 20)
        messages = MessagePool(bytes: poolBytes)
        servers = ServerTransactions(capacity: settings.serverTransactions, pool: messages)
        clients = ClientTransactions(capacity: settings.clientTransactions, pool: messages)
        deadlines = DeadlineHeap(kinds: 2, slotsPerKind: max(settings.serverTransactions, settings.clientTransactions))
        identity = settings.identity.withUnsafeBytes { SIPURI($0, ByteRange(0, $0.count)) }
        // The proxies behind the members: this node's own first. A node whose identity is its
        // own listen address has no proxy behind it to send to.
        func proxy(_ identity: [UInt8]) -> Endpoint? {
            let address = identity.withUnsafeBytes { buffer in SIPURI(buffer, ByteRange(0, buffer.count))?.endpoint(in: buffer) }
            return address.flatMap { sequence.index(of: $0) == nil ? $0 : nil }
        }
        let others = sequence.members.indices.filter { $0 != sequence.selfIndex }.compactMap { proxy(sequence.members[$0].identity) }
        proxies = ProxyTargets(own: proxy(settings.identity), fixed: others, learned: 64)
        recursions.reserveCapacity(32)
        if settings.reportsAnswers { answeredClients.reserveCapacity(256) }
        probeBranches = FixedArray(repeating: 0, count: sequence.members.count * ClientTransactions.branchLength)
        probeSentAt = FixedArray(repeating: -1, count: sequence.members.count)
    }

    var selfAddress: Endpoint { sequence.members[sequence.selfIndex].address }

    /// Whether `endpoint` is where this node listens, on UDP and TCP or on TLS.
    func isSelf(_ endpoint: Endpoint) -> Bool { endpoint == selfAddress || endpoint == settings.tlsAddress }

    /// The earliest time `tick` has something to do.
    public var nextDeadline: Int64 {
        min(deadlines.earliest ?? Int64.max, sequence.members.count > 1 ? nextProbeAt : Int64.max)
    }

    // MARK: Input

    /// What became of a datagram: the steering agent counts its phones' requests by it.
    public enum Received: Equatable, Sendable {
        /// A new request: a transaction was opened (or it was answered without one).
        case newRequest
        /// A retransmission or an ACK, absorbed by its transaction.
        case absorbed
        /// An ACK for a 2xx or another request sent on without a transaction.
        case forwardedStateless
        case response
        /// Malformed, unroutable or unmatched: counted.
        case dropped
    }

    /// A datagram arrived from `source`; `authenticated`: over a TLS connection whose peer
    /// certificate names the address it comes from.
    @discardableResult
    public func receive(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, over transport: Transport = .udp,
                        authenticated: Bool = false, now: Int64) -> Received {
        clock = now
        guard let line = SIPScanner.startLine(bytes) else {
            counters.malformed += 1
            return .dropped
        }
        let message: SIPMessage
        do {
            message = try SIPScanner.scan(bytes, startLine: line, framing: .datagram)
        } catch {
            counters.malformed += 1
            // A request gets 400 when there is enough of it to answer (RFC 3261 §8.2.2);
            // responses and ACKs are dropped.
            if line.isRequest && line.method != .ack, let headers = SIPScanner.headerSection(bytes, startLine: line) {
                writeResponse(400, headers, bytes)
                ResponseWriter.end(into: &out)
                outbox.send(out, to: source, over: transport)
            }
            return .dropped
        }
        return receive(message, bytes, from: source, over: transport, authenticated: authenticated, now: now)
    }

    /// A datagram its receiver has already scanned (the steering agent reads phones'
    /// requests before handing them on): the same as `receive(_:from:now:)` without a second scan.
    @discardableResult
    public func receive(_ message: SIPMessage, _ bytes: UnsafeRawBufferPointer, from source: Endpoint,
                        over transport: Transport = .udp, authenticated: Bool = false, now: Int64) -> Received {
        clock = now
        if message.isRequest {
            return request(message, bytes, from: source, over: transport, authenticated: authenticated, now: now)
        }
        response(message, bytes, from: source, now: now)
        return .response
    }

    /// Runs what is due: retransmissions, timeouts, probes.
    public func tick(now: Int64) {
        clock = now
        while let entry = deadlines.popDue(now: now) {
            let slot = Int(entry.slot)
            if entry.kind == Node.serverKind {
                guard servers.index.isInUse(slot), servers.generations[slot] == entry.generation else { continue }
                serverTimer(slot, now: now)
            } else {
                guard clients.index.isInUse(slot), clients.generations[slot] == entry.generation else { continue }
                clientTimer(slot, now: now)
            }
        }
        if now >= nextTrimAt {
            messages.trim()
            nextTrimAt = now + 1_000_000_000
        }
        if sequence.members.count > 1 && now >= nextProbeAt {
            probe(now: now)
            nextProbeAt = now + settings.probeIntervalNanoseconds
        }
    }

    /// Client transactions opened by recursion have been read.
    public func clearRecursions() { recursions.removeAll(keepingCapacity: true) }
}

extension FixedArray where Element == UInt8 {
    func withBytes<R>(_ offset: Int, _ length: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(bytes(offset, length))
    }
}
