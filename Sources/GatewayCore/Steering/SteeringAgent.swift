import Basics
import SIP

/// An endpoint as configured: `[endpoint NAME]` with its kind and identity.
public struct SteeringEndpoint: Sendable {
    public var name: [UInt8]
    public var kind: EndpointKind
    /// As configured: a line name, a SIP address of record, an H.323 alias.
    public var identity: [UInt8]
    /// The URI the agent asks with (From and To of its OPTIONS).
    public var uri: [UInt8]
    /// `user@host` a SIP endpoint's requests are matched by.
    public var addressOfRecord: [UInt8]

    public init(name: [UInt8], kind: EndpointKind, identity: [UInt8], uri: [UInt8], addressOfRecord: [UInt8]) {
        self.name = name
        self.kind = kind
        self.identity = identity
        self.uri = uri
        self.addressOfRecord = addressOfRecord
    }
}

public struct SteeringSettings: Sendable {
    /// Where local SIP phones send (their outbound proxy), and the agent's own address.
    public var listen: Endpoint
    /// Where phones also reach the agent over TLS, when it listens so.
    public var tlsListen: Endpoint?
    /// The group's entry points: primary first, then fallbacks.
    public var entryPoints: [Endpoint]
    /// How long an entry point may stay silent before the next one is asked.
    public var entryTimeoutNanoseconds: Int64 = 2_000_000_000
    /// Serve SIP phones that are not configured as endpoints.
    public var open = false
    /// Recurse on the group's 302 (RFC 3261 §16.5-16.6): the agent forwards a phone's
    /// INVITE or REGISTER to the proxy the group named, so the phone never sees the 302.
    /// Off: the 302 (or 503) is handed back for phones that follow redirects themselves.
    public var recurse = true
    /// With `recurse`: Path on REGISTER and Record-Route on INVITE, so the proxy sends
    /// incoming calls and in-dialog requests through the agent (phones the proxy cannot
    /// reach directly).
    public var path = false
    public var timers = SteeringTimers()
    /// Relayed requests held at once.
    public var transactions = 256

    public init(listen: Endpoint, entryPoints: [Endpoint]) {
        self.listen = listen
        self.entryPoints = entryPoints
    }
}

public struct SteeringCounters: Equatable, Sendable {
    /// INVITEs and REGISTERs of SIP phones handed to the group.
    public var relayed = 0
    /// Requests of phones that are not configured (403).
    public var refusedUnknown = 0
    /// OPTIONS sent to obtain assignments for analog lines and H.323 endpoints.
    public var asks = 0
    /// Asks no entry point answered.
    public var entryPointsSilent = 0
    public var probesSent = 0
    public var probesAnswered = 0

    public init() {}
}

/// The steering agent (DESIGN §5) as pure logic: datagrams and time in, datagrams out, and
/// hooks to run. SIP phones' INVITEs and REGISTERs are relayed through a `Node` that never
/// answers itself (drain) and whose sequence is the agent followed by the entry points: its
/// transactions, entry point health and fallback are the node's own. By default that node
/// recurses on the group's 302 and proxies the phone's request on to the proxy named, and
/// routes the phones' in-dialog requests: the agent is the phones' outbound proxy. Analog lines and H.323
/// endpoints are asked for by OPTIONS requests the agent sends itself, each in a client
/// transaction of its own (`EntryAsks`, `AgentAsks.swift`); the relay's health of the entry
/// points decides which is asked first.
public final class SteeringAgent<Entropy: EntropySource> {
    public let settings: SteeringSettings
    public let endpoints: [SteeringEndpoint]
    public internal(set) var states: [SteeredEndpoint]
    public internal(set) var counters = SteeringCounters()
    public let relay: Node<Entropy>
    public let outbox = Outbox()
    /// Endpoints' state changes, for the daemon to log, oldest first.
    public let events = EventQueue<SteeringEvent>(capacity: 256, filler: .endpoint(0, .busy))
    /// The asks out for analog and H.323 endpoints (`EntryAsks`).
    let asks: EntryAsks
    var entropy: Entropy
    /// Hooks waiting to run, two per endpoint in order (`HookEvent` raw values, 0 for none):
    /// a `lost` is kept ahead of the `assigned` that follows it; otherwise the latest wins,
    /// and the hook reads the endpoint's state when it runs.
    var pendingHooks: [UInt8]
    var hookCursor = 0
    var out = TextBuffer(capacity: 2048)
    /// Random digits of the request being written (branch, tag, Call-ID).
    let scratch = FixedArray<UInt8>(repeating: 0, count: 96)
    /// The branch of each endpoint's outstanding probe.
    let probeBranches: FixedArray<UInt8>
    static var probeBranchLength: Int { 32 }
    /// Probe branches begin so (matched in lower case), and never reach the relay.
    static var probePrefix: StaticString { "z9hG4bKgwsp" }

