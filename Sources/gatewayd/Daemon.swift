import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter
import SIP

/// The running daemon: one thread, one epoll loop over the node's SIP socket, the capture,
/// the steering agent's socket, a hook's standard error and a signalfd; timers are the
/// loop's timeout. Either role may be absent: a gateway that only steers its endpoints runs
/// no node, and a proxy's node steers nothing.
final class Daemon {
    static let nodeSocketTag: UInt64 = 1
    static let signalTag: UInt64 = 2
    static let captureTag: UInt64 = 3
    static let agentSocketTag: UInt64 = 4
    static let hookTag: UInt64 = 5
    static let streamListenerTag: UInt64 = 6
    static let agentStreamListenerTag: UInt64 = 7
    static let tlsListenerTag: UInt64 = 8
    static let agentTLSListenerTag: UInt64 = 9
    /// Connections' tags: these plus the connection's slot.
    static let nodeConnectionTags: UInt64 = 1 << 32
    static let agentConnectionTags: UInt64 = 2 << 32
    static let nodeTLSConnectionTags: UInt64 = 3 << 32
    static let agentTLSConnectionTags: UInt64 = 4 << 32

    var config: NodeConfig
    let path: UnsafeMutablePointer<CChar>?
    let debug: Bool
    let loop: Int32
    let signals: Int32
    // The node role.
    var node: Node<KernelEntropy>?
    var nodeSocket: Int32 = -1
    /// The node's TCP listener and connections (`[node] tcp`).
    var streams: StreamConnections?
    /// The node's TLS listener and connections (`[node] tls_port`).
    var tlsStreams: StreamConnections?
    var meter: Meter?
    var capture: LiveCapture?
    // The steering role.
    var agent: SteeringAgent<KernelEntropy>?
    var agentSocket: Int32 = -1
    /// The agent's TCP listener and the phones' connections (`[node] tcp`).
    var agentStreams: StreamConnections?
    var agentTLSStreams: StreamConnections?
    /// Every TCP and TLS listener there is, made once: the loop looks at each every turn.
    var listeners: [StreamConnections] = []
    /// The limit on open descriptors, raised to the hard limit once, when the first listener
    /// is made: the listeners share what it leaves them.
    lazy var descriptorLimit = Int(gw_raise_descriptor_limit())
    /// Datagrams in and out of the node's and the agent's sockets, a system call a batch. A
    /// batch read is delivered, then what it produced is sent, before the loop turns: a
    /// sender faster than the node cannot hold the loop in its socket, and the answers to a
    /// batch (at most a 100 Trying and a forward each) fit the 256-datagram outbox.
    let received = UDPBatch(receiving: true)
    let sending = UDPBatch(receiving: false)
    var hooks: HookRunner?
    // Copies of SIP for Homer, when configured.
    var hep: HEPExporter?

    var status: StatusFile
    var floods = FloodLog()
    var entropy = KernelEntropy()
    var line = TextBuffer(capacity: 512)
    /// Something changed that the status file should show now, not at its next interval.
    var stateChanged = false

