import Foundation
import Testing

/// Where a phone registers and where it sends its requests.
///
/// The two set-ups with gatewayd in between:
///  (a) `SIPAccount(user: "alice", registrar: "127.0.0.1:5450", outboundProxy: "127.0.0.1:5470")`:
///      the steering agent as outbound proxy, the group's primary node as registrar/domain;
///  (b) `SIPAccount(user: "alice", registrar: "127.0.0.1:5450")`: straight at the primary.
struct SIPAccount: CustomStringConvertible {
    var user: String
    /// host:port of the registrar, also the domain of the address of record: REGISTER goes
    /// to sip:HOST:PORT, the AoR is sip:USER@HOST:PORT.
    var registrar: String
    /// host:port the phone sends its requests to (its outbound proxy), nil for none. Each UA
    /// applies it its own way (docs/phones.md): baresip as a Route header with `lr` on every
    /// request; linphone as reg_route, which REGISTER ignores (see `LinphonePhone.ProxyMode`);
    /// sipsak as the destination only.
    var outboundProxy: String?
    var expires: Int = 60
    /// `tcp` for a phone that reaches its registrar (or outbound proxy) over TCP; nil: the UA's default (UDP).
    var transport: String? = nil

    var aor: String { "sip:\(user)@\(registrar)" }
    var description: String { aor + (outboundProxy.map { " via \($0)" } ?? "") }

    /// "host:port" split; the port 5060 when absent.
    static func split(_ hostPort: String) -> (host: String, port: Int) {
        let parts = hostPort.split(separator: ":")
        return (String(parts[0]), parts.count > 1 ? Int(parts[1]) ?? 5060 : 5060)
    }
}

/// A phone that registers.
protocol RegisteringPhone: LabMember {
    /// Its own loopback address, where its SIP socket is bound.
    var address: String { get }
    var sipPort: Int { get }
    func register(_ account: SIPAccount) throws
    /// True once its REGISTER got a 2xx, false when it failed or the time passed.
    func waitForRegistration(within seconds: Double) -> Bool
    /// Its log (or output), for failure messages.
    var logText: String { get }
}

/// A phone that also makes and takes calls (incoming calls are answered at once).
protocol CallingPhone: RegisteringPhone {
    /// Where its RTP and RTCP sockets are.
    var rtpPorts: ClosedRange<Int> { get }
    func call(_ uri: String) throws
    /// True once the call (outgoing, or the incoming one it answered) is up.
    func waitForEstablished(within seconds: Double) -> Bool
    func hangup() throws
    /// True once it reports the call ended.
    func waitForCallEnd(within seconds: Double) -> Bool
}

// MARK: - baresip

/// baresip (baresip-core 1.0) driven through its ctrl_tcp module: commands in, events out
/// (JSON in netstrings). Its SIP trace (`-s`) goes to NAME/baresip.out. Audio: aufile plays
/// the lab's tone as the microphone, aubridge is the (silent) speaker; G.711 only.
final class BaresipPhone: CallingPhone {
    let name: String
    let address: String
    let sipPort: Int
    let controlPort: Int
    let rtpPorts: ClosedRange<Int>
    let directory: String
    var output: String { directory + "/baresip.out" }
    var logText: String { RealPhones.tail(output, 6000) }

    private var process: ChildProcess?
    private var control: PhoneStreamSocket?
    private var pending: [UInt8] = []
    /// Every event so far, in order (`type`, `class`, `accountaor`, `param`, `id`, ...).
    private(set) var events: [[String: Any]] = []
    private var responses: [String: [String: Any]] = [:]
    private var token = 0
    private var mark = 0

    /// Writes its config into NAME/, starts it and connects to ctrl_tcp on address:controlPort.
    init(_ lab: PhoneLab, name: String, address: String, sipPort: Int, controlPort: Int, rtpPorts: ClosedRange<Int>,
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.name = name
        self.address = address
        self.sipPort = sipPort
        self.controlPort = controlPort
        self.rtpPorts = rtpPorts
        directory = try lab.subdirectory(name)
        try BaresipPhone.config(address: address, sipPort: sipPort, controlPort: controlPort, rtpPorts: rtpPorts, tone: lab.tone)
            .write(toFile: directory + "/config", atomically: true, encoding: .utf8)
        try "".write(toFile: directory + "/accounts", atomically: true, encoding: .utf8)
        process = try lab.launch(RealPhones.path(.baresip), ["-f", directory, "-s"], in: directory, output: output)
        _ = lab.add(self)
        control = RealPhones.wait(10, every: 0.05) { () -> PhoneStreamSocket? in
            guard process?.isRunning == true else { return nil }
            return PhoneStreamSocket.tcp(address, UInt16(controlPort))
        }
        try #require(control != nil, "baresip \(name) did not start: \(logText)", sourceLocation: sourceLocation)
    }

