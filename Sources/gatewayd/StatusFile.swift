import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter
import SIP

/// The status file (DESIGN §6): JSON, schema version 1, replaced atomically (written beside,
/// fsynced, renamed) every `status_interval` seconds and at every state change. See README
/// for the fields. A failed write is logged once, retried at the next turn, and never stops
/// the node.
struct StatusFile {
    let file: AtomicTextFile
    /// The directory of `path`, NUL-terminated.
    let directory: [CChar]
    /// Whether gatewayd made the directory (then it may hand it to `user`).
    let createdDirectory: Bool
    let prometheus: AtomicTextFile?
    let intervalSeconds: Int
    let started: Int64

    init(_ config: NodeConfig, started: Int64 = gw_unix_seconds()) {
        file = AtomicTextFile(path: config.statusFile, what: "status file")
        intervalSeconds = config.statusInterval
        self.started = started
        prometheus = config.prometheusFile.isEmpty ? nil : AtomicTextFile(path: config.prometheusFile, what: "Prometheus file")
        // The default directory under /run may not exist yet: make it (once; errors show
        // up as a failed write, logged).
        var directory = file.path
        var created = false
        if let slash = directory.lastIndex(of: 0x2F), slash > 0 {
            directory[slash] = 0
            created = directory.withUnsafeBufferPointer { mkdir($0.baseAddress!, 0o755) } == 0
        }
        self.directory = directory
        createdDirectory = created
    }

    func write(_ config: NodeConfig, _ daemon: Daemon, now: Int64, stopped: Bool = false) {
        file.write(render(config, daemon, now: now, stopped: stopped))
        if let prometheus {
            prometheus.write(PrometheusText.render(config, daemon, started: started, now: now, stopped: stopped))
        }
    }

    func render(_ config: NodeConfig, _ daemon: Daemon, now: Int64, stopped: Bool) -> TextBuffer {
        var out = TextBuffer(capacity: 2048)
        out.append("{\n  \"version\": 1,\n  \"pid\": ")
        out.append(Int(getpid()))
        out.append(",\n  \"started_unix\": ")
        out.append(Int(started))
        out.append(",\n  \"updated_unix\": ")
        out.append(Int(gw_unix_seconds()))
        out.append(",\n  \"interval_s\": ")
        out.append(intervalSeconds)
        out.append(",\n  \"daemon\": \"")
        out.append(stopped ? "stopped" : "running")
        out.append("\",\n  \"roles\": [")
        out.append(daemon.node == nil ? "" : daemon.agent == nil ? "\"node\"" : "\"node\", ")
        out.append(daemon.agent == nil ? "" : "\"steering\"")
        out.append("],\n  \"hep\": ")
        if let hep = daemon.hep {
            out.append("{\"collector\": \"")
            out.append(hep.collector)
            out.append("\", \"sent\": "); out.append(hep.sent)
            out.append(", \"dropped\": "); out.append(hep.dropped)
            out.append(", \"send_failed\": "); out.append(hep.sendsFailed)
            out.append("},\n")
        } else {
            out.append("null,\n")
        }
        if let node = daemon.node, let meter = daemon.meter {
            renderNode(config, node, meter, capture: daemon.capture, now: now, stopped: stopped, into: &out)
        }
        if let streams = daemon.streams { StatusFile.render(streams, as: "tcp", into: &out) }
        if let streams = daemon.agentStreams { StatusFile.render(streams, as: "steering_tcp", into: &out) }
        if let streams = daemon.tlsStreams { StatusFile.render(streams, as: "tls", into: &out) }
        if let streams = daemon.agentTLSStreams { StatusFile.render(streams, as: "steering_tls", into: &out) }
        out.append("  \"endpoints\": [")
        if let agent = daemon.agent {
            renderEndpoints(agent, hooks: daemon.hooks, now: now, into: &out)
            out.append(agent.endpoints.isEmpty ? "],\n" : "\n  ],\n")
            renderSteering(agent, into: &out)
        } else {
            out.append("]\n")
        }
        out.append("}\n")
        return out
    }

