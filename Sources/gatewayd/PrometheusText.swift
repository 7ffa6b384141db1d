import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter

/// The status file's figures in Prometheus text format 0.0.4, for node_exporter's textfile
/// collector (`prometheus_file = /var/lib/node_exporter/textfile/gatewayd.prom`). Written
/// on the status file's schedule, atomically, so the collector never reads half a file.
enum PrometheusText {
    /// A TCP or TLS listener: its open connections, and each of its counters by name.
    static func render(_ streams: StreamConnections, _ gauge: StaticString, _ gaugeHelp: StaticString,
                       _ total: StaticString, _ totalHelp: StaticString, into out: inout TextBuffer) {
        out.family(gauge, "gauge", gaugeHelp)
        out.sample(gauge, streams.open)
        out.family(total, "counter", totalHelp)
        streams.counters.forEach(tls: streams.tls != nil) { name, value in out.labelled(total, "counter", name, Double(value)) }
    }

    static func render(_ config: NodeConfig, _ daemon: Daemon, started: Int64, now: Int64, stopped: Bool) -> TextBuffer {
        var out = TextBuffer(capacity: 4096)
        out.family("gatewayd_up", "gauge", "1 while the daemon runs; 0 in the last file it writes when it stops.")
        out.sample("gatewayd_up", stopped ? 0 : 1)
        out.family("gatewayd_start_time_seconds", "gauge", "When the daemon started, in Unix seconds.")
        out.sample("gatewayd_start_time_seconds", Int(started))
        if let node = daemon.node, let meter = daemon.meter {
            renderNode(config, node, meter, capture: daemon.capture, now: now, stopped: stopped, into: &out)
        }
        if let agent = daemon.agent { renderSteering(agent, into: &out) }
        if let streams = daemon.streams {
            render(streams, "gatewayd_tcp_connections", "TCP connections to the node open now.",
                   "gatewayd_tcp_total", "Every counter of the status file's tcp object, by name.", into: &out)
        }
        if let streams = daemon.agentStreams {
            render(streams, "gatewayd_steering_tcp_connections", "TCP connections to the steering agent open now.",
                   "gatewayd_steering_tcp_total", "Every counter of the status file's steering_tcp object, by name.", into: &out)
        }
        if let streams = daemon.tlsStreams {
            render(streams, "gatewayd_tls_connections", "TLS connections to the node open now.",
                   "gatewayd_tls_total", "Every counter of the status file's tls object, by name.", into: &out)
        }
        if let streams = daemon.agentTLSStreams {
            render(streams, "gatewayd_steering_tls_connections", "TLS connections to the steering agent open now.",
                   "gatewayd_steering_tls_total", "Every counter of the status file's steering_tls object, by name.", into: &out)
        }
        if let hep = daemon.hep {
            out.family("gatewayd_hep_messages_total", "counter",
                       "SIP copies for the HEP collector: sent, dropped (queue full or too large for HEP), send_failed (refused by the kernel).")
            out.labelled("gatewayd_hep_messages_total", "outcome", "sent", Double(hep.sent))
            out.labelled("gatewayd_hep_messages_total", "outcome", "dropped", Double(hep.dropped))
            out.labelled("gatewayd_hep_messages_total", "outcome", "send_failed", Double(hep.sendsFailed))
        }
        return out
    }

    static func renderSteering(_ agent: SteeringAgent<KernelEntropy>, into out: inout TextBuffer) {
        out.family("gatewayd_endpoint_state", "gauge", "1 for each steered endpoint's current state.")
        let states: [SteeredEndpoint.State] = [.pending, .assigned, .busy, .lost]
        for index in 0..<agent.endpoints.count {
            for state in states {
                out.append("gatewayd_endpoint_state{endpoint=\"")
                agent.endpoints[index].name.withUnsafeBytes { out.appendLabelEscaped($0) }
                out.append("\",kind=\"")
                out.append(agent.endpoints[index].kind.name)
                out.append("\",state=\"")
                out.append(state.name)
                out.append(agent.states[index].state == state ? "\"} 1\n" : "\"} 0\n")
            }
        }
        let counters = agent.counters
        out.family("gatewayd_steering_total", "counter", "The steering agent's work, by kind.")
        out.labelled("gatewayd_steering_total", "kind", "relayed", Double(counters.relayed))
        out.labelled("gatewayd_steering_total", "kind", "refused_unknown", Double(counters.refusedUnknown))
        out.labelled("gatewayd_steering_total", "kind", "asks", Double(counters.asks))
        out.labelled("gatewayd_steering_total", "kind", "asks_unanswered", Double(counters.entryPointsSilent))
        out.labelled("gatewayd_steering_total", "kind", "probes_sent", Double(counters.probesSent))
        out.labelled("gatewayd_steering_total", "kind", "probes_answered", Double(counters.probesAnswered))
    }

