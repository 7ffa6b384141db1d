import Basics
import SIP

/// Requests to connect as the node takes them (DESIGN §3): routed, decided, answered here
/// with a 302 or 503, or forwarded; overload control (RFC 7339) on the answers.
extension Node {
    /// ACKs and retransmissions are matched to their transactions as they came; a new
    /// request is first prepared (RFC 3581 `received`/`rport`, §16.4 own Route removed) and
    /// everything after reads the prepared copy.
    func request(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint, over transport: Transport,
                 authenticated: Bool, now: Int64) -> Received {
        let branch = message.topViaBranch.slice(of: buffer)
        if message.method == .ack {
            // The ACK for a non-2xx final answer ends here, hop by hop (RFC 3261 §17.2.1);
            // the ACK for a 2xx belongs to the dialog and goes on end to end.
            let slot = servers.find(branch, source: source, invite: true)
            if slot >= 0, servers.machines[slot].state == .completed || servers.machines[slot].state == .confirmed {
                _ = servers.machines.pointer(at: slot).pointee.ackReceived(now: now, timers: settings.timers)
                schedule(server: slot)
                return .absorbed
            }
        } else {
            let existing = servers.find(branch, source: source, invite: message.method == .invite)
            if existing >= 0 {
                counters.retransmissionsAbsorbed += 1
                if servers.machines.pointer(at: existing).pointee.requestRetransmitted() == .resendLastResponse {
                    outbox.send(servers.response(existing), to: source, over: servers.transports[existing])
                }
                return .absorbed
            }
        }
        let outcome = ProxyPreparation.prepare(message, buffer, source: source, isSelf: isSelf, into: &prepared)
        guard outcome.rewritten else {
            return route(message, buffer, from: source, over: transport, authenticated: authenticated,
                         insertedRoute: outcome.insertedRoute, now: now)
        }
        return prepared.bytes.withUnsafeBytes { bytes in
            guard let line = SIPScanner.startLine(bytes),
                  let amended = try? SIPScanner.scan(bytes, startLine: line, framing: .datagram) else {
                counters.malformed += 1
                return .dropped
            }
            return route(amended, bytes, from: source, over: transport, authenticated: authenticated,
                         insertedRoute: outcome.insertedRoute, now: now)
        }
    }