    public init(settings: SteeringSettings, endpoints: [SteeringEndpoint], relayEntropy: Entropy, entropy: Entropy, now: Int64) {
        self.settings = settings
        self.endpoints = endpoints
        self.entropy = entropy
        var node = NodeSettings(identity: [])
        node.drain = true
        node.retryAfterSeconds = Int(settings.timers.retry / 1_000_000_000)
        node.timers.forwardTimeout = settings.entryTimeoutNanoseconds
        node.rateLimitPerSecond = 0
        node.serverTransactions = settings.transactions
        node.clientTransactions = settings.transactions
        node.probeIntervalNanoseconds = settings.timers.probeInterval
        node.failuresToDown = settings.timers.failuresToLost
        node.successesToUp = 1
        node.reservationCapacity = 16
        node.rateLimitSources = 16
        node.recurse = settings.recurse
        node.stayInPath = settings.recurse && settings.path
        node.routeAnywhere = true
        node.tlsAddress = settings.tlsListen
        node.reportsAnswers = true
        let members = [Member(address: settings.listen, identity: [])]
            + settings.entryPoints.map { Member(address: $0, identity: []) }
        // The relay writes into the agent's outbox: one outbox for the daemon to send.
        relay = Node(settings: node, sequence: GroupSequence(members: members, selfIndex: 0), entropy: relayEntropy,
                     outbox: outbox)
        // Endpoints start a tenth of a second apart: a gateway with 24 lines does not ask 24 times at once.
        states = (0..<endpoints.count).map { SteeredEndpoint(now: now, stagger: Int64($0) * 100_000_000) }
        pendingHooks = [UInt8](repeating: 0, count: 2 * endpoints.count)
        probeBranches = FixedArray(repeating: 0, count: max(endpoints.count, 1) * SteeringAgent.probeBranchLength)
        asks = EntryAsks(endpoints: endpoints.count)
    }

    /// The earliest time `tick` has something to do.
    public var nextDeadline: Int64 {
        var earliest = min(relay.nextDeadline, asks.nextDeadline)
        for index in 0..<states.count where endpoints[index].kind != .sip {
            earliest = min(earliest, states[index].nextDeadline)
        }
        return earliest
    }

    // MARK: Input

    /// A datagram arrived at the agent's socket (or a message on a TCP connection to it:
    /// `transport`, where the answers to it go back).
    public func receive(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, over transport: Transport = .udp, now: Int64) {
        defer { collect(now: now) }
        guard let line = SIPScanner.startLine(bytes),
              let message = try? SIPScanner.scan(bytes, startLine: line, framing: .datagram) else {
            relay.receive(bytes, from: source, over: transport, now: now)  // counted and answered (400) there
            return
        }
        if !message.isRequest {
            if let index = asks.endpoint(forBranch: message.topViaBranch.slice(of: bytes)) {
                askAnswered(index, message, bytes, now: now)
            } else if !probeAnswered(message, bytes, from: source) {
                relay.receive(message, bytes, from: source, over: transport, now: now)
            }
            return
        }
        let toConnect = isRequestToConnect(message, bytes) && relay.sequence.index(of: source) == nil
        if toConnect {
            let header = message.method == .register ? message.to : message.from
            if endpoint(matching: header, in: bytes) == nil && !settings.open {
                counters.refusedUnknown += 1
                refuse(message, bytes, to: source, over: transport)
                return
            }
        }
        // One phone request, one count: retransmissions and the rounds of recursion are not.
        if relay.receive(message, bytes, from: source, over: transport, now: now) == .newRequest && toConnect {
            counters.relayed += 1
        }
    }

    /// A phone's own INVITE or REGISTER outside a dialog: asked of the group, and so only
    /// taken from configured phones. In-dialog requests and requests that come back along
    /// the agent's own Path or Record-Route (incoming calls) are routed as they are.
    func isRequestToConnect(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) -> Bool {
        guard message.method == .invite || message.method == .register, message.toTag.isEmpty else { return false }
        guard let hop = NextHop(message, buffer), hop.fromRoute, hop.address == settings.listen else { return true }
        return !RequestForwarder.isInserted(hop.uri, buffer)
    }

    /// Runs what is due: the relay's timers, asks, probes.
    public func tick(now: Int64) {
        relay.tick(now: now)
        tickAsks(now: now)
        for index in 0..<states.count where endpoints[index].kind != .sip {
            if let event = states[index].askTimedOut(now: now, timers: settings.timers) {
                asks.transactions[index] = nil
                counters.entryPointsSilent += 1
                changed(index, event, hook: true)
            }
            if let sequence = states[index].takeAsk(now: now, timers: settings.timers) { ask(index, sequence: sequence, now: now) }
            let probe = states[index].takeProbe(now: now, timers: settings.timers)
            if let event = probe.event {
                // A lost proxy that is an entry point too is not asked next.
                if let address = states[index].assignment?.address, let member = relay.sequence.index(of: address) {
                    relay.markDown(member)
                }
                changed(index, event, hook: true)
            }
            if probe.probe { sendProbe(index) }
        }
        collect(now: now)
    }

    /// The next hook to run, oldest endpoint first after the last one served.
    public func takeHook() -> (endpoint: Int, event: HookEvent)? {
        let count = endpoints.count
        for step in 0..<count {
            let index = (hookCursor + step) % count
            guard pendingHooks[2 * index] != 0, let event = HookEvent(rawValue: pendingHooks[2 * index]) else { continue }
            pendingHooks[2 * index] = pendingHooks[2 * index + 1]
            pendingHooks[2 * index + 1] = 0
            hookCursor = index + 1
            return (index, event)
        }
        return nil
    }