    /// Sets up every role: sockets bound, capture open, privileges dropped. Nil (reported)
    /// when something cannot be opened.
    init?(_ config: NodeConfig, path: UnsafeMutablePointer<CChar>?, debug: Bool) {
        self.config = config
        self.path = path
        self.debug = debug
        status = StatusFile(config)
        do throws(SystemError) {
            loop = try SystemError.check(gw_epoll_create(), "epoll_create1")
            signals = try SystemError.check(gw_signalfd_open(), "signalfd")
            try Daemon.watch(signals, Daemon.signalTag, in: loop)
        } catch {
            Daemon.report("cannot set up the event loop: ", error)
            return nil
        }
        let now = gw_monotonic_ns()
        var tls: TLSContext?
        if let files = config.tls {
            guard let context = TLSContext(files) else { return nil }
            tls = context
        }
        if config.runsNode {
            let members = config.members.indices.map { index in
                Member(address: config.members[index],
                       identity: config.members[index] == config.listen ? config.identity : config.memberIdentities[index])
            }
            node = Node(settings: config.nodeSettings(), sequence: GroupSequence(members: members, selfIndex: config.selfIndex),
                        entropy: KernelEntropy())
            guard let socket = Daemon.bind(config.listen, watchedBy: loop, as: Daemon.nodeSocketTag) else { return nil }
            nodeSocket = socket
            if config.streamLimits != nil {
                guard let listener = listen(config.listen, Daemon.streamListenerTag, Daemon.nodeConnectionTags) else { return nil }
                streams = listener
            }
            if let tls, config.tlsPort != 0 {
                guard let listener = listen(Endpoint(address: config.listen.address, port: UInt16(config.tlsPort)),
                                            Daemon.tlsListenerTag, Daemon.nodeTLSConnectionTags, tls: tls) else { return nil }
                tlsStreams = listener
            }
            meter = Meter(configuration: config.meterConfiguration())
            if !config.captureInterface.isEmpty {
                let live = LiveCapture(interface: config.captureInterface, filter: config.captureFilter)
                do {
                    try live.open()
                } catch {
                    var message = TextBuffer()
                    error.describe(into: &message)
                    Output.error(message)
                    return nil
                }
                capture = live
                do throws(SystemError) {
                    try Daemon.watch(live.source!.selectableDescriptor, Daemon.captureTag, in: loop)
                } catch {
                    Daemon.report("cannot watch the capture: ", error)
                    return nil
                }
            }
        }
        if let steering = config.steering {
            agent = SteeringAgent(settings: steering.settings(), endpoints: steering.endpoints, relayEntropy: KernelEntropy(),
                                  entropy: KernelEntropy(), now: now)
            guard let socket = Daemon.bind(steering.listen, watchedBy: loop, as: Daemon.agentSocketTag) else { return nil }
            agentSocket = socket
            if config.streamLimits != nil {
                guard let listener = listen(steering.listen, Daemon.agentStreamListenerTag, Daemon.agentConnectionTags) else { return nil }
                agentStreams = listener
            }
            if let tls, steering.tlsPort != 0 {
                guard let listener = listen(Endpoint(address: steering.listen.address, port: UInt16(steering.tlsPort)),
                                            Daemon.agentTLSListenerTag, Daemon.agentTLSConnectionTags, tls: tls) else { return nil }
                agentTLSStreams = listener
            }
            if !steering.hook.isEmpty {
                hooks = HookRunner(path: steering.hook, timeLimitSeconds: steering.hookTimeoutSeconds,
                                   endpoints: steering.endpoints.count)
            }
        }
        if let collector = config.hepCollector {
            guard let exporter = HEPExporter(collector: collector, captureID: config.hepCaptureID, authKey: config.hepAuthKey)
            else { return nil }
            hep = exporter
        }
        listeners = [streams, agentStreams, tlsStreams, agentTLSStreams].compactMap { $0 }
        if let user = config.user {
            guard NodeDaemon.dropPrivileges(user, status: status) else { return nil }
        }
    }

    /// A TCP listener (TLS with `tls`) on `listen` and its table of connections, watched by the
    /// loop with `tag` and their own tags from `connectionTags`; nil, reported, when the port
    /// cannot be had.
    func listen(_ listen: Endpoint, _ tag: UInt64, _ connectionTags: UInt64, tls: TLSContext? = nil) -> StreamConnections? {
        StreamConnections(listen: listen, limits: config.connectionLimits, loop: loop, tag: tag, connectionTags: connectionTags,
                          descriptorLimit: descriptorLimit, tls: tls)
    }

    /// A UDP socket bound to `listen` and watched by the loop; nil, reported, when it cannot be.
    static func bind(_ listen: Endpoint, watchedBy loop: Int32, as tag: UInt64) -> Int32? {
        var address = [UInt8](repeating: 0, count: 16)
        NodeDaemon.store(listen.address, into: &address)
        do throws(SystemError) {
            let socket = try SystemError.check(gw_udp_bind(address, listen.port), "bind")
            try watch(socket, tag, in: loop)
            return socket
        } catch {
            var message = TextBuffer()
            message.append("cannot listen on ")
            message.append(listen)
            message.append(": ")
            message.append(cString: strerror(error.code))
            Output.error(message)
            return nil
        }
    }

    static func watch(_ descriptor: Int32, _ tag: UInt64, in loop: Int32) throws(SystemError) {
        try SystemError.check(gw_epoll_add(loop, descriptor, tag), "epoll_ctl")
    }

    /// `what` and the failed call, on standard error (before the loop runs).
    static func report(_ what: StaticString, _ error: SystemError) {
        var message = TextBuffer()
        message.append(what)
        error.describe(into: &message)
        Output.error(message)
    }

    // MARK: The loop

