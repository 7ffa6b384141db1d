import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter
import SIP

/// The daemon's configuration once read and checked (DESIGN §6): an immutable value. Every
/// key comes from the table (`ConfigKey`) through `ConfigFile`; this adds what needs the
/// whole file (this node in the sequence, hysteresis below threshold, the steering agent's
/// checks) and what is derived (the identity, a one-member sequence). A reload builds a new
/// one (`reloaded(from:)`).
struct NodeConfig {
    let file: ConfigFile
    /// This node's SIP URI: `[node] identity`, else `sip:LISTEN;transport=udp`.
    let identity: [UInt8]
    /// The sequence: `[sequence]`, else this node alone.
    let members: [Endpoint]
    let memberNames: [[UInt8]]
    /// Each member's identity when `[sequence]` names it (`NAME = HOST:PORT URI`), else empty.
    let memberIdentities: [[UInt8]]
    /// `[steering]` and `[endpoint NAME]`, when the file has them.
    let steering: SteeringConfig?

    /// Checks `file` as a whole; the problem names the line of the key it is about.
    init(_ file: ConfigFile) throws(ConfigProblem) {
        self.file = file
        let listen = file[.listen].endpoint
        if file.members.isEmpty {
            members = [listen]
            memberNames = [Array("local".utf8)]
            memberIdentities = [[]]
        } else {
            members = file.members.map { $0.address }
            memberNames = file.members.map { $0.name }
            memberIdentities = file.members.map { $0.identity }
        }
        guard members.contains(where: { $0 == listen }) else {
            throw ConfigProblem(line: file.line(.listen), "this node (listen in [node]) is not in [sequence]")
        }
        // Against the threshold once the whole file is read: the order of the two keys does not matter.
        guard file[.hysteresis].decimal < file[.threshold].decimal else {
            throw ConfigProblem(line: file.line(.hysteresis) > 0 ? file.line(.hysteresis) : file.line(.threshold),
                                "hysteresis: expected a number from 0 to below the threshold")
        }
        if file.steeringLine > 0 || !file.endpoints.isEmpty {
            let steering = try SteeringConfig(file)
            if file.configuresNode && steering.listen == listen {
                throw ConfigProblem(line: file.line(.agentListen) > 0 ? file.line(.agentListen) : file.steeringLine,
                                    "[steering]: listen must differ from the node's listen")
            }
            self.steering = steering
        } else {
            steering = nil
        }
        try NodeConfig.checkTLS(file, listen: listen, agentListen: steering?.listen)
        if case .text(let configured)? = file[.identity] {
            identity = configured
        } else {
            var text = TextBuffer()
            text.append("sip:")
            text.append(listen)  // IPv6 in brackets
            text.append(";transport=udp")
            identity = text.bytes
        }
    }

    /// The built-in defaults: a one-node group on 127.0.0.1:5060 that measures nothing.
    static func defaults() -> NodeConfig {
        // The table's defaults always pass the checks.
        (try? NodeConfig(ConfigFile()))!
    }

    /// Reads and checks `path`; on failure `message` holds `FILE:LINE: what is wrong`.
    static func load(_ path: UnsafePointer<CChar>, message: inout TextBuffer) -> NodeConfig? {
        do throws(ConfigProblem) {
            return try NodeConfig(ConfigFile.read(path))
        } catch {
            message.removeAll()
            message.append(cString: path)
            if error.line > 0 {
                message.append(":")
                message.append(error.line)
            }
            message.append(": ")
            message.append(error.message)
            return nil
        }
    }

    // MARK: Reload

    /// This configuration with `new`'s live keys and its own restart keys, and the restart
    /// keys `new` changed, as `[section] name, ...` (empty when none did).
    func reloaded(from new: NodeConfig) throws(ConfigProblem) -> (config: NodeConfig, restartChanges: TextBuffer) {
        var merged = new.file
        var changes = TextBuffer()
        for key in ConfigKey.allCases where key.spec.reload == .restart {
            let changed: Bool
            switch key.spec.section {
            case .sequence: changed = new.file.members != file.members
            case .endpoint: changed = key == .endpointKind && new.file.endpoints != file.endpoints
            default: changed = new.file[key] != file[key]
            }
            guard changed else { continue }
            if changes.count > 0 { changes.append(", ") }
            switch key.spec.section {
            case .sequence: changes.append("[sequence]")
            case .endpoint: changes.append("[endpoint NAME]")
            default:
                changes.append("[")
                changes.append(key.spec.section.name)
                changes.append("] ")
                changes.append(key.spec.name)
            }
            merged.values[key.rawValue] = file.values[key.rawValue]
            merged.lines[key.rawValue] = file.lines[key.rawValue]
        }
        merged.members = file.members
        merged.endpoints = file.endpoints
        merged.steeringLine = file.steeringLine
        merged.configuresNode = file.configuresNode
        return (try NodeConfig(merged), changes)
    }

    // MARK: Values

    /// A node runs unless the file configures only the steering agent.
    var runsNode: Bool { file.configuresNode || steering == nil }
    var selfIndex: Int { members.firstIndex(where: { $0 == listen }) ?? 0 }

