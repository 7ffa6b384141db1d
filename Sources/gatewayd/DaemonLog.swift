import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter
import SIP

/// What the daemon logs: its start and stop, and what the node and the agent report as
/// events (admission, members, entry points, endpoints).
extension Daemon {
    func logStart() {
        line.removeAll()
        line.append("gatewayd ")
        line.append(Usage.version)
        line.append(" starting: config ")
        if let path { line.append(cString: path) } else { line.append("built-in defaults") }
        line.append(", roles: ")
        line.append(node != nil && agent != nil ? "node, steering" : node != nil ? "node" : "steering")
        if let user = config.user {
            line.append("; running as ")
            user.name.withUnsafeBytes { line.append(bytes: $0) }
            line.append(" with CAP_NET_RAW only")
        }
        NodeDaemon.log(line)
        if node != nil {
            line.removeAll()
            line.append("node #")
            line.append(config.selfIndex + 1)
            line.append(" of ")
            line.append(config.members.count)
            line.append(" listening on ")
            line.append(config.listen)
            appendTransports(streams, tlsStreams)
            line.append(", identity ")
            config.identity.withUnsafeBytes { line.append(bytes: $0) }
            line.append(config.drain ? ", draining" : "")
            line.append("; capture ")
            if config.captureInterface.isEmpty {
                line.append("none")
            } else {
                config.captureInterface.withUnsafeBytes { line.append(bytes: $0) }
                line.append(" filter '")
                config.captureFilter.withUnsafeBytes { line.append(bytes: $0) }
                line.append("'")
            }
            NodeDaemon.log(line)
        }
        if let steering = config.steering {
            line.removeAll()
            line.append("steering ")
            line.append(steering.endpoints.count)
            line.append(" endpoints, listening on ")
            line.append(steering.listen)
            appendTransports(agentStreams, agentTLSStreams)
            line.append(", entry points")
            for entry in steering.entryPoints {
                line.append(" ")
                line.append(entry)
            }
            line.append(steering.settings().open ? ", open to unconfigured phones" : "")
            NodeDaemon.log(line)
        }
    }

    /// ` (UDP, TCP, TLS on port N with OpenSSL x.y)`: what a listen address takes.
    func appendTransports(_ tcp: StreamConnections?, _ tls: StreamConnections?) {
        line.append(tcp == nil ? " (UDP" : " (UDP, TCP")
        if let tls {
            line.append(", TLS on port ")
            line.append(Int(tls.local.port))
            line.append(" with ")
            line.append(cString: TLSContext.library)
        }
        line.append(")")
    }

    func logStop() {
        line.removeAll()
        line.append("stopping: ")
        if let node {
            line.append(node.counters.requestsReceived)
            line.append(" requests, ")
            line.append(node.counters.answeredHere)
            line.append(" answered here, ")
            line.append(node.counters.forwarded)
            line.append(" forwarded, ")
            line.append(node.counters.answeredBusy)
            line.append(" answered busy")
        }
        if let agent {
            line.append(node != nil ? "; " : "")
            line.append(agent.counters.relayed)
            line.append(" phone requests relayed, ")
            line.append(agent.counters.asks)
            line.append(" asks for endpoints")
        }
        NodeDaemon.log(line)
    }

    /// Logs what the node reports happened (its `events`), and marks the status for writing.
    func logNodeEvents(_ node: Node<KernelEntropy>) {
        while let event = node.events.take() {
            line.removeAll()
            switch event {
            case .admission(let state, let workload):
                line.append("state: ")
                line.append(state == .accepting ? "accepting" : state == .forwarding ? "forwarding" : "draining")
                line.append(", workload ")
                line.append(fixed: workload, decimals: 3)
            case .peer(let member, let up):
                line.append("peer ")
                config.memberNames[member].withUnsafeBytes { line.append(bytes: $0) }
                line.append(" (")
                line.append(config.members[member])
                line.append(up ? ") up" : ") down")
            }
            stateChanged = true
            NodeDaemon.log(line)
        }
    }

    /// Logs the steering agent's endpoint changes and its entry points going down or up.
    func logAgentEvents(_ agent: SteeringAgent<KernelEntropy>) {
        while let event = agent.events.take() {
            stateChanged = true
            line.removeAll()
            switch event {
            case .endpoint(let index, let change):
                let state = agent.states[index]
                line.append("endpoint ")
                agent.endpoints[index].name.withUnsafeBytes { line.append(bytes: $0) }
                line.append(": ")
                line.append(change.name)
                switch change {
                case .assigned:
                    line.append(" ")
                    (state.assignment?.proxy ?? []).withUnsafeBytes { line.append(bytes: $0) }
                case .busy:
                    line.append(", asking again in ")
                    line.append(state.retryAfterSeconds)
                    line.append(" s")
                case .lost:
                    line.append(": the proxy stopped answering probes; asking the group again")
                }
                NodeDaemon.log(line, priority: change == .lost ? 4 : 5)
            case .entryPoint(let member, let up):
                guard member > 0 else { continue }  // member 0 is the agent itself
                line.append("entry point ")
                line.append(agent.relay.sequence.members[member].address)
                line.append(up ? " up" : " down")
                NodeDaemon.log(line, priority: up ? 5 : 4)
            }
        }
    }
}
