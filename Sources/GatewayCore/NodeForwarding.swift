import Basics
import SIP

/// Client transactions: a request sent on to the next member or a proxy, retried past a
/// silent one, and the answers relayed back through the server transaction.
extension Node {
    /// Forwards the request of server transaction `slot` to `member` of the sequence.
    func forward(_ slot: Int, to member: Int, now: Int64) {
        if member < 64 { servers.tried[slot] |= 1 << UInt64(member) }
        counters.forwarded += 1
        forward(slot, to: sequence.members[member].address, member: member, now: now)
    }

    /// Forwards the request of server transaction `slot` in a new client transaction, to a
    /// member of the sequence or (`member` -1) to a proxy over `proxyTransport` (what its URI
    /// asks for); retargeted to `requestURI` when given.
    func forward(_ slot: Int, to destination: Endpoint, member: Int, over proxyTransport: Transport = .udp,
                 requestURI: UnsafeRawBufferPointer? = nil, stayInPath: RequestForwarder.StayInPath = .none,
                 strictNextHop: Bool = false, now: Int64) {
        let request = servers.request(slot)
        guard let line = SIPScanner.startLine(request),
              let message = try? SIPScanner.scan(request, startLine: line, framing: .datagram) else { return }
        let claimed = clients.index.claim(hash: 0)  // filed under its branch's hash below
        let client = claimed.slot
        if claimed.evicted { counters.transactionsDropped += 1 }
        writeBranch(into: clients.branches, at: client * ClientTransactions.branchLength)
        let branch = clients.branch(client)
        clients.index.rekey(client, hash: KeyHash.bytes(branch))
        // To a member over TLS when the group runs it; else over TCP when the request came
        // over TCP or TLS or is large (§18.1.1), else UDP; to a proxy as its URI says.
        var transport: Transport = member < 0 ? proxyTransport : settings.membersOverTCP
            && (servers.transports[slot].isReliable || request.count > Node.largeRequest) ? .tcp : .udp
        var destination = destination
        if member >= 0 && settings.membersOverTLS, let tls = settings.tlsAddress {
            transport = .tls
            destination = Endpoint(address: destination.address, port: tls.port)
        }
        RequestForwarder.write(message, request, via: selfAddress, over: transport, branch: branch, requestURI: requestURI,
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
        clients.transports[client] = transport
        clients.machines[client] = ClientTransaction(isInvite: message.method == .invite, timers: timers, now: now,
                                                     reliable: transport.isReliable)
        clients.generations[client] &+= 1
        clients.servers[client] = Int32(slot)
        clients.serverGenerations[client] = servers.generations[slot]
        servers.clients[slot] = Int32(client)
        outbox.send(out, to: destination, over: transport, opening: member >= 0 ? .kept : .whileUsed)
        schedule(client: client)
    }

    func clientTimer(_ client: Int, now: Int64) {
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
    func retry(_ slot: Int, now: Int64) {
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

    func response(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint, now: Int64) {
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
        var vias = ViaValues.vias(buffer, message)
        _ = vias.next()
        let overload = vias.next().map { OverloadControl.isOffered($0, buffer) } == true ? overloadReport(now: now) : nil
        guard RequestForwarder.relay(message, buffer, ownBranch: branch, overload: overload, into: &out) else { return }
        let machine = servers.machines.pointer(at: slot)
        // The server transaction already sent its own 100 Trying.
        if code == 100 { return }
        machine.pointee.respond(code, now: now, timers: settings.timers)
        keepResponse(slot)
        outbox.send(out, to: servers.sources[slot], over: servers.transports[slot])
        noteAnswer(slot, code)
        schedule(server: slot)
    }

    func serverTimer(_ slot: Int, now: Int64) {
        switch servers.machines.pointer(at: slot).pointee.timerFired(now: now, timers: settings.timers) {
        case .resendLastResponse:
            outbox.send(servers.response(slot), to: servers.sources[slot], over: servers.transports[slot])
        case .terminate:
            servers.release(slot)
            return
        case .none:
            break
        }
        schedule(server: slot)
    }
}
