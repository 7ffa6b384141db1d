import Basics
import SIP

/// A member of the group (DESIGN §3) as pure logic: datagrams and the clock go in,
/// datagrams to send come out in `outbox`. It answers requests to connect, forwards them
/// along the sequence through RFC 3261 transactions, relays answers back, absorbs
/// retransmissions and ACKs, probes its peers and keeps their health. No sockets here: the
/// daemon reads and writes them, and tests wire several nodes together in memory.
public final class Node<Entropy: EntropySource> {
    public private(set) var settings: NodeSettings
    /// Shutting down: new requests get 503 (Retry-After) while open transactions finish.
    public var refusingNew = false
    public let sequence: GroupSequence
    public private(set) var admission: Admission
    public internal(set) var counters = NodeCounters()
    public private(set) var health: [PeerHealth]
    public let outbox = Outbox()
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

    /// The largest UDP payload over IPv4 (65,535 less the IP and UDP headers).
    static var largestDatagram: Int { 65_507 }
    static var serverKind: UInt8 { 0 }
    static var clientKind: UInt8 { 1 }

    public init(settings: NodeSettings, sequence: GroupSequence, entropy: Entropy) {
        self.settings = settings
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
        deadlines = DeadlineHeap(capacity: 4 * (settings.serverTransactions + settings.clientTransactions))
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
        probeBranches = FixedArray(repeating: 0, count: sequence.members.count * ClientTransactions.branchLength)
        probeSentAt = FixedArray(repeating: -1, count: sequence.members.count)
    }

    var selfAddress: Endpoint { sequence.members[sequence.selfIndex].address }

    /// The earliest time `tick` has something to do.
    public var nextDeadline: Int64 {
        min(deadlines.earliest ?? Int64.max, sequence.members.count > 1 ? nextProbeAt : Int64.max)
    }

    // MARK: Load

    /// The meter's latest workload. Reservations count as calls on top of it. Returns the
    /// new admission state when it changed.
    @discardableResult
    public func update(load: MeasuredLoad, now: Int64) -> AdmissionState? {
        measured = load
        return updateAdmission(now: now)
    }

    /// Admission judged on the workload now; a change is also an event.
    @discardableResult
    func updateAdmission(now: Int64) -> AdmissionState? {
        let workload = effectiveWorkload(now: now)
        guard let changed = admission.update(workload: workload) else { return nil }
        events.push(.admission(changed, workload: workload))
        return changed
    }

    /// `member` answered or missed a probe or a forwarded request; a change of up or down is
    /// an event.
    func peerMissed(_ member: Int) {
        if health[member].unanswered() { events.push(.peer(member: member, up: false)) }
    }

    /// The measured workload with reservations added to the calls.
    public func effectiveWorkload(now: Int64) -> Double {
        measured.workload(reserving: reservations.count(at: now))
    }

    /// This node's meter now counts the call `callID`: if it was one this node redirected
    /// here, the reservation has become a call the meter counts. The node's measure is the
    /// meter's of up to a second ago, so the call is carried into it until the next one:
    /// otherwise it would count nowhere in between, and a burst would be let in one call
    /// over the threshold.
    public func callSeen(_ callID: UnsafeRawBufferPointer) {
        if reservations.honour(callID) { measured.calls += 1 }
    }

    /// Takes new settings on a reload: threshold, hysteresis, drain, answers, timers of
    /// transactions opened from now on, the rate limit and burst, the reservation lifetime
    /// and the health thresholds. Open transactions, health, reservations and the sequence
    /// are kept (a new sequence or listen address, or table sizes, need a restart).
    @discardableResult
    public func apply(_ new: NodeSettings, now: Int64) -> AdmissionState? {
        var kept = new
        kept.serverTransactions = settings.serverTransactions
        kept.clientTransactions = settings.clientTransactions
        kept.messagePoolBytes = settings.messagePoolBytes
        kept.reservationCapacity = settings.reservationCapacity
        kept.rateLimitSources = settings.rateLimitSources
        settings = kept
        // Everything the node built from its settings follows them too.
        limiter.reconfigure(perSecond: new.rateLimitPerSecond, burst: new.rateLimitBurst)
        reservations.lifetimeSeconds = new.reservationSeconds
        for member in health.indices {
            health[member].setThresholds(failuresToDown: new.failuresToDown, successesToUp: new.successesToUp)
        }
        admission.threshold = new.threshold
        admission.hysteresis = new.hysteresis
        admission.drain = new.drain
        return updateAdmission(now: now)
    }