    /// The config file: SIP and ctrl_tcp on `address` only, RTP in `rtpPorts`, no sound card.
    static func config(address: String, sipPort: Int, controlPort: Int, rtpPorts: ClosedRange<Int>, tone: String) -> String {
        """
        poll_method\t\tepoll
        sip_listen\t\t\(address):\(sipPort)
        net_interface\t\t\(address)
        dns_server\t\t127.0.0.1:53
        call_local_timeout\t120
        call_max_calls\t\t4
        audio_player\t\taubridge,nil
        audio_alert\t\taubridge,nil
        audio_source\t\taufile,\(tone)
        rtp_ports\t\t\(rtpPorts.lowerBound)-\(rtpPorts.upperBound)
        rtp_timeout\t\t0
        module_path\t\t/usr/lib/baresip/modules
        module\t\t\tg711.so
        module\t\t\taufile.so
        module\t\t\taubridge.so
        module\t\t\tctrl_tcp.so
        module_app\t\tmenu.so
        ctrl_tcp_listen\t\t\(address):\(controlPort)

        """
    }

    /// Reads what ctrl_tcp sent (without waiting longer than `milliseconds`) into events and
    /// responses.
    private func pump(_ milliseconds: Int32 = 0) {
        guard let control, let bytes = control.receive(timeoutMilliseconds: milliseconds) else { return }
        pending += bytes
        // netstrings: LENGTH ":" JSON ","
        while let colon = pending.firstIndex(of: UInt8(ascii: ":")),
              let length = Int(String(decoding: pending[..<colon], as: UTF8.self)),
              pending.count >= colon + 1 + length + 1 {
            let body = Array(pending[(colon + 1)..<(colon + 1 + length)])
            pending.removeFirst(colon + 1 + length + 1)
            guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { continue }
            if object["event"] as? Bool == true {
                events.append(object)
            } else if object["response"] as? Bool == true, let token = object["token"] as? String {
                responses[token] = object
            }
        }
    }

    /// Runs a menu command (`dial`, `hangup`, `uanew`, `reginfo`, ...); its answer's text.
    @discardableResult
    func command(_ name: String, _ parameters: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        token += 1
        let key = "t\(token)"
        let object: [String: Any] = ["command": name, "params": parameters, "token": key]
        let body = try JSONSerialization.data(withJSONObject: object)
        let frame = "\(body.count):" + String(decoding: body, as: UTF8.self) + ","
        try #require(control?.send(frame) == true, "baresip \(self.name): ctrl_tcp is gone", sourceLocation: sourceLocation)
        let answer = RealPhones.wait(5, every: 0.001) { () -> [String: Any]? in
            pump(20)
            return responses.removeValue(forKey: key)
        }
        let response = try #require(answer, "baresip \(self.name): no answer to \(name) \(parameters)", sourceLocation: sourceLocation)
        try #require(response["ok"] as? Bool == true, "baresip \(self.name): \(name) \(parameters): \(response)",
                     sourceLocation: sourceLocation)
        return response["data"] as? String ?? ""
    }

    /// The events of `type` (REGISTER_OK, CALL_ESTABLISHED, CALL_CLOSED, ...) since `index`.
    func events(_ type: String, since index: Int = 0) -> [[String: Any]] {
        pump()
        return events[min(index, events.count)...].filter { $0["type"] as? String == type }
    }

    /// Waits for the first event of one of `types` after `index`.
    func waitForEvent(_ types: Set<String>, since index: Int, within seconds: Double) -> [String: Any]? {
        RealPhones.wait(seconds, every: 0.001) { () -> [String: Any]? in
            pump(20)
            return events[min(index, events.count)...].first { types.contains($0["type"] as? String ?? "") }
        }
    }

    /// `uanew <sip:USER@REGISTRAR>;regint=EXPIRES;answermode=auto[;outbound="sip:PROXY"]`.
    func register(_ account: SIPAccount) throws {
        pump()
        mark = events.count
        let transport = account.transport.map { ";transport=\($0)" } ?? ""
        var line = "<\(account.aor)\(transport)>;regint=\(account.expires);answermode=auto;audio_codecs=pcmu,pcma"
        if let proxy = account.outboundProxy { line += ";outbound=\"sip:\(proxy)\(transport)\"" }
        try command("uanew", line)
    }

    /// REGISTER_OK (true) or REGISTER_FAIL (false) after the last `register`.
    func waitForRegistration(within seconds: Double = 10) -> Bool {
        waitForEvent(["REGISTER_OK", "REGISTER_FAIL"], since: mark, within: seconds)?["type"] as? String == "REGISTER_OK"
    }

    /// The REGISTER_FAIL event's text (e.g. "302 Moved Temporarily"), if one came.
    func registrationFailure() -> String? { events("REGISTER_FAIL", since: mark).first?["param"] as? String }

    private var callMark = 0

    func call(_ uri: String) throws {
        pump()
        callMark = events.count
        try command("dial", uri)
    }

    /// Marks the events so far as seen: the next waits look only at later ones (for a phone
    /// that is about to be called).
    func expectCall() {
        pump()
        callMark = events.count
    }

    func waitForEstablished(within seconds: Double = 10) -> Bool {
        waitForEvent(["CALL_ESTABLISHED", "CALL_CLOSED"], since: callMark, within: seconds)?["type"] as? String == "CALL_ESTABLISHED"
    }

    func hangup() throws { try command("hangup") }

    func waitForCallEnd(within seconds: Double = 10) -> Bool {
        waitForEvent(["CALL_CLOSED"], since: callMark, within: seconds) != nil
    }

    /// Why the last call closed (CALL_CLOSED's param, e.g. "Connection reset by user").
    func callEndReason() -> String? { events("CALL_CLOSED", since: callMark).first?["param"] as? String }

    /// SIGTERM: baresip unregisters and quits (SIGKILL after 5 s).
    func stop() {
        control = nil
        if let process { PhoneLab.end(process, signal: SIGTERM, grace: 5) }
        process = nil
    }
}

