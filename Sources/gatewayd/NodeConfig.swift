import CSystem
import CInih
import Capture
import GatewayCore
import LoadMeter

/// The node's configuration, read from an INI file with libinih (DESIGN §6). Every error
/// names the file and line. This covers what a node needs to run; issue #4 completes the
/// keys, their documentation and validation.
///
///     [node]      listen, identity, threshold, hysteresis, drain, retry_after,
///                 contact_expires, forward_timeout_ms, reservation_seconds, rate_limit, rate_burst,
///                 transactions (held at once each way), status_file, status_interval,
///                 prometheus_file, user, log_facility
///     [capacity]  calls, streams, rtp_rate, sip_rate
///     [capture]   interface (a name, "any", or "none"), filter
///     [sequence]  NAME = HOST:PORT [IDENTITY], one line per member, in order
///     [health]    probe_interval_ms, failures_to_down, successes_to_up
final class NodeConfig {
    var listen = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 5060)
    var identity: [UInt8] = []
    var threshold = 0.8
    var hysteresis = 0.1
    var drain = false
    var recurse = false
    var retryAfter = 30
    var contactExpires = 60
    var forwardTimeoutMilliseconds = 1000
    var reservationSeconds = 32
    var rateLimit = 50
    var rateBurst = 100
    var transactions = 1024
    var statusFile: [UInt8] = Array("/run/gatewayd/status.json".utf8)
    var statusInterval = 5
    /// node_exporter textfile collector output; empty: none.
    var prometheusFile: [UInt8] = []
    /// Run as this user after opening the capture and binding (empty: stay as started).
    var user: [UInt8] = []
    var userID = -1
    var groupID = -1
    /// syslog facility, `LOG_DAEMON` unless configured.
    var logFacility: Int32 = 3 << 3
    var capacities = WorkloadCapacities()
    var captureInterface: [UInt8] = []
    var captureFilter: [UInt8] = []
    var members: [Endpoint] = []
    var memberNames: [[UInt8]] = []
    /// Each member's identity when `[sequence]` names it (`NAME = HOST:PORT URI`), else empty.
    var memberIdentities: [[UInt8]] = []
    var probeIntervalMilliseconds = 1000
    var failuresToDown = 3
    var successesToUp = 2
    /// `[steering]` and `[endpoint NAME]`, when the file has them.
    var steering: SteeringConfig?
    var sawSteeringSection = false
    /// Whether the file configures a node ([node], [sequence], [capture], [capacity], [health]).
    var sawNodeSections = false
    /// A node runs unless the file configures only the steering agent.
    var runsNode: Bool { sawNodeSections || steering == nil }
    /// The file being read, for checks that name a line after the parse.
    var path: UnsafePointer<CChar>?
    /// The first error: its line and what is wrong.
    var errorLine = 0
    var error = TextBuffer()
    var currentLine = 0

    /// The built-in defaults: a one-node group on 127.0.0.1:5060 that measures nothing.
    static func defaults() -> NodeConfig {
        let config = NodeConfig()
        config.members = [config.listen]
        config.memberNames = [Array("local".utf8)]
        config.memberIdentities = [[]]
        config.finish()
        return config
    }

    /// Reads `path`; on failure `message` holds `FILE:LINE: what is wrong`.
    static func load(_ path: UnsafePointer<CChar>, message: inout TextBuffer) -> NodeConfig? {
        let config = NodeConfig()
        config.path = path
        defer { config.path = nil }
        let context = Unmanaged.passUnretained(config).toOpaque()
        let result = ini_parse(path, { user, section, name, value in
            guard let user, let section, let name, let value else { return 0 }
            let config = Unmanaged<NodeConfig>.fromOpaque(user).takeUnretainedValue()
            return config.take(section, name, value) ? 1 : 0
        }, context)
        message.removeAll()
        message.append(cString: path)
        if result < 0 {
            message.append(": cannot read the file")
            return nil
        }
        if result > 0 {
            message.append(":")
            // The handler's own line when it named one (an unknown section), else libinih's.
            message.append(config.errorLine > 0 && !NodeConfig.isMalformed(line: Int(result), in: path) ? config.errorLine : Int(result))
            message.append(": ")
            // libinih gives the first bad line, whether it found it or the handler refused
            // a key there: a line that is not a section or NAME = VALUE is its own.
            if NodeConfig.isMalformed(line: Int(result), in: path) || config.error.count == 0 {
                message.append("syntax error: expected [SECTION] or NAME = VALUE")
            } else {
                message.append(config.error)
            }
            return nil
        }
        guard config.finish() else {
            // A check over the whole file names the line of the key it is about.
            let line = config.errorLine > 0 ? config.errorLine : NodeConfig.line(of: "listen", in: path)
            if line > 0 {
                message.append(":")
                message.append(line)
            }
            message.append(": ")
            message.append(config.error)
            return nil
        }
        return config
    }

    /// The number of the first line of `path` for which `match` holds, given the line without
    /// its leading blanks and its number; 0 when none does. libinih reports lines only for
    /// the errors it sees itself, so checks made later find theirs here.
    static func firstLine(in path: UnsafePointer<CChar>, where match: (ArraySlice<UInt8>, Int) -> Bool) -> Int {
        var text = [UInt8](repeating: 0, count: 1 << 16)
        let length = text.withUnsafeMutableBytes { gw_read_file(path, $0.baseAddress, $0.count) }
        guard length > 0 else { return 0 }
        var line = 1
        var start = 0
        for i in 0...Int(length) where i == Int(length) || text[i] == 0x0A {
            var k = start
            while k < i && (text[k] == 0x20 || text[k] == 0x09) { k += 1 }
            if match(text[k..<i], line) { return line }
            line += 1
            start = i + 1
        }
        return 0
    }

    /// Whether line `number` of `path` is neither a comment, a `[section]` nor `NAME = VALUE`.
    static func isMalformed(line number: Int, in path: UnsafePointer<CChar>) -> Bool {
        firstLine(in: path) { line, at in
            guard at == number, let first = line.first else { return false }
            if first == 0x3B || first == 0x23 { return false }  // ; or # comment
            if first == 0x5B { return !line.contains(0x5D) }  // [section]
            return !line.contains(0x3D) && !line.contains(0x3A)
        } > 0
    }

    static func hasPrefix(_ text: UnsafePointer<CChar>, _ prefix: StaticString) -> Bool {
        for i in 0..<prefix.utf8CodeUnitCount where UInt8(bitPattern: text[i]) != prefix.utf8Start[i] { return false }
        return true
    }

    /// The number of the line of `path` that opens `[SECTION]` (or `[SECTION NAME]`); 0 when none does.
    static func line(ofSection section: StaticString, name: [UInt8] = [], in path: UnsafePointer<CChar>) -> Int {
        var wanted: [UInt8] = [0x5B]
        for i in 0..<section.utf8CodeUnitCount { wanted.append(section.utf8Start[i]) }
        wanted += name
        return firstLine(in: path) { line, _ in
            guard line.count >= wanted.count && line.prefix(wanted.count).elementsEqual(wanted) else { return false }
            return name.isEmpty || line.dropFirst(wanted.count).first == 0x5D
        }
    }

    /// The number of the first line of `path` that sets `key`; 0 when none does.
    static func line(of key: StaticString, in path: UnsafePointer<CChar>) -> Int {
        let length = key.utf8CodeUnitCount
        return firstLine(in: path) { line, _ in
            guard line.count >= length else { return false }
            for j in 0..<length where line[line.startIndex + j] != key.utf8Start[j] { return false }
            let after = line.dropFirst(length).drop { $0 == 0x20 || $0 == 0x09 }
            return after.first == 0x3D || after.first == 0x3A
        }
    }

    /// Checks what needs the whole file; false with `error` set when something is wrong.
    @discardableResult
    func finish() -> Bool {
        if members.isEmpty {
            members = [listen]
            memberNames = [Array("local".utf8)]
            memberIdentities = [[]]
        }
        guard members.contains(where: { $0 == listen }) else {
            return fail(0, "this node (listen in [node]) is not in [sequence]")
        }
        guard hysteresis < threshold else {
            return fail(path.map { NodeConfig.line(of: "hysteresis", in: $0) } ?? 0,
                        "hysteresis: expected a number from 0 to below the threshold")
        }
        if let steering {
            guard sawSteeringSection else {
                return fail(path.map { NodeConfig.line(ofSection: "endpoint ", in: $0) } ?? 0, "[endpoint]: needs a [steering] section")
            }
            guard steering.finish(self, path: path) else { return false }
            if runsNode && steering.listen == listen {
                return fail(path.map { NodeConfig.line(ofSection: "steering", in: $0) } ?? 0,
                            "[steering]: listen must differ from the node's listen")
            }
        }
        if identity.isEmpty {
            var text = TextBuffer()
            text.append("sip:")
            text.append(listen)  // IPv6 in brackets
            text.append(";transport=udp")
            identity = text.bytes
        }
        return true
    }

    var selfIndex: Int { members.firstIndex(where: { $0 == listen }) ?? 0 }

    /// The meter's tables sized from the capacities the node is judged against: room for
    /// several times the calls and streams that make it full (ended calls linger, media
    /// has RTP and RTCP addresses), never less than 256. A node measuring a proxy of 100
    /// calls does not need the tables of `gatewayd meter`, which reads any capture.
    func meterConfiguration() -> MeterConfiguration {
        var meter = MeterConfiguration()
        meter.capacities = capacities
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
        settings.threshold = threshold
        settings.hysteresis = hysteresis
        settings.drain = drain
        settings.recurse = recurse
        settings.retryAfterSeconds = retryAfter
        settings.contactExpiresSeconds = contactExpires
        settings.timers.forwardTimeout = Int64(forwardTimeoutMilliseconds) * 1_000_000
        settings.reservationSeconds = reservationSeconds
        settings.rateLimitPerSecond = Double(rateLimit)
        settings.rateLimitBurst = Double(rateBurst)
        settings.serverTransactions = transactions
        settings.clientTransactions = transactions
        settings.probeIntervalNanoseconds = Int64(probeIntervalMilliseconds) * 1_000_000
        settings.failuresToDown = failuresToDown
        settings.successesToUp = successesToUp
        return settings
    }

    // MARK: Keys

    func fail(_ line: Int, _ message: StaticString) -> Bool {
        if error.count == 0 {
            errorLine = line
            error.append(message)
        }
        return false
    }

    private func take(_ section: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>) -> Bool {
        if Arguments.equals(section, "steering") {
            sawSteeringSection = true
            if steering == nil { steering = SteeringConfig() }
            return steering!.take(self, name, value)
        }
        if NodeConfig.hasPrefix(section, "endpoint ") {
            if steering == nil { steering = SteeringConfig() }
            return steering!.take(self, endpoint: section + 9, name, value)
        }
        // Keys of the daemon as a whole do not make it a node; everything else does.
        let daemonWide = Arguments.equals(section, "node") && (Arguments.equals(name, "status_file")
            || Arguments.equals(name, "status_interval") || Arguments.equals(name, "prometheus_file")
            || Arguments.equals(name, "user") || Arguments.equals(name, "log_facility"))
        if !daemonWide { sawNodeSections = true }
        if Arguments.equals(section, "node") {
            if Arguments.equals(name, "listen") {
                guard let endpoint = NodeConfig.endpoint(value) else { return fail(0, "listen: expected HOST:PORT") }
                listen = endpoint
                return true
            }
            if Arguments.equals(name, "identity") {
                var text = TextBuffer()
                text.append(cString: value)
                identity = text.bytes
                let valid = identity.withUnsafeBytes { SIPURI($0, ByteRange(0, $0.count)) != nil }
                return valid || fail(0, "identity: expected a sip: URI")
            }
            if Arguments.equals(name, "threshold") { return fraction(value, &threshold, "threshold: expected a number above 0 and at most 10") }
            if Arguments.equals(name, "hysteresis") {
                // Against the threshold once the whole file is read (`finish`): the order of
                // the two keys does not matter.
                guard let number = NodeConfig.decimal(value), number >= 0 && number < 10 else {
                    return fail(0, "hysteresis: expected a number from 0 to below the threshold")
                }
                hysteresis = number
                return true
            }
            if Arguments.equals(name, "drain") { return flag(value, &drain, "drain: expected yes or no") }
            if Arguments.equals(name, "recurse") { return flag(value, &recurse, "recurse: expected yes or no") }
            if Arguments.equals(name, "retry_after") { return integer(name, value, 1...86_400, &retryAfter) }
            if Arguments.equals(name, "contact_expires") { return integer(name, value, 1...86_400, &contactExpires) }
            if Arguments.equals(name, "forward_timeout_ms") { return integer(name, value, 10...60_000, &forwardTimeoutMilliseconds) }
            if Arguments.equals(name, "reservation_seconds") { return integer(name, value, 1...3600, &reservationSeconds) }
            if Arguments.equals(name, "rate_limit") { return integer(name, value, 0...1_000_000, &rateLimit) }
            if Arguments.equals(name, "rate_burst") { return integer(name, value, 1...1_000_000, &rateBurst) }
            if Arguments.equals(name, "transactions") { return integer(name, value, 16...1_000_000, &transactions) }
            if Arguments.equals(name, "status_interval") { return integer(name, value, 1...3600, &statusInterval) }
            if Arguments.equals(name, "status_file") {
                var text = TextBuffer()
                text.append(cString: value)
                guard text.count > 0, value[0] == 0x2F else { return fail(0, "status_file: expected an absolute path") }
                statusFile = text.bytes
                return true
            }
            if Arguments.equals(name, "prometheus_file") {
                var text = TextBuffer()
                text.append(cString: value)
                guard text.count == 0 || value[0] == 0x2F else { return fail(0, "prometheus_file: expected an absolute path") }
                prometheusFile = text.bytes
                return true
            }
            if Arguments.equals(name, "user") {
                var text = TextBuffer()
                text.append(cString: value)
                user = text.bytes
                var uid = 0, gid = 0
                guard gw_user_lookup(value, &uid, &gid) == 0 else {
                    if error.count == 0 {
                        error.append("user: no such user '")
                        error.append(cString: value)
                        error.append("'")
                    }
                    return false
                }
                userID = uid
                groupID = gid
                return true
            }
            if Arguments.equals(name, "log_facility") {
                guard let facility = NodeConfig.facility(value) else {
                    return fail(0, "log_facility: expected daemon, user or local0 to local7")
                }
                logFacility = facility
                return true
            }
            if Arguments.equals(name, "name") { return true }
            return unknown(name, in: "node")
        }
        if Arguments.equals(section, "capacity") {
            if Arguments.equals(name, "calls") { return integer(name, value, 0...10_000_000, &capacities.calls) }
            if Arguments.equals(name, "streams") { return integer(name, value, 0...10_000_000, &capacities.activeStreams) }
            if Arguments.equals(name, "rtp_rate") { return integer(name, value, 0...100_000_000, &capacities.rtpPacketsPerSecond) }
            if Arguments.equals(name, "sip_rate") { return integer(name, value, 0...10_000_000, &capacities.sipMessagesPerSecond) }
            return unknown(name, in: "capacity")
        }
        if Arguments.equals(section, "capture") {
            var text = TextBuffer()
            text.append(cString: value)
            if Arguments.equals(name, "interface") {
                captureInterface = Arguments.equals(value, "none") ? [] : text.bytes
                return true
            }
            if Arguments.equals(name, "filter") {
                captureFilter = text.bytes
                return true
            }
            return unknown(name, in: "capture")
        }
        if Arguments.equals(section, "sequence") {
            // HOST:PORT, then optionally the member's identity (the proxy its 302s name).
            var address: [CChar] = []
            var rest = 0
            while value[rest] != 0 && value[rest] != 0x20 && value[rest] != 0x09 {
                address.append(value[rest])
                rest += 1
            }
            address.append(0)
            while value[rest] == 0x20 || value[rest] == 0x09 { rest += 1 }
            var memberIdentity = TextBuffer()
            memberIdentity.append(cString: value + rest)
            guard let endpoint = address.withUnsafeBufferPointer({ NodeConfig.endpoint($0.baseAddress!) }) else {
                return fail(0, "sequence: expected NAME = HOST:PORT [IDENTITY]")
            }
            let identityValid = memberIdentity.bytes.isEmpty
                || memberIdentity.bytes.withUnsafeBytes { SIPURI($0, ByteRange(0, $0.count)) != nil }
            guard identityValid else { return fail(0, "sequence: the identity after HOST:PORT must be a sip: URI") }
            var text = TextBuffer()
            text.append(cString: name)
            guard !members.contains(where: { $0 == endpoint }) else { return fail(0, "sequence: this address is listed twice") }
            guard !memberNames.contains(where: { $0 == text.bytes }) else { return fail(0, "sequence: this name is listed twice") }
            guard members.count < 64 else { return fail(0, "sequence: at most 64 members") }
            members.append(endpoint)
            memberNames.append(text.bytes)
            memberIdentities.append(memberIdentity.bytes)
            return true
        }
        if Arguments.equals(section, "health") {
            if Arguments.equals(name, "probe_interval_ms") { return integer(name, value, 50...600_000, &probeIntervalMilliseconds) }
            if Arguments.equals(name, "failures_to_down") { return integer(name, value, 1...100, &failuresToDown) }
            if Arguments.equals(name, "successes_to_up") { return integer(name, value, 1...100, &successesToUp) }
            return unknown(name, in: "health")
        }
        if error.count == 0 {
            // Named at the section's own line, not at the first key in it.
            var sectionName = TextBuffer()
            sectionName.append(cString: section)
            errorLine = path.map { NodeConfig.line(ofSection: "", name: sectionName.bytes, in: $0) } ?? 0
            error.append("unknown section [")
            error.append(cString: section)
            error.append("]")
        }
        return false
    }

    func integer(_ name: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>, _ range: ClosedRange<Int>,
                         _ target: inout Int) -> Bool {
        guard let number = Arguments.number(value, in: range) else {
            if error.count == 0 {
                error.append(cString: name)
                error.append(": expected a whole number from ")
                error.append(range.lowerBound)
                error.append(" to ")
                error.append(range.upperBound)
            }
            return false
        }
        target = number
        return true
    }

    func unknown(_ name: UnsafePointer<CChar>, in section: StaticString) -> Bool {
        if error.count == 0 {
            error.append("unknown key '")
            error.append(cString: name)
            error.append("' in [")
            error.append(section)
            error.append("]")
        }
        return false
    }

    private func fraction(_ value: UnsafePointer<CChar>, _ target: inout Double, _ message: StaticString) -> Bool {
        guard let number = NodeConfig.decimal(value), number > 0 && number <= 10 else { return fail(0, message) }
        target = number
        return true
    }

    func flag(_ value: UnsafePointer<CChar>, _ target: inout Bool, _ message: StaticString) -> Bool {
        if Arguments.equals(value, "yes") || Arguments.equals(value, "true") || Arguments.equals(value, "1") {
            target = true
        } else if Arguments.equals(value, "no") || Arguments.equals(value, "false") || Arguments.equals(value, "0") {
            target = false
        } else {
            return fail(0, message)
        }
        return true
    }

    /// A syslog facility by name: `daemon`, `user`, `local0` ... `local7`.
    static func facility(_ text: UnsafePointer<CChar>) -> Int32? {
        if Arguments.equals(text, "daemon") { return 3 << 3 }
        if Arguments.equals(text, "user") { return 1 << 3 }
        guard Arguments.equals(text, "local0") || Arguments.equals(text, "local1") || Arguments.equals(text, "local2")
            || Arguments.equals(text, "local3") || Arguments.equals(text, "local4") || Arguments.equals(text, "local5")
            || Arguments.equals(text, "local6") || Arguments.equals(text, "local7") else { return nil }
        return (16 + Int32(text[5] - 0x30)) << 3
    }

    /// `d.ddd` without exponent.
    static func decimal(_ text: UnsafePointer<CChar>) -> Double? {
        var whole = 0.0, scale = 0.0, digits = 0
        var i = 0
        while text[i] != 0 {
            let byte = UInt8(bitPattern: text[i])
            if byte == 0x2E {
                guard scale == 0 else { return nil }
                scale = 1
            } else if byte >= 0x30 && byte <= 0x39 {
                whole = whole * 10 + Double(byte - 0x30)
                if scale > 0 { scale *= 10 }
                digits += 1
            } else {
                return nil
            }
            i += 1
        }
        guard digits > 0 else { return nil }
        return scale > 0 ? whole / scale : whole
    }

    /// `a.b.c.d:port` or `[v6]:port`.
    static func endpoint(_ text: UnsafePointer<CChar>) -> Endpoint? {
        var length = 0
        while text[length] != 0 { length += 1 }
        return UnsafeRawBufferPointer(start: text, count: length).withMemoryRebound(to: UInt8.self) { _ in
            let raw = UnsafeRawBufferPointer(start: text, count: length)
            guard let parts = HostPort.split(raw, ByteRange(0, length)), parts.port > 0,
                  let address = IPAddress(text: parts.host.slice(of: raw)) else { return nil }
            return Endpoint(address: address, port: UInt16(parts.port))
        }
    }
}