    /// With `skip_busy`: whether `member`'s probe answer of the last two intervals said it
    /// forwards. Stale or absent answers say nothing: the member is tried as usual.
    func isBelievedBusy(_ member: Int, now: Int64) -> Bool {
        settings.skipBusyMembers && health[member].reportedBusy(now: now, freshness: probeFreshness)
    }

    /// How old a probe answer may be and still say something: two probe intervals.
    var probeFreshness: Int64 { 2 * settings.probeIntervalNanoseconds }

    /// Takes `member` as down now (it was found silent by other means).
    public func markDown(_ member: Int) {
        guard member != sequence.selfIndex, member < health.count else { return }
        if health[member].isUp { events.push(.peer(member: member, up: false)) }
        health[member].markDown()
    }

    /// The number of forwarded requests still waiting for an answer.
    public var openClientTransactions: Int { clients.index.count }

    /// Forwarded requests still waiting for their final answer (transactions that have it and
    /// only linger for retransmissions are left out). A scan: for shutting down, not per packet.
    public var clientTransactionsAwaitingAnswers: Int {
        var waiting = 0
        for slot in 0..<clients.index.capacity where clients.index.isInUse(slot) {
            let state = clients.machines[slot].state
            if state == .calling || state == .proceeding { waiting += 1 }
        }
        return waiting
    }