// MARK: - linphone-daemon

/// linphone-daemon (linphone-cli 5.1) driven through its `--pipe` Unix socket (created as
/// /tmp/NAME by the daemon). Its config (linphonerc) is written for each registration,
/// because routes cannot be given to the `register` command; the daemon is (re)started then.
/// No sound card here: the tone is the `hold_music` file, which liblinphone plays as the
/// microphone when it has no capture card.
final class LinphonePhone: CallingPhone {
    /// How `SIPAccount.outboundProxy` goes into the account: `route` (reg_route: INVITE and
    /// the rest go there with a Route header; linphone 5.1 still sends REGISTER straight to
    /// the registrar), or `server` (reg_proxy is the outbound proxy, the identity's domain
    /// stays the registrar: every request, REGISTER too, goes there, with the proxy as
    /// REGISTER's Request-URI).
    enum ProxyMode { case route, server }

    let name: String
    let address: String
    let sipPort: Int
    let rtpPorts: ClosedRange<Int>
    let directory: String
    var proxyMode: ProxyMode = .route
    /// Over TLS: the CA its server's certificate is checked against (the chain only:
    /// liblinphone's mbedTLS does not match IP subjectAltNames, so not the name).
    var rootCA: String?
    let pipeName: String
    var socketPath: String { "/tmp/" + pipeName }
    var config: String { directory + "/linphonerc" }
    var log: String { directory + "/linphone.log" }
    var output: String { directory + "/linphone.out" }
    var logText: String { RealPhones.tail(output, 2000) + "\n" + RealPhones.tail(log, 4000) }

    private let tone: String
    private var process: ChildProcess?
    private var control: PhoneStreamSocket?
    private var account: SIPAccount?

    init(_ lab: PhoneLab, name: String, address: String, sipPort: Int, rtpPorts: ClosedRange<Int>) throws {
        tone = lab.tone
        self.name = name
        self.address = address
        self.sipPort = sipPort
        self.rtpPorts = rtpPorts
        directory = try lab.subdirectory(name)
        pipeName = "gatewayd-phones-\(getpid())-\(name)"
        _ = lab.add(self)
    }

    /// Audio RTP in the lower part of the range, video and text (both disabled) at the top.
    var rtpLayout: (audio: ClosedRange<Int>, video: ClosedRange<Int>, text: ClosedRange<Int>) {
        let top = rtpPorts.upperBound
        return (rtpPorts.lowerBound...(top - 20), (top - 19)...(top - 10), (top - 9)...top)
    }

