import Foundation
import Testing

/// SIP over TCP with the real binary (RFC 3261 §18): SIPp on one connection for all calls
/// and on one per call, a chain that relays the answer back over the client's connection,
/// messages up to 60 KB, and what a server must survive: garbage, a request without
/// Content-Length, headers that never end, a message that stalls, thousands of connections.
@Suite(.serialized)
struct TCPTransportTests {
    static let sippInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/sipp")

    /// A node on 127.0.0.1:`port` (a one-member group unless `extra` says otherwise), its
    /// status file written every second.
    final class OneNode {
        let directory: URL
        let process: Process
        let port: Int

        init(port: Int, extra: String = "") throws {
            self.port = port
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-tcp-\(getpid())-\(port)")
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let config = directory.appendingPathComponent("n.conf")
            try """
                [node]
                listen = 127.0.0.1:\(port)
                rate_limit = 0
                status_file = \(directory.path)/status.json
                status_interval = 1
                \(extra)
                [sequence]
                n1 = 127.0.0.1:\(port)

                """.write(to: config, atomically: true, encoding: .utf8)
            process = try Interop.startNode(config, log: directory.appendingPathComponent("n.log"))
        }

        var status: [String: Any]? { Interop.status(directory.appendingPathComponent("status.json")) }

        /// A counter of the status file's tcp object (-1 while there is none).
        func tcp(_ name: String) -> Int { counter(of: "tcp", name) }

        /// A counter of the status file's object `object` (tcp, tls, ...); -1 while there is none.
        func counter(of object: String, _ name: String) -> Int { (status?[object] as? [String: Any])?[name] as? Int ?? -1 }

        var log: String { (try? String(contentsOf: directory.appendingPathComponent("n.log"), encoding: .utf8)) ?? "" }

        func counter(_ name: String) -> Int { (status?["counters"] as? [String: Any])?[name] as? Int ?? -1 }

        /// Whether the daemon has OpenSSL's libssl mapped.
        var mapsOpenSSL: Bool {
            ((try? String(contentsOfFile: "/proc/\(process.processIdentifier)/maps", encoding: .utf8)) ?? "").contains("libssl.so.3")
        }

        deinit {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func invite(_ id: String, body: Int = 0, contentLength: Bool = true, port: Int) -> String {
        let sdp = body == 0 ? "" : "v=0\r\n" + String(repeating: "a=x-pad:0123456789abcdef\r\n", count: body / 26 + 1)
        return "INVITE sip:alice@127.0.0.1:\(port) SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.20:9;branch=z9hG4bK\(id)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: \(id)\r\nCSeq: 1 INVITE\r\n"
            + (body == 0 ? "" : "Content-Type: application/sdp\r\n")
            + (contentLength ? "Content-Length: \(sdp.utf8.count)\r\n" : "") + "\r\n" + sdp
    }

    /// The status lines of the final answers that come back on `client` within `seconds`.
    static func finalAnswer(_ client: TCPClient, seconds: Double = 5) -> String? {
        var text = ""
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            guard let chunk = client.receive(timeoutMilliseconds: 200) else { continue }
            text += chunk
            for line in text.components(separatedBy: "\r\n") where line.hasPrefix("SIP/2.0 ") && !line.hasPrefix("SIP/2.0 100") {
                return line
            }
        }
        return nil
    }

    // MARK: SIPp

