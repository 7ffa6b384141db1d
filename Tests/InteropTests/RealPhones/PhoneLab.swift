import Foundation
import Testing

/// Real Debian user agents (baresip, linphone-daemon, sipsak) against a real Kamailio, on
/// loopback only: what the tools are, where they live, what to install, and the waiting and
/// process helpers every driver shares. See docs/phones.md for what each UA does.
///
/// Addresses are 127.0.0.0/8 only. Ports: SIP (and the UAs' control sockets) 5400-5499, RTP
/// 20000-20999.
enum RealPhones {
    /// A program a test needs, with the Debian package that provides it.
    struct Tool: Hashable, CustomStringConvertible {
        var name: String
        var package: String
        /// Where Debian puts it; the first executable one is used.
        var candidates: [String]
        /// A file that need only be readable (a module), not executable.
        var readable = false

        static let kamailio = Tool(name: "kamailio", package: "kamailio", candidates: ["/usr/sbin/kamailio", "/usr/bin/kamailio"])
        static let kamcmd = Tool(name: "kamcmd", package: "kamailio", candidates: ["/usr/sbin/kamcmd", "/usr/bin/kamcmd"])
        static let baresip = Tool(name: "baresip", package: "baresip-core", candidates: ["/usr/bin/baresip"])
        static let linphone = Tool(name: "linphone-daemon", package: "linphone-cli", candidates: ["/usr/bin/linphone-daemon"])
        static let sipsak = Tool(name: "sipsak", package: "sipsak", candidates: ["/usr/bin/sipsak"])
        static let tshark = Tool(name: "tshark", package: "tshark", candidates: ["/usr/bin/tshark"])
        static let sipp = Tool(name: "sipp", package: "sip-tester", candidates: ["/usr/bin/sipp"])
        /// Kamailio's TLS module (a shared object, so only readable).
        static let kamailioTLS = Tool(name: "kamailio-tls", package: "kamailio-tls-modules",
                                      candidates: ["/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so",
                                                   "/usr/lib/aarch64-linux-gnu/kamailio/modules/tls.so"], readable: true)

        /// Nil when not installed (or named in GATEWAYD_PHONES_HIDE, comma-separated, to try
        /// the skip and the CI failure without uninstalling anything).
        var path: String? {
            let hidden = (ProcessInfo.processInfo.environment["GATEWAYD_PHONES_HIDE"] ?? "").split(separator: ",").map(String.init)
            if hidden.contains(name) { return nil }
            return candidates.first {
                readable ? FileManager.default.isReadableFile(atPath: $0) : FileManager.default.isExecutableFile(atPath: $0)
            }
        }
        var description: String { name }
    }

    /// CI=true: a missing tool fails the test instead of skipping it.
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

    static func missing(_ tools: [Tool]) -> [Tool] { tools.filter { $0.path == nil } }

    /// "baresip (apt-get install baresip-core), ..." for the tools not installed.
    static func installHint(_ tools: [Tool]) -> String {
        missing(tools).map { "\($0.name) is not installed (apt-get install \($0.package))" }.joined(separator: "; ")
    }

    /// The trait for a test that needs `tools`: skipped with the package to install when one
    /// is missing, or when not root (every such test watches lo with tshark, which a user
    /// may not capture on), except under CI=true, where the test runs and fails instead.
    static func needs(_ tools: Tool...) -> ConditionTrait {
        let missingHint = installHint(tools)
        let hint = getuid() == 0 ? missingHint : missingHint + (missingHint.isEmpty ? "" : "; ") + "needs root: tshark captures on lo"
        return .enabled(if: inCI || hint.isEmpty, Comment(rawValue: hint.isEmpty ? "all tools installed" : hint))
    }

    /// Fails the test (CI) when a tool is missing; a no-op when all are there.
    static func require(_ tools: Tool..., sourceLocation: SourceLocation = #_sourceLocation) throws {
        let absent = missing(tools)
        try #require(absent.isEmpty, "\(installHint(tools))", sourceLocation: sourceLocation)
    }