    /// The linphonerc for `account`.
    func configText(_ account: SIPAccount, tone: String) -> String {
        let layout = rtpLayout
        var server = account.registrar
        var route: String?
        if let proxy = account.outboundProxy {
            switch proxyMode {
            case .route: route = proxy
            case .server: server = proxy
            }
        }
        // The account's transport, TCP or TLS on the next port; UDP stays too, as in
        // liblinphone's defaults: in-dialog requests follow a Record-Route over UDP.
        let transport = account.transport ?? "udp"
        let port = transport == "udp" ? sipPort : sipPort + 1
        var text = """
        [sip]
        sip_port=\(sipPort)
        sip_tcp_port=\(transport == "tcp" ? port : 0)
        sip_tls_port=\(transport == "tls" ? port : 0)
        bind_address=\(address)
        guess_hostname=0
        contact=<sip:\(account.user)@\(address):\(port)\(transport == "udp" ? "" : ";transport=" + transport)>
        \(rootCA.map { "root_ca=\($0)\nverify_server_certs=1\nverify_server_cn=0" } ?? "")
        register_only_when_network_is_up=0
        default_proxy=0
        [rtp]
        audio_rtp_port=\(layout.audio.lowerBound)-\(layout.audio.upperBound)
        video_rtp_port=\(layout.video.lowerBound)-\(layout.video.upperBound)
        text_rtp_port=\(layout.text.lowerBound)-\(layout.text.upperBound)
        [sound]
        echocancellation=0
        hold_music=\(tone)
        [video]
        enabled=0
        capture=0
        display=0
        automatically_initiate=0
        automatically_accept=0
        [storage]
        uri=\(directory)/linphone.db
        [proxy_0]
        reg_proxy=<sip:\(server);transport=\(transport)>
        reg_identity=\(account.aor)
        reg_expires=\(account.expires)
        reg_sendregister=1
        publish=0

        """
        if let route { text += "reg_route=<sip:\(route);transport=\(transport);lr>\n" }
        return text
    }

    /// Writes the config and (re)starts the daemon, which registers at once.
    func register(_ account: SIPAccount) throws {
        stop()
        self.account = account
        try? FileManager.default.removeItem(atPath: directory + "/linphone.db")
        try configText(account, tone: tone).write(toFile: config, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: socketPath)
        process = try ChildProcess(RealPhones.path(.linphone),
                                   ["--config", config, "--pipe", pipeName, "--log", log, "--auto-answer"],
                                   in: directory, output: output, error: nil, environment: ["HOME": directory])
        control = RealPhones.wait(15, every: 0.05) { () -> PhoneStreamSocket? in
            guard process?.isRunning == true else { return nil }
            return PhoneStreamSocket.unix(socketPath)
        }
        try #require(control != nil, "linphone-daemon \(name) did not start: \(logText)")
    }

    /// One command on the pipe; the answer ("Status: Ok" ...).
    @discardableResult
    func command(_ line: String) -> String {
        guard let control, control.send(line) else { return "" }
        let bytes = RealPhones.wait(5, every: 0.001) { () -> [UInt8]? in
            guard let received = control.receive(timeoutMilliseconds: 50), !received.isEmpty else { return nil }
            return received
        } ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value of `Key: value` in an answer.
    static func field(_ key: String, in answer: String) -> String? {
        for line in answer.split(separator: "\n") where line.hasPrefix(key + ": ") {
            return String(line.dropFirst(key.count + 2))
        }
        return nil
    }

    /// `register-status 1`'s state (LinphoneRegistrationOk, ...Progress, ...Failed).
    func registrationState() -> String? { LinphonePhone.field("State", in: command("register-status 1")) }

    func waitForRegistration(within seconds: Double = 10) -> Bool {
        let state = RealPhones.wait(seconds, every: 0.1) { () -> String? in
            let state = registrationState()
            return state == "LinphoneRegistrationOk" || state == "LinphoneRegistrationFailed" ? state : nil
        }
        return state == "LinphoneRegistrationOk"
    }

    private(set) var callID: Int?

    func call(_ uri: String) throws {
        let answer = command("call \(uri)")
        callID = LinphonePhone.field("Id", in: answer).flatMap(Int.init)
        try #require(callID != nil, "linphone \(name): call \(uri): \(answer)")
    }

    /// The state of the current call (`call-status`), nil when there is none.
    func callState() -> String? { LinphonePhone.field("State", in: command("call-status")) }

    func waitForEstablished(within seconds: Double = 10) -> Bool {
        RealPhones.waitUntil(seconds, every: 0.1) { callState() == "LinphoneCallStreamsRunning" }
    }

    func hangup() throws {
        let answer = command("terminate")
        try #require(answer.hasPrefix("Status: Ok"), "linphone \(name): terminate: \(answer)")
    }

    func waitForCallEnd(within seconds: Double = 10) -> Bool {
        RealPhones.waitUntil(seconds, every: 0.1) {
            let state = callState()
            return state == nil || state == "LinphoneCallEnd" || state == "LinphoneCallReleased"
        }
    }

    /// `quit` (the daemon unregisters and saves its config), then SIGINT, then SIGKILL.
    func stop() {
        guard let process, process.isRunning else { self.process = nil; return }
        _ = control?.send("quit")
        if !RealPhones.waitUntil(5, every: 0.02, { !process.isRunning }) {
            PhoneLab.end(process, signal: SIGINT, grace: 3)
        }
        process.waitUntilExit()
        control = nil
        self.process = nil
        try? FileManager.default.removeItem(atPath: socketPath)
    }
}

// MARK: - sipsak

/// sipsak 0.9.8, one run per request: REGISTER (usrloc mode) or OPTIONS, from its own
/// address and port (`-k`, `-l`, symmetric `-S`), each run bounded by a deadline.
final class SipsakPhone: RegisteringPhone {
    struct Run {
        var status: Int32
        var output: String
    }