    /// The node, its load, meter, peers and counters.
    func renderNode(_ config: NodeConfig, _ node: Node<KernelEntropy>, _ meter: Meter, capture: LiveCapture?, now: Int64,
                    stopped: Bool, into out: inout TextBuffer) {
        let state: StaticString = stopped ? "stopped"
            : node.admission.state == .accepting ? "accepting" : node.admission.state == .forwarding ? "forwarding" : "draining"
        out.append("  \"node\": {\"name\": \"")
        config.memberNames[config.selfIndex].withUnsafeBytes { out.appendJSONEscaped($0) }
        out.append("\", \"roles\": [\"node\"], \"state\": \"")
        out.append(state)
        out.append("\", \"identity\": \"")
        config.identity.withUnsafeBytes { out.appendJSONEscaped($0) }
        out.append("\", \"listen\": \"")
        out.append(config.listen)
        out.append("\", \"threshold\": ")
        out.append(fixed: node.admission.threshold, decimals: 3)
        out.append(", \"hysteresis\": ")
        out.append(fixed: node.admission.hysteresis, decimals: 3)
        out.append(", \"mode\": \"")
        out.append(node.admission.drain ? "drain" : "normal")
        out.append("\"},\n  \"load\": {\"workload\": ")
        out.append(fixed: node.effectiveWorkload(now: now), decimals: 3)
        out.append(", \"reservations\": ")
        out.append(node.reservations.count(at: now))
        let workload = meter.workload(at: PacketTime(nanoseconds: gw_realtime_ns()))
        out.append(", ")
        out.appendResources(of: workload, decimals: 1)
        let calls = meter.calls
        let registrations = meter.registrations.counters
        out.append("},\n  \"meter\": {\"capturing\": ")
        out.append(capture == nil || capture!.isLost ? "false" : "true")
        out.append(", \"capture_state\": \"")
        out.append(capture == nil ? "none" : capture!.isLost ? "lost" : "up")
        out.append("\", \"capture_gaps\": "); out.append(meter.captureGaps)
        out.append(", \"capture_gap_s\": "); out.append(fixed: Double(meter.captureGapNanoseconds) / 1e9, decimals: 1)
        out.append(", \"capture_error\": \"")
        if let capture, capture.isLost { capture.lastError.bytes.withUnsafeBytes { out.appendJSONEscaped($0) } }
        out.append("\"")
        out.append(", \"calls_active\": "); out.append(calls.active)
        out.append(", \"calls_peak\": "); out.append(calls.peakActive)
        out.append(", \"calls_attempted\": "); out.append(calls.attempts)
        out.append(", \"calls_attempting\": "); out.append(calls.attempting)
        out.appendCallTimeouts(of: calls)
        out.append(", \"registrations\": {\"attempts\": "); out.append(registrations.attempts)
        out.append(", \"successes\": "); out.append(registrations.successes)
        out.append(", \"challenges\": "); out.append(registrations.challenges)
        out.append(", \"failures\": "); out.append(registrations.failures)
        out.append("}, \"sip_messages_per_s\": "); out.append(fixed: workload.sipMessageRate, decimals: 1)
        out.append(", \"rtp_packets_per_s\": "); out.append(fixed: workload.rtpPacketRate, decimals: 1)
        out.append(", \"streams_open\": "); out.append(meter.openStreams)
        out.append(", \"sip_malformed\": "); out.append(meter.sip.malformed)
        let statistics = capture?.statistics() ?? CaptureStatistics()
        out.append(", \"capture_received\": "); out.append(statistics.received)
        out.append(", \"capture_dropped\": "); out.append(statistics.dropped)
        out.append(", \"capture_dropped_by_interface\": "); out.append(statistics.droppedByInterface)
        out.append("},\n  \"peers\": [")
        var first = true
        for member in 0..<config.members.count where member != config.selfIndex {
            let health = node.health[member]
            out.append(first ? "\n    " : ",\n    ")
            first = false
            out.append("{\"name\": \"")
            config.memberNames[member].withUnsafeBytes { out.appendJSONEscaped($0) }
            out.append("\", \"address\": \"")
            out.append(config.members[member])
            out.append("\", \"up\": ")
            out.append(health.isUp ? "true" : "false")
            out.append(", \"last_rtt_ms\": ")
            out.append(fixed: Double(health.lastRoundTrip) / 1e6, decimals: 3)
            out.append(", \"last_load\": ")
            out.append(fixed: health.lastReportedLoad, decimals: 3)
            out.append("}")
        }
        let counters = node.counters
        out.append(first ? "],\n" : "\n  ],\n")
        out.append("  \"counters\": ")
        StatusFile.render(counters, node.outbox, into: &out)
        let pool = node.messages
        out.append(",\n  \"message_pool\": {\"capacity_bytes\": "); out.append(pool.capacity)
        out.append(", \"used_bytes\": "); out.append(pool.used)
        out.append(", \"peak_used_bytes\": "); out.append(pool.peakUsed)
        out.append(", \"refused\": "); out.append(pool.failures)
        out.append(", \"returned_bytes\": "); out.append(pool.bytesReturned)
        out.append("},\n")
    }