    @Test(.enabled(if: sippInstalled || RealPhones.inCI, "sipp is not installed (apt install sip-tester)"))
    func sippGetsItsRedirectsOnOneConnectionAndOnOnePerCall() throws {
        let node = try OneNode(port: 5200)
        for (mode, calls) in [("t1", 30), ("tn", 30)] {
            let log = node.directory.appendingPathComponent("sipp-\(mode).log")
            let result = try Interop.run("/usr/bin/sipp", [
                "-sf", Interop.root.appendingPathComponent("Tests/Scenarios/redirect_uac.xml").path,
                "-t", mode, "-max_socket", "200", "-m", "\(calls)", "-r", "50", "-i", "127.0.0.100", "-p", "5201",
                "127.0.0.1:5200", "-timeout", "30s", "-nostdin", "-trace_logs", "-log_file", log.path,
            ])
            #expect(result.status == 0, "sipp -t \(mode): \(result.output.suffix(400))")
        }
        #expect(Interop.eventually(10) { node.counter("answered_here") == 60 })
        // One connection for t1, one a call for tn; every INVITE and ACK framed.
        #expect(node.tcp("accepted") == 31)
        #expect(node.tcp("messages") == 120)
        #expect(node.tcp("closed_unframeable") == 0 && node.tcp("send_failed") == 0)
        #expect(Interop.eventually(10) { node.tcp("open") == 0 && node.tcp("closed_by_peer") == 31 })
    }

    /// `[node]` lines that make node n of a group write its status file into `directory`.
    static func statusFile(_ directory: URL) -> (Int) -> String {
        { node in "[node]\nstatus_file = \(directory.path)/n\(node).status\nstatus_interval = 1\n" }
    }

    static func tcp(_ directory: URL, _ node: Int) -> [String: Any] {
        Interop.status(directory.appendingPathComponent("n\(node).status"))?["tcp"] as? [String: Any] ?? [:]
    }

