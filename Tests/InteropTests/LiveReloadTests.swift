import Foundation
import Testing

/// Every key docs/gatewayd.conf marks "live", with the real binary: what the node does
/// before a SIGHUP, then what it does once it has logged `reloaded` for a file with the key
/// changed. A changed "restart" key is logged as needing a restart and the old value kept.
/// Loopback only, UDP ports 5600-5699, each test its own.
@Suite struct LiveReloadTests {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A gatewayd on a config file of its own, its standard error in `log` and its status
    /// file beside them. Stopped with SIGTERM and its directory removed when released.
    final class Daemon {
        let directory: URL
        let config: URL
        let log: URL
        let statusPath: String
        let process = Process()

        /// Starts gatewayd on `[node]` with `node` (and `status_file` in this daemon's directory
        /// unless `node` sets one), then `sections`; returns once it logged that it listens.
        init(_ name: String, node: String, _ sections: String = "") throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-live-\(getpid())-\(name)")
            // Tests run in parallel: two daemons of one name would share (and delete) one directory.
            guard !FileManager.default.fileExists(atPath: directory.path) else {
                throw Failure("two tests name their daemon '\(name)'")
            }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            config = directory.appendingPathComponent("node.conf")
            log = directory.appendingPathComponent("stderr.log")
            statusPath = directory.appendingPathComponent("status.json").path
            try write(node: node, sections)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = Interop.binary
            process.arguments = ["-c", config.path]
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = try FileHandle(forWritingTo: log)
            try process.run()
            let started = HeadlessTests.waitFor(20) { () -> Bool? in
                if !process.isRunning { return false }
                return lines.contains { $0.contains(" listening on ") } ? true : nil
            }
            guard started == true else { throw Failure("gatewayd did not start: \(text)") }
        }