    /// Each steered endpoint: its state, proxy, since and until when, the last hook's result.
    func renderEndpoints(_ agent: SteeringAgent<KernelEntropy>, hooks: HookRunner?, now: Int64, into out: inout TextBuffer) {
        let unixNow = gw_unix_seconds()
        func unix(_ monotonic: Int64) -> Int { Int(unixNow - (now - monotonic) / 1_000_000_000) }
        for index in 0..<agent.endpoints.count {
            let endpoint = agent.endpoints[index]
            let state = agent.states[index]
            out.append(index == 0 ? "\n    {\"name\": \"" : ",\n    {\"name\": \"")
            endpoint.name.withUnsafeBytes { out.appendJSONEscaped($0) }
            out.append("\", \"kind\": \"")
            out.append(endpoint.kind.name)
            out.append("\", \"identity\": \"")
            endpoint.identity.withUnsafeBytes { out.appendJSONEscaped($0) }
            out.append("\", \"state\": \"")
            out.append(state.state.name)
            out.append("\", \"proxy\": ")
            if let assignment = state.assignment, state.state == .assigned || state.state == .lost {
                out.append("\"")
                assignment.proxy.withUnsafeBytes { out.appendJSONEscaped($0) }
                out.append("\", \"expires_unix\": ")
                out.append(unix(state.expiresAt))
            } else {
                out.append("null, \"expires_unix\": null")
            }
            out.append(", \"since_unix\": ")
            out.append(unix(state.since))
            out.append(", \"retry_after_s\": ")
            out.append(state.state == .busy ? state.retryAfterSeconds : 0)
            out.append(", \"last_hook\": ")
            if let hooks, index < hooks.lastResults.count, hooks.lastResults[index].count > 0 {
                out.append("\"")
                hooks.lastResults[index].bytes.withUnsafeBytes { out.appendJSONEscaped($0) }
                out.append("\"}")
            } else {
                out.append("null}")
            }
        }
    }

    func renderSteering(_ agent: SteeringAgent<KernelEntropy>, into out: inout TextBuffer) {
        out.append("  \"steering\": {\"listen\": \"")
        out.append(agent.settings.listen)
        out.append("\", \"entry_points\": [")
        for (index, entry) in agent.settings.entryPoints.enumerated() {
            out.append(index == 0 ? "{\"address\": \"" : ", {\"address\": \"")
            out.append(entry)
            out.append("\", \"up\": ")
            out.append(agent.relay.health[index + 1].isUp ? "true" : "false")
            out.append("}")
        }
        let counters = agent.counters
        out.append("], \"relayed\": "); out.append(counters.relayed)
        out.append(", \"refused_unknown\": "); out.append(counters.refusedUnknown)
        out.append(", \"asks\": "); out.append(counters.asks)
        out.append(", \"asks_unanswered\": "); out.append(counters.entryPointsSilent)
        out.append(", \"probes_sent\": "); out.append(counters.probesSent)
        out.append(", \"probes_answered\": "); out.append(counters.probesAnswered)
        out.append(", \"relay\": ")
        StatusFile.render(agent.relay.counters, agent.outbox, into: &out)
        out.append("}\n")
    }

    /// `  "NAME": {"open": N, "accepted": N, ...},` for a TCP or TLS listener and its connections.
    static func render(_ streams: StreamConnections, as name: StaticString, into out: inout TextBuffer) {
        out.append("  \"")
        out.append(name)
        out.append("\": {\"open\": ")
        out.append(streams.open)
        streams.counters.forEach(tls: streams.tls != nil) { name, value in
            out.append(", \"")
            out.append(name)
            out.append("\": ")
            out.append(value)
        }
        out.append("},\n")
    }

    /// `{"name": value, ...}` of every node counter, and what its outbox lost: datagrams it
    /// had no room for and sends the socket refused.
    static func render(_ counters: NodeCounters, _ outbox: Outbox, into out: inout TextBuffer) {
        out.append("{")
        counters.forEach { name, value in
            out.append("\"")
            out.append(name)
            out.append("\": ")
            out.append(value)
            out.append(", ")
        }
        out.append("\"outbox_dropped\": ")
        out.append(outbox.dropped)
        out.append(", \"sends_failed\": ")
        out.append(outbox.sendsFailed)
        out.append("}")
    }
}