    /// Whether a hook is waiting.
    public var hasPendingHook: Bool { pendingHooks.contains { $0 != 0 } }

    // MARK: SIP phones

    /// The configured SIP endpoint whose address of record is in `header`.
    func endpoint(matching header: ByteRange, in buffer: UnsafeRawBufferPointer) -> Int? {
        guard let key = AddressOfRecord.key(buffer, header: header) else { return nil }
        for index in 0..<endpoints.count where endpoints[index].kind == .sip {
            if AddressOfRecord.matches(buffer, key, endpoints[index].addressOfRecord) { return index }
        }
        return nil
    }

    /// 403 without a transaction: a phone nobody configured.
    func refuse(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, to source: Endpoint, over transport: Transport) {
        let tag: StaticString = "gatewayd-403"
        let tagBytes = UnsafeRawBufferPointer(start: tag.utf8Start, count: tag.utf8CodeUnitCount)
        ResponseWriter.begin(403, for: message, buffer, toTag: ByteRange(0, tagBytes.count), tagBuffer: tagBytes, into: &out)
        ResponseWriter.end(into: &out)
        outbox.send(out, to: source, over: transport)
    }

    // MARK: Probes of assigned proxies

    func sendProbe(_ index: Int) {
        guard let address = states[index].assignment?.address else { return }
        let base = index * SteeringAgent.probeBranchLength
        let prefix = SteeringAgent.probePrefix
        for i in 0..<prefix.utf8CodeUnitCount { probeBranches[base + i] = prefix.utf8Start[i] }
        let digits = SteeringAgent.probeBranchLength - prefix.utf8CodeUnitCount
        entropy.writeHex(digits, into: probeBranches, at: base + prefix.utf8CodeUnitCount)
        entropy.writeHex(16, into: scratch, at: 0)
        out.removeAll()
        OptionsRequest.write(into: &out, target: address, sentBy: .endpoint(settings.listen),
                             branch: probeBranches.bytes(base, SteeringAgent.probeBranchLength), maxForwards: 0,
                             from: .user("steering", at: settings.listen), fromTag: scratch.bytes(0, 16), to: .host(address),
                             callID: probeBranches.bytes(base + prefix.utf8CodeUnitCount, digits), callIDHost: "steering", cseq: 1)
        outbox.send(out, to: address)
        counters.probesSent += 1
    }

    /// Whether a response answers one of the agent's probes (any status will do).
    func probeAnswered(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint) -> Bool {
        let branch = message.topViaBranch.slice(of: buffer)
        guard message.cseqMethod == .options, branch.count == SteeringAgent.probeBranchLength,
              ASCII.hasPrefix(buffer, message.topViaBranch, "z9hg4bkgwsp") else { return false }
        for index in 0..<states.count where states[index].probeOutstanding && states[index].assignment?.address == source {
            let base = index * SteeringAgent.probeBranchLength
            var same = true
            for i in 0..<branch.count where probeBranches[base + i] != branch[i] { same = false }
            if same {
                states[index].probeAnswered()
                counters.probesAnswered += 1
            }
        }
        return true
    }

    // MARK: Pieces

    /// What the relay did that the agent follows: the proxies it recursed to, the final
    /// answers it sent phones (read from their transactions, for the phones' states), and its
    /// entry points going down or up (the agent's events). What the relay sends is already in
    /// the agent's outbox.
    func collect(now: Int64) {
        recordRecursions(now: now)
        for slot in relay.answeredClients {
            let bytes = relay.servers.response(Int(slot))
            if let line = SIPScanner.startLine(bytes), let message = try? SIPScanner.scan(bytes, startLine: line, framing: .datagram) {
                recordPhone(message, bytes, now: now)
            }
        }
        relay.answeredClients.removeAll(keepingCapacity: true)
        while let event = relay.events.take() {
            if case .peer(let member, let up) = event { events.push(.entryPoint(member: member, up: up)) }
        }
    }

    /// An endpoint's state changed (`event` nil: it did not): an event for the daemon, and with
    /// `hook` its hook queued (SIP phones have none: they reach the proxy themselves).
    func changed(_ index: Int, _ event: HookEvent?, hook: Bool) {
        guard let event else { return }
        events.push(.endpoint(index, event))
        if hook { queue(event, for: index) }
    }

    func queue(_ event: HookEvent, for index: Int) {
        let first = 2 * index
        if pendingHooks[first] == 0 {
            pendingHooks[first] = event.rawValue
        } else if pendingHooks[first] == HookEvent.lost.rawValue && event != .lost {
            pendingHooks[first + 1] = event.rawValue
        } else {
            pendingHooks[first] = event.rawValue
            pendingHooks[first + 1] = 0
        }
    }

    /// A number from 0 to 1 to spread refreshes.
    func jitter() -> Double { Double(entropy.next() >> 11) / Double(1 << 53) }

}
