import Basics
import Capture
import GatewayCore
import LoadMeter

/// `[steering]` and `[endpoint NAME]` (DESIGN §5), checked: the agent that steers the
/// gateway's own endpoints, with the URIs endpoints are asked and matched by.
struct SteeringConfig {
    let file: ConfigFile
    let endpoints: [SteeringEndpoint]

    init(_ file: ConfigFile) throws(ConfigProblem) {
        self.file = file
        guard file.steeringLine > 0 else {
            throw ConfigProblem(line: file.endpoints.first?.line ?? 0, "[endpoint]: needs a [steering] section")
        }
        guard case .endpoints(let entryPoints)? = file[.entryPoints], !entryPoints.isEmpty else {
            throw ConfigProblem(line: file.steeringLine, "[steering]: entry_points is missing")
        }
        let listen = file[.agentListen].endpoint
        let kinds: [EndpointKind] = [.analog, .sip, .h323]  // in the order of the table's choice
        var endpoints: [SteeringEndpoint] = []
        for section in file.endpoints {
            guard let kind = section.kind else { throw ConfigProblem(line: section.line, "[endpoint]: kind is missing") }
            guard let identity = section.identity else { throw ConfigProblem(line: section.line, "[endpoint]: identity is missing") }
            var endpoint = SteeringEndpoint(name: section.name, kind: kinds[kind], identity: identity, uri: [], addressOfRecord: [])
            if endpoint.kind == .sip {
                guard ConfigType.isSIPURI(identity), let key = AddressOfRecord.key(of: identity) else {
                    throw ConfigProblem(line: section.line, "[endpoint]: a sip endpoint's identity must be a sip: address of record")
                }
                guard !endpoints.contains(where: { $0.kind == .sip && $0.addressOfRecord == key }) else {
                    throw ConfigProblem(line: section.line, "[endpoint]: another sip endpoint has this address of record")
                }
                endpoint.uri = identity
                endpoint.addressOfRecord = key
            } else {
                // A line name becomes sip:NAME@agent; an alias with a scheme (h323:, sip:) is used as it is.
                var uri = TextBuffer()
                identity.withUnsafeBytes { uri.append(bytes: $0) }
                if !identity.contains(0x3A) {
                    uri.removeAll()
                    uri.append("sip:")
                    identity.withUnsafeBytes { uri.append(bytes: $0) }
                    uri.append("@")
                    uri.append(listen)
                }
                endpoint.uri = uri.bytes
                guard file[.hook] != nil else {
                    throw ConfigProblem(line: file.steeringLine, "[steering]: hook is needed for analog and h323 endpoints")
                }
            }
            endpoints.append(endpoint)
        }
        self.endpoints = endpoints
    }

    var listen: Endpoint { file[.agentListen].endpoint }
    var entryPoints: [Endpoint] {
        if case .endpoints(let list)? = file[.entryPoints] { return list }
        return []
    }
    var hook: [UInt8] { file[.hook].text }
    var hookTimeoutSeconds: Int { file[.hookTimeout].integer }
    var retrySeconds: Int { file[.retry].integer }

    func settings() -> SteeringSettings {
        var settings = SteeringSettings(listen: listen, entryPoints: entryPoints)
        settings.entryTimeoutNanoseconds = Int64(file[.entryTimeout].integer) * 1_000_000
        settings.open = file[.open].flag
        settings.recurse = file[.mode].integer == 0  // recurse, redirect
        settings.path = file[.path].flag
        if tlsPort != 0 { settings.tlsListen = Endpoint(address: listen.address, port: UInt16(tlsPort)) }
        settings.timers.refresh = Int64(file[.refreshInterval].integer) * 1_000_000_000
        settings.timers.retry = Int64(retrySeconds) * 1_000_000_000
        settings.timers.probeInterval = Int64(file[.agentProbeInterval].integer) * 1_000_000
        settings.timers.failuresToLost = file[.failuresToLost].integer
        // An ask goes through every entry point at worst, each after its own chain.
        settings.timers.askLimit = Int64(entryPoints.count + 1) * 4 * settings.entryTimeoutNanoseconds + 1_000_000_000
        return settings
    }
}
