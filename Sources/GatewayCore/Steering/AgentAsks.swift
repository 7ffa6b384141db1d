import Basics
import SIP

/// The steering agent asks the group for its analog lines and H.323 endpoints: an OPTIONS
/// per ask in a transaction of its own (`EntryAsks`), entry points in order, and what the
/// answer means for the endpoint.
extension SteeringAgent {
    /// An ask for `index` (OPTIONS, From and To the endpoint's identity) to the first entry
    /// point that is up; none up: busy at once, with the configured retry.
    func ask(_ index: Int, sequence: UInt32, now: Int64) {
        counters.asks += 1
        asks.newAsk(index, entropy: &entropy)
        sendAsk(index, after: -1, now: now)
    }

    /// Sends `index`'s ask to the first entry point after `previous` that is up.
    func sendAsk(_ index: Int, after previous: Int, now: Int64) {
        var entry = previous + 1
        // The relay's member 0 is the agent; entry point k is its member k + 1.
        while entry < settings.entryPoints.count && !relay.health[entry + 1].isUp { entry += 1 }
        guard entry < settings.entryPoints.count else {
            asks.transactions[index] = nil
            counters.entryPointsSilent += 1
            changed(index, states[index].busy(retryAfterSeconds: Int(settings.timers.retry / 1_000_000_000), now: now), hook: true)
            return
        }
        let target = settings.entryPoints[entry]
        let branch = asks.newBranch(index, entropy: &entropy)
        out.removeAll()
        endpoints[index].uri.withUnsafeBytes { uri in
            OptionsRequest.write(into: &out, target: target, sentBy: .endpoint(settings.listen), branch: branch, maxForwards: 70,
                                 from: .uri(uri), fromTag: asks.tag(index), to: .uri(uri), callID: asks.callID(index),
                                 callIDHost: "steering", cseq: states[index].askSequence)
        }
        var timers = relay.settings.timers
        timers.forwardTimeout = settings.entryTimeoutNanoseconds
        guard asks.started(index, out, entry: entry, timers: timers, now: now) else {
            // An identity too long for an ask: nothing can be asked for this endpoint.
            asks.transactions[index] = nil
            changed(index, states[index].busy(retryAfterSeconds: Int(settings.timers.retry / 1_000_000_000), now: now), hook: true)
            return
        }
        outbox.send(out, to: target)
    }

    /// Retransmissions and entry timeouts of the asks out.
    func tickAsks(now: Int64) {
        for index in 0..<asks.transactions.count {
            guard var transaction = asks.transactions[index] else { continue }
            let action = transaction.timerFired(now: now)
            asks.transactions[index] = transaction
            switch action {
            case .retransmitRequest:
                outbox.send(asks.request(index), to: settings.entryPoints[asks.entryPoint[index]])
            case .timedOut:
                let entry = asks.entryPoint[index]
                relay.missed(entry + 1)
                sendAsk(index, after: entry, now: now)
            case .terminate:
                asks.transactions[index] = nil
            default:
                break
            }
        }
    }

    /// A response to one of the asks: its transaction absorbs retransmissions; the first
    /// final answer ends the ask.
    func askAnswered(_ index: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) {
        guard var transaction = asks.transactions[index] else { return }
        let action = transaction.responseReceived(message.statusCode, now: now)
        asks.transactions[index] = transaction
        if action == .passUp && message.statusCode >= 200 { answered(index, message, buffer, now: now) }
    }

    /// The group's final answer to an ask (no entry point answering is `sendAsk`'s to say).
    func answered(_ index: Int, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) {
        guard message.statusCode >= 200, states[index].isAsking, message.cseqNumber == states[index].askSequence else { return }
        var event: HookEvent?
        if message.statusCode == 302, let assignment = Assignment(message, buffer, defaultExpires: 60) {
            event = states[index].assigned(assignment, now: now, timers: settings.timers, jitter: jitter())
        } else if message.statusCode == 503 && message.retryAfter > 0 {
            event = states[index].busy(retryAfterSeconds: message.retryAfter, now: now)
        } else {
            // An answer that assigns nothing: asked again after the configured retry.
            event = states[index].busy(retryAfterSeconds: Int(settings.timers.retry / 1_000_000_000), now: now)
        }
        changed(index, event, hook: true)
    }

    /// The proxies the relay recursed to: the phones' assignments, for the status.
    func recordRecursions(now: Int64) {
        for client in relay.recursions {
            let request = relay.clients.request(Int(client))
            guard let line = SIPScanner.startLine(request),
                  let message = try? SIPScanner.scan(request, startLine: line, framing: .datagram),
                  let index = endpoint(matching: message.method == .register ? message.to : message.from, in: request),
                  let uri = SIPURI(request, message.startLine.requestURI),
                  let assignment = Assignment(uri: uri, request, expiresSeconds: relay.settings.contactExpiresSeconds)
            else { continue }
            changed(index, states[index].assigned(assignment, now: now, timers: settings.timers, jitter: 0), hook: false)
        }
        relay.clearRecursions()
    }

    /// A 302 or 503 the relay sends a SIP phone: its assignment, for the status.
    func recordPhone(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, now: Int64) {
        guard message.cseqMethod == .invite || message.cseqMethod == .register,
              let index = endpoint(matching: message.cseqMethod == .register ? message.to : message.from, in: buffer) else { return }
        if message.statusCode == 302, let assignment = Assignment(message, buffer, defaultExpires: 60) {
            changed(index, states[index].assigned(assignment, now: now, timers: settings.timers, jitter: 0), hook: false)
        } else if message.statusCode == 503 {
            changed(index, states[index].busy(retryAfterSeconds: max(message.retryAfter, 0), now: now), hook: false)
        }
    }
}