    /// A new request, prepared: sent on statelessly (ACK), proxied to where it already
    /// points, refused, or decided on as a request to connect (DESIGN §3).
    func route(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint, over transport: Transport,
               authenticated: Bool, insertedRoute: Bool, now: Int64) -> Received {
        let method = message.method
        if method == .ack {
            guard let hop = directHop(message, buffer, insertedRoute: insertedRoute) else {
                counters.unroutable += 1
                return .dropped
            }
            forwardStateless(message, buffer, to: hop.address, strict: hop.strict, over: hop.transport)
            return .forwardedStateless
        }
        counters.requestsReceived += 1
        let branch = message.topViaBranch.slice(of: buffer)
        let sender = self.sender(message, buffer, from: source, over: transport, authenticated: authenticated)
        let fromMember = sequence.index(of: sender) != nil
        let limited = !fromMember && settings.rateLimitPerSecond > 0 && !limiter.allow(source.address, now: now)
        if limited || refusingNew {
            // Answered without a transaction: a flood must not fill the table, and a node
            // that is stopping opens none.
            if limited { counters.rateLimited += 1 } else { counters.refused += 1 }
            busyWithoutTransaction(message, buffer, to: source, over: transport)
            return .newRequest
        }
        let inserted = servers.insert(branch, source: source, invite: method == .invite, over: transport,
                                      fromMember: fromMember)
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
            guard holdRequest(slot, message, buffer, now: now) else { return .newRequest }
            if method == .invite { answer(slot, 100, message, buffer, now: now) }
            forward(slot, to: hop.address, member: -1, over: hop.transport, strictNextHop: hop.strict, now: now)
            return .newRequest
        }
        if !message.toTag.isEmpty {
            // In a dialog, towards somewhere that is neither the group nor a proxy it named.
            counters.unroutable += 1
            counters.refused += 1
            answer(slot, 403, message, buffer, now: now)
            return .newRequest
        }
        let decision = RequestDecider.decide(message, buffer, source: sender, admission: admission, sequence: sequence,
                                             isUp: { health[$0].isUp },
                                             isBelievedBusy: { isBelievedBusy($0, now: now) || isThrottled($0, now: now) })
        switch decision {
        case .redirect:
            counters.answeredHere += 1
            if !acceptByProxying(slot, message, buffer, from: sender, now: now) { redirect(slot, message, buffer, now: now) }
        case .forward(let member):
            guard holdRequest(slot, message, buffer, now: now) else { break }
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
            answer(slot, 200, message, buffer, now: now, withLoad: fromMember)
        case .tooManyHops, .loopDetected, .refuse, .methodNotAllowed:
            counters.refused += 1
            answer(slot, decision.refusalStatus!, message, buffer, now: now)
        }
        return .newRequest
    }

    /// Who sent a request, as far as the group is concerned: its source, except over TCP (or TLS),
    /// where a member's connection comes from a port of its own choosing: there a top Via
    /// whose sent-by is a member at the connection's address names that member (no more
    /// trust than a UDP source address gets). With TLS between members, only an
    /// authenticated TLS connection speaks for a member; anything else is a stranger's (the
    /// source with port 0, which no member has).
    func sender(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint,
                over transport: Transport, authenticated: Bool) -> Endpoint {
        if settings.membersOverTLS && !(transport == .tls && authenticated) {
            return Endpoint(address: source.address, port: 0)
        }
        guard transport.isReliable, sequence.index(of: source) == nil else { return source }
        guard let sentBy = ViaValues.sentBy(buffer, message.topVia),
              let address = IPAddress(text: sentBy.host.slice(of: buffer)), address == source.address else { return source }
        let named = Endpoint(address: address, port: UInt16(sentBy.port == 0 ? 5060 : sentBy.port))
        return sequence.index(of: named) != nil ? named : source
    }

    /// The request of `slot` kept to be sent on; when the pool cannot hold it, a 503 (with
    /// Retry-After) answers it, counted, and false.
    func holdRequest(_ slot: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) -> Bool {
        guard servers.holdRequest(slot, buffer) else {
            counters.messagesRefused += 1
            answer(slot, 503, message, buffer, now: now)
            return false
        }
        return true
    }

    /// 503 with Retry-After, sent once and kept nowhere.
    func busyWithoutTransaction(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, to source: Endpoint,
                                over transport: Transport) {
        writeResponse(503, message, buffer)
        out.append("Retry-After: ")
        out.append(settings.retryAfterSeconds)
        out.append("\r\n")
        ResponseWriter.end(into: &out)
        outbox.send(out, to: source, over: transport)
    }

    /// 302 with this node's identity: the Request-URI retargeted for INVITE, the identity
    /// itself for REGISTER and OPTIONS. An INVITE's Call-ID is reserved.
    func redirect(_ slot: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) {
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
        let overload = message.topViaOffersOverloadControl ? overloadReport(now: clock) : nil
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
        servers.machines.pointer(at: slot).pointee.respond(code, now: now, timers: settings.timers)
        keepResponse(slot)
        outbox.send(out, to: servers.sources[slot], over: servers.transports[slot])
        noteAnswer(slot, code)
        schedule(server: slot)
    }

    /// With `reportsAnswers`, a final answer to a client is noted for the owner.
    func noteAnswer(_ slot: Int, _ code: Int) {
        guard settings.reportsAnswers, code >= 200, !servers.fromMembers[slot], answeredClients.count < 256 else { return }
        answeredClients.append(Int32(slot))
    }

    /// What `out` holds, kept as the response `slot` retransmits. Once it is final the
    /// request goes: nothing forwards it again, and a transaction waiting for its ACK then
    /// holds only what it retransmits.
    func keepResponse(_ slot: Int) {
        if !out.bytes.withUnsafeBytes({ servers.storeResponse(slot, $0) }) { counters.responsesUnheld += 1 }
        if servers.machines[slot].lastStatus >= 200 { servers.releaseRequest(slot) }
    }
}