        deinit {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: directory)
        }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        func write(node: String, _ sections: String) throws {
            let status = node.contains("status_file") ? "" : "status_file = \(statusPath)\n"
            try ("[node]\n" + status + node + sections).write(to: config, atomically: true, encoding: .utf8)
        }

        var text: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        var lines: [String] { text.split(separator: "\n").map(String.init) }
        func count(_ prefix: String) -> Int { lines.filter { $0.hasPrefix(prefix) }.count }

        /// Rewrites the file, sends SIGHUP and waits until gatewayd logs that it reloaded it
        /// (throws when it logs that it refused the file, or says nothing).
        func reload(node: String, _ sections: String = "") throws {
            let reloaded = count("gatewayd: reloaded "), refused = count("gatewayd: reload failed")
            try write(node: node, sections)
            kill(process.processIdentifier, SIGHUP)
            let taken = HeadlessTests.waitFor(20) { () -> Bool? in
                if count("gatewayd: reload failed") > refused { return false }
                return count("gatewayd: reloaded ") > reloaded ? true : nil
            }
            guard taken == true else { throw Failure("the reload was not taken: \(text)") }
        }

        var status: [String: Any]? { HeadlessTests.status(statusPath) }

        /// The first status file for which `body` is true, within `seconds`.
        func waitForStatus(_ seconds: Double = 15, _ body: ([String: Any]) -> Bool) -> [String: Any]? {
            HeadlessTests.waitFor(seconds) { () -> [String: Any]? in
                guard let status, body(status) else { return nil }
                return status
            }
        }

        /// The first peer's entry in the status file.
        func peer(_ status: [String: Any]) -> [String: Any] { (status["peers"] as? [[String: Any]])?.first ?? [:] }

        /// Waits for the status file to say the first peer is `up`; the time it was seen so.
        func waitForPeer(up: Bool, _ seconds: Double = 15) -> Date? {
            waitForStatus(seconds) { self.peer($0)["up"] as? Bool == up }.map { _ in Date() }
        }

        func resource(_ status: [String: Any], _ name: String) -> [String: Any] {
            ((status["load"] as? [String: Any])?["resources"] as? [String: Any])?[name] as? [String: Any] ?? [:]
        }
    }

    /// The client, on 127.0.0.100: asks the node on 127.0.0.1:`node` and reads the final
    /// answer to each request by its Call-ID (retransmitted answers to earlier ones skipped).
    final class Client {
        let socket: UDPSocket
        let port: UInt16
        let node: UInt16
        let name: String
        var sent = 0

        init(_ name: String, node: UInt16, port: UInt16) throws {
            socket = try UDPSocket(bind: "127.0.0.100", port: port)
            self.port = port
            self.node = node
            self.name = name
        }

        func nextID() -> String {
            sent += 1
            return "\(name)-\(sent)"
        }

        /// An OPTIONS request to connect; its final answer, nil when none came in `timeout` ms.
        func options(to nodePort: UInt16? = nil, timeout: Int32 = 3000) throws -> String? {
            let id = nextID()
            try socket.send(Interop.options(to: nodePort ?? node, from: port, id: id), to: "127.0.0.1", port: nodePort ?? node)
            return answer(to: id, timeout: timeout)
        }

        /// An INVITE from `caller` (a caller of its own takes a reservation of its own).
        func invite(from caller: String) throws -> String? {
            let id = nextID()
            let invite = "INVITE sip:alice@127.0.0.1:\(node) SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:\(port);branch=z9hG4bK\(id)\r\n"
                + "Max-Forwards: 70\r\nFrom: <sip:\(caller)@client.test>;tag=\(id)\r\nTo: <sip:alice@service.test>\r\n"
                + "Call-ID: \(id)\r\nCSeq: 1 INVITE\r\nContact: <sip:\(caller)@127.0.0.100:\(port)>\r\nContent-Length: 0\r\n\r\n"
            try socket.send(invite, to: "127.0.0.1", port: node)
            return answer(to: id, timeout: 3000)
        }

        func answer(to id: String, timeout: Int32) -> String? {
            let end = Date().addingTimeInterval(Double(timeout) / 1000)
            while case let left = Int32(end.timeIntervalSinceNow * 1000), left > 0,
                  let message = socket.receive(timeoutMilliseconds: left) {
                if LiveReloadTests.header("Call-ID", message) == id, let code = LiveReloadTests.code(message), code >= 200 {
                    return message
                }
            }
            return nil
        }

        /// `count` OPTIONS sent at once; the final status codes, in no order, of those answered
        /// within 3 s.
        func burst(_ count: Int) throws -> [Int] {
            var waiting = Set<String>()
            for _ in 0..<count {
                let id = nextID()
                waiting.insert(id)
                try socket.send(Interop.options(to: node, from: port, id: id), to: "127.0.0.1", port: node)
            }
            var codes: [Int] = []
            let end = Date().addingTimeInterval(3)
            while !waiting.isEmpty, case let left = Int32(end.timeIntervalSinceNow * 1000), left > 0,
                  let message = socket.receive(timeoutMilliseconds: left) {
                guard let id = LiveReloadTests.header("Call-ID", message), waiting.contains(id),
                      let code = LiveReloadTests.code(message), code >= 200 else { continue }
                waiting.remove(id)
                codes.append(code)
            }
            return codes
        }

        /// Asks with OPTIONS every 200 ms until the answer is `code`; whether it came within
        /// `seconds`, and the codes seen on the way.
        func askUntil(_ code: Int, seconds: Double = 10) throws -> (reached: Bool, seen: [Int?]) {
            var seen: [Int?] = []
            let end = Date().addingTimeInterval(seconds)
            repeat {
                let answer = try options().flatMap(LiveReloadTests.code)
                seen.append(answer)
                if answer == code { return (true, seen) }
                Thread.sleep(forTimeInterval: 0.2)
            } while Date() < end
            return (false, seen)
        }
    }

    /// Another member of the group played by the test: a socket on its address that answers
    /// the node's probes (OPTIONS with Max-Forwards 0) while `answering`, never anything else,
    /// and keeps the time of every request it gets.
    final class Member: @unchecked Sendable {
        struct Arrival {
            let time: Date
            let isProbe: Bool
            let answered: Bool
            let callID: String
        }

        private let socket: UDPSocket
        private let nodeAddress: String
        private let nodePort: UInt16
        private let lock = NSLock()
        private var isAnswering = true
        private var running = true
        private var received: [Arrival] = []
        private let finished = DispatchSemaphore(value: 0)

        init(_ address: String, port: UInt16, node: String, nodePort: UInt16) throws {
            socket = try UDPSocket(bind: address, port: port)
            nodeAddress = node
            self.nodePort = nodePort
            Thread { [self] in serve() }.start()
        }

        var answering: Bool {
            get { lock.withLock { isAnswering } }
            set { lock.withLock { isAnswering = newValue } }
        }

        var arrivals: [Arrival] { lock.withLock { received } }
        var probes: [Arrival] { arrivals.filter(\.isProbe) }

        func stop() {
            lock.withLock { running = false }
            finished.wait()
        }

        private func serve() {
            while lock.withLock({ running }) {
                guard let message = socket.receive(timeoutMilliseconds: 50), !message.hasPrefix("SIP/2.0 ") else { continue }
                let isProbe = message.hasPrefix("OPTIONS ") && message.contains("\r\nMax-Forwards: 0\r\n")
                let answer = isProbe && answering
                if answer {
                    try? socket.send(LiveReloadTests.response("200 OK", to: message, extra: "X-Gatewayd-Load: 0.100;state=accepting\r\n"),
                                     to: nodeAddress, port: nodePort)
                }
                let arrival = Arrival(time: Date(), isProbe: isProbe, answered: answer,
                                      callID: LiveReloadTests.header("Call-ID", message) ?? "")
                lock.withLock { received.append(arrival) }
            }
            finished.signal()
        }
    }

    // MARK: Messages

    /// The value of the first header `name` (case-insensitive), trimmed.
    static func header(_ name: String, _ message: String) -> String? {
        let prefix = name.lowercased() + ":"
        for line in message.components(separatedBy: "\r\n") where line.lowercased().hasPrefix(prefix) {
            return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// A response's status code.
    static func code(_ message: String) -> Int? {
        guard message.hasPrefix("SIP/2.0 ") else { return nil }
        return Int(message.dropFirst(8).prefix(3))
    }

    static func codes(_ answers: [String?]) -> [Int?] { answers.map { $0.flatMap(code) } }

    /// An answer to `request` as a UAS writes it: its Vias, From, To (tagged), Call-ID, CSeq.
    static func response(_ status: String, to request: String, extra: String = "") -> String {
        var text = "SIP/2.0 \(status)\r\n"
        for line in request.components(separatedBy: "\r\n") {
            let name = line.lowercased()
            if name.hasPrefix("via:") || name.hasPrefix("from:") || name.hasPrefix("call-id:") || name.hasPrefix("cseq:") {
                text += line + "\r\n"
            } else if name.hasPrefix("to:") {
                text += line + (line.contains(";tag=") ? "" : ";tag=test") + "\r\n"
            }
        }
        return text + extra + "Content-Length: 0\r\n\r\n"
    }

    /// Gaps between successive times, in seconds, sorted.
    static func gaps(_ times: [Date]) -> [Double] {
        zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }.sorted()
    }

    /// A file's identity and modification time: a different value means it was written again
    /// (gatewayd replaces it by renaming a new file over it).
    static func version(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_ino)-\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    // MARK: Rate limit

    @Test func rateLimitAndBurst() throws {
        let node = try Daemon("rate", node: "listen = 127.0.0.1:5600\nrate_limit = 0\nrate_burst = 100\n")
        let client = try Client("rate", node: 5600, port: 5601)
        let unlimited = try client.burst(30)
        #expect(unlimited.filter { $0 == 302 }.count == 30, "no limit: \(unlimited)")

        try node.reload(node: "listen = 127.0.0.1:5600\nrate_limit = 5\nrate_burst = 5\n")
        let limited = try client.burst(30)
        // The burst of 5, and 5 a second refilled while 30 datagrams arrive.
        let passed = limited.filter { $0 == 302 }.count
        #expect(limited.count == 30, "\(limited)")
        #expect(passed >= 1 && passed <= 10, "5/5: \(passed) of 30 got 302: \(limited)")
        #expect(limited.filter { $0 == 503 }.count >= 20, "\(limited)")

        // 50 a second up to 100: after a second's pause a burst of 30 goes through, which at
        // 5/5 (5 saved up at most) can never happen.
        try node.reload(node: "listen = 127.0.0.1:5600\nrate_limit = 50\nrate_burst = 100\n")
        var rounds: [Int] = []
        for _ in 0..<8 {
            Thread.sleep(forTimeInterval: 1)
            rounds.append(try client.burst(30).filter { $0 == 302 }.count)
            if rounds.last! >= 25 { break }
        }
        #expect((rounds.max() ?? 0) >= 25, "50/100: 302s per burst of 30, a second apart: \(rounds)")
    }

    // MARK: Reservations and the threshold decision

    /// With room for one call, a reservation alone makes the node busy (one member: 503)
    /// until it lapses after reservation_seconds.
    @Test func reservationSeconds() throws {
        let base = "listen = 127.0.0.1:5602\nrate_limit = 0\n"
        let node = try Daemon("reservation", node: base + "reservation_seconds = 1\n", "[capacity]\ncalls = 1\n")
        let client = try Client("reservation", node: 5602, port: 5603)
        #expect(try client.invite(from: "first").flatMap(LiveReloadTests.code) == 302)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 503, "the reservation should fill the node")
        let lapsed = try client.askUntil(302)
        #expect(lapsed.reached, "a 1 s reservation did not lapse: \(lapsed.seen)")

        try node.reload(node: base + "reservation_seconds = 60\n", "[capacity]\ncalls = 1\n")
        #expect(try client.invite(from: "second").flatMap(LiveReloadTests.code) == 302)
        // A 1 s reservation would lapse within about 2 s; a 60 s one holds for the 5 s watched.
        var held: [Int?] = []
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            held.append(try client.options().flatMap(LiveReloadTests.code))
            Thread.sleep(forTimeInterval: 0.25)
        }
        #expect(!held.isEmpty && held.allSatisfy { $0 == 503 }, "after the reload, with a 60 s reservation: \(held)")
    }

    /// Reservations (calls = 10, each 302ed INVITE a call for an hour) set the workload.
    @Test func threshold() throws {
        let base = "listen = 127.0.0.1:5604\nrate_limit = 0\nreservation_seconds = 3600\nhysteresis = 0.1\n"
        let capacity = "[capacity]\ncalls = 10\n"
        let node = try Daemon("threshold", node: base + "threshold = 0.8\n", capacity)
        let client = try Client("threshold", node: 5604, port: 5605)
        let invites = try (1...3).map { try client.invite(from: "caller\($0)") }
        #expect(LiveReloadTests.codes(invites) == [302, 302, 302])  // workload 0.3
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302)

        try node.reload(node: base + "threshold = 0.2\n", capacity)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 503, "0.3 is at or above a threshold of 0.2")
        #expect((node.waitForStatus { ($0["node"] as? [String: Any])?["state"] as? String == "forwarding" }) != nil,
                "\(node.status ?? [:])")

        try node.reload(node: base + "threshold = 0.5\n", capacity)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302, "0.3 is below 0.5 - 0.1")
        let status = node.waitForStatus { ($0["node"] as? [String: Any])?["threshold"] as? Double == 0.5 }
        #expect(status != nil, "\(node.status ?? [:])")
    }

    /// Forwarding at a workload of 0.4 (four reservations against calls = 10): with a
    /// threshold of 0.5 the node accepts again below 0.5 - hysteresis.
    @Test func hysteresis() throws {
        let base = "listen = 127.0.0.1:5606\nrate_limit = 0\nreservation_seconds = 3600\n"
        let capacity = "[capacity]\ncalls = 10\n"
        let node = try Daemon("hysteresis", node: base + "threshold = 0.35\nhysteresis = 0.05\n", capacity)
        let client = try Client("hysteresis", node: 5606, port: 5607)
        let invites = try (1...4).map { try client.invite(from: "caller\($0)") }
        #expect(LiveReloadTests.codes(invites) == [302, 302, 302, 302])  // the fourth makes 0.4: forwarding
        #expect(try client.options().flatMap(LiveReloadTests.code) == 503)

        try node.reload(node: base + "threshold = 0.5\nhysteresis = 0.2\n", capacity)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 503, "0.4 is not below 0.5 - 0.2: still forwarding")

        try node.reload(node: base + "threshold = 0.5\nhysteresis = 0.05\n", capacity)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302, "0.4 is below 0.5 - 0.05: accepting")
    }

    @Test func drain() throws {
        let base = "listen = 127.0.0.1:5608\nrate_limit = 0\n"
        let node = try Daemon("drain", node: base + "drain = no\n")
        let client = try Client("drain", node: 5608, port: 5609)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302)

        try node.reload(node: base + "drain = yes\n")
        #expect(try client.options().flatMap(LiveReloadTests.code) == 503, "a draining member alone: all busy")
        let draining = node.waitForStatus { ($0["node"] as? [String: Any])?["state"] as? String == "draining" }
        #expect((draining?["node"] as? [String: Any])?["mode"] as? String == "drain", "\(node.status ?? [:])")

        try node.reload(node: base + "drain = no\n")
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302)
    }

    /// recurse = yes: the node follows its own 302 and proxies the INVITE to its identity, a
    /// socket standing in for the proxy, whose answer the client gets.
    @Test func recurse() throws {
        let base = "listen = 127.0.0.1:5610\nidentity = sip:127.0.0.1:5611;transport=udp\nrate_limit = 0\n"
        let node = try Daemon("recurse", node: base + "recurse = no\n")
        let proxy = try UDPSocket(bind: "127.0.0.1", port: 5611)
        let client = try Client("recurse", node: 5610, port: 5612)
        let redirected = try #require(try client.invite(from: "before"))
        #expect(LiveReloadTests.code(redirected) == 302, "\(redirected)")
        #expect(LiveReloadTests.header("Contact", redirected)?.hasPrefix("<sip:alice@127.0.0.1:5611;transport=udp>") == true,
                "\(redirected)")
        #expect(proxy.receive(timeoutMilliseconds: 300) == nil, "redirected, nothing goes to the proxy")

        try node.reload(node: base + "recurse = yes\n")
        let id = client.nextID()
        let invite = "INVITE sip:alice@127.0.0.1:5610 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5612;branch=z9hG4bK\(id)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:after@client.test>;tag=\(id)\r\nTo: <sip:alice@service.test>\r\n"
            + "Call-ID: \(id)\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        try client.socket.send(invite, to: "127.0.0.1", port: 5610)
        var forwarded: String?
        let end = Date().addingTimeInterval(5)
        while forwarded == nil, case let left = Int32(end.timeIntervalSinceNow * 1000), left > 0,
              let message = proxy.receive(timeoutMilliseconds: left) {
            if message.hasPrefix("INVITE "), LiveReloadTests.header("Call-ID", message) == id { forwarded = message }
        }
        let request = try #require(forwarded, "recurse = yes: the INVITE did not reach the proxy")
        #expect(request.hasPrefix("INVITE sip:alice@127.0.0.1:5611"), "\(request)")
        #expect(request.contains("Via: SIP/2.0/UDP 127.0.0.1:5610;branch="), "\(request)")
        try proxy.send(LiveReloadTests.response("486 Busy Here", to: request), to: "127.0.0.1", port: 5610)
        let final = try #require(client.answer(to: id, timeout: 5000), "the proxy's answer did not reach the client")
        #expect(LiveReloadTests.code(final) == 486, "the client sees the proxy's answer, not a 302: \(final)")
    }

    // MARK: Answers

    @Test func retryAfter() throws {
        let base = "listen = 127.0.0.1:5613\nrate_limit = 0\ndrain = yes\n"
        let node = try Daemon("retry-after", node: base + "retry_after = 11\n")
        let client = try Client("retry-after", node: 5613, port: 5614)
        let before = try #require(try client.options())
        #expect(LiveReloadTests.code(before) == 503 && LiveReloadTests.header("Retry-After", before) == "11", "\(before)")

        try node.reload(node: base + "retry_after = 7\n")
        let after = try #require(try client.options())
        #expect(LiveReloadTests.code(after) == 503 && LiveReloadTests.header("Retry-After", after) == "7", "\(after)")
    }

    @Test func contactExpires() throws {
        let base = "listen = 127.0.0.1:5615\nrate_limit = 0\n"
        let node = try Daemon("contact-expires", node: base + "contact_expires = 45\n")
        let client = try Client("contact-expires", node: 5615, port: 5616)
        let before = try #require(try client.options())
        #expect(LiveReloadTests.header("Contact", before) == "<sip:127.0.0.1:5615;transport=udp>;expires=45", "\(before)")

        try node.reload(node: base + "contact_expires = 90\n")
        let after = try #require(try client.options())
        #expect(LiveReloadTests.header("Contact", after) == "<sip:127.0.0.1:5615;transport=udp>;expires=90", "\(after)")
    }

    // MARK: Forwarding

    /// A draining node whose next member answers probes but nothing else: each request waits
    /// forward_timeout_ms for that member, then the node (the last left) answers 503.
    @Test func forwardTimeout() throws {
        let base = "listen = 127.0.0.1:5617\nrate_limit = 0\ndrain = yes\n"
        let rest = "[health]\nprobe_interval_ms = 100\nfailures_to_down = 3\nsuccesses_to_up = 1\n"
            + "[sequence]\nn1 = 127.0.0.1:5617\nn2 = 127.0.0.2:5617\n"
        let member = try Member("127.0.0.2", port: 5617, node: "127.0.0.1", nodePort: 5617)
        defer { member.stop() }
        let node = try Daemon("forward-timeout", node: base + "forward_timeout_ms = 300\n", rest)
        let client = try Client("forward-timeout", node: 5617, port: 5618)

        /// One request through: its answer, the seconds it took, and whether n2 got it.
        func ask() throws -> (code: Int?, seconds: Double, reachedMember: Bool) {
            _ = node.waitForStatus { node.peer($0)["up"] as? Bool == true && (node.peer($0)["last_rtt_ms"] as? Double ?? 0) > 0 }
            let sent = Date()
            let answer = try client.options(timeout: 15_000)
            let seconds = Date().timeIntervalSince(sent)
            let id = "forward-timeout-\(client.sent)"
            return (answer.flatMap(LiveReloadTests.code), seconds, member.arrivals.contains { !$0.isProbe && $0.callID == id })
        }
        let before = try ask()
        #expect(before.code == 503 && before.reachedMember, "\(before)")
        #expect(before.seconds >= 0.25 && before.seconds < 2.5, "300 ms forward timeout: answered after \(before.seconds) s")

        try node.reload(node: base + "forward_timeout_ms = 4000\n", rest)
        let after = try ask()
        #expect(after.code == 503 && after.reachedMember, "\(after)")
        #expect(after.seconds >= 3.5, "4000 ms forward timeout: answered after \(after.seconds) s")
    }

    // MARK: Capacities

    /// Three reservations for an hour are calls: against 100 nothing, against 2 a full node.
    @Test func capacityCalls() throws {
        let base = "listen = 127.0.0.1:5619\nrate_limit = 0\nreservation_seconds = 3600\nstatus_interval = 1\n"
        let node = try Daemon("capacity-calls", node: base, "[capacity]\ncalls = 100\n")
        let client = try Client("capacity-calls", node: 5619, port: 5620)
        let invites = try (1...3).map { try client.invite(from: "caller\($0)") }
        #expect(LiveReloadTests.codes(invites) == [302, 302, 302])
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302)

        try node.reload(node: base, "[capacity]\ncalls = 2\n")
        let full = try client.askUntil(503)
        #expect(full.reached, "3 calls against a capacity of 2: \(full.seen)")
        #expect(node.waitForStatus { node.resource($0, "calls")["capacity"] as? Int == 2 } != nil, "\(node.status ?? [:])")

        try node.reload(node: base, "[capacity]\ncalls = 100\n")
        let room = try client.askUntil(302)
        #expect(room.reached, "3 calls against 100: \(room.seen)")
    }

    /// Each capacity reaches the workload the node decides with (the status file's resources).
    @Test(arguments: [("calls", "calls", 5621), ("streams", "active_streams", 5622),
                      ("rtp_rate", "rtp_packet_rate", 5623), ("sip_rate", "sip_message_rate", 5624)])
    func capacityInTheStatusFile(_ key: String, _ resource: String, _ port: Int) throws {
        let base = "listen = 127.0.0.1:\(port)\nstatus_interval = 1\n"
        let node = try Daemon("capacity-status-\(key)", node: base, "[capacity]\n\(key) = 1000\n")
        let before = node.waitForStatus { node.resource($0, resource)["capacity"] as? Int == 1000 }
        #expect(before != nil, "\(node.status ?? [:])")
        try node.reload(node: base, "[capacity]\n\(key) = 7\n")
        let after = node.waitForStatus { node.resource($0, resource)["capacity"] as? Int == 7 }
        #expect(after != nil, "[capacity] \(key) = 7 is not in the status file: \(node.status ?? [:])")
    }

    /// The node's own SIP traffic measured on lo: a few messages a second are nothing against
    /// sip_rate = 1000000 and a full node against sip_rate = 1.
    @Test(.enabled(if: getuid() == 0, "a live capture needs root (CAP_NET_RAW)"))
    func capacitySipRateByTheCapture() throws {
        let base = "listen = 127.0.0.1:5625\nrate_limit = 0\nstatus_interval = 1\n"
        let capture = "[capture]\ninterface = lo\nfilter = udp port 5625\n"
        let node = try Daemon("capacity-sip-rate", node: base, "[capacity]\nsip_rate = 1000000\n" + capture)
        let client = try Client("capacity-sip-rate", node: 5625, port: 5626)
        let capturing = node.waitForStatus { ($0["meter"] as? [String: Any])?["capturing"] as? Bool == true }
        try #require(capturing != nil, "no capture on lo: \(node.text)")
        var answers: [Int?] = []
        for _ in 0..<15 {
            answers.append(try client.options().flatMap(LiveReloadTests.code))
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(answers.allSatisfy { $0 == 302 }, "\(answers)")
        let measured = node.waitForStatus { ($0["meter"] as? [String: Any])?["sip_messages_per_s"] as? Double ?? 0 > 0 }
        #expect(measured != nil, "the capture saw no SIP: \(node.status ?? [:])")

        try node.reload(node: base, "[capacity]\nsip_rate = 1\n" + capture)
        let full = try client.askUntil(503)
        #expect(full.reached, "a few SIP messages a second against sip_rate = 1: \(full.seen)")
        #expect(node.waitForStatus { node.resource($0, "sip_message_rate")["capacity"] as? Int == 1 } != nil)
    }

    // MARK: Meter

    /// A call the capture sees (SIP only: its media never shows) outlives its default
    /// no_media_timeout; set to 3 s by a reload, the running meter ends it as timed_out_no_media.
    @Test(.enabled(if: getuid() == 0, "a live capture needs root (CAP_NET_RAW)"))
    func meterTimeoutsByTheCapture() throws {
        let base = "listen = 127.0.0.1:5645\nstatus_interval = 1\n"
        let capture = "[capture]\ninterface = lo\nfilter = udp port 5646\n"
        let node = try Daemon("meter-timeouts", node: base, "[meter]\nno_media_timeout = 3600\n" + capture)
        let capturing = node.waitForStatus { ($0["meter"] as? [String: Any])?["capturing"] as? Bool == true }
        try #require(capturing != nil, "no capture on lo: \(node.text)")
        let caller = try UDPSocket(bind: "127.0.0.1", port: 5647)
        let proxy = try UDPSocket(bind: "127.0.0.1", port: 5646)
        let dialog = "From: <sip:a@127.0.0.1>;tag=a1\r\nCall-ID: meter-timeouts\r\nContent-Length: 0\r\n\r\n"
        let via = "Via: SIP/2.0/UDP 127.0.0.1:5647;branch=z9hG4bKmt1\r\n"
        try caller.send("INVITE sip:b@127.0.0.1:5646 SIP/2.0\r\n\(via)To: <sip:b@127.0.0.1>\r\nCSeq: 1 INVITE\r\n\(dialog)",
                        to: "127.0.0.1", port: 5646)
        try proxy.send("SIP/2.0 200 OK\r\n\(via)To: <sip:b@127.0.0.1>;tag=b1\r\nCSeq: 1 INVITE\r\n\(dialog)",
                       to: "127.0.0.1", port: 5647)
        let meter = { (status: [String: Any]) in status["meter"] as? [String: Any] ?? [:] }
        let up = node.waitForStatus { meter($0)["calls_active"] as? Int == 1 }
        try #require(up != nil, "the call is not measured: \(node.status ?? [:])")
        // Nothing more is sent: the default would hold it for an hour.
        Thread.sleep(forTimeInterval: 4)
        #expect(node.waitForStatus { meter($0)["calls_active"] as? Int == 1 } != nil, "\(node.status ?? [:])")

        try node.reload(node: base, "[meter]\nno_media_timeout = 3\n" + capture)
        let ended = node.waitForStatus {
            meter($0)["calls_active"] as? Int == 0 && meter($0)["timed_out_no_media"] as? Int == 1
        }
        #expect(ended != nil, "no_media_timeout = 3 did not end the call: \(node.status ?? [:])")
        #expect(ended.map { meter($0)["timed_out_silent"] as? Int } == 0)
    }

    // MARK: Health

    /// A two-member group: this node on 127.0.0.1:`port`, n2 the test's socket on 127.0.0.2.
    func group(_ name: String, port: UInt16, health: String) throws -> (Daemon, Member, (String) -> String) {
        let member = try Member("127.0.0.2", port: port, node: "127.0.0.1", nodePort: port)
        let rest = { (health: String) in "[health]\n\(health)[sequence]\nn1 = 127.0.0.1:\(port)\nn2 = 127.0.0.2:\(port)\n" }
        do {
            return (try Daemon(name, node: "listen = 127.0.0.1:\(port)\n", rest(health)), member, rest)
        } catch {
            member.stop()
            throw error
        }
    }

    @Test func probeInterval() throws {
        let (node, member, rest) = try group("probe-interval", port: 5627, health: "probe_interval_ms = 800\n")
        defer { member.stop() }
        let slow = HeadlessTests.waitFor(15) { member.probes.count >= 4 ? member.probes.map(\.time) : nil }
        let slowGaps = LiveReloadTests.gaps(try #require(slow, "fewer than 4 probes in 15 s"))
        #expect(slowGaps[slowGaps.count / 2] >= 0.6, "every 800 ms: gaps \(slowGaps)")

        try node.reload(node: "listen = 127.0.0.1:5627\n", rest("probe_interval_ms = 100\n"))
        let reloaded = Date()
        // The probe after the reload was planned at the old interval: the gaps after it.
        let fast = HeadlessTests.waitFor(15) { () -> [Date]? in
            let times = member.probes.map(\.time).filter { $0 > reloaded }
            return times.count >= 8 ? Array(times.dropFirst()) : nil
        }
        let fastGaps = LiveReloadTests.gaps(try #require(fast, "fewer than 8 probes in 15 s after the reload"))
        #expect(fastGaps[fastGaps.count / 2] <= 0.4, "every 100 ms: gaps \(fastGaps)")
    }

    /// Probes n2 got, unanswered, from when it fell silent until the status file said it was down.
    func silentProbesUntilDown(_ node: Daemon, _ member: Member) throws -> Int {
        member.answering = false
        let silent = Date()
        let down = try #require(node.waitForPeer(up: false), "n2 never went down: \(node.status ?? [:])")
        let count = member.probes.filter { $0.time > silent && $0.time <= down }.count
        member.answering = true
        try #require(node.waitForPeer(up: true) != nil, "n2 did not come back up")
        return count
    }

    @Test func failuresToDown() throws {
        let health = { (failures: Int) in "probe_interval_ms = 150\nfailures_to_down = \(failures)\nsuccesses_to_up = 1\n" }
        let (node, member, rest) = try group("failures-to-down", port: 5628, health: health(2))
        defer { member.stop() }
        try #require(node.waitForStatus { node.peer($0)["up"] as? Bool == true && (node.peer($0)["last_rtt_ms"] as? Double ?? 0) > 0 } != nil)
        // Down when the probe after the 2nd unanswered one goes out: 3 probes, 4 at most seen.
        let before = try silentProbesUntilDown(node, member)
        #expect(before >= 2 && before <= 4, "failures_to_down = 2: \(before) silent probes")

        try node.reload(node: "listen = 127.0.0.1:5628\n", rest(health(6)))
        let after = try silentProbesUntilDown(node, member)
        #expect(after >= 6, "failures_to_down = 6: down after \(after) silent probes")
    }

    /// Probes n2 answered, once down, until the status file said it was up again.
    func answeredProbesUntilUp(_ node: Daemon, _ member: Member) throws -> Int {
        member.answering = false
        try #require(node.waitForPeer(up: false) != nil, "n2 never went down: \(node.status ?? [:])")
        let answering = Date()
        member.answering = true
        let up = try #require(node.waitForPeer(up: true), "n2 did not come back up: \(node.status ?? [:])")
        return member.probes.filter { $0.answered && $0.time > answering && $0.time <= up }.count
    }

    @Test func successesToUp() throws {
        let health = { (successes: Int) in "probe_interval_ms = 150\nfailures_to_down = 1\nsuccesses_to_up = \(successes)\n" }
        let (node, member, rest) = try group("successes-to-up", port: 5629, health: health(1))
        defer { member.stop() }
        let before = try answeredProbesUntilUp(node, member)
        #expect(before >= 1 && before <= 2, "successes_to_up = 1: up after \(before) answered probes")

        try node.reload(node: "listen = 127.0.0.1:5629\n", rest(health(5)))
        let after = try answeredProbesUntilUp(node, member)
        #expect(after >= 5, "successes_to_up = 5: up after \(after) answered probes")
    }

    // MARK: The daemon's files

    @Test func statusFile() throws {
        let node = try Daemon("status-file", node: "listen = 127.0.0.1:5630\nstatus_interval = 1\n")
        let pid = Int(node.process.processIdentifier)
        #expect(node.waitForStatus { $0["pid"] as? Int == pid } != nil, "no status file at \(node.statusPath)")
        let moved = node.path("moved.json")
        #expect(!FileManager.default.fileExists(atPath: moved))

        try node.reload(node: "listen = 127.0.0.1:5630\nstatus_interval = 1\nstatus_file = \(moved)\n")
        let written = HeadlessTests.waitFor(15) { () -> Bool? in
            HeadlessTests.status(moved).flatMap { $0["pid"] as? Int == pid && $0["daemon"] as? String == "running" ? true : nil }
        }
        #expect(written == true, "the new status_file was not written: \(node.text)")
        // From now on the new one is kept up to date and the old one left as it was.
        let old = LiveReloadTests.version(node.statusPath)
        var versions = Set<String>()
        _ = HeadlessTests.waitFor(15) { () -> Bool? in
            if let version = LiveReloadTests.version(moved) { versions.insert(version) }
            return versions.count >= 3 ? true : nil
        }
        #expect(versions.count >= 3, "the new status file was not rewritten every second")
        #expect(LiveReloadTests.version(node.statusPath) == old, "the old status file is still written")
    }

    @Test func statusInterval() throws {
        let node = try Daemon("status-interval", node: "listen = 127.0.0.1:5631\nstatus_interval = 3600\n")
        let first = try #require(node.waitForStatus { $0["interval_s"] as? Int == 3600 }, "\(node.status ?? [:])")
        let written = LiveReloadTests.version(node.statusPath)
        // Idle and every 3600 s: not written again (watched for 2.5 s).
        Thread.sleep(forTimeInterval: 2.5)
        #expect(LiveReloadTests.version(node.statusPath) == written, "rewritten with status_interval = 3600")

        try node.reload(node: "listen = 127.0.0.1:5631\nstatus_interval = 1\n")
        var versions = Set<String>()
        let latest = HeadlessTests.waitFor(15) { () -> [String: Any]? in
            if let version = LiveReloadTests.version(node.statusPath) { versions.insert(version) }
            guard versions.count >= 4, let status = node.status else { return nil }
            return status
        }
        #expect(versions.count >= 4, "not rewritten every second after the reload: \(versions.count) versions")
        #expect(latest?["interval_s"] as? Int == 1, "\(latest ?? [:])")
        #expect((latest?["updated_unix"] as? Int ?? 0) >= (first["updated_unix"] as? Int ?? 0) + 2, "\(latest ?? [:])")
    }

    @Test func prometheusFile() throws {
        let node = try Daemon("prometheus-file", node: "listen = 127.0.0.1:5632\nstatus_interval = 1\n")
        let prometheus = node.path("gatewayd.prom")
        #expect(node.waitForStatus { _ in true } != nil)
        #expect(!FileManager.default.fileExists(atPath: prometheus))

        try node.reload(node: "listen = 127.0.0.1:5632\nstatus_interval = 1\nprometheus_file = \(prometheus)\n")
        let text = HeadlessTests.waitFor(15) { () -> String? in
            let text = try? String(contentsOfFile: prometheus, encoding: .utf8)
            return text?.contains("gatewayd_state") == true ? text : nil
        }
        #expect(text != nil, "the prometheus_file set by the reload was not written: \(node.text)")
    }

    // MARK: Syslog

    /// syslog_daemon.py (as in HeadlessTests) runs the node with a /dev/log of its own, then
    /// copies the reload file (log_facility = local3) over it and sends SIGHUP, then a bad
    /// file (refused: local3 stays) and SIGTERM. Lines before the reload are daemon (3), the
    /// ones after it local3 (19).
    @Test(.enabled(if: HeadlessTests.canUnshare, "cannot make a private mount namespace (unshare --mount needs root): no /dev/log to read"))
    func logFacility() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-live-\(getpid())-log-facility")
        try? FileManager.default.removeItem(at: work)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let base = "[node]\nlisten = 127.0.0.1:5633\nstatus_file = \(work.path)/status.json\nstatus_interval = 60\n"
        let config = work.appendingPathComponent("node.conf")
        let reload = work.appendingPathComponent("reload.conf")
        let bad = work.appendingPathComponent("bad.conf")
        try (base + "log_facility = daemon\n").write(to: config, atomically: true, encoding: .utf8)
        try (base + "log_facility = local3\n").write(to: reload, atomically: true, encoding: .utf8)
        try (base + "log_facility = local3\nthreshold = lots\n").write(to: bad, atomically: true, encoding: .utf8)

        let result = try Interop.run(HeadlessTests.unshare, ["--mount", "--propagation", "private", HeadlessTests.python,
                                                             HeadlessTests.script.path, Interop.binary.path, config.path,
                                                             "5633", reload.path, bad.path, work.path])
        try #require(result.status == 0, "syslog_daemon.py failed: \(result.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let steps = report["steps"] as? [String: Bool] ?? [:]
        #expect(steps == ["start": true, "reload": true, "bad_reload": true, "stop": true], "\(report)")
        let lines = (report["datagrams"] as? [String] ?? []).compactMap(HeadlessTests.SyslogLine.init)
        let reloaded = try #require(lines.firstIndex { $0.text.hasPrefix("reloaded \(config.path)") }, "\(lines.map(\.text))")
        let before = lines[..<reloaded], after = lines[(reloaded + 1)...]
        #expect(!before.isEmpty && before.allSatisfy { $0.priority >> 3 == 3 },
                "before the reload, daemon: \(before.map { "<\($0.priority)>\($0.text)" })")
        // The refused reload (warning) and the two stop lines at least.
        #expect(after.count >= 3, "\(lines.map(\.text))")
        #expect(after.allSatisfy { $0.priority >> 3 == 19 }, "after the reload, local3: \(after.map { "<\($0.priority)>\($0.text)" })")
        #expect(after.first { $0.text.hasPrefix("reload failed") }?.priority == 19 << 3 | 4, "local3.warning")
    }

    // MARK: Restart keys

    /// The log line that names the restart keys a reload found changed.
    func restartLine(_ node: Daemon) -> String? { node.lines.first { $0.contains("need a restart") } }

    /// transactions = 16: OPTIONS answered linger (timer J, 32 s), so of 40 at once 24 push
    /// older ones out. The reload's 4096 needs a restart: 40 more still push 40 out.
    @Test func changedTransactionsNeedARestart() throws {
        let base = "listen = 127.0.0.1:5636\nrate_limit = 0\nstatus_interval = 1\n"
        let node = try Daemon("transactions", node: base + "transactions = 16\n")
        let client = try Client("transactions", node: 5636, port: 5637)
        func counters(answered: Int) -> [String: Any]? {
            node.waitForStatus { ($0["counters"] as? [String: Any])?["answered_here"] as? Int == answered }?["counters"] as? [String: Any]
        }
        let first = try client.burst(40)
        #expect(first.count == 40 && first.allSatisfy { $0 == 302 }, "\(first)")
        let dropped = try #require(counters(answered: 40)?["transactions_dropped"] as? Int, "\(node.status ?? [:])")
        #expect(dropped >= 20, "16 transactions, 40 requests: \(dropped) dropped")

        try node.reload(node: base + "transactions = 4096\n")
        let line = try #require(restartLine(node), "no 'need a restart' line: \(node.text)")
        #expect(line.hasPrefix("gatewayd: ") && line.contains("[node] transactions"), "\(line)")
        let second = try client.burst(40)
        #expect(second.count == 40 && second.allSatisfy { $0 == 302 }, "\(second)")
        let droppedAfter = try #require(counters(answered: 80)?["transactions_dropped"] as? Int, "\(node.status ?? [:])")
        #expect(droppedAfter - dropped >= 35, "still 16 transactions: \(droppedAfter - dropped) of 40 more dropped")
    }

    @Test func changedListenNeedsARestart() throws {
        let node = try Daemon("listen", node: "listen = 127.0.0.1:5638\nrate_limit = 0\n")
        let client = try Client("listen", node: 5638, port: 5640)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302)

        try node.reload(node: "listen = 127.0.0.1:5639\nrate_limit = 0\n")
        let line = try #require(restartLine(node), "no 'need a restart' line: \(node.text)")
        #expect(line.hasPrefix("gatewayd: ") && line.contains("[node] listen"), "\(line)")
        let old = try #require(try client.options(), "no answer on the old listen address")
        #expect(LiveReloadTests.code(old) == 302)
        #expect(LiveReloadTests.header("Contact", old)?.hasPrefix("<sip:127.0.0.1:5638;") == true, "\(old)")
        #expect(try client.options(to: 5639, timeout: 1500) == nil, "an answer on the new address before a restart")
    }

    // MARK: Key order

    /// hysteresis before threshold in the file, at start and in a reload whose hysteresis is
    /// above the running threshold but below its own.
    @Test func hysteresisBeforeThresholdLoadsAndReloads() throws {
        let node = try Daemon("key-order", node: "listen = 127.0.0.1:5641\nhysteresis = 0.3\nthreshold = 0.5\n")
        let client = try Client("key-order", node: 5641, port: 5642)
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302)
        let started = node.waitForStatus { _ in true }?["node"] as? [String: Any]
        #expect(started?["threshold"] as? Double == 0.5 && started?["hysteresis"] as? Double == 0.3, "\(started ?? [:])")

        try node.reload(node: "listen = 127.0.0.1:5641\nhysteresis = 0.55\nthreshold = 0.6\n")
        let reloaded = node.waitForStatus { ($0["node"] as? [String: Any])?["threshold"] as? Double == 0.6 }?["node"] as? [String: Any]
        #expect(reloaded?["hysteresis"] as? Double == 0.55, "\(node.status ?? [:])")
        #expect(try client.options().flatMap(LiveReloadTests.code) == 302)
    }
}
