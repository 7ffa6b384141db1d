import Basics
import SIP

/// `[tls]` and the TLS ports, checked with the whole file: a TLS listener needs a
/// certificate and its key, and verifying peers needs the CA file. Whether the files are
/// good is known only when they are loaded (`TLSContext`), at start.
struct TLSFiles: Equatable {
    var certificate: [UInt8]
    var key: [UInt8]
    /// Empty: none.
    var ca: [UInt8]
    /// 0 none, 1 peer, 2 require: the order of the table's choice and of GW_TLS_VERIFY_*.
    var verify: Int
}

extension NodeConfig {
    /// The node's TLS port (`[node] tls_port`); 0 for none.
    var tlsPort: Int { file[.tlsPort].integer }

    /// The TLS files, when a listener (the node's or the agent's) is on.
    var tls: TLSFiles? {
        guard tlsPort != 0 || (steering?.tlsPort ?? 0) != 0 else { return nil }
        return TLSFiles(certificate: file[.tlsCertificate].text, key: file[.tlsKey].text, ca: file[.tlsCA].text,
                        verify: file[.tlsVerify].integer)
    }

    /// What a TLS listener needs of the file; the problem names the line of the port that
    /// needs it, or of the key that conflicts.
    static func checkTLS(_ file: ConfigFile, listen: Endpoint, agentListen: Endpoint?) throws(ConfigProblem) {
        let nodePort = file.configuresNode ? file[.tlsPort].integer : 0
        let agentPort = agentListen == nil ? 0 : file[.agentTLSPort].integer
        if nodePort != 0 && file[.tcp].flag && nodePort == Int(listen.port) {
            throw ConfigProblem(line: file.line(.tlsPort), "tls_port: must differ from listen's port, where TCP is")
        }
        if let agentListen, agentPort != 0 && file[.tcp].flag && agentPort == Int(agentListen.port) {
            throw ConfigProblem(line: file.line(.agentTLSPort), "[steering] tls_port: must differ from listen's port, where TCP is")
        }
        if file[.tlsMembers].flag && (nodePort == 0 || file[.tlsVerify].integer == 0) {
            throw ConfigProblem(line: file.line(.tlsMembers), "[tls] members: needs tls_port in [node], and verify = peer or require")
        }
        // A recursing node sends requests to its own proxy over the transport its identity
        // names: it needs a TLS listener (whose certificate and CA it uses) or TCP for that.
        if file.configuresNode && file[.recurse].flag {
            let transport = file[.identity].text.withUnsafeBytes { identity in
                SIPURI(identity, ByteRange(0, identity.count))?.transport(in: identity) ?? .udp
            }
            if transport == .tls && nodePort == 0 {
                throw ConfigProblem(line: file.line(.identity), "identity: a TLS proxy (sips: or transport=tls) with recurse needs tls_port")
            }
            if transport == .tcp && !file[.tcp].flag {
                throw ConfigProblem(line: file.line(.identity), "identity: a TCP proxy (transport=tcp) with recurse needs tcp = yes")
            }
        }
        guard nodePort != 0 || agentPort != 0 else { return }
        let portLine = nodePort != 0 ? file.line(.tlsPort) : file.line(.agentTLSPort)
        if file[.tlsCertificate] == nil || file[.tlsKey] == nil {
            throw ConfigProblem(line: portLine, "tls_port: needs certificate and key in [tls]")
        }
        if file[.tlsVerify].integer != 0 && file[.tlsCA] == nil {
            throw ConfigProblem(line: file.line(.tlsVerify), "[tls] verify: needs ca, the certificates peers are checked against")
        }
    }
}

extension SteeringConfig {
    /// The agent's TLS port (`[steering] tls_port`); 0 for none.
    var tlsPort: Int { file[.agentTLSPort].integer }
}
