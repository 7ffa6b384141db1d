import Basics
import Capture
import GatewayCore
import LoadMeter

/// The log lines for things that happen per packet: requests rate limited, malformed SIP
/// sent to the node, malformed SIP seen by the meter, packets the capture dropped. Each is
/// one line when it starts, one summary a minute while it goes on, one when it stops. The
/// steering agent's refusals of unknown phones and asks nobody answered are logged so too, and
/// the TCP and TLS limits (summed over the node's and the agent's listeners).
struct FloodLog {
    var rateLimited = RepeatedEvent()
    var malformed = RepeatedEvent()
    var meterMalformed = RepeatedEvent()
    var captureDropped = RepeatedEvent()

    var unknownPhones = RepeatedEvent()
    var silentEntryPoints = RepeatedEvent()
    var messagesRefused = RepeatedEvent()
    var relayMessagesRefused = RepeatedEvent()
    var unroutable = RepeatedEvent()
    var sendsLost = RepeatedEvent()
    var transactionsCut = RepeatedEvent()
    var connectionsRefused = RepeatedEvent()
    var connectionsCut = RepeatedEvent()
    var handshakesFailed = RepeatedEvent()
    var connectionSendsFailed = RepeatedEvent()

    mutating func observe(_ daemon: Daemon, now: Int64) {
        if let agent = daemon.agent {
            FloodLog.report(unknownPhones.observe(agent.counters.refusedUnknown, now: now),
                            "requests from phones not configured as endpoints (answered 403)")
            FloodLog.report(silentEntryPoints.observe(agent.counters.entryPointsSilent, now: now),
                            "asks no entry point answered (endpoints told busy)")
            FloodLog.report(relayMessagesRefused.observe(agent.relay.counters.messagesRefused, now: now),
                            "phone requests the agent could not hold or send (answered 503 or 513)")
        }
        let lost = (daemon.node.map { $0.outbox.dropped + $0.outbox.sendsFailed } ?? 0)
            + (daemon.agent.map { $0.outbox.dropped + $0.outbox.sendsFailed } ?? 0)
        FloodLog.report(sendsLost.observe(lost, now: now), "datagrams not sent (outbox full or the socket refused them)")
        observeConnections(daemon.listeners, now: now)
        guard let node = daemon.node, let meter = daemon.meter else { return }
        let counters = node.counters
        FloodLog.report(rateLimited.observe(counters.rateLimited, now: now), "requests rate limited (answered 503)")
        FloodLog.report(malformed.observe(counters.malformed, now: now), "malformed requests dropped")
        FloodLog.report(messagesRefused.observe(counters.messagesRefused, now: now),
                        "requests the node could not hold or send (answered 503 or 513)")
        FloodLog.report(transactionsCut.observe(counters.transactionsDropped, now: now),
                        "transactions cut short (the oldest evicted to make room)")
        FloodLog.report(unroutable.observe(counters.unroutable, now: now),
                        "in-dialog requests towards no proxy of the group (answered 403, ACKs dropped)")
        FloodLog.report(meterMalformed.observe(meter.sip.malformed, now: now), "malformed SIP messages seen by the meter")
        if let capture = daemon.capture {
            let dropped = capture.statistics()
            FloodLog.report(captureDropped.observe(Int(truncatingIfNeeded: dropped.dropped + dropped.droppedByInterface), now: now),
                            "packets dropped by the capture")
        }
    }

    /// The limits of the TCP and TLS listeners: what the status file's `tcp` and `tls`
    /// objects count one by one, logged by kind.
    mutating func observeConnections(_ tables: [StreamConnections], now: Int64) {
        guard !tables.isEmpty else { return }
        var refused = 0, cut = 0, handshakes = 0, sends = 0
        for table in tables {
            let counters = table.counters
            refused += counters.refusedLimit + counters.refusedPerSource
            cut += counters.closedStalled + counters.closedTooLarge + counters.closedUnframeable
            handshakes += counters.closedHandshake + counters.closedTLSError + counters.closedCertificate
            sends += counters.sendFailed + counters.openFailed
        }
        FloodLog.report(connectionsRefused.observe(refused, now: now),
                        "TCP/TLS connections refused (tcp_connections or tcp_connections_per_source reached)")
        FloodLog.report(connectionsCut.observe(cut, now: now),
                        "TCP/TLS connections closed for what they sent (stalled mid-message, too large, or not framed)")
        FloodLog.report(handshakesFailed.observe(handshakes, now: now),
                        "TLS connections closed in or after the handshake (failed, unfinished, bad record, certificate)")
        FloodLog.report(connectionSendsFailed.observe(sends, now: now),
                        "TCP/TLS sends that failed (no connection, one that could not be opened, or a peer not reading)")
    }

    static func report(_ report: RepeatedEvent.Report?, _ what: StaticString) {
        guard let report else { return }
        var line = TextBuffer()
        switch report {
        case .started(let count):
            line.append(what)
            line.append(": ")
            line.append(count)
            line.append(" (further ones summarised once a minute)")
        case .continuing(let count, let seconds):
            line.append(what)
            line.append(": ")
            line.append(count)
            line.append(" in the last ")
            line.append(seconds)
            line.append(" s")
        case .stopped(let total):
            line.append(what)
            line.append(": stopped, ")
            line.append(total)
            line.append(" in all")
        }
        NodeDaemon.log(line, priority: 4)
    }
}
