import Basics
import SIP

/// The node as an RFC 3261 §16 proxy, for requests that are not (or no longer) requests to
/// connect: sent on to where they already point, ACKs for 2xx passed on without a
/// transaction, CANCELs carried to the proxy that has the INVITE, and the group's 302
/// followed instead of handed back when the node (or the steering agent) recurses.
extension Node {
    /// Where a prepared request goes when it already points somewhere this element may
    /// send it: one of the group's proxies (by its Route or Request-URI), or, for the
    /// steering agent, wherever an in-dialog request or one that came back along the
    /// agent's own Path or Record-Route points. Nil: a request to connect, or unroutable.
    func directHop(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer,
                   insertedRoute: Bool) -> (address: Endpoint, strict: Bool, transport: Transport)? {
        guard let hop = NextHop(message, buffer), let address = hop.address,
              !isSelf(address), sequence.index(of: address) == nil else { return nil }
        let inDialog = !message.toTag.isEmpty || message.method == .ack
        guard proxies.contains(address) || settings.routeAnywhere && (inDialog || insertedRoute) else { return nil }
        return (address, hop.strict, hop.uri.transport(in: buffer))
    }

    /// An ACK for a 2xx (or any request without a transaction here) sent on with this
    /// element's Via (§16.11: a fresh branch is as good as a computed one for an ACK).
    func forwardStateless(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, to destination: Endpoint, strict: Bool,
                          over transport: Transport) {
        guard message.maxForwards != 0 else {
            counters.unroutable += 1
            return
        }
        writeBranch(into: random, at: 0)
        random.withBytes(0, ClientTransactions.branchLength) { branch in
            RequestForwarder.write(message, buffer, via: selfAddress, over: transport, branch: branch, strictNextHop: strict,
                                   into: &out)
        }
        outbox.send(out, to: destination, over: transport, opening: .whileUsed)
        counters.forwardedStateless += 1
    }

    /// CANCEL (§9.2, §16.10): answered here at once; an INVITE still ringing at a proxy is
    /// cancelled there too. One forwarded along the chain needs nothing: every member
    /// answers a request to connect at once with 302 or 503.
    func cancel(_ slot: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint, now: Int64) {
        let invite = servers.find(message.topViaBranch.slice(of: buffer), source: source, invite: true)
        answer(slot, invite >= 0 ? 200 : 481, message, buffer, now: now)
        guard invite >= 0 else { return }
        let client = Int(servers.clients[invite])
        guard client >= 0, clients.index.isInUse(client), Int(clients.servers[client]) == invite,
              clients.serverGenerations[client] == servers.generations[invite], clients.members[client] < 0 else { return }
        let state = clients.machines[client].state
        if state == .calling || state == .proceeding { sendHopRequest(.cancel, client) }
    }

    /// This node accepts a request from outside the group and recurses: instead of a 302
    /// naming its proxy, the request goes to that proxy (retargeted as the 302 would have
    /// said). False when the node does not recurse or has no proxy of its own behind it.
    func acceptByProxying(_ slot: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, from source: Endpoint,
                          now: Int64) -> Bool {
        let method = message.method
        guard settings.recurse, method == .invite || method == .register, isClient(source), let identity,
              let ownProxy = proxies.own else { return false }
        guard holdRequest(slot, message, buffer, now: now) else { return true }
        target.removeAll()
        settings.identity.withUnsafeBytes { identityBuffer in
            if method == .invite, let requested = SIPURI(buffer, message.startLine.requestURI) {
                SIPURI.retarget(requested, in: buffer, to: identity, in: identityBuffer, into: &target)
            } else {
                target.append(bytes: identityBuffer)
            }
        }
        if method == .invite { answer(slot, 100, message, buffer, now: now) }
        counters.proxied += 1
        let transport = settings.identity.withUnsafeBytes { identity.transport(in: $0) }
        target.bytes.withUnsafeBytes { uri in
            forward(slot, to: ownProxy, member: -1, over: transport, requestURI: uri, stayInPath: pathInsertion(for: method), now: now)
        }
        if method == .invite { reserve(message, buffer, now: now) }
        return true
    }