    var listen: Endpoint { file[.listen].endpoint }
    var drain: Bool { file[.drain].flag }
    var threshold: Double { file[.threshold].decimal }
    var transactions: Int { file[.transactions].integer }
    /// The node's TCP listener and its limits; nil with `tcp = no`.
    var streamLimits: StreamLimits? { file[.tcp].flag ? connectionLimits : nil }
    /// What a TCP or TLS listener allows (the tcp_* keys, for TLS too).
    var connectionLimits: StreamLimits {
        StreamLimits(connections: file[.tcpConnections].integer,
                     perSource: file[.tcpConnectionsPerSource].integer,
                     idleNanoseconds: Int64(file[.tcpIdleTimeout].integer) * 1_000_000_000,
                     messageNanoseconds: Int64(file[.tcpMessageTimeout].integer) * 1_000_000)
    }
    var statusFile: [UInt8] { file[.statusFile].text }
    var statusInterval: Int { file[.statusInterval].integer }
    /// node_exporter textfile collector output; empty: none.
    var prometheusFile: [UInt8] { file[.prometheusFile].text }
    /// syslog facility, `LOG_DAEMON` unless configured.
    var logFacility: Int32 { Int32(file[.logFacility].integer) }
    /// HEP: the collector (nil: none), capture id and authentication key.
    var hepCollector: Endpoint? {
        if case .endpoint(let value)? = file[.hepCollector] { return value }
        return nil
    }
    var hepCaptureID: UInt32 { UInt32(file[.hepCaptureID].integer) }
    var hepAuthKey: [UInt8] { file[.hepAuthKey].text }
    var captureInterface: [UInt8] { file[.captureInterface].text }
    var captureFilter: [UInt8] { file[.captureFilter].text }
    /// Run as this user after opening the capture and binding (nil: stay as started).
    var user: (name: [UInt8], uid: Int, gid: Int)? {
        guard case .user(let name, let uid, let gid)? = file[.user] else { return nil }
        return (name, uid, gid)
    }

    var capacities: WorkloadCapacities {
        var capacities = WorkloadCapacities()
        capacities.calls = file[.calls].integer
        capacities.activeStreams = file[.streams].integer
        capacities.rtpPacketsPerSecond = file[.rtpRate].integer
        capacities.sipMessagesPerSecond = file[.sipRate].integer
        capacities.poorQualityPercent = file[.poorQuality].integer
        capacities.poorQualityMOS = file[.poorQualityMOS].decimal
        return capacities
    }

    var callTimeouts: CallTimeouts {
        var timeouts = CallTimeouts()
        for key in ConfigKey.allCases where key.spec.section == .meter { _ = key.apply(file[key].integer, to: &timeouts) }
        return timeouts
    }

    /// The meter's tables sized from the capacities the node is judged against: room for
    /// several times the calls and streams that make it full (ended calls linger, media
    /// has RTP and RTCP addresses), never less than 256. A node measuring a proxy of 100
    /// calls does not need the tables of `gatewayd meter`, which reads any capture.
    func meterConfiguration() -> MeterConfiguration {
        var meter = MeterConfiguration()
        meter.capacities = capacities
        meter.callTimeouts = callTimeouts
        // Capacities far above what one host carries (a benchmark's "unlimited") are held to
        // the meter's own defaults.
        let calls = min(capacities.calls > 0 ? capacities.calls : 1024, 4096)
        let streams = min(capacities.activeStreams > 0 ? capacities.activeStreams : 2 * calls, 8192)
        meter.dialogCapacity = max(256, 4 * calls)
        meter.registrationCapacity = max(256, calls)
        meter.streamCapacity = max(256, 2 * streams)
        meter.mediaCapacity = max(512, 4 * streams)
        meter.probationCapacity = 64
        return meter
    }

    func nodeSettings() -> NodeSettings {
        var settings = NodeSettings(identity: identity)
        if tlsPort != 0 { settings.tlsAddress = Endpoint(address: listen.address, port: UInt16(tlsPort)) }
        settings.membersOverTLS = tlsPort != 0 && file[.tlsMembers].flag
        settings.threshold = threshold
        settings.hysteresis = file[.hysteresis].decimal
        settings.drain = drain
        settings.recurse = file[.recurse].flag
        settings.retryAfterSeconds = file[.retryAfter].integer
        settings.contactExpiresSeconds = file[.contactExpires].integer
        settings.timers.forwardTimeout = Int64(file[.forwardTimeout].integer) * 1_000_000
        settings.reservationSeconds = file[.reservationSeconds].integer
        settings.rateLimitPerSecond = Double(file[.rateLimit].integer)
        settings.rateLimitBurst = Double(file[.rateBurst].integer)
        settings.serverTransactions = transactions
        settings.clientTransactions = transactions
        settings.probeIntervalNanoseconds = Int64(file[.probeInterval].integer) * 1_000_000
        settings.failuresToDown = file[.failuresToDown].integer
        settings.successesToUp = file[.successesToUp].integer
        settings.skipBusyMembers = file[.skipBusy].flag
        settings.membersOverTCP = file[.tcp].flag
        return settings
    }
}

extension Optional where Wrapped == ConfigValue {
    /// The value of a key that always has one (its default); the table guarantees the type.
    var endpoint: Endpoint {
        if case .endpoint(let value)? = self { return value }
        return Endpoint(address: IPAddress(ipv4: 0), port: 0)
    }
    var integer: Int { self?.integer ?? 0 }
    var decimal: Double { self?.decimal ?? 0 }
    var flag: Bool { self?.flag ?? false }
    var text: [UInt8] { self?.text ?? [] }
}