    let name: String
    let address: String
    let sipPort: Int
    let directory: String
    private(set) var runs: [Run] = []
    private var running: ChildProcess?
    var logText: String { runs.map { "exit \($0.status):\n\($0.output)" }.joined(separator: "\n") }

    init(_ lab: PhoneLab, name: String, address: String, sipPort: Int) throws {
        self.name = name
        self.address = address
        self.sipPort = sipPort
        directory = try lab.subdirectory(name)
        _ = lab.add(self)
    }

    /// sipsak's options for sending from address:sipPort, through `outboundProxy` when given
    /// (`-p HOST -r PORT`: sipsak 0.9.8 ignores the port of `-p HOST:PORT` when the target
    /// URI has one).
    func common(outboundProxy: String?) -> [String] {
        var arguments = ["-vv", "-S", "-k", address, "-l", "\(sipPort)", "-H", address]
        if let proxy = outboundProxy {
            let (host, port) = SIPAccount.split(proxy)
            arguments += ["-p", host, "-r", "\(port)"]
        }
        return arguments
    }

    /// Runs sipsak with `arguments`, killed after `seconds`.
    @discardableResult
    func run(_ arguments: [String], within seconds: Double = 10) throws -> Run {
        let file = directory + "/run-\(runs.count + 1).out"
        let process = try ChildProcess(RealPhones.path(.sipsak), arguments, in: directory, output: file, error: nil,
                                       environment: [:])
        running = process
        if !RealPhones.waitUntil(seconds, every: 0.02, { !process.isRunning }) {
            PhoneLab.end(process, signal: SIGKILL, grace: 1)
        }
        process.waitUntilExit()
        running = nil
        let run = Run(status: process.terminationStatus, output: RealPhones.read(file))
        runs.append(run)
        return run
    }

    private var lastRegistration: Run?

    /// One REGISTER of `sip:USER@ADDRESS:PORT` for the account (exit 0: a 200 came, after
    /// following redirects: sipsak does unless `-d`). `headers` are added as they are
    /// (`-j`), e.g. a Path.
    func register(_ account: SIPAccount) throws { try register(account, headers: []) }

    @discardableResult
    func register(_ account: SIPAccount, headers: [String], followRedirects: Bool = true) throws -> Run {
        var arguments = ["-U", "-s", account.aor, "-C", "sip:\(account.user)@\(address):\(sipPort)",
                         "-x", "\(account.expires)"] + common(outboundProxy: account.outboundProxy)
        if !headers.isEmpty { arguments += ["-j", headers.joined(separator: "\\n")] }
        if !followRedirects { arguments.append("-d") }
        let run = try run(arguments)
        lastRegistration = run
        return run
    }

    /// The last REGISTER run ended with a 200.
    func waitForRegistration(within seconds: Double = 10) -> Bool { lastRegistration?.status == 0 }

    /// One OPTIONS to `uri` (exit 0: 200).
    @discardableResult
    func options(_ uri: String, outboundProxy: String? = nil, followRedirects: Bool = true) throws -> Run {
        var arguments = ["-s", uri] + common(outboundProxy: outboundProxy)
        if !followRedirects { arguments.append("-d") }
        return try run(arguments)
    }

    func stop() {
        if let running { PhoneLab.end(running, signal: SIGKILL, grace: 1) }
        running = nil
    }
}
