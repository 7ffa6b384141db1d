import Foundation
import Testing

/// Paths and processes shared by the tests that run the real binary and the real oracle.
enum Interop {
    /// The package root, from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let fixtures = root.appendingPathComponent("Tests/Fixtures")
    static let corpus = root.deletingLastPathComponent().appendingPathComponent("shared/corpus")

    /// The gatewayd built beside this test bundle (or GATEWAYD_BINARY).
    static let binary: URL = {
        if let path = ProcessInfo.processInfo.environment["GATEWAYD_BINARY"] { return URL(fileURLWithPath: path) }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("gatewayd")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/gatewayd")
    }()

    static let tsharkAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark")

    /// Every capture to check: the committed fixtures, and the shared corpus when present.
    static var captures: [URL] {
        var files: [URL] = []
        for directory in [fixtures, corpus] {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { continue }
            for name in names.sorted() where name.hasSuffix(".pcap") || name.hasSuffix(".pcapng") {
                files.append(directory.appendingPathComponent(name))
            }
        }
        return files
    }

    struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        return try run(process)
    }

    /// Runs a prepared process to its end, with its output and error collected.
    static func run(_ process: Process) throws -> Result {
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting: a full pipe would otherwise block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self),
                      error: String(decoding: errData, as: UTF8.self))
    }

    static func tshark(_ arguments: [String]) throws -> String {
        let result = try run("/usr/bin/tshark", arguments)
        #expect(result.status == 0, "tshark \(arguments) failed: \(result.error)")
        return result.output
    }

    /// `gatewayd meter --json` on `file`, parsed.
    static func meter(_ file: URL, _ options: [String] = []) throws -> [String: Any] {
        let result = try run(binary.path, ["meter", "--json"] + options + [file.path])
        try #require(result.status == 0, "gatewayd meter failed: \(result.error)")
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8))
        return try #require(object as? [String: Any])
    }
}

extension Interop {
    /// Waits up to `seconds` for `condition`, checking every 50 ms: the deadline is sized for a
    /// slow, loaded machine and costs nothing when the condition comes true early.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    /// Waits until a node on 127.0.0.x answers a probe (OPTIONS, Max-Forwards 0): its socket
    /// is bound and its loop runs. Instead of a fixed sleep after starting a daemon.
    static func waitUntilAnswering(_ host: String, _ port: UInt16, seconds: Double = 10) -> Bool {
        guard let socket = try? UDPSocket(bind: "127.0.0.100", port: 0) else { return false }
        let probe = "OPTIONS sip:\(host):\(port) SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:9;branch=z9hG4bKready\(UUID().uuidString.prefix(8))\r\n"
            + "Max-Forwards: 0\r\nFrom: <sip:t@h>;tag=1\r\nTo: <sip:n@h>\r\nCall-ID: ready-\(UUID())\r\nCSeq: 1 OPTIONS\r\n"
            + "Content-Length: 0\r\n\r\n"
        return eventually(seconds) {
            try? socket.send(probe, to: host, port: port)
            return socket.receive(timeoutMilliseconds: 100) != nil
        }
    }

    /// The same, for the `listen = HOST:PORT` of an IPv4 config file.
    static func waitUntilAnswering(config: URL, seconds: Double = 10) -> Bool {
        guard let text = try? String(contentsOf: config, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listen = ") }),
              let colon = line.lastIndex(of: ":"), let port = UInt16(line[line.index(after: colon)...]) else { return false }
        return waitUntilAnswering(String(line.dropFirst(9)[..<colon]), port, seconds: seconds)
    }

    /// Starts `gatewayd -c config` (more `arguments` after it; standard error into `log`, or
    /// nowhere) and waits until it is `ready`: by default, until it answers a probe (a test
    /// that counts requests waits for something else).
    static func startNode(_ config: URL, arguments: [String] = [], log: URL? = nil,
                          ready: (() -> Bool)? = nil) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["-c", config.path] + arguments
        if let log {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: log)
        } else {
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        }
        try process.run()
        #expect(ready.map { eventually(10, $0) } ?? waitUntilAnswering(config: config),
                "gatewayd -c \(config.path) did not become ready")
        return process
    }

    /// Starts `gatewayd -c config` inside the network namespace `space` (`ip netns exec`),
    /// standard error into `log`. The caller waits for what it needs.
    static func startNode(inNamespace space: String, _ config: URL, log: URL) throws -> Process {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", space, binary.path, "-c", config.path]
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        return process
    }

    /// A status file, parsed; nil while it is missing or being replaced.
    /// A fresh directory of this test process for `label` (removed and made again).
    static func scratch(_ label: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-\(label)-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func status(_ file: URL) -> [String: Any]? {
        guard let data = try? Data(contentsOf: file) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// Whether some process has a UDP socket bound to IPv4 `ip`:`port` (from /proc/net/udp,
    /// so that asking takes nothing from the process that is starting).
    static func isBoundUDP(_ ip: String, _ port: Int) -> Bool {
        if ip == "::1" {
            let local = String(format: ": 00000000000000000000000001000000:%04X ", port)
            return ((try? String(contentsOfFile: "/proc/net/udp6", encoding: .utf8)) ?? "").contains(local)
        }
        let parts = ip.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return false }
        let local = String(format: ": %02X%02X%02X%02X:%04X ", parts[3], parts[2], parts[1], parts[0], port)
        return ((try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8)) ?? "").contains(local)
    }

    /// Waits until `file` holds `text` (a daemon's log line).
    static func waitFor(_ text: String, in file: URL, seconds: Double = 10) -> Bool {
        eventually(seconds) { ((try? String(contentsOf: file, encoding: .utf8)) ?? "").contains(text) }
    }

    /// One INVITE from a fresh socket on 127.0.0.100; the final answer's status line.
    static func ask(_ port: UInt16, clientPort: UInt16, callID: String) throws -> String? {
        let client = try UDPSocket(bind: "127.0.0.100", port: clientPort)
        let invite = "INVITE sip:alice@127.0.0.1:\(port) SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:\(clientPort);branch=z9hG4bK\(callID)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: \(callID)\r\nCSeq: 1 INVITE\r\n"
            + "Content-Length: 0\r\n\r\n"
        try client.send(invite, to: "127.0.0.1", port: port)
        while let answer = client.receive(timeoutMilliseconds: 2000) {
            if !answer.hasPrefix("SIP/2.0 100") { return answer.components(separatedBy: "\r\n").first }
        }
        return nil
    }

    /// An OPTIONS request to connect (Max-Forwards 70) from 127.0.0.100:`clientPort`.
    static func options(to port: UInt16, from clientPort: UInt16, id: String) -> String {
        "OPTIONS sip:127.0.0.1:\(port) SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:\(clientPort);branch=z9hG4bK\(id)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:n@h>\r\nCall-ID: \(id)\r\nCSeq: 1 OPTIONS\r\n"
            + "Content-Length: 0\r\n\r\n"
    }
}