    @Test(.enabled(if: sippInstalled || RealPhones.inCI, "sipp is not installed (apt install sip-tester)"))
    func aChainForwardsOverTCPAndRelaysTheAnswerBackOnTheClientsConnection() throws {
        // #1 and #2 drain: the INVITE comes over TCP to #1, goes on over TCP to #2 and #3
        // (§18.1.1: it came so), and #3's 302 comes back along the connections and out on
        // the client's.
        let statuses = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-tcp-chain-\(getpid())")
        try? FileManager.default.removeItem(at: statuses)
        try FileManager.default.createDirectory(at: statuses, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: statuses) }
        let group = try GroupTests.Group(3, port: 5202, draining: [1, 2], extra: Self.statusFile(statuses))
        let run = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5203, extra: ["-t", "t1"])
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.3:5202" }.count == 10, "\(run.log)")
        // One connection each way along the chain, reused for every call.
        #expect(Interop.eventually(5) {
            Self.tcp(statuses, 1)["accepted"] as? Int == 1 && Self.tcp(statuses, 1)["opened"] as? Int == 1
                && Self.tcp(statuses, 2)["accepted"] as? Int == 1 && Self.tcp(statuses, 2)["opened"] as? Int == 1
                && Self.tcp(statuses, 3)["accepted"] as? Int == 1 && Self.tcp(statuses, 3)["opened"] as? Int == 0
        }, "\((1...3).map { Self.tcp(statuses, $0) })")
        #expect(group.stop() == [0, 0, 0])
        #expect(group.counters(1)?.forwarded == 10 && group.counters(2)?.forwarded == 10)
        #expect(group.counters(3)?.answeredHere == 10)
        // All busy: every member draining, a 503 on the connection.
        let busy = try GroupTests.Group(2, port: 5204, draining: [1, 2])
        let client = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5204)
        client.send(TCPTransportTests.invite("busy-1", port: 5204))
        #expect(TCPTransportTests.finalAnswer(client)?.hasPrefix("SIP/2.0 503") == true)
        _ = busy.stop()
    }

    @Test(.enabled(if: sippInstalled || RealPhones.inCI, "sipp is not installed (apt install sip-tester)"))
    func aMemberKilledOverTCPIsSkipped() throws {
        let statuses = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-tcp-kill-\(getpid())")
        try? FileManager.default.removeItem(at: statuses)
        try FileManager.default.createDirectory(at: statuses, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: statuses) }
        let group = try GroupTests.Group(3, port: 5212, draining: [1, 2], extra: Self.statusFile(statuses))
        let before = try group.sipp("redirect_uac.xml", calls: 5, clientPort: 5213, extra: ["-t", "t1"])
        #expect(before.status == 0 && before.log.filter { $0 == "contact sip:service@127.0.0.3:5212" }.count == 5)
        // #2 dies: its connection from #1 is reset; #1 goes past it to #3.
        group.kill(2)
        let after = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5214, extra: ["-t", "t1"])
        #expect(after.status == 0, "\(after.log)")
        #expect(after.log.filter { $0 == "contact sip:service@127.0.0.3:5212" }.count == 10, "\(after.log)")
        #expect(Interop.eventually(5) { Self.tcp(statuses, 1)["closed_by_peer"] as? Int ?? 0 >= 1 }, "\(Self.tcp(statuses, 1))")
    }

    // MARK: Sizes

    @Test func invitesUpTo60KBGetTheirAnswerOverTCP() throws {
        let group = try GroupTests.Group(2, port: 5206, draining: [1])
        for size in [2_048, 8_000, 30_000, 60_000] {
            let client = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5206)
            let invite = TCPTransportTests.invite("big-\(size)", body: size, port: 5206)
            #expect(invite.utf8.count >= size)
            client.send(invite)
            // #1 forwards it to #2 over UDP; #2's 302 comes back on the connection.
            #expect(TCPTransportTests.finalAnswer(client)?.hasPrefix("SIP/2.0 302") == true, "\(size) bytes")
        }
    }

    /// RFC 3261 §18.2.2: when the answer comes, the client's connection is gone (the member
    /// took its time); the node opens one to the port the client's Via names, at the address
    /// the request came from, and sends the answer on it.
    @Test func anAnswerWhoseConnectionIsGoneGoesOnANewOneToTheViasPort() throws {
        // n2 is this test, answering when told (the request came over TCP, so it goes on over
        // TCP); the client listens on its Via's port.
        let member = try TCPListener(at: "127.0.0.2", port: 5230)
        let listener = try TCPListener(at: "127.0.0.21", port: 5231)
        let directory = try Interop.scratch("tcp-gone")
        defer { try? FileManager.default.removeItem(at: directory) }
        let status = directory.appendingPathComponent("status.json")
        let config = directory.appendingPathComponent("n1.conf")
        try """
            [node]
            listen = 127.0.0.1:5230
            drain = yes
            rate_limit = 0
            forward_timeout_ms = 10000
            status_file = \(status.path)
            status_interval = 1
            [health]
            probe_interval_ms = 60000
            [sequence]
            n1 = 127.0.0.1:5230
            n2 = 127.0.0.2:5230

            """.write(to: config, atomically: true, encoding: .utf8)
        let process = try Interop.startNode(config, log: directory.appendingPathComponent("n1.log"),
                                            ready: { Interop.status(status) != nil })
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        func tcp(_ name: String) -> Int { (Interop.status(status)?["tcp"] as? [String: Any])?[name] as? Int ?? -1 }
        var client: TCPClient? = try TCPClient(from: "127.0.0.21", to: "127.0.0.1", port: 5230)
        client?.send(TCPTransportTests.invite("gone-1", port: 5230)
            .replacingOccurrences(of: "Via: SIP/2.0/TCP 127.0.0.20:9;", with: "Via: SIP/2.0/TCP 127.0.0.21:5231;"))
        let fromNode = try #require(member.accept(within: 5))
        var forwarded = ""
        #expect(Interop.eventually(5) {
            forwarded += fromNode.receive(timeoutMilliseconds: 100) ?? ""
            return forwarded.contains("Call-ID: gone-1") && forwarded.hasSuffix("\r\n\r\n")
        })
        client = nil
        // Of the node's connections, only the one to the member is left.
        #expect(Interop.eventually(5) { tcp("open") == 1 && tcp("closed_by_peer") == 1 })
        // n2's 302 comes back to n1, which relays it to the client.
        let lines = forwarded.components(separatedBy: "\r\n")
        let copied = lines.filter { line in ["Via:", "From:", "Call-ID:", "CSeq:"].contains { line.hasPrefix($0) } }
        let to = lines.first { $0.hasPrefix("To:") } ?? "To: <sip:alice@h>"
        let redirect = (["SIP/2.0 302 Moved Temporarily"] + copied + [to + ";tag=n2", "Contact: <sip:127.0.0.2:5230>", "Content-Length: 0"])
            .joined(separator: "\r\n") + "\r\n\r\n"
        fromNode.send(redirect)
        let back = try #require(listener.accept(within: 5))
        let answer = TCPTransportTests.finalAnswer(back)
        #expect(answer?.hasPrefix("SIP/2.0 302 Moved Temporarily") == true, "\(answer ?? "nothing")")
        #expect(Interop.eventually(5) { tcp("opened_for_answers") == 1 && tcp("send_failed") == 0 }, "\(tcp("opened_for_answers"))")
    }

    // MARK: Bad input

    @Test func badInputClosesItsConnectionAndTheNodeAnswersOn() throws {
        let node = try OneNode(port: 5208, extra: "tcp_message_timeout_ms = 500")
        // Not SIP: closed.
        let garbage = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5208)
        garbage.send("hello there, this is not SIP\r\n\r\n")
        #expect(garbage.waitForClose(seconds: 5))
        // A request without Content-Length: 400, then closed.
        let bare = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5208)
        bare.send(TCPTransportTests.invite("bare-1", contentLength: false, port: 5208))
        #expect(TCPTransportTests.finalAnswer(bare)?.hasPrefix("SIP/2.0 400") == true)
        #expect(bare.waitForClose(seconds: 5))
        // Headers that never end: closed when the buffer is full.
        let endless = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5208)
        endless.send("INVITE sip:a@127.0.0.1 SIP/2.0\r\nX-Endless: ")
        for _ in 0..<20 { endless.send(String(repeating: "a", count: 4096)) }
        #expect(endless.waitForClose(seconds: 5))
        // Half a message, then nothing: closed after the message deadline (slowloris).
        let stalled = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5208)
        stalled.send(String(TCPTransportTests.invite("half-1", port: 5208).prefix(80)))
        #expect(stalled.waitForClose(seconds: 5))
        // A keep-alive ping gets its pong, and the connection stays.
        let alive = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5208)
        alive.send("\r\n\r\n")
        #expect(alive.receive(timeoutMilliseconds: 2000) == "\r\n")
        #expect(Interop.eventually(5) {
            node.tcp("closed_unframeable") == 2 && node.tcp("closed_too_large") == 1 && node.tcp("closed_stalled") == 1
                && node.tcp("keepalives") == 1
        }, "\(node.status?["tcp"] ?? "no status")")
        // The node answers on both transports, on the connection that stayed too.
        alive.send(TCPTransportTests.invite("after-1", port: 5208))
        #expect(TCPTransportTests.finalAnswer(alive)?.hasPrefix("SIP/2.0 302") == true)
        #expect(try Interop.ask(5208, clientPort: 5209, callID: "after-udp")?.hasPrefix("SIP/2.0 302") == true)
        // Logged, summarised (the line at the start of a run of them).
        #expect(Interop.eventually(5) { node.log.contains("TCP/TLS connections closed for what they sent") }, "\(node.log)")
    }

    @Test func answersAPeerDoesNotReadAreKeptInOrderUntilTooManyCloseItsConnection() throws {
        let node = try OneNode(port: 5218)
        // A small receive buffer: the node's answers soon stop fitting in the connection.
        let client = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5218, receiveBuffer: 4096)
        var requests = ""
        for index in 0..<100 { requests += TCPTransportTests.invite("unread-\(index)", port: 5218) }
        client.send(requests)
        #expect(Interop.eventually(10) { node.counter("answered_here") == 100 })
        // Read only now: every answer is there, in order, none lost to a full socket.
        var answers = ""
        while let chunk = client.receive(timeoutMilliseconds: 1000) { answers += chunk }
        let redirects = answers.components(separatedBy: "SIP/2.0 302 ").count - 1
        #expect(redirects == 100, "\(redirects) 302s; tcp \(node.status?["tcp"] ?? "")")
        #expect(answers.components(separatedBy: "Call-ID: unread-").dropFirst().map { $0.prefix(while: \.isNumber) }
            == (0..<100).map { Substring("\($0)") }, "answers out of order")
        #expect(node.tcp("send_failed") == 0, "\(node.status?["tcp"] ?? "")")
        // Far more than the socket buffers and 64 KiB of waiting answers hold (the kernel's
        // grow to a few MiB): the connection is closed, counted.
        let flood = try TCPClient(from: "127.0.0.21", to: "127.0.0.1", port: 5218, receiveBuffer: 4096)
        requests = ""
        for index in 0..<30_000 { requests += TCPTransportTests.invite("flood-\(index)", port: 5218) }
        flood.send(requests)
        // (Answers waited before: the connection is closed only once 64 KiB of them wait.)
        #expect(Interop.eventually(10) { node.tcp("send_failed") >= 1 && node.tcp("open") == 1 && node.tcp("waited") >= 1 },
                "\(node.status?["tcp"] ?? "")")
    }

    @Test func withFewDescriptorsConnectionsAreRefusedAndTheLoopDoesNotSpin() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-tcp-fds-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("n.conf")
        try "[node]\nlisten = 127.0.0.1:5216\nrate_limit = 0\nstatus_file = \(directory.path)/status.json\nstatus_interval = 1\n[sequence]\nn1 = 127.0.0.1:5216\n"
            .write(to: config, atomically: true, encoding: .utf8)
        // 100 descriptors, soft and hard, and none inherited (the test runner's would count):
        // the daemon cannot raise the limit, keeps 64 for itself and takes 36 connections.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", "import os, resource, sys; os.closerange(3, 1 << 16); "
            + "resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100)); os.execv(sys.argv[1], sys.argv[1:])",
            Interop.binary.path, "-c", config.path]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        #expect(Interop.waitUntilAnswering(config: config))
        let network = "127.\(Int.random(in: 32...250)).\(Int.random(in: 1...250))."
        var clients: [TCPClient] = []
        for index in 0..<200 { clients.append(try TCPClient(from: network + "\(10 + index % 4)", to: "127.0.0.1", port: 5216)) }
        let status = directory.appendingPathComponent("status.json")
        func tcp(_ name: String) -> Int { (Interop.status(status)?["tcp"] as? [String: Any])?[name] as? Int ?? -1 }
        #expect(Interop.eventually(10) { tcp("accepted") + tcp("refused_limit") == 200 }, "\(Interop.status(status)?["tcp"] ?? "")")
        #expect(tcp("accepted") == 36 && tcp("refused_limit") == 164, "\(Interop.status(status)?["tcp"] ?? "")")
        // Connections still waiting would keep the listener readable: a loop spinning on it
        // takes a whole core.
        func ticks() -> Int {
            let fields = ((try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)) ?? "")
                .split(separator: ")").last?.split(separator: " ") ?? []
            return fields.count > 12 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
        }
        let before = ticks()
        Thread.sleep(forTimeInterval: 2)
        #expect(ticks() - before < 50, "CPU ticks in 2 s: \(ticks() - before)")
        #expect(try Interop.ask(5216, clientPort: 5217, callID: "fds-udp")?.hasPrefix("SIP/2.0 302") == true)
        clients.removeAll()
    }

    @Test func tenThousandConnectionsMeetTheLimitsAndIdleOnesClose() throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_max >= 11_000, "needs 11,000 descriptors (ulimit -Hn is \(limit.rlim_max))")
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let node = try OneNode(port: 5210, extra: "tcp_connections = 120\ntcp_connections_per_source = 50\ntcp_idle_timeout = 8")
        // 2,000 connections from each of five addresses, one after another (well within the
        // idle timeout: a few seconds at most, under load).
        // Addresses of their own in 127/8: the last run's 10,000 connections linger in
        // TIME_WAIT, and connecting from the same addresses would wait on them.
        let network = "127.\(Int.random(in: 32...250)).\(Int.random(in: 1...250))."
        var clients: [TCPClient] = []
        let started = Date()
        for source in 10...14 {
            for _ in 0..<2_000 { clients.append(try TCPClient(from: network + "\(source)", to: "127.0.0.1", port: 5210)) }
        }
        let connecting = Date().timeIntervalSince(started)
        // 50 from each of the first two, 20 from the third, then the total is reached.
        #expect(Interop.eventually(20) { node.tcp("accepted") + node.tcp("refused_limit") + node.tcp("refused_per_source") == 10_000 })
        #expect(node.tcp("accepted") == 120, "connecting took \(connecting) s")
        #expect(node.tcp("refused_per_source") == 1_950 + 1_950)
        #expect(node.tcp("refused_limit") == 1_980 + 2_000 + 2_000)
        #expect(Interop.eventually(5) { node.log.contains("TCP/TLS connections refused (tcp_connections or tcp_connections_per_source reached)") },
                "\(node.log)")
        // UDP is answered meanwhile.
        #expect(try Interop.ask(5210, clientPort: 5211, callID: "flooded-udp")?.hasPrefix("SIP/2.0 302") == true)
        // The 120 say nothing and are closed after the idle timeout; then TCP is taken again.
        #expect(Interop.eventually(15) { node.tcp("closed_idle") == 120 && node.tcp("open") == 0 })
        clients.removeAll()
        let client = try TCPClient(from: "127.0.0.20", to: "127.0.0.1", port: 5210)
        client.send(TCPTransportTests.invite("after-flood", port: 5210))
        #expect(TCPTransportTests.finalAnswer(client)?.hasPrefix("SIP/2.0 302") == true)
    }
}

