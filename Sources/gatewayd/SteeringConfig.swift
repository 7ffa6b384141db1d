import CSystem
import Capture
import GatewayCore
import LoadMeter

/// `[steering]` and `[endpoint NAME]` (DESIGN §5): the agent that steers the gateway's own
/// endpoints. Present only when the file has a `[steering]` section.
///
///     [steering]  entry_points (HOST:PORT, ..., primary first), listen, hook, refresh_interval,
///                 timeout_ms, retry, hook_timeout, probe_interval_ms, failures_to_lost, open,
///                 mode (recurse, redirect), path
///     [endpoint NAME]  kind (analog, sip, h323), identity
final class SteeringConfig {
    var listen = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 5070)
    var entryPoints: [Endpoint] = []
    var hook: [UInt8] = []
    var refreshSeconds = 30
    var timeoutMilliseconds = 2000
    var retrySeconds = 30
    var hookTimeoutSeconds = 10
    var probeIntervalMilliseconds = 1000
    var failuresToLost = 3
    var open = false
    var recurse = true
    var path = false
    var endpoints: [SteeringEndpoint] = []
    /// Which keys each endpoint set (1: kind, 2: identity), to find the incomplete ones.
    var endpointKeys: [UInt8] = []

    func settings() -> SteeringSettings {
        var settings = SteeringSettings(listen: listen, entryPoints: entryPoints)
        settings.entryTimeoutNanoseconds = Int64(timeoutMilliseconds) * 1_000_000
        settings.open = open
        settings.recurse = recurse
        settings.path = path
        settings.timers.refresh = Int64(refreshSeconds) * 1_000_000_000
        settings.timers.retry = Int64(retrySeconds) * 1_000_000_000
        settings.timers.probeInterval = Int64(probeIntervalMilliseconds) * 1_000_000
        settings.timers.failuresToLost = failuresToLost
        // An ask goes through every entry point at worst, each after its own chain.
        settings.timers.askLimit = Int64(entryPoints.count + 1) * 4 * settings.entryTimeoutNanoseconds + 1_000_000_000
        return settings
    }

    /// A key of `[steering]`; false with `config`'s error set when it is wrong.
    func take(_ config: NodeConfig, _ name: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>) -> Bool {
        if Arguments.equals(name, "entry_points") {
            entryPoints.removeAll()
            var text = TextBuffer()
            text.append(cString: value)
            var item: [CChar] = []
            for byte in text.bytes + [0x2C] {
                if byte == 0x2C || byte == 0x20 || byte == 0x09 {
                    guard !item.isEmpty else { continue }
                    item.append(0)
                    guard let endpoint = item.withUnsafeBufferPointer({ NodeConfig.endpoint($0.baseAddress!) }) else {
                        return config.fail(0, "entry_points: expected HOST:PORT, ... (primary first)")
                    }
                    guard !entryPoints.contains(where: { $0 == endpoint }) else {
                        return config.fail(0, "entry_points: this address is listed twice")
                    }
                    entryPoints.append(endpoint)
                    item.removeAll()
                } else {
                    item.append(CChar(bitPattern: byte))
                }
            }
            guard !entryPoints.isEmpty, entryPoints.count <= 16 else {
                return config.fail(0, "entry_points: expected 1 to 16 HOST:PORT")
            }
            return true
        }
        if Arguments.equals(name, "listen") {
            guard let endpoint = NodeConfig.endpoint(value) else { return config.fail(0, "listen: expected HOST:PORT") }
            listen = endpoint
            return true
        }
        if Arguments.equals(name, "hook") {
            var text = TextBuffer()
            text.append(cString: value)
            guard value[0] == 0x2F else { return config.fail(0, "hook: expected an absolute path") }
            guard gw_is_executable_file(value) != 0 else { return config.fail(0, "hook: not an executable file") }
            hook = text.bytes
            return true
        }
        if Arguments.equals(name, "refresh_interval") { return config.integer(name, value, 5...86_400, &refreshSeconds) }
        if Arguments.equals(name, "timeout_ms") { return config.integer(name, value, 50...60_000, &timeoutMilliseconds) }
        if Arguments.equals(name, "retry") { return config.integer(name, value, 1...86_400, &retrySeconds) }
        if Arguments.equals(name, "hook_timeout") { return config.integer(name, value, 1...600, &hookTimeoutSeconds) }
        if Arguments.equals(name, "probe_interval_ms") { return config.integer(name, value, 50...600_000, &probeIntervalMilliseconds) }
        if Arguments.equals(name, "failures_to_lost") { return config.integer(name, value, 1...100, &failuresToLost) }
        if Arguments.equals(name, "open") { return config.flag(value, &open, "open: expected yes or no") }
        if Arguments.equals(name, "mode") {
            if Arguments.equals(value, "recurse") || Arguments.equals(value, "redirect") {
                recurse = Arguments.equals(value, "recurse")
                return true
            }
            return config.fail(0, "mode: expected recurse or redirect")
        }
        if Arguments.equals(name, "path") { return config.flag(value, &path, "path: expected yes or no") }
        return config.unknown(name, in: "steering")
    }

    /// A key of `[endpoint NAME]` (`endpointName` is what follows "endpoint ").
    func take(_ config: NodeConfig, endpoint endpointName: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>,
              _ value: UnsafePointer<CChar>) -> Bool {
        var nameText = TextBuffer()
        nameText.append(cString: endpointName)
        guard nameText.count > 0, !nameText.bytes.contains(where: { $0 == 0x20 || $0 == 0x3D }) else {
            return config.fail(0, "[endpoint NAME]: expected one word for NAME")
        }
        var index = endpoints.firstIndex { $0.name == nameText.bytes } ?? -1
        if index < 0 {
            guard endpoints.count < 1024 else { return config.fail(0, "endpoint: at most 1024 endpoints") }
            endpoints.append(SteeringEndpoint(name: nameText.bytes, kind: .analog, identity: [], uri: [], addressOfRecord: []))
            endpointKeys.append(0)
            index = endpoints.count - 1
        }
        if Arguments.equals(name, "kind") {
            guard endpointKeys[index] & 1 == 0 else { return config.fail(0, "kind: set twice for this endpoint") }
            if Arguments.equals(value, "analog") {
                endpoints[index].kind = .analog
            } else if Arguments.equals(value, "sip") {
                endpoints[index].kind = .sip
            } else if Arguments.equals(value, "h323") {
                endpoints[index].kind = .h323
            } else {
                return config.fail(0, "kind: expected analog, sip or h323")
            }
            endpointKeys[index] |= 1
            return true
        }
        if Arguments.equals(name, "identity") {
            guard endpointKeys[index] & 2 == 0 else { return config.fail(0, "identity: set twice for this endpoint") }
            var text = TextBuffer()
            text.append(cString: value)
            guard text.count > 0, text.count <= 256,
                  !text.bytes.contains(where: { $0 <= 0x20 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 }) else {
                return config.fail(0, "identity: expected a line name, SIP address of record or H.323 alias without spaces")
            }
            endpoints[index].identity = text.bytes
            endpointKeys[index] |= 2
            return true
        }
        return config.unknown(name, in: "endpoint")
    }

    /// Checks over the whole file, and the URIs endpoints are asked and matched by.
    func finish(_ config: NodeConfig, path: UnsafePointer<CChar>?) -> Bool {
        if entryPoints.isEmpty {
            config.errorLine = path.map { NodeConfig.line(ofSection: "steering", in: $0) } ?? 0
            return config.fail(config.errorLine, "[steering]: entry_points is missing")
        }
        for index in 0..<endpoints.count {
            let line = path.map { path in NodeConfig.line(ofSection: "endpoint ", name: endpoints[index].name, in: path) } ?? 0
            guard endpointKeys[index] == 3 else {
                return config.fail(line, endpointKeys[index] & 1 == 0 ? "[endpoint]: kind is missing" : "[endpoint]: identity is missing")
            }
            let identity = endpoints[index].identity
            let hasScheme = identity.contains(0x3A)
            if endpoints[index].kind == .sip {
                let isSIP = identity.withUnsafeBytes { SIPURI($0, ByteRange(0, $0.count)) != nil }
                guard isSIP, let key = AddressOfRecord.key(of: identity) else {
                    return config.fail(line, "[endpoint]: a sip endpoint's identity must be a sip: address of record")
                }
                for other in 0..<index where endpoints[other].kind == .sip && endpoints[other].addressOfRecord == key {
                    return config.fail(line, "[endpoint]: another sip endpoint has this address of record")
                }
                endpoints[index].uri = identity
                endpoints[index].addressOfRecord = key
            } else {
                // A line name becomes sip:NAME@agent; an alias with a scheme (h323:, sip:) is used as it is.
                var uri = TextBuffer()
                if hasScheme {
                    identity.withUnsafeBytes { uri.append(bytes: $0) }
                } else {
                    uri.append("sip:")
                    identity.withUnsafeBytes { uri.append(bytes: $0) }
                    uri.append("@")
                    uri.append(listen)
                }
                endpoints[index].uri = uri.bytes
                if hook.isEmpty {
                    return config.fail(path.map { NodeConfig.line(ofSection: "steering", in: $0) } ?? 0,
                                       "[steering]: hook is needed for analog and h323 endpoints")
                }
            }
        }
        return true
    }
}
