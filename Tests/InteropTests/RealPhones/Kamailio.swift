import Foundation
import Testing

/// Kamailio 5.6 as registrar and proxy (Tests/Fixtures/kamailio/registrar.cfg) on one loopback
/// UDP address (and TCP on the same port with `tcp`), in the foreground, everything it writes (pid file, ctl socket, log) in its
/// own directory, read through its ctl socket with kamcmd.
final class KamailioRegistrar: LabMember {
    /// One binding of the location table (`ul.dump`).
    struct Binding: CustomStringConvertible {
        var aor: String
        var contact: String
        var path: String?
        var userAgent: String?
        var received: String?
        /// The socket the registration came in on, e.g. `tcp:127.0.0.2:5460`.
        var socket: String?
        var expires: Int?
        var description: String {
            "\(aor) -> \(contact)" + (path.map { " path \($0)" } ?? "") + (userAgent.map { " (\($0))" } ?? "")
        }
    }

    let name: String
    let address: String
    let port: Int
    let tcp: Bool
    /// With TLS: its port (the UDP port + 1) and the certificate and key it serves.
    let tls: (certificate: String, key: String)?
    var tlsPort: Int { port + 1 }
    let directory: String
    var pidFile: String { directory + "/kamailio.pid" }
    var controlSocket: String { directory + "/kamailio_ctl" }
    var log: String { directory + "/kamailio.log" }
    var uri: String { "sip:\(address):\(port)" }
    private(set) var process: ChildProcess?

    /// The command line, as docs/phones.md gives it. `alias`: another host:port this
    /// instance takes as itself (a gatewayd node in front).
    func arguments(alias: String? = nil) -> [String] {
        var arguments = ["-f", RealPhones.kamailioConfig.path, "-DD", "-E", "-m", "16", "-M", "4", "-n", "2", "-S",
                         "-Y", directory, "-P", pidFile, "-w", directory,
                         "-A", "LISTEN=udp:\(address):\(port)", "-A", "CTLSOCK=\"unix:\(controlSocket)\""]
        if tcp { arguments += ["-A", "LISTEN_TCP=tcp:\(address):\(port)"] }
        if tls != nil {
            arguments += ["-A", "LISTEN_TLS=tls:\(address):\(tlsPort)", "-A", "TLS_CONFIG=\"\(directory)/tls.cfg\""]
        }
        if !tcp && tls == nil { arguments.append("-T") }
        if let alias { arguments += ["-A", "DOMAIN=\(alias)"] }
        return arguments
    }