/// A TCP connection for hand-made messages in tests, from a chosen loopback address.
final class TCPClient: @unchecked Sendable {
    let descriptor: Int32

    /// A connection accepted by a `TCPListener`.
    init(descriptor: Int32) { self.descriptor = descriptor }

    init(from source: String, to host: String, port: UInt16, receiveBuffer: Int32 = 0) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if receiveBuffer > 0 {
            var size = receiveBuffer
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        // The port is chosen at connect, not at bind: binding thousands of sockets to one
        // address with port 0 searches the port table each time.
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_IP), 24 /* IP_BIND_ADDRESS_NO_PORT */, &one, socklen_t(MemoryLayout<Int32>.size))
        var local = UDPSocket.address(source, 0)
        var remote = UDPSocket.address(host, port)
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, size) } }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, size) }
        }
        guard bound == 0, connected == 0 else {
            close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    deinit { close(descriptor) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// What arrives within the timeout; nil for nothing or a closed connection.
    func receive(timeoutMilliseconds: Int32) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    /// Whether the other end closes the connection within `seconds` (what it sends before is
    /// read and dropped).
    func waitForClose(seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while Date() < end {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return true }
        }
        return false
    }
}

/// A TCP listener for tests: a client's own SIP port, to which a server opens a connection.
final class TCPListener: @unchecked Sendable {
    let descriptor: Int32

    init(at address: String, port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var local = UDPSocket.address(address, port)
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, size) } }
        guard bound == 0, listen(descriptor, 4) == 0 else {
            close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EADDRINUSE)
        }
    }

    deinit { close(descriptor) }

    /// The first connection made within `seconds`; nil when none comes.
    func accept(within seconds: Int32) -> TCPClient? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, seconds * 1000) > 0 else { return nil }
        let connection = Glibc.accept(descriptor, nil, nil)
        return connection >= 0 ? TCPClient(descriptor: connection) : nil
    }
}