    /// Reads what the capture holds; a failed read loses it (logged, reopened with backoff).
    func readCapture(now: Int64) {
        guard let capture, let meter, let node, !capture.isLost,
              !capture.read(into: meter, node: node, hep: hep, now: now, random: entropy.next()) else { return }
        line.removeAll()
        line.append("capture lost: ")
        line.append(capture.lastError)
        line.append("; reopening with backoff, workload held at its last measure")
        NodeDaemon.log(line, priority: 4)
        stateChanged = true
    }

    func run() -> Int32 {
        logStart()
        var tags = [UInt64](repeating: 0, count: 16)
        var nextSample = gw_monotonic_ns()
        var nextStatus = Int64.min
        var running = true
        var stopBy = Int64.max
        while running {
            let now = gw_monotonic_ns()
            var wake = min(nextSample, nextStatus)
            if let node { wake = min(wake, node.nextDeadline) }
            if let capture { wake = min(wake, capture.nextAttempt, capture.nextPoll) }
            if let agent { wake = min(wake, agent.nextDeadline) }
            if let hooks { wake = min(wake, hooks.nextDeadline) }
            for table in listeners { wake = min(wake, table.nextDeadline) }
            let timeout = wake <= now ? 0 : Int32(min((wake - now + 999_999) / 1_000_000, 1000))
            let ready = tags.withUnsafeMutableBufferPointer { gw_epoll_wait(loop, $0.baseAddress, 16, timeout) }
            let after = gw_monotonic_ns()
            for index in 0..<max(Int(ready), 0) {
                switch tags[index] {
                case Daemon.nodeSocketTag:
                    guard let node else { break }
                    received.receive(nodeSocket, at: config.listen, hep: hep) { bytes, from in
                        node.receive(bytes, from: from, now: after)
                    }
                    flushNode()
                case Daemon.agentSocketTag:
                    guard let agent else { break }
                    received.receive(agentSocket, at: config.steering?.listen ?? config.listen, hep: hep) { bytes, from in
                        agent.receive(bytes, from: from, now: after)
                    }
                    flushAgent()
                case Daemon.signalTag:
                    while case let signal = gw_signalfd_read(signals), signal != 0 {
                        if signal == Int32(GW_SIGHUP) {
                            reload(now: after)
                            stateChanged = true
                        } else if signal == Int32(GW_SIGUSR1) {
                            stateChanged = true  // SIGUSR1: the status file now
                        } else if signal == Int32(GW_SIGCHLD) {
                            hookEnded(now: after)  // SIGCHLD
                        } else if stopBy == Int64.max {
                            // Stop taking requests; let forwarded ones get their answers.
                            node?.refusingNew = true
                            agent?.relay.refusingNew = true
                            let forwardTimeout = max(config.nodeSettings().timers.forwardTimeout,
                                                     config.steering?.settings().entryTimeoutNanoseconds ?? 0)
                            stopBy = after + 2 * forwardTimeout + 500_000_000
                            line.removeAll()
                            line.append("stopping: new requests get 503, open transactions may finish")
                            NodeDaemon.log(line)
                        }
                    }
                case Daemon.captureTag:
                    readCapture(now: after)
                case Daemon.hookTag:
                    hooks?.readOutput()
                case Daemon.streamListenerTag:
                    streams?.acceptAll(now: after)
                case Daemon.agentStreamListenerTag:
                    agentStreams?.acceptAll(now: after)
                case Daemon.tlsListenerTag:
                    tlsStreams?.acceptAll(now: after)
                case Daemon.agentTLSListenerTag:
                    agentTLSStreams?.acceptAll(now: after)
                case let tag where tag >= Daemon.agentTLSConnectionTags:
                    agentConnection(agentTLSStreams, tag, over: .tls, now: after)
                case let tag where tag >= Daemon.nodeTLSConnectionTags:
                    nodeConnection(tlsStreams, tag, over: .tls, now: after)
                case let tag where tag >= Daemon.agentConnectionTags:
                    agentConnection(agentStreams, tag, over: .tcp, now: after)
                case let tag where tag >= Daemon.nodeConnectionTags:
                    nodeConnection(streams, tag, over: .tcp, now: after)
                default:
                    break
                }
            }
            if let capture, after >= capture.nextPoll { readCapture(now: after) }
            if let capture, let meter, capture.isLost, capture.retry(now: after, random: entropy.next()) {
                let gap = after - capture.lostAt
                meter.noteCaptureGap(nanoseconds: gap)
                line.removeAll()
                do throws(SystemError) {
                    try Daemon.watch(capture.source!.selectableDescriptor, Daemon.captureTag, in: loop)
                } catch {
                    // Unwatched, the capture would be read only when something else wakes the loop.
                    line.append("capture reopened but not watched (")
                    error.describe(into: &line)
                    line.append("); ")
                }
                line.append("capture regained after ")
                line.append(fixed: Double(gap) / 1e9, decimals: 1)
                line.append(" s")
                NodeDaemon.log(line)
                stateChanged = true
            }
            if let node {
                node.tick(now: after)
                flushNode()
            }
            for table in listeners { table.sweep(now: after) }
            if let agent {
                if stopBy == Int64.max { agent.tick(now: after) } else { agent.relay.tick(now: after) }
                flushAgent()
                hookEnded(now: after)
                startHook(now: after)
                logAgentEvents(agent)
            }
            if stopBy != Int64.max {
                let open = (node?.clientTransactionsAwaitingAnswers ?? 0) + (agent?.relay.clientTransactionsAwaitingAnswers ?? 0)
                if (open == 0 && hooks?.isRunning != true) || after >= stopBy { running = false }
            }
            if stateChanged || after >= nextStatus {
                status.write(config, self, now: after)
                nextStatus = after + Int64(config.statusInterval) * 1_000_000_000
                stateChanged = false
            }
            if after >= nextSample {
                nextSample = after + 1_000_000_000
                floods.observe(self, now: after)
                // Blind while the capture is lost: the last measure stands rather than an
                // empty one that would take every request, and the meter's clock waits (the
                // gap is excused when the capture is back). Otherwise the clock moves on
                // whether packets come or not, so silent calls end.
                if let node, let meter, capture?.isLost != true {
                    let clock = PacketTime(nanoseconds: gw_realtime_ns())
                    meter.advance(clock: clock)
                    let workload = meter.workload(at: clock)
                    node.update(load: MeasuredLoad(calls: workload.calls, callCapacity: workload.capacities.calls,
                                                   otherResources: workload.largestRatio(excluding: .calls)), now: after)
                }
            }
            if let node { logNodeEvents(node) }
            hep?.flush()
            if debug && ready > 0, let node {
                line.removeAll()
                line.append("requests ")
                line.append(node.counters.requestsReceived)
                line.append(", forwarded ")
                line.append(node.counters.forwarded)
                NodeDaemon.log(line, priority: 7)
            }
        }
        if let hooks, hooks.isRunning { _ = hooks.check(now: Int64.max) }
        status.write(config, self, now: gw_monotonic_ns(), stopped: true)
        logStop()
        return 0
    }

