import CSystem
import Capture
import GatewayCore
import LoadMeter

/// Random bits from the kernel, read 64 words at a time.
struct KernelEntropy: EntropySource {
    var pool = [UInt64](repeating: 0, count: 64)
    var used = 64

    mutating func next() -> UInt64 {
        if used == pool.count {
            _ = pool.withUnsafeMutableBytes { gw_random($0.baseAddress, $0.count) }
            used = 0
        }
        defer { used += 1 }
        return pool[used]
    }
}

/// `gatewayd [-c FILE] [--check-config] [-f] [-d]`: runs a node of the group. One thread,
/// one epoll loop over the SIP socket, the capture's descriptor and a signalfd; timers are
/// the loop's timeout. Logs to syslog and standard error.
enum NodeDaemon {
    static let socketTag: UInt64 = 1
    static let signalTag: UInt64 = 2
    static let captureTag: UInt64 = 3

    static func run(_ arguments: inout Arguments) -> Int32 {
        var path: UnsafeMutablePointer<CChar>?
        var pidFile: UnsafeMutablePointer<CChar>?
        var checkOnly = false
        var debug = false
        while let word = arguments.next() {
            if Arguments.equals(word, "-c") || Arguments.equals(word, "--config") {
                guard let value = arguments.next() else { return MeterCommand.usage("-c needs a file") }
                path = value
            } else if Arguments.equals(word, "-p") || Arguments.equals(word, "--pidfile") {
                guard let value = arguments.next() else { return MeterCommand.usage("-p needs a file") }
                pidFile = value
            } else if Arguments.equals(word, "--check-config") {
                checkOnly = true
            } else if Arguments.equals(word, "-f") || Arguments.equals(word, "--foreground") {
                // gatewayd never forks: init supervises it.
            } else if Arguments.equals(word, "-d") || Arguments.equals(word, "--debug") {
                debug = true
            } else {
                var message = TextBuffer()
                message.append("unknown option ")
                message.append(cString: word)
                return MeterCommand.usage(message)
            }
        }
        var message = TextBuffer()
        let config: NodeConfig
        if let path {
            guard let loaded = NodeConfig.load(path, message: &message) else {
                Output.error(message)
                return 2
            }
            config = loaded
        } else {
            config = NodeConfig.defaults()
        }
        if checkOnly {
            var text = TextBuffer()
            text.append("configuration ok: ")
            text.append(config.members.count)
            text.append(" members, this node is #")
            text.append(config.selfIndex + 1)
            text.append("\n")
            Output.standardOutput(text)
            return 0
        }
        gw_syslog_open(config.logFacility)
        if let pidFile {
            let claimed = gw_pidfile_claim(pidFile)
            if claimed != 0 {
                var message = TextBuffer()
                message.append("pid file ")
                message.append(cString: pidFile)
                if claimed > 0 {
                    message.append(" is held by gatewayd ")
                    message.append(Int(claimed))
                    message.append(", which is running")
                } else {
                    message.append(": ")
                    message.append(cString: strerror(-claimed))
                }
                Output.error(message)
                return 1
            }
        }
        let status = serve(config, path: path, debug: debug)
        if let pidFile { gw_pidfile_remove(pidFile) }
        return status
    }