    static func path(_ tool: Tool) -> String { tool.path ?? tool.candidates[0] }

    static let fixtures = Interop.root.appendingPathComponent("Tests/Fixtures")
    static let kamailioConfig = fixtures.appendingPathComponent("kamailio/registrar.cfg")

    /// Polls `probe` every `interval` seconds until it gives a value or `seconds` pass.
    static func wait<T>(_ seconds: Double, every interval: Double = 0.05, _ probe: () throws -> T?) rethrows -> T? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let value = try probe() { return value }
            if Date() >= deadline { return nil }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// Waits for a condition; true when it held before the deadline.
    static func waitUntil(_ seconds: Double, every interval: Double = 0.05, _ condition: () throws -> Bool) rethrows -> Bool {
        try wait(seconds, every: interval) { try condition() ? true : nil } ?? false
    }

    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }

    /// The tail of a log, for failure messages.
    static func tail(_ path: String, _ characters: Int = 3000) -> String {
        let text = read(path)
        return text.count > characters ? "…" + text.suffix(characters) : text
    }

    /// A WAV file (8 kHz, mono, 16-bit PCM) holding a 440 Hz tone: the microphone of every
    /// phone (there is no sound card here). Longer than any test call: baresip's aufile ends
    /// the call when its file ends.
    static func writeTone(to path: String, seconds: Int = 40) throws {
        let rate = 8000, samples = rate * seconds
        var data = Data()
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        func put16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("RIFF".utf8)); put32(UInt32(36 + samples * 2))
        data.append(contentsOf: Array("WAVEfmt ".utf8)); put32(16); put16(1); put16(1); put32(UInt32(rate))
        put32(UInt32(rate * 2)); put16(2); put16(16)
        data.append(contentsOf: Array("data".utf8)); put32(UInt32(samples * 2))
        var pcm = [Int16](repeating: 0, count: samples)
        for index in 0..<samples { pcm[index] = Int16(8000 * sin(2 * Double.pi * 440 * Double(index) / Double(rate))) }
        pcm.withUnsafeBytes { data.append(contentsOf: $0) }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// Something a lab started and must stop at the end.
protocol LabMember: AnyObject {
    var name: String { get }
    func stop()
}

/// The processes of one test, their files in /tmp/gatewayd-phones-PID/TEST/. Everything is
/// stopped when the lab goes (last started, first stopped); the directory is removed unless
/// GATEWAYD_PHONES_KEEP is set.
final class PhoneLab {
    let directory: URL
    private(set) var members: [LabMember] = []

    init(_ name: String) throws {
        directory = URL(fileURLWithPath: "/tmp/gatewayd-phones-\(getpid())").appendingPathComponent(name)
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        stopAll()
        if ProcessInfo.processInfo.environment["GATEWAYD_PHONES_KEEP"] == nil {
            try? FileManager.default.removeItem(at: directory)
            rmdir(directory.deletingLastPathComponent().path)  // the last test's removes the parent
        }
    }