    /// What connection `tag` of the node's `table` has, to the node.
    func nodeConnection(_ table: StreamConnections?, _ tag: UInt64, over transport: Transport, now: Int64) {
        guard let node, let table, let slot = table.slot(ofTag: tag) else { return }
        table.readable(slot, now: now) { bytes, scanned, from, authenticated in
            hep?.exchanged(bytes, from: from, to: config.listen, over: transport)
            if let scanned {
                node.receive(scanned, bytes, from: from, over: transport, authenticated: authenticated, now: now)
            } else {
                node.receive(bytes, from: from, over: transport, authenticated: authenticated, now: now)
            }
        }
        flushNode()
    }

    /// What connection `tag` of the agent's `table` has, to the agent.
    func agentConnection(_ table: StreamConnections?, _ tag: UInt64, over transport: Transport, now: Int64) {
        guard let agent, let table, let steering = config.steering, let slot = table.slot(ofTag: tag) else { return }
        table.readable(slot, now: now) { bytes, _, from, _ in
            hep?.exchanged(bytes, from: from, to: steering.listen, over: transport)
            agent.receive(bytes, from: from, over: transport, now: now)
        }
        flushAgent()
    }

    /// Sends what the node wrote (a copy of each to HEP first).
    func flushNode() {
        guard let node else { return }
        sending.send(node.outbox, nodeSocket, from: config.listen, hep: hep, streams: streams, secure: tlsStreams,
                     now: gw_monotonic_ns())
    }

    func flushAgent() {
        guard let agent, let steering = config.steering else { return }
        sending.send(agent.outbox, agentSocket, from: steering.listen, hep: hep, streams: agentStreams, secure: agentTLSStreams,
                     now: gw_monotonic_ns())
    }
}