    static func serve(_ initial: NodeConfig, path: UnsafeMutablePointer<CChar>?, debug: Bool) -> Int32 {
        var config = initial
        let members = config.members.map { endpoint in
            Member(address: endpoint, identity: endpoint == config.listen ? config.identity : [])
        }
        let node = Node(settings: config.nodeSettings(), sequence: GroupSequence(members: members, selfIndex: config.selfIndex),
                        entropy: KernelEntropy())
        var address = [UInt8](repeating: 0, count: 16)
        store(config.listen.address, into: &address)
        let socket = gw_udp_bind(address, config.listen.port)
        guard socket >= 0 else {
            var message = TextBuffer()
            message.append("cannot listen on ")
            message.append(config.listen)
            message.append(": ")
            message.append(cString: strerror(-socket))
            Output.error(message)
            return 1
        }
        let loop = gw_epoll_create()
        let signals = gw_signalfd_open()
        _ = gw_epoll_add(loop, socket, socketTag)
        _ = gw_epoll_add(loop, signals, signalTag)

        // The capture the load is measured from (optional).
        var capture: LiveCapture?
        let meter = Meter(configuration: config.meterConfiguration())
        if !config.captureInterface.isEmpty {
            let live = LiveCapture(interface: config.captureInterface, filter: config.captureFilter)
            do {
                try live.open()
            } catch {
                var message = TextBuffer()
                error.describe(into: &message)
                Output.error(message)
                return 1
            }
            capture = live
            _ = gw_epoll_add(loop, live.source!.selectableDescriptor, captureTag)
        }
        let status = StatusFile(config)
        if config.userID >= 0 {
            guard dropPrivileges(config, status: status) else { return 1 }
        }
        var entropy = KernelEntropy()

        var line = TextBuffer()
        line.append("gatewayd ")
        line.append(Usage.version)
        line.append(" starting: config ")
        if let path { line.append(cString: path) } else { line.append("built-in defaults") }
        line.append(", roles: node")
        log(line)
        line.removeAll()
        line.append("node #")
        line.append(config.selfIndex + 1)
        line.append(" of ")
        line.append(config.members.count)
        line.append(" listening on ")
        line.append(config.listen)
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
        if config.userID >= 0 {
            line.append("; running as ")
            config.user.withUnsafeBytes { line.append(bytes: $0) }
            line.append(" with CAP_NET_RAW only")
        }
        log(line)
        var floods = FloodLog()

        // The largest datagram; zeroed pages, so only the bytes datagrams reach are resident.
        let datagram = FixedArray<UInt8>(zeroedCount: 65_536)
        var source = [UInt8](repeating: 0, count: 16)
        var tags = [UInt64](repeating: 0, count: 16)
        var nextSample = gw_monotonic_ns()
        var nextStatus = Int64.min
        var stateChanged = false
        var health = node.health.map { $0.isUp }
        var state = node.admission.state
        var running = true
        var stopBy = Int64.max
        while running {
            let now = gw_monotonic_ns()
            let wake = min(node.nextDeadline, nextSample, nextStatus, capture?.nextAttempt ?? Int64.max)
            let timeout = wake <= now ? 0 : Int32(min((wake - now + 999_999) / 1_000_000, 1000))
            let ready = tags.withUnsafeMutableBufferPointer { gw_epoll_wait(loop, $0.baseAddress, 16, timeout) }
            let after = gw_monotonic_ns()
            for index in 0..<max(Int(ready), 0) {
                switch tags[index] {
                case socketTag:
                    while true {
                        var port: UInt16 = 0
                        let count = source.withUnsafeMutableBufferPointer {
                            gw_udp_receive(socket, datagram.pointer(at: 0), datagram.count, $0.baseAddress, &port)
                        }
                        guard count >= 0 else { break }
                        let from = Endpoint(address: load(source), port: port)
                        node.receive(datagram.bytes(0, count), from: from, now: after)
                        flush(node.outbox, socket)
                    }
                case signalTag:
                    while case let signal = gw_signalfd_read(signals), signal != 0 {
                        if signal == 1 {
                            if let reloaded = reload(path, running: config, node: node, meter: meter, now: after) {
                                config = reloaded
                            }
                            stateChanged = true
                        } else if signal == 10 {
                            // SIGUSR1: the status file now.
                            stateChanged = true
                        } else if stopBy == Int64.max {
                            // Stop taking requests; let forwarded ones get their answers.
                            node.refusingNew = true
                            stopBy = after + 2 * config.nodeSettings().timers.forwardTimeout + 500_000_000
                            line.removeAll()
                            line.append("stopping: new requests get 503, open transactions may finish")
                            log(line)
                        }
                    }
                case captureTag:
                    if let capture, !capture.isLost,
                       !capture.read(into: meter, node: node, now: after, random: entropy.next()) {
                        line.removeAll()
                        line.append("capture lost: ")
                        line.append(capture.lastError)
                        line.append("; reopening with backoff, workload held at its last measure")
                        log(line, priority: 4)
                        stateChanged = true
                    }
                default:
                    break
                }
            }
            if let capture, capture.isLost, capture.retry(now: after, random: entropy.next()) {
                let gap = after - capture.lostAt
                meter.noteCaptureGap(nanoseconds: gap)
                _ = gw_epoll_add(loop, capture.source!.selectableDescriptor, captureTag)
                line.removeAll()
                line.append("capture regained after ")
                line.append(fixed: Double(gap) / 1e9, decimals: 1)
                line.append(" s")
                log(line)
                stateChanged = true
            }
            node.tick(now: after)
            flush(node.outbox, socket)
            if stopBy != Int64.max && (node.openClientTransactions == 0 || after >= stopBy) { running = false }
            if stateChanged || after >= nextStatus {
                status.write(config, node, meter, capture: capture, now: after)
                nextStatus = after + Int64(config.statusInterval) * 1_000_000_000
                stateChanged = false
            }
            if after >= nextSample {
                nextSample = after + 1_000_000_000
                floods.observe(node, meter, capture, now: after)
                // Blind while the capture is lost: the last measure stands rather than an
                // empty one that would take every request.
                if capture?.isLost != true {
                    let workload = meter.workload(at: PacketTime(nanoseconds: gw_realtime_ns()))
                    node.update(workload: workload, now: after)
                }
            }
            if node.admission.state != state {
                state = node.admission.state
                stateChanged = true
                line.removeAll()
                line.append("state: ")
                line.append(state == .accepting ? "accepting" : state == .forwarding ? "forwarding" : "draining")
                line.append(", workload ")
                line.append(fixed: node.effectiveWorkload(now: after), decimals: 3)
                log(line)
            }
            for member in 0..<health.count where node.health[member].isUp != health[member] {
                health[member] = node.health[member].isUp
                stateChanged = true
                line.removeAll()
                line.append("peer ")
                config.memberNames[member].withUnsafeBytes { line.append(bytes: $0) }
                line.append(" (")
                line.append(config.members[member])
                line.append(health[member] ? ") up" : ") down")
                log(line)
            }
            if debug && ready > 0 {
                line.removeAll()
                line.append("requests ")
                line.append(node.counters.requestsReceived)
                line.append(", forwarded ")
                line.append(node.counters.forwarded)
                log(line)
            }
        }
        status.write(config, node, meter, capture: capture, now: gw_monotonic_ns(), stopped: true)
        line.removeAll()
        line.append("stopping: ")
        line.append(node.counters.requestsReceived)
        line.append(" requests, ")
        line.append(node.counters.answeredHere)
        line.append(" answered here, ")
        line.append(node.counters.forwarded)
        line.append(" forwarded, ")
        line.append(node.counters.answeredBusy)
        line.append(" answered busy")
        log(line)
        close(socket)
        return 0
    }