    /// Starts it and waits until it answers an OPTIONS (sent from `address`:5499) and kamcmd
    /// reaches it.
    init(_ lab: PhoneLab, name: String, address: String, port: Int = 5460, alias: String? = nil, tcp: Bool = false,
         tls: (certificate: String, key: String)? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.name = name
        self.address = address
        self.port = port
        self.tcp = tcp
        self.tls = tls
        directory = try lab.subdirectory(name)
        if let tls {
            // The tls module's own file: this certificate for every client; clients are not asked for one.
            try """
                [server:default]
                method = TLSv1.2+
                verify_certificate = no
                require_certificate = no
                certificate = \(tls.certificate)
                private_key = \(tls.key)

                [client:default]
                method = TLSv1.2+
                verify_certificate = no
                require_certificate = no

                """.write(toFile: directory + "/tls.cfg", atomically: true, encoding: .utf8)
        }
        // Kamailio binds with SO_REUSEADDR: a second one (left from an earlier run) on the
        // same address would silently share the requests. Nobody may hold it yet.
        let free = (try? UDPSocket(bind: address, port: UInt16(port))) != nil
        try #require(free, "\(address):\(port) is in use (a Kamailio left from an earlier run?)", sourceLocation: sourceLocation)
        process = try lab.launch(RealPhones.path(.kamailio), arguments(alias: alias), in: directory, output: log)
        _ = lab.add(self)
        let probe = try UDPSocket(bind: address, port: 5499)
        var attempt = 0
        let ready = RealPhones.waitUntil(10, every: 0.1) {
            guard process?.isRunning == true else { return false }
            attempt += 1
            let id = "kamailio-ready-\(getpid())-\(attempt)"
            let options = "OPTIONS sip:\(address):\(port) SIP/2.0\r\nVia: SIP/2.0/UDP \(address):5499;branch=z9hG4bK\(id)\r\n"
                + "Max-Forwards: 70\r\nFrom: <sip:probe@\(address)>;tag=\(attempt)\r\nTo: <sip:\(address):\(port)>\r\n"
                + "Call-ID: \(id)\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            try? probe.send(options, to: address, port: UInt16(port))
            guard let answer = probe.receive(timeoutMilliseconds: 200), answer.hasPrefix("SIP/2.0 200") else { return false }
            return (try? rpc("core.version"))?.status == 0
        }
        try #require(ready, "Kamailio \(name) on \(address):\(port) did not start: \(RealPhones.tail(log))",
                     sourceLocation: sourceLocation)
    }

    var isRunning: Bool { process?.isRunning == true }

    /// `kamcmd -s unix:SOCKET ARGS`.
    func rpc(_ arguments: String...) throws -> Interop.Result {
        try Interop.run(RealPhones.path(.kamcmd), ["-s", "unix:\(controlSocket)"] + arguments)
    }

    /// The location table, every binding of every AoR (user part only: use_domain is off).
    func bindings() -> [Binding] {
        guard let dump = try? rpc("ul.dump"), dump.status == 0 else { return [] }
        var result: [Binding] = []
        var aor = ""
        for raw in dump.output.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            let given = value == "[not set]" ? nil : value
            switch key {
            case "AoR": aor = value
            case "Address": result.append(Binding(aor: aor, contact: value))
            case "Path" where !result.isEmpty: result[result.count - 1].path = given
            case "User-Agent" where !result.isEmpty: result[result.count - 1].userAgent = given
            case "Received" where !result.isEmpty: result[result.count - 1].received = given
            case "Socket" where !result.isEmpty: result[result.count - 1].socket = given
            case "Expires" where !result.isEmpty: result[result.count - 1].expires = Int(value)
            default: break
            }
        }
        return result
    }

    func bindings(of user: String) -> [Binding] { bindings().filter { $0.aor == user } }

    /// Waits until `user` has a binding that `accept` takes; that binding.
    func waitForBinding(of user: String, within seconds: Double = 10,
                        _ accept: (Binding) -> Bool = { _ in true }) -> Binding? {
        RealPhones.wait(seconds, every: 0.1) { bindings(of: user).first(where: accept) }
    }

    /// Dialogs in the dialog module (`dlg.stats_active`: starting + connecting + answering
    /// + ongoing).
    func activeDialogs() -> Int? {
        guard let stats = try? rpc("dlg.stats_active"), stats.status == 0 else { return nil }
        for line in stats.output.split(separator: "\n") {
            let parts = line.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0] == "all" { return Int(parts[1]) }
        }
        return nil
    }

    /// A counter of `stats.get_statistics` by name, e.g. "processed_dialogs" (printed as
    /// "dialog:processed_dialogs = 3").
    func statistic(_ name: String) -> Int? {
        guard let stats = try? rpc("stats.get_statistics", name), stats.status == 0 else { return nil }
        for line in stats.output.split(separator: "\n") {
            let parts = line.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0].hasSuffix(":" + name) || parts[0] == name { return Int(parts[1]) }
        }
        return nil
    }

    /// SIGTERM and the exit (its children are stopped by the main process, which removes the
    /// pid file and the ctl socket); the exit status, nil when it was not running.
    @discardableResult
    func stopAndWait() -> Int32? {
        guard let process, process.isRunning else { return nil }
        PhoneLab.end(process, signal: SIGTERM, grace: 10)
        self.process = nil
        return process.terminationStatus
    }

    func stop() { stopAndWait() }
}