    /// A 3xx from the chain for server transaction `slot`: its Contact is a proxy of the
    /// group, learned; when recursing for a client, the request goes there now (§16.5-16.6)
    /// and true is returned, so the 302 is not passed back.
    func redirected(_ slot: Int, _ response: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) -> Bool {
        guard let contact = Contact.first(response, buffer), let address = contact.uri.endpoint(in: buffer),
              !isSelf(address), sequence.index(of: address) == nil else { return false }
        proxies.learn(address)
        let request = servers.request(slot)
        guard settings.recurse, !servers.fromMembers[slot], let line = SIPScanner.startLine(request),
              line.method == .invite || line.method == .register else { return false }
        // The Contact's URI without its headers part: the new Request-URI.
        let uri = ByteRange(contact.uri.scheme.start, contact.uri.parameters.end).slice(of: buffer)
        counters.recursed += 1
        counters.proxied += 1
        forward(slot, to: address, member: -1, over: contact.uri.transport(in: buffer), requestURI: uri,
                stayInPath: pathInsertion(for: line.method), now: now)
        if recursions.count < 32 { recursions.append(servers.clients[slot]) }
        return true
    }

    /// A proxy never answered a request sent to it: 408 upstream (§16.7 step 6, §16.8).
    func proxyTimedOut(_ slot: Int, now: Int64) {
        guard servers.machines[slot].lastStatus < 200 else { return }
        let request = servers.request(slot)
        guard let line = SIPScanner.startLine(request),
              let message = try? SIPScanner.scan(request, startLine: line, framing: .datagram) else { return }
        answer(slot, 408, message, request, now: now)
    }

    enum HopRequest {
        case ack
        case cancel
    }

    /// ACK for a non-2xx final response (§17.1.1.3) or CANCEL (§9.1) of the INVITE of client
    /// transaction `client`: its Request-URI, Via, Route, From, Call-ID and CSeq number; To
    /// from the response for ACK, from the request for CANCEL.
    func sendHopRequest(_ kind: HopRequest, _ client: Int, response: SIPMessage? = nil,
                        _ responseBuffer: UnsafeRawBufferPointer? = nil) {
        let request = clients.request(client)
        guard let line = SIPScanner.startLine(request),
              let sent = try? SIPScanner.scan(request, startLine: line, framing: .datagram) else { return }
        hopRequest.removeAll()
        hopRequest.append(kind == .ack ? "ACK " : "CANCEL ")
        hopRequest.append(bytes: sent.startLine.requestURI.slice(of: request))
        hopRequest.append(" SIP/2.0\r\nVia: ")
        hopRequest.append(bytes: sent.topVia.slice(of: request))
        hopRequest.append("\r\n")
        var headers = HeaderLines(request, sent)
        while let header = headers.next() {
            guard headers.named(header, "route") else { continue }
            hopRequest.append(bytes: header.line.slice(of: request))
            hopRequest.append("\r\n")
        }
        hopRequest.append("Max-Forwards: 70\r\nFrom: ")
        hopRequest.append(bytes: sent.from.slice(of: request))
        hopRequest.append("\r\nTo: ")
        if let response, let responseBuffer {
            hopRequest.append(bytes: response.to.slice(of: responseBuffer))
        } else {
            hopRequest.append(bytes: sent.to.slice(of: request))
        }
        hopRequest.append("\r\nCall-ID: ")
        hopRequest.append(bytes: sent.callID.slice(of: request))
        hopRequest.append("\r\nCSeq: ")
        hopRequest.append(UInt64(sent.cseqNumber))
        hopRequest.append(kind == .ack ? " ACK" : " CANCEL")
        hopRequest.append("\r\nContent-Length: 0\r\n\r\n")
        outbox.send(hopRequest, to: clients.destinations[client], over: clients.transports[client],
                    opening: clients.members[client] >= 0 ? .kept : .whileUsed)
    }

    /// A request from outside the group from a real address (not an endpoint's ask).
    func isClient(_ source: Endpoint) -> Bool { sequence.index(of: source) == nil }

    func pathInsertion(for method: SIPMethod) -> RequestForwarder.StayInPath {
        guard settings.stayInPath else { return .none }
        return method == .register ? .path : .recordRoute
    }
}