    /// SIGHUP: reads the file again. A good one takes effect at once for what can change
    /// while running (threshold, hysteresis, drain, answers, timers, rate limit, capacities);
    /// a bad one changes nothing and its error is logged.
    static func reload(_ path: UnsafeMutablePointer<CChar>?, running config: NodeConfig, node: Node<KernelEntropy>,
                       meter: Meter, now: Int64) -> NodeConfig? {
        var message = TextBuffer()
        guard let path else {
            message.append("SIGHUP: started without -c, nothing to re-read")
            log(message)
            return nil
        }
        guard let reloaded = NodeConfig.load(path, message: &message) else {
            var line = TextBuffer()
            line.append("reload failed, running configuration kept: ")
            line.append(message)
            log(line, priority: 4)
            return nil
        }
        if reloaded.listen != config.listen || reloaded.members != config.members
            || reloaded.captureInterface != config.captureInterface || reloaded.captureFilter != config.captureFilter {
            message.removeAll()
            message.append("reload: listen, sequence and capture changes need a restart; kept as they were")
            log(message, priority: 4)
            reloaded.listen = config.listen
            reloaded.members = config.members
            reloaded.memberNames = config.memberNames
            reloaded.captureInterface = config.captureInterface
            reloaded.captureFilter = config.captureFilter
            reloaded.identity = config.identity
        }
        node.apply(reloaded.nodeSettings(), now: now)
        meter.capacities = reloaded.capacities
        message.removeAll()
        message.append("reloaded ")
        message.append(cString: path)
        message.append(": threshold ")
        message.append(fixed: reloaded.threshold, decimals: 2)
        message.append(reloaded.drain ? ", draining" : "")
        log(message)
        return reloaded
    }

    static func flush(_ outbox: Outbox, _ socket: Int32) {
        var address = [UInt8](repeating: 0, count: 16)
        for index in 0..<outbox.count {
            let datagram = outbox.datagram(index)
            store(datagram.destination.address, into: &address)
            let bytes = outbox.bytes(datagram)
            _ = gw_udp_send(socket, bytes.baseAddress, bytes.count, address, datagram.destination.port)
        }
        outbox.removeAll()
    }

    static func store(_ address: IPAddress, into bytes: inout [UInt8]) {
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: address.high >> UInt64(56 - 8 * i))
            bytes[8 + i] = UInt8(truncatingIfNeeded: address.low >> UInt64(56 - 8 * i))
        }
    }

    static func load(_ bytes: [UInt8]) -> IPAddress {
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 {
            high = high << 8 | UInt64(bytes[i])
            low = low << 8 | UInt64(bytes[8 + i])
        }
        return IPAddress(high: high, low: low)
    }

    /// A line to syslog (facility daemon; notice unless said otherwise) and to standard error.
    static func log(_ text: TextBuffer, priority: Int32 = 5) {
        text.bytes.withUnsafeBytes { gw_syslog(priority, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        var line = TextBuffer()
        line.append("gatewayd: ")
        line.append(text)
        line.bytes.withUnsafeBytes { gw_log_stderr($0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
    }
}