    func stopAll() {
        for member in members.reversed() { member.stop() }
        members.removeAll()
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A fresh directory for one member.
    func subdirectory(_ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    func add<Member: LabMember>(_ member: Member) -> Member {
        members.append(member)
        return member
    }

    /// The tone every phone sends, written once per lab.
    lazy var tone: String = {
        let file = path("tone.wav")
        try? RealPhones.writeTone(to: file)
        return file
    }()

    /// Starts `executable` with its output and error in files (appended), in `directory`.
    func launch(_ executable: String, _ arguments: [String], in directory: String, output: String, error: String? = nil,
                environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(executable, arguments, in: directory, output: output, error: error, environment: environment)
    }

    /// Sends `signal`, waits up to `grace` seconds for the exit, then SIGKILL to its process
    /// group; reaped.
    static func end(_ process: ChildProcess, signal: Int32 = SIGTERM, grace: Double = 5) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        if !RealPhones.waitUntil(grace, every: 0.02, { !process.isRunning }) {
            kill(-process.processIdentifier, SIGKILL)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }
}

/// A long-running child, started with posix_spawn rather than Foundation's Process, for two
/// reasons found here: the children get the signal mask of the test's thread (SIGTERM
/// blocked: Kamailio then never stops), and Foundation watches a child's exit through a
/// descriptor the child inherits, which Kamailio closes, so Foundation's monitor thread
/// blocks in waitpid on it and no other Process (kamcmd) is ever reaped. This one gets an
/// empty signal mask, default handlers, its own process group, only its three standard
/// descriptors, and is reaped with waitpid here.
final class ChildProcess {
    let processIdentifier: pid_t
    private var status: Int32?

    init(_ executable: String, _ arguments: [String], in directory: String, output: String, error: String?,
         environment: [String: String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let error {
            posix_spawn_file_actions_addopen(&actions, 2, error, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        if let closeFrom = ChildProcess.closeFrom { _ = closeFrom(&actions, 3) }
        if let changeDirectory = ChildProcess.changeDirectory { _ = directory.withCString { changeDirectory(&actions, $0) } }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        processIdentifier = pid
    }

    deinit {
        if isRunning {
            kill(-processIdentifier, SIGKILL)
            kill(processIdentifier, SIGKILL)
            waitUntilExit()
        }
    }

    private typealias FileActionInt = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias FileActionPath = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    /// glibc 2.34's posix_spawn_file_actions_addclosefrom_np and 2.29's ..._addchdir_np,
    /// which Swift's Glibc module does not declare.
    private static let closeFrom: FileActionInt? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: FileActionInt.self) }
    private static let changeDirectory: FileActionPath? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: FileActionPath.self) }

    private func reap(_ options: Int32) {
        guard status == nil else { return }
        var raw: Int32 = 0
        let result = waitpid(processIdentifier, &raw, options)
        if result == processIdentifier {
            status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        } else if result < 0 && errno == ECHILD {
            status = -1
        }
    }

    var isRunning: Bool {
        reap(WNOHANG)
        return status == nil
    }

    func waitUntilExit() {
        while status == nil { reap(0) }
    }

    /// The exit status, or 128 + the signal that ended it.
    var terminationStatus: Int32 {
        waitUntilExit()
        return status ?? -1
    }
}

/// A stream socket (TCP on loopback, or a Unix socket) read without blocking: the control
/// interfaces of baresip (ctrl_tcp) and linphone-daemon (--pipe).
final class PhoneStreamSocket {
    let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }
    deinit { close(descriptor) }

    /// Connects to IP:PORT (TCP); nil while nobody listens there.
    static func tcp(_ address: String, _ port: UInt16) -> PhoneStreamSocket? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var remote = UDPSocket.address(address, port)
        let result = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); return nil }
        return PhoneStreamSocket(descriptor: fd)
    }

    /// Connects to the Unix socket at `path`; nil while it is not there.
    static func unix(_ path: String) -> PhoneStreamSocket? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var remote = sockaddr_un()
        remote.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: remote.sun_path) else { close(fd); return nil }
        withUnsafeMutableBytes(of: &remote.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { close(fd); return nil }
        return PhoneStreamSocket(descriptor: fd)
    }

    func send(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            bytes = bytes.dropFirst(sent)
        }
        return true
    }

    /// What arrives within `timeoutMilliseconds` (and whatever follows at once); empty when
    /// nothing came, nil when the peer closed.
    func receive(timeoutMilliseconds: Int32) -> [UInt8]? {
        var received: [UInt8] = []
        var wait = timeoutMilliseconds
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, wait) > 0 else { return received }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return received.isEmpty ? nil : received }
            received += buffer[0..<count]
            wait = 0
        }
    }
}