    static func renderNode(_ config: NodeConfig, _ node: Node<KernelEntropy>, _ meter: Meter, capture: LiveCapture?,
                           now: Int64, stopped: Bool, into out: inout TextBuffer) {
        out.family("gatewayd_info", "gauge", "Constant 1; the node's name, identity and version as labels.")
        out.append("gatewayd_info{name=\"")
        config.memberNames[config.selfIndex].withUnsafeBytes { out.appendLabelEscaped($0) }
        out.append("\",identity=\"")
        config.identity.withUnsafeBytes { out.appendLabelEscaped($0) }
        out.append("\",version=\"")
        out.append(Usage.version)
        out.append("\"} 1\n")

        out.family("gatewayd_state", "gauge", "1 for the node's current admission state.")
        let state = stopped ? 3 : node.admission.state == .accepting ? 0 : node.admission.state == .forwarding ? 1 : 2
        for (index, name) in [("accepting" as StaticString), "forwarding", "draining", "stopped"].enumerated() {
            out.append("gatewayd_state{state=\"")
            out.append(name)
            out.append(index == state ? "\"} 1\n" : "\"} 0\n")
        }
        out.family("gatewayd_workload", "gauge", "The workload the node decides by (measured plus reservations); 1 is full.")
        out.sample("gatewayd_workload", node.effectiveWorkload(now: now))
        out.family("gatewayd_threshold", "gauge", "The workload at or above which requests are forwarded.")
        out.sample("gatewayd_threshold", node.admission.threshold)
        out.family("gatewayd_reservations", "gauge", "Calls redirected here whose INVITE the meter has not seen yet.")
        out.sample("gatewayd_reservations", node.reservations.count(at: now))

        let workload = meter.workload(at: PacketTime(nanoseconds: gw_realtime_ns()))
        out.family("gatewayd_resource_in_use", "gauge", "Each measured resource in use.")
        for resource in Resource.allCases { out.labelled("gatewayd_resource_in_use", "resource", resource.name, workload.inUse(resource)) }
        out.family("gatewayd_resource_capacity", "gauge", "Each resource's configured capacity (0: not counted).")
        for resource in Resource.allCases {
            out.labelled("gatewayd_resource_capacity", "resource", resource.name, Double(workload.capacity(resource)))
        }

        let calls = meter.calls
        out.family("gatewayd_calls_active", "gauge", "Calls the meter counts: early (ringing) and confirmed dialogs.")
        out.sample("gatewayd_calls_active", calls.active)
        out.family("gatewayd_calls_peak", "gauge", "The most calls active at once since start.")
        out.sample("gatewayd_calls_peak", calls.peakActive)
        out.family("gatewayd_call_attempts_total", "counter", "Distinct INVITE dialogs seen.")
        out.sample("gatewayd_call_attempts_total", calls.attempts)
        out.family("gatewayd_calls_attempting", "gauge", "INVITEs waiting for an answer (attempts, not calls).")
        out.sample("gatewayd_calls_attempting", calls.attempting)
        out.family("gatewayd_calls_timed_out_total", "counter", "Calls and attempts the meter ended on its clock, by reason.")
        for reason in CallTimeout.allCases {
            out.labelled("gatewayd_calls_timed_out_total", "reason", reason.name, Double(calls[reason]))
        }
        let registrations = meter.registrations.counters
        out.family("gatewayd_registrations_total", "counter", "REGISTER transactions seen, by outcome.")
        out.labelled("gatewayd_registrations_total", "outcome", "success", Double(registrations.successes))
        out.labelled("gatewayd_registrations_total", "outcome", "challenge", Double(registrations.challenges))
        out.labelled("gatewayd_registrations_total", "outcome", "failure", Double(registrations.failures))
        out.family("gatewayd_sip_messages_per_second", "gauge", "SIP messages a second over the meter's window.")
        out.sample("gatewayd_sip_messages_per_second", workload.sipMessageRate)
        out.family("gatewayd_rtp_packets_per_second", "gauge", "RTP packets a second over the meter's window.")
        out.sample("gatewayd_rtp_packets_per_second", workload.rtpPacketRate)
        out.family("gatewayd_streams_open", "gauge", "RTP streams being measured.")
        out.sample("gatewayd_streams_open", meter.openStreams)
        out.family("gatewayd_sip_malformed_total", "counter", "Malformed SIP messages the meter counted and dropped.")
        out.sample("gatewayd_sip_malformed_total", meter.sip.malformed)

        out.family("gatewayd_capture_up", "gauge", "1 while the live capture is open (absent without one).")
        if let capture { out.sample("gatewayd_capture_up", capture.isLost ? 0 : 1) }
        out.family("gatewayd_capture_gaps_total", "counter", "Times the live capture was lost and reopened.")
        out.sample("gatewayd_capture_gaps_total", meter.captureGaps)
        out.family("gatewayd_capture_gap_seconds_total", "counter", "Seconds without capture, over all gaps.")
        out.sample("gatewayd_capture_gap_seconds_total", Double(meter.captureGapNanoseconds) / 1e9)
        let statistics = capture?.statistics() ?? CaptureStatistics()
        out.family("gatewayd_capture_received_total", "counter", "Packets libpcap handed over (pcap_stats).")
        out.sample("gatewayd_capture_received_total", Double(statistics.received))
        out.family("gatewayd_capture_dropped_total", "counter", "Packets dropped: by gatewayd's buffer or the interface.")
        out.labelled("gatewayd_capture_dropped_total", "by", "buffer", Double(statistics.dropped))
        out.labelled("gatewayd_capture_dropped_total", "by", "interface", Double(statistics.droppedByInterface))

        out.family("gatewayd_peer_up", "gauge", "1 while a member of the sequence answers probes.")
        for member in 0..<config.members.count where member != config.selfIndex {
            out.peer("gatewayd_peer_up", config, member, node.health[member].isUp ? 1 : 0)
        }
        out.family("gatewayd_peer_rtt_seconds", "gauge", "The last probe's round trip.")
        for member in 0..<config.members.count where member != config.selfIndex {
            out.peer("gatewayd_peer_rtt_seconds", config, member, Double(node.health[member].lastRoundTrip) / 1e9)
        }
        out.family("gatewayd_peer_load", "gauge", "The workload the peer reported in its last probe answer.")
        for member in 0..<config.members.count where member != config.selfIndex {
            out.peer("gatewayd_peer_load", config, member, node.health[member].lastReportedLoad)
        }

        let counters = node.counters
        out.family("gatewayd_requests_total", "counter", "Requests received, by what became of them.")
        out.labelled("gatewayd_requests_total", "outcome", "received", Double(counters.requestsReceived))
        out.labelled("gatewayd_requests_total", "outcome", "answered_here", Double(counters.answeredHere))
        out.labelled("gatewayd_requests_total", "outcome", "forwarded", Double(counters.forwarded))
        out.labelled("gatewayd_requests_total", "outcome", "answered_busy", Double(counters.answeredBusy))
        out.labelled("gatewayd_requests_total", "outcome", "refused", Double(counters.refused))
        out.labelled("gatewayd_requests_total", "outcome", "rate_limited", Double(counters.rateLimited))
        out.labelled("gatewayd_requests_total", "outcome", "malformed", Double(counters.malformed))
        out.family("gatewayd_forward_timeouts_total", "counter", "Forwarded requests the next member did not answer in time.")
        out.sample("gatewayd_forward_timeouts_total", counters.forwardTimeouts)
        out.family("gatewayd_node_counter_total", "counter", "Every counter of the status file's counters object, by name.")
        counters.forEach { name, value in out.labelled("gatewayd_node_counter_total", "counter", name, Double(value)) }
        out.family("gatewayd_datagrams_not_sent_total", "counter",
                   "Datagrams the node made but did not send: no room in its outbox, or the socket refused them.")
        out.labelled("gatewayd_datagrams_not_sent_total", "reason", "outbox_full", Double(node.outbox.dropped))
        out.labelled("gatewayd_datagrams_not_sent_total", "reason", "send_failed", Double(node.outbox.sendsFailed))
    }
}