    /// Puts the node in or out of drain.
    public func setDrain(_ drain: Bool, now: Int64) -> AdmissionState? {
        admission.drain = drain
        return updateAdmission(now: now)
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

    /// A datagram arrived from `source`.
    @discardableResult
    public func receive(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Int64) -> Received {
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
                outbox.send(out, to: source)
            }
            return .dropped
        }
        return receive(message, bytes, from: source, now: now)
    }

    /// A datagram its receiver has already scanned (the steering agent reads phones'
    /// requests before handing them on): the same as `receive(_:from:now:)` without a second scan.
    @discardableResult
    public func receive(_ message: SIPMessage, _ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Int64) -> Received {
        clock = now
        if message.isRequest { return request(message, bytes, from: source, now: now) }
        response(message, bytes, from: source, now: now)
        return .response
    }

    /// Runs what is due: retransmissions, timeouts, probes.
    public func tick(now: Int64) {
        clock = now
        counters.deadlinesDropped = deadlines.dropped
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
        if sequence.members.count > 1 && now >= nextProbeAt {
            probe(now: now)
            nextProbeAt = now + settings.probeIntervalNanoseconds
        }
    }

    /// Client transactions opened by recursion have been read.
    public func clearRecursions() { recursions.removeAll(keepingCapacity: true) }

    // MARK: Requests

    /// ACKs and retransmissions are matched to their transactions as they came; a new
    /// request is first prepared (RFC 3581 `received`/`rport`, §16.4 own Route removed) and
    /// everything after reads the prepared copy.
    private func request(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint, now: Int64) -> Received {
        let branch = message.topViaBranch.slice(of: buffer)
        if message.method == .ack {
            // The ACK for a non-2xx final answer ends here, hop by hop (RFC 3261 §17.2.1);
            // the ACK for a 2xx belongs to the dialog and goes on end to end.
            let slot = servers.find(branch, source: source, invite: true)
            if slot >= 0, servers.machines[slot].state == .completed || servers.machines[slot].state == .confirmed {
                _ = servers.machines.pointer(at: slot).pointee.ackReceived(now: now)
                schedule(server: slot)
                return .absorbed
            }
        } else {
            let existing = servers.find(branch, source: source, invite: message.method == .invite)
            if existing >= 0 {
                counters.retransmissionsAbsorbed += 1
                if servers.machines.pointer(at: existing).pointee.requestRetransmitted() == .resendLastResponse {
                    outbox.send(servers.response(existing), to: source)
                }
                return .absorbed
            }
        }
        let outcome = ProxyPreparation.prepare(message, buffer, source: source, isSelf: { $0 == selfAddress }, into: &prepared)
        guard outcome.rewritten else { return route(message, buffer, from: source, insertedRoute: outcome.insertedRoute, now: now) }
        return prepared.bytes.withUnsafeBytes { bytes in
            guard let line = SIPScanner.startLine(bytes),
                  let amended = try? SIPScanner.scan(bytes, startLine: line, framing: .datagram) else {
                counters.malformed += 1
                return .dropped
            }
            return route(amended, bytes, from: source, insertedRoute: outcome.insertedRoute, now: now)
        }
    }

    /// A new request, prepared: sent on statelessly (ACK), proxied to where it already
    /// points, refused, or decided on as a request to connect (DESIGN §3).
    private func route(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint, insertedRoute: Bool,
                       now: Int64) -> Received {
        let method = message.method
        if method == .ack {
            guard let hop = directHop(message, buffer, insertedRoute: insertedRoute) else {
                counters.unroutable += 1
                return .dropped
            }
            forwardStateless(message, buffer, to: hop.address, strict: hop.strict)
            return .forwardedStateless
        }
        counters.requestsReceived += 1
        let branch = message.topViaBranch.slice(of: buffer)
        let fromMember = sequence.index(of: source) != nil
        let limited = !fromMember && settings.rateLimitPerSecond > 0 && !limiter.allow(source.address, now: now)
        if limited || refusingNew {
            // Answered without a transaction: a flood must not fill the table, and a node
            // that is stopping opens none.
            if limited { counters.rateLimited += 1 } else { counters.refused += 1 }
            busyWithoutTransaction(message, buffer, to: source)
            return .newRequest
        }
        guard let inserted = servers.insert(branch, source: source, invite: method == .invite, request: buffer,
                                            timers: settings.timers) else {
            // Nowhere to keep it: answered at once, without a transaction, and counted.
            counters.messagesRefused += 1
            busyWithoutTransaction(message, buffer, to: source)
            return .newRequest
        }
        if inserted.evicted { counters.transactionsDropped += 1 }
        let slot = inserted.slot
        if method == .cancel {
            cancel(slot, message, buffer, from: source, now: now)
            return .newRequest
        }
        if message.maxForwards == 0 && !(method == .options && message.toTag.isEmpty) {
            counters.refused += 1
            answer(slot, 483, message, buffer, now: now)
            return .newRequest
        }
        if let hop = directHop(message, buffer, insertedRoute: insertedRoute) {
            // Already assigned, in a dialog, or coming back along a Path: not a request to
            // connect any more, and never redirected to where it already points. This
            // element's own Via in it is a spiral, not a loop (a call between two phones
            // behind one agent passes it twice, §16.3): Max-Forwards bounds real loops.
            counters.proxied += 1
            if method == .invite { answer(slot, 100, message, buffer, now: now) }
            forward(slot, to: hop.address, member: -1, strictNextHop: hop.strict, now: now)
            return .newRequest
        }
        if !message.toTag.isEmpty {
            // In a dialog, towards somewhere that is neither the group nor a proxy it named.
            counters.unroutable += 1
            counters.refused += 1
            answer(slot, 403, message, buffer, now: now)
            return .newRequest
        }
        let decision = RequestDecider.decide(message, buffer, source: source, admission: admission, sequence: sequence,
                                             isUp: { health[$0].isUp },
                                             isBelievedBusy: { isBelievedBusy($0, now: now) || isThrottled($0, now: now) })
        switch decision {
        case .redirect:
            counters.answeredHere += 1
            if !acceptByProxying(slot, message, buffer, from: source, now: now) { redirect(slot, message, buffer, now: now) }
        case .forward(let member):
            if method == .invite { answer(slot, 100, message, buffer, now: now) }
            // Only skip_busy (beliefs from probes, or oc) can choose other than the sequence does.
            if settings.skipBusyMembers, let chain = Chain(message, buffer, sequence: sequence),
               chain.nextHop(sequence, skipping: 0, isUp: { health[$0].isUp }) != member {
                counters.forwardedPastBusy += 1
            }
            forward(slot, to: member, now: now)
        case .allBusy:
            counters.answeredBusy += 1
            answer(slot, 503, message, buffer, now: now)
        case .answerProbe:
            // The load is the group's business: a member learns it, anyone else gets a
            // plain 200 that says only that this node is alive.
            answer(slot, 200, message, buffer, now: now, withLoad: sequence.index(of: source) != nil)
        case .tooManyHops, .loopDetected, .refuse, .methodNotAllowed:
            counters.refused += 1
            answer(slot, decision.refusalStatus!, message, buffer, now: now)
        }
        return .newRequest
    }

    /// 503 with Retry-After, sent once and kept nowhere.
    private func busyWithoutTransaction(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, to source: Endpoint) {
        writeResponse(503, message, buffer)
        out.append("Retry-After: ")
        out.append(settings.retryAfterSeconds)
        out.append("\r\n")
        ResponseWriter.end(into: &out)
        outbox.send(out, to: source)
    }

    /// 302 with this node's identity: the Request-URI retargeted for INVITE, the identity
    /// itself for REGISTER and OPTIONS. An INVITE's Call-ID is reserved.
    private func redirect(_ slot: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) {
        writeResponse(302, message, buffer)
        out.append("Contact: <")
        settings.identity.withUnsafeBytes { identityBuffer in
            if message.method == .invite, let identity,
               let target = SIPURI(buffer, message.startLine.requestURI) {
                SIPURI.retarget(target, in: buffer, to: identity, in: identityBuffer, into: &out)
            } else {
                out.append(bytes: identityBuffer)
            }
        }
        out.append(">;expires=")
        out.append(settings.contactExpiresSeconds)
        out.append("\r\n")
        if HopPath.isAsked(message, buffer) { HopPath.append(message, buffer, sequence: sequence, into: &out) }
        ResponseWriter.end(into: &out)
        send(slot, 302, now: now)
        if message.method == .invite { reserve(message, buffer, now: now) }
    }

    func reserve(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) {
        reservations.reserve(message.callID.slice(of: buffer), attempt: Reservations.attempt(message, buffer), now: now)
        updateAdmission(now: now)
    }

    /// A response made here: status line, copied headers, what the status needs.
    func answer(_ slot: Int, _ code: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64,
                withLoad: Bool = false) {
        writeResponse(code, message, buffer)
        switch code {
        case 503:
            out.append("Retry-After: ")
            out.append(settings.retryAfterSeconds)
            out.append("\r\n")
            if HopPath.isAsked(message, buffer) { HopPath.append(message, buffer, sequence: sequence, into: &out) }
        case 405:
            out.append("Allow: INVITE, REGISTER, OPTIONS, ACK, CANCEL\r\n")
        case 200 where withLoad:
            ProbeLoad.append(workload: effectiveWorkload(now: now), state: admission.state, into: &out)
        default:
            break
        }
        ResponseWriter.end(into: &out)
        send(slot, code, now: now)
    }

    func writeResponse(_ code: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) {
        let tag = randomHex(16)
        // The report is only worked out for a client that offered overload control.
        let overload = OverloadControl.isOffered(message.topVia, buffer) ? overloadReport(now: clock) : nil
        random.withBytes(0, tag) {
            ResponseWriter.begin(code, for: message, buffer, toTag: ByteRange(0, tag), tagBuffer: $0, overload: overload, into: &out)
        }
    }

    // MARK: Overload control (RFC 7339)

    /// What this node tells whoever offered overload control: the group's room as it sees it
    /// (the least loaded of itself and the members up with a probe answer of the last two
    /// intervals), mapped by `OverloadControl.reduction`.
    func overloadReport(now: Int64) -> OverloadControl.Report {
        var least = effectiveWorkload(now: now)
        for member in health.indices where member != sequence.selfIndex && health[member].isUp
            && health[member].answeredRecently(now: now, freshness: probeFreshness) {
            least = min(least, health[member].lastReportedLoad)
        }
        let reduction = OverloadControl.reduction(workload: least, threshold: settings.threshold)
        let validity = reduction == 0 ? 0 : Int(max(probeFreshness, 1_000_000_000) / 1_000_000)
        return OverloadControl.Report(reduction: reduction, validityMilliseconds: validity, sequenceNanoseconds: now)
    }

    /// With `skip_busy`: whether this request to `member` is one of the share its last `oc`
    /// asked to hold back (members offer each other overload control only then).
    func isThrottled(_ member: Int, now: Int64) -> Bool {
        guard settings.skipBusyMembers, member < throttleReduction.count, throttleReduction[member] > 0,
              now < throttleUntil[member] else { return false }
        return Int(entropy.next() % 100) < throttleReduction[member]
    }

    /// Sends what `out` holds as the server transaction's response.
    func send(_ slot: Int, _ code: Int, now: Int64) {
        servers.machines.pointer(at: slot).pointee.respond(code, now: now)
        keepResponse(slot)
        outbox.send(out, to: servers.sources[slot])
        schedule(server: slot)
    }

    /// What `out` holds, kept as the response `slot` retransmits.
    func keepResponse(_ slot: Int) {
        if !out.bytes.withUnsafeBytes({ servers.storeResponse(slot, $0) }) { counters.responsesUnheld += 1 }
    }

    // MARK: Forwarding

    /// Forwards the request of server transaction `slot` to `member` of the sequence.
    private func forward(_ slot: Int, to member: Int, now: Int64) {
        if member < 64 { servers.tried[slot] |= 1 << UInt64(member) }
        counters.forwarded += 1
        forward(slot, to: sequence.members[member].address, member: member, now: now)
    }

    /// Forwards the request of server transaction `slot` in a new client transaction, to a
    /// member of the sequence or (`member` -1) to a proxy; retargeted to `requestURI` when given.
    func forward(_ slot: Int, to destination: Endpoint, member: Int, requestURI: UnsafeRawBufferPointer? = nil,
                 stayInPath: RequestForwarder.StayInPath = .none, strictNextHop: Bool = false, now: Int64) {
        let request = servers.request(slot)
        guard let line = SIPScanner.startLine(request),
              let message = try? SIPScanner.scan(request, startLine: line, framing: .datagram) else { return }
        let claimed = clients.index.claim(hash: 0)  // filed under its branch's hash below
        let client = claimed.slot
        if claimed.evicted { counters.transactionsDropped += 1 }
        writeBranch(into: clients.branches, at: client * ClientTransactions.branchLength)
        let branch = clients.branch(client)
        clients.index.rekey(client, hash: KeyHash.bytes(branch))
        RequestForwarder.write(message, request, via: selfAddress, branch: branch, requestURI: requestURI,
                               stayInPath: stayInPath, strictNextHop: strictNextHop,
                               offerOverloadControl: member >= 0 && settings.skipBusyMembers,
                               into: &out)
        // With this node's Via it may no longer fit a datagram, or the pool may be full:
        // answered and counted, never sent cut or left without a timer.
        let fits = out.count <= Node.largestDatagram
        guard fits, out.bytes.withUnsafeBytes({ clients.storeRequest(client, $0) }) else {
            clients.release(client)
            counters.messagesRefused += 1
            answer(slot, fits ? 503 : 513, message, request, now: now)
            return
        }
        // A member answers within the forward timeout or is skipped; a proxy gets the whole
        // of timers B and F, as any UAS would.
        var timers = settings.timers
        if member < 0 { timers.forwardTimeout = timers.timeout }
        clients.members[client] = Int32(member)
        clients.destinations[client] = destination
        clients.machines[client] = ClientTransaction(isInvite: message.method == .invite, timers: timers, now: now)
        clients.generations[client] &+= 1
        clients.servers[client] = Int32(slot)
        clients.serverGenerations[client] = servers.generations[slot]
        servers.clients[slot] = Int32(client)
        outbox.send(out, to: destination)
        schedule(client: client)
    }

    private func clientTimer(_ client: Int, now: Int64) {
        switch clients.machines.pointer(at: client).pointee.timerFired(now: now) {
        case .retransmitRequest:
            outbox.send(clients.request(client), to: clients.destinations[client])
        case .timedOut:
            counters.forwardTimeouts += 1
            let member = Int(clients.members[client])
            let slot = Int(clients.servers[client])
            let serverLive = servers.index.isInUse(slot) && servers.generations[slot] == clients.serverGenerations[client]
            clients.release(client)
            guard serverLive else { return }
            if member >= 0 {
                // The member did not answer at all: mark it, and try the one after it.
                peerMissed(member)
                retry(slot, now: now)
            } else {
                proxyTimedOut(slot, now: now)
            }
            return
        case .terminate:
            clients.release(client)
            return
        default:
            break
        }
        schedule(client: client)
    }

    /// The member a request went to stayed silent: the next one, or 503 when none is left.
    private func retry(_ slot: Int, now: Int64) {
        let request = servers.request(slot)
        guard let line = SIPScanner.startLine(request),
              let message = try? SIPScanner.scan(request, startLine: line, framing: .datagram),
              let chain = Chain(message, request, sequence: sequence) else { return }
        if let next = chain.nextHop(sequence, skipping: servers.tried[slot], isUp: { health[$0].isUp },
                                    isBelievedBusy: { isBelievedBusy($0, now: now) || isThrottled($0, now: now) }) {
            forward(slot, to: next, now: now)
        } else {
            counters.answeredBusy += 1
            answer(slot, 503, message, request, now: now)
        }
    }

    // MARK: Responses

    private func response(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint, now: Int64) {
        let branch = message.topViaBranch.slice(of: buffer)
        if probeAnswered(message, buffer, branch: branch, from: source, now: now) { return }
        let client = clients.find(branch)
        // Only responses to our own transactions, from where the request went.
        guard client >= 0, clients.destinations[client] == source else {
            counters.responsesDropped += 1
            return
        }
        // The answer to a CANCEL this node sent shares the INVITE's branch; nothing waits for it.
        if message.cseqMethod == .cancel { return }
        let code = message.statusCode
        // A member that answers with `oc` in this node's Via asks it to send less its way.
        let member = Int(clients.members[client])
        if member >= 0, member < throttleReduction.count, let asked = OverloadControl.read(message.topVia, buffer) {
            throttleReduction[member] = asked.reduction
            throttleUntil[member] = now + Int64(asked.validityMilliseconds) * 1_000_000
        }
        let action = clients.machines.pointer(at: client).pointee.responseReceived(code, now: now)
        schedule(client: client)
        if action == .sendAck || action == .sendAckAndPassUp { sendHopRequest(.ack, client, response: message, buffer) }
        guard action == .passUp || action == .sendAckAndPassUp else { return }
        let slot = Int(clients.servers[client])
        guard servers.index.isInUse(slot), servers.generations[slot] == clients.serverGenerations[client] else { return }
        if code >= 300 && code < 400 && clients.members[client] >= 0
            && redirected(slot, message, buffer, now: now) { return }
        // The Via after this node's own is where the answer goes: a report only if it asked.
        var vias = ViaValues(buffer, message)
        _ = vias.next()
        let overload = vias.next().map { OverloadControl.isOffered($0, buffer) } == true ? overloadReport(now: now) : nil
        guard RequestForwarder.relay(message, buffer, ownBranch: branch, overload: overload, into: &out) else { return }
        let machine = servers.machines.pointer(at: slot)
        // The server transaction already sent its own 100 Trying.
        if code == 100 { return }
        machine.pointee.respond(code, now: now)
        keepResponse(slot)
        outbox.send(out, to: servers.sources[slot])
        schedule(server: slot)
    }

    private func serverTimer(_ slot: Int, now: Int64) {
        switch servers.machines.pointer(at: slot).pointee.timerFired(now: now) {
        case .resendLastResponse:
            outbox.send(servers.response(slot), to: servers.sources[slot])
        case .terminate:
            servers.release(slot)
            return
        case .none:
            break
        }
        schedule(server: slot)
    }

    // MARK: Probes

    /// OPTIONS with Max-Forwards 0 to every other member; an unanswered previous probe
    /// counts against the member's health.
    private func probe(now: Int64) {
        for member in 0..<sequence.members.count where member != sequence.selfIndex {
            if probeSentAt[member] >= 0 { peerMissed(member) }
            let base = member * ClientTransactions.branchLength
            writeBranch(into: probeBranches, at: base)
            let destination = sequence.members[member].address
            let tag = randomHex(16)
            out.removeAll()
            OptionsRequest.write(into: &out, target: destination, sentBy: .endpoint(selfAddress),
                                 branch: probeBranches.bytes(base, ClientTransactions.branchLength), maxForwards: 0,
                                 from: .user("gatewayd", at: selfAddress), fromTag: random.bytes(0, tag), to: .host(destination),
                                 callID: probeBranches.bytes(base + 7, 16), callIDHost: "gatewayd", cseq: 1)
            outbox.send(out, to: destination)
            probeSentAt[member] = now
            counters.probesSent += 1
        }
    }

    private func probeAnswered(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, branch: UnsafeRawBufferPointer,
                               from source: Endpoint, now: Int64) -> Bool {
        guard message.cseqMethod == .options, branch.count == ClientTransactions.branchLength,
              let member = sequence.index(of: source), probeSentAt[member] >= 0 else { return false }
        let base = member * ClientTransactions.branchLength
        for i in 0..<branch.count where probeBranches[base + i] != branch[i] { return false }
        let load = ProbeLoad.read(message, buffer)
        if health[member].answered(roundTrip: now - probeSentAt[member], load: load?.workload ?? 0, state: load?.state, at: now) {
            events.push(.peer(member: member, up: true))
        }
        probeSentAt[member] = -1
        counters.probesAnswered += 1
        return true
    }

    // MARK: Pieces

    /// Whether a heap entry still stands for its slot's current deadline.
    func isLive(_ entry: DeadlineHeap.Entry) -> Bool {
        let slot = Int(entry.slot)
        if entry.kind == Node.serverKind {
            return servers.index.isInUse(slot) && servers.generations[slot] == entry.generation
                && servers.machines[slot].deadline == entry.deadline
        }
        return clients.index.isInUse(slot) && clients.generations[slot] == entry.generation
            && clients.machines[slot].deadline == entry.deadline
    }

    func makeRoom() {
        if deadlines.isFull { deadlines.compact { isLive($0) } }
    }

    func schedule(server slot: Int) {
        guard let deadline = servers.machines[slot].deadline else { return }
        makeRoom()
        deadlines.push(DeadlineHeap.Entry(deadline: deadline, slot: Int32(slot), generation: servers.generations[slot],
                                          kind: Node.serverKind))
    }

    func schedule(client slot: Int) {
        guard let deadline = clients.machines[slot].deadline else { return }
        makeRoom()
        deadlines.push(DeadlineHeap.Entry(deadline: deadline, slot: Int32(slot), generation: clients.generations[slot],
                                          kind: Node.clientKind))
    }

    /// `z9hG4bK` and 128 random bits in hex.
    func writeBranch(into storage: FixedArray<UInt8>, at base: Int) {
        let cookie: StaticString = "z9hG4bK"
        for i in 0..<7 { storage[base + i] = cookie.utf8Start[i] }
        writeRandomHex(into: storage, at: base + 7, count: 32)
    }

    /// `count` random hex digits at the start of `random`; returns `count`.
    func randomHex(_ count: Int) -> Int {
        writeRandomHex(into: random, at: 0, count: count)
        return count
    }

    func writeRandomHex(into storage: FixedArray<UInt8>, at base: Int, count: Int) {
        entropy.writeHex(count, into: storage, at: base)
    }
}

extension FixedArray where Element == UInt8 {
    func withBytes<R>(_ offset: Int, _ length: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(bytes(offset, length))
    }
}