extension TextBuffer {
    mutating func family(_ name: StaticString, _ type: StaticString, _ help: StaticString) {
        append("# HELP ")
        append(name)
        append(" ")
        append(help)
        append("\n# TYPE ")
        append(name)
        append(" ")
        append(type)
        append("\n")
    }

    mutating func sample(_ name: StaticString, _ value: Int) {
        append(name)
        append(" ")
        append(value)
        append("\n")
    }

    mutating func sample(_ name: StaticString, _ value: Double) {
        append(name)
        append(" ")
        append(fixed: value, decimals: 6)
        append("\n")
    }

    mutating func labelled(_ name: StaticString, _ label: StaticString, _ value: StaticString, _ number: Double) {
        append(name)
        append("{")
        append(label)
        append("=\"")
        append(value)
        append("\"} ")
        append(fixed: number, decimals: 6)
        append("\n")
    }

    mutating func peer(_ name: StaticString, _ config: NodeConfig, _ member: Int, _ number: Double) {
        append(name)
        append("{peer=\"")
        config.memberNames[member].withUnsafeBytes { appendLabelEscaped($0) }
        append("\",address=\"")
        append(config.members[member])
        append("\"} ")
        append(fixed: number, decimals: 6)
        append("\n")
    }

    /// A label value: backslash, double quote and line feed escaped as the format asks.
    mutating func appendLabelEscaped(_ text: UnsafeRawBufferPointer) {
        for byte in text {
            switch byte {
            case 0x5C: append("\\\\")
            case 0x22: append("\\\"")
            case 0x0A: append("\\n")
            default: append(byte: byte)
            }
        }
    }
}
