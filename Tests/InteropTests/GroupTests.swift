import Foundation
import Testing

/// Groups of real gatewayd processes on loopback addresses, with SIPp as the client.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sipp"), "sipp is not installed"))
struct GroupTests {
    /// A group of `count` nodes on 127.0.0.1...count, port `port`, the ones in `draining`
    /// put in drain mode (so they forward everything).
    final class Group {
        let directory: URL
        let port: Int
        let ipv6: Bool
        var processes: [Int: Process] = [:]

        /// Node n listens on 127.0.0.n:port, or on [::1]:port+n with `ipv6`.
        func address(_ node: Int) -> String { ipv6 ? "[::1]:\(port + node)" : "127.0.0.\(node):\(port)" }

        init(_ count: Int, port: Int, draining: Set<Int>, forwardTimeoutMilliseconds: Int = 300, ipv6: Bool = false,
             order: (Int) -> [Int]? = { _ in nil }, extra: (Int) -> String = { _ in "" }) throws {
            self.port = port
            self.ipv6 = ipv6
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-group-\(getpid())-\(port)")
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for node in 1...count {
                var text = "[node]\nlisten = \(address(node))\ndrain = \(draining.contains(node) ? "yes" : "no")\n"
                text += "forward_timeout_ms = \(forwardTimeoutMilliseconds)\n[health]\nprobe_interval_ms = 200\n[sequence]\n"
                for member in order(node) ?? Array(1...count) { text += "n\(member) = \(address(member))\n" }
                text += extra(node)
                try text.write(to: config(node), atomically: true, encoding: .utf8)
            }
            for node in 1...count { try start(node) }
            for node in 1...count {
                if ipv6 {
                    // The readiness probe speaks IPv4 only: bound is enough (datagrams wait in the socket).
                    #expect(Interop.eventually(10) { Interop.isBoundUDP("::1", port + node) }, "node \(node) did not bind")
                } else {
                    #expect(Interop.waitUntilAnswering("127.0.0.\(node)", UInt16(port)), "node \(node) did not start answering")
                }
            }
        }

        func config(_ node: Int) -> URL { directory.appendingPathComponent("n\(node).conf") }
        func log(_ node: Int) -> URL { directory.appendingPathComponent("n\(node).log") }

        /// A node's closing counters, from the line it logs when it stops.
        func counters(_ node: Int) -> (requests: Int, answeredHere: Int, forwarded: Int, busy: Int)? {
            let text = (try? String(contentsOf: log(node), encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").last(where: { $0.contains("stopping:") }) else { return nil }
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard numbers.count >= 4 else { return nil }
            return (numbers[0], numbers[1], numbers[2], numbers[3])
        }

        func start(_ node: Int) throws {
            let process = Process()
            process.executableURL = Interop.binary
            process.arguments = ["-c", config(node).path]
            FileManager.default.createFile(atPath: log(node).path, contents: nil)
            let handle = try FileHandle(forWritingTo: log(node))
            handle.seekToEndOfFile()
            process.standardError = handle
            try process.run()
            processes[node] = process
        }

        func kill(_ node: Int) {
            guard let process = processes[node] else { return }
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            processes[node] = nil
        }

        /// Stops every node with SIGTERM; returns their exit statuses. The logs stay until
        /// `remove`.
        @discardableResult
        func stop() -> [Int32] {
            var statuses: [Int32] = []
            for (_, process) in processes.sorted(by: { $0.key < $1.key }) {
                process.terminate()
                process.waitUntilExit()
                statuses.append(process.terminationStatus)
            }
            processes = [:]
            return statuses
        }

        deinit {
            stop()
            try? FileManager.default.removeItem(at: directory)
        }

        /// Runs SIPp with `scenario` against node 1 for `calls` calls; returns its exit
        /// status and the lines it logged.
        func sipp(_ scenario: String, calls: Int, rate: Int = 10, clientPort: Int, entry: Int = 1,
                  extra: [String] = []) throws -> (status: Int32, log: [String]) {
            let log = directory.appendingPathComponent("sipp-\(clientPort).log")
            let result = try Interop.run("/usr/bin/sipp", sippArguments(scenario, calls: calls, rate: rate,
                                                                        clientPort: clientPort, log: log, entry: entry) + extra)
            let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            return (result.status, lines)
        }

        func sippArguments(_ scenario: String, calls: Int, rate: Int, clientPort: Int, log: URL, entry: Int = 1) -> [String] {
            [
                "-sf", Interop.root.appendingPathComponent("Tests/Scenarios/\(scenario)").path,
                "-m", "\(calls)", "-r", "\(rate)", "-i", ipv6 ? "::1" : "127.0.0.100", "-p", "\(clientPort)",
                "-trace_logs", "-log_file", log.path, "-timeout", "20s", "-timeout_error", "-nostdin",
                address(entry),
            ]
        }
    }

    @Test func idlePrimaryAnswersWithItself() throws {
        let group = try Group(3, port: 5161, draining: [])
        defer { #expect(group.stop() == [0, 0, 0]) }
        let run = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5171)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.1:5161" }.count == 10, "\(run.log)")
    }

    @Test func busyNodesPassTheRequestDownTheChain() throws {
        let group = try Group(3, port: 5162, draining: [1, 2])
        let run = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5172)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.3:5162" }.count == 10, "\(run.log)")
        #expect(group.stop() == [0, 0, 0])
        // The hops, from the nodes' own counters: #1 and #2 forwarded, #3 answered.
        #expect(group.counters(1)?.forwarded == 10 && group.counters(1)?.answeredHere == 0)
        #expect(group.counters(2)?.forwarded == 10)
        #expect(group.counters(3)?.answeredHere == 10 && group.counters(3)?.forwarded == 0)
    }

    /// INVITEs of 2,100, 8,000 and 60,000 bytes (video and ICE SDP, many Vias are that large)
    /// through three real nodes: each gets 100 Trying and the 302 of the third node, whole,
    /// and once ACKed nothing is retransmitted (every hop ACKed the next one).
    @Test func largeRequestsCrossTheChainAndAreAcknowledgedHopByHop() throws {
        let group = try Group(3, port: 5183, draining: [1, 2])
        let client = try UDPSocket(bind: "127.0.0.100", port: 5184)
        for size in [2_100, 8_000, 60_000] {
            let callID = "large-\(size)"
            let head = "INVITE sip:alice@127.0.0.1:5183 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5184;branch=z9hG4bK\(callID)\r\n"
                + "Max-Forwards: 70\r\nFrom: <sip:c\(size)@h>;tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: \(callID)\r\nCSeq: 1 INVITE\r\n"
                + "Content-Type: application/sdp\r\n"
            let bodyLength = size - head.utf8.count - "Content-Length: \r\n\r\n".utf8.count - String(size).count
            let body = "v=0\r\n" + String(repeating: "a", count: bodyLength - 7) + "\r\n"
            let invite = head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
            try client.send(invite, to: "127.0.0.1", port: 5183)
            var statuses: [String] = []
            var final = ""
            while let answer = client.receive(timeoutMilliseconds: 3000) {
                statuses.append(String(answer.prefix(12)))
                if !answer.hasPrefix("SIP/2.0 100") {
                    final = answer
                    break
                }
            }
            #expect(statuses == ["SIP/2.0 100 ", "SIP/2.0 302 "], "\(size) bytes: \(statuses)")
            #expect(final.contains("Contact: <sip:alice@127.0.0.3:5183;transport=udp>"), "\(size) bytes: \(final)")
            let toTag = final.components(separatedBy: "\r\n").first { $0.hasPrefix("To: ") }.map { String($0.dropFirst(4)) } ?? ""
            try client.send("ACK sip:alice@127.0.0.1:5183 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5184;branch=z9hG4bK\(callID)\r\n"
                + "Max-Forwards: 70\r\nFrom: <sip:c\(size)@h>;tag=1\r\nTo: \(toTag)\r\nCall-ID: \(callID)\r\nCSeq: 1 ACK\r\n"
                + "Content-Length: 0\r\n\r\n", to: "127.0.0.1", port: 5183)
        }
        // Timer G would resend an unacknowledged 302 after 0.5 s and again after 1.5 s.
        #expect(client.receive(timeoutMilliseconds: 2000) == nil)
        #expect(group.stop() == [0, 0, 0])
        #expect(group.counters(1)?.forwarded == 3 && group.counters(2)?.forwarded == 3 && group.counters(3)?.answeredHere == 3)
    }

    @Test func aMemberKilledDuringLoadLeavesNoRequestUnanswered() throws {
        let group = try Group(3, port: 5166, draining: [1])
        let log = group.directory.appendingPathComponent("sipp-load.log")
        let sipp = Process()
        sipp.executableURL = URL(fileURLWithPath: "/usr/bin/sipp")
        sipp.arguments = group.sippArguments("redirect_uac.xml", calls: 100, rate: 25, clientPort: 5176, log: log)
        sipp.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try sipp.run()
        Thread.sleep(forTimeInterval: 1.5)
        group.kill(2)
        sipp.waitUntilExit()
        #expect(sipp.terminationStatus == 0)
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
        let toSecond = lines.filter { $0 == "contact sip:service@127.0.0.2:5166" }.count
        let toThird = lines.filter { $0 == "contact sip:service@127.0.0.3:5166" }.count
        #expect(toSecond + toThird == 100, "\(toSecond) + \(toThird)")
        #expect(toSecond > 0 && toThird > 0)
    }

    @Test func reservationsKeepABurstFromLandingOnOneNode() throws {
        // #1 has room for exactly 20 calls (capacity 20, threshold 1.0); its reservations count
        // as calls until they expire, so it hands out 20 and passes the rest on.
        let group = try Group(3, port: 5167, draining: [], extra: { node in
            "[capacity]\ncalls = \(node == 1 ? 20 : 1000)\n[node]\nrate_limit = 0\nthreshold = 1.0\n"
        })
        let run = try group.sipp("redirect_uac.xml", calls: 200, rate: 400, clientPort: 5177)
        #expect(run.status == 0)
        let toFirst = run.log.filter { $0 == "contact sip:service@127.0.0.1:5167" }.count
        let toSecond = run.log.filter { $0 == "contact sip:service@127.0.0.2:5167" }.count
        #expect(toFirst == 20, "hand-outs by #1: \(toFirst)")
        #expect(toFirst + toSecond == 200)
    }

    @Test func allBusyIs503WithRetryAfter() throws {
        let group = try Group(3, port: 5163, draining: [1, 2, 3])
        defer { _ = group.stop() }
        let run = try group.sipp("busy_uac.xml", calls: 5, clientPort: 5173)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "retry-after 30" }.count == 5, "\(run.log)")
    }

    @Test func aKilledMemberIsSkippedAndChosenAgainWhenBack() throws {
        let group = try Group(3, port: 5164, draining: [1])
        defer { _ = group.stop() }
        group.kill(2)
        // Every request is answered, by #3, within the forward timeout at worst.
        let during = try group.sipp("redirect_uac.xml", calls: 20, rate: 20, clientPort: 5174)
        #expect(during.status == 0)
        #expect(during.log.filter { $0 == "contact sip:service@127.0.0.3:5164" }.count == 20, "\(during.log)")
        // #2 back: after its probes succeed it is chosen again.
        try group.start(2)
        // #1 logs each change of a peer's health: the last word on #2 must be "up".
        #expect(Interop.eventually(15) {
            let text = (try? String(contentsOf: group.log(1), encoding: .utf8)) ?? ""
            return text.split(separator: "\n").last { $0.contains("peer n2 (") }?.hasSuffix(") up") == true
        }, "#1 never saw #2 come back")
        let after = try group.sipp("redirect_uac.xml", calls: 5, clientPort: 5175)
        #expect(after.status == 0)
        #expect(after.log.filter { $0 == "contact sip:service@127.0.0.2:5164" }.count == 5, "\(after.log)")
    }

    @Test func fiveNodesEnteredInTheMiddleGoRoundTheRing() throws {
        // Enter at #3 with #3, #4 and #5 busy: the request goes 3 → 4 → 5 → 1.
        let group = try Group(5, port: 5168, draining: [3, 4, 5])
        let run = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5178, entry: 3)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.1:5168" }.count == 10, "\(run.log)")
        group.stop()
        #expect(group.counters(3)?.forwarded == 10 && group.counters(4)?.forwarded == 10)
        #expect(group.counters(5)?.forwarded == 10 && group.counters(1)?.answeredHere == 10)
        #expect(group.counters(2)?.forwarded == 0 && group.counters(2)?.answeredHere == 0)
    }

    @Test func ipv6GroupOnLoopback() throws {
        let group = try Group(3, port: 5280, draining: [1, 2], ipv6: true)
        let run = try group.sipp("redirect_uac.xml", calls: 5, clientPort: 5290)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@[::1]:5283" }.count == 5, "\(run.log)")
    }

    @Test func hopLimitEndsInOne483AndNoStorm() throws {
        // Every node busy and Max-Forwards 2: #1 and #2 forward, #3 answers 483.
        let group = try Group(5, port: 5169, draining: [1, 2, 3, 4, 5])
        let run = try group.sipp("hops_uac.xml", calls: 5, clientPort: 5179, extra: ["-key", "hops", "2"])
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "too many hops" }.count == 5, "\(run.log)")
        group.stop()
        let forwarded = (1...5).compactMap { group.counters($0)?.forwarded }.reduce(0, +)
        #expect(forwarded == 10)  // two hops for each of the five calls, nothing more
    }

    @Test func sequencesConfiguredInDifferentOrdersDoNotLoop() throws {
        // Each node believes another order: #1 [1 2 3], #2 [2 3 1], #3 [3 2 1]. All busy: the
        // request still visits each node once (the Via path says where it has been), and the
        // client gets one 503.
        let orders = [1: [1, 2, 3], 2: [2, 3, 1], 3: [3, 2, 1]]
        let group = try Group(3, port: 5171, draining: [1, 2, 3], order: { orders[$0] })
        let run = try group.sipp("busy_uac.xml", calls: 5, clientPort: 5181)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "retry-after 30" }.count == 5, "\(run.log)")
        group.stop()
        let requests = (1...3).compactMap { group.counters($0)?.forwarded }.reduce(0, +)
        #expect(requests == 10)  // #1 → #2 → #3 for each call, nothing more
    }

    @Test func forgedResponsesAndRequestsFromOutsideTheGroupAreNotTaken() throws {
        let group = try Group(3, port: 5170, draining: [1], forwardTimeoutMilliseconds: 500)
        group.kill(2)
        let client = try UDPSocket(bind: "127.0.0.100", port: 5180)
        let stranger = try UDPSocket(bind: "127.0.0.66", port: 5180)
        let invite = "INVITE sip:alice@127.0.0.1:5170 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.100:5180;branch=z9hG4bKforge1\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: forge-1\r\nCSeq: 1 INVITE\r\n"
            + "Content-Length: 0\r\n\r\n"
        try client.send(invite, to: "127.0.0.1", port: 5170)
        // A forged answer, as if from #2, from an address outside the group, while #1 waits.
        let forged = "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 127.0.0.1:5170;branch=z9hG4bKguess\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.100:5180;branch=z9hG4bKforge1\r\nFrom: <sip:c@h>;tag=1\r\n"
            + "To: <sip:alice@h>;tag=x\r\nCall-ID: forge-1\r\nCSeq: 1 INVITE\r\nContact: <sip:evil@127.0.0.66>\r\n"
            + "Content-Length: 0\r\n\r\n"
        try stranger.send(forged, to: "127.0.0.1", port: 5170)
        var answers: [String] = []
        while let answer = client.receive(timeoutMilliseconds: 2000) {
            answers.append(answer)
            if answer.hasPrefix("SIP/2.0 302") { break }
        }
        let final = answers.last ?? ""
        #expect(final.hasPrefix("SIP/2.0 302") && final.contains("Contact: <sip:alice@127.0.0.3:5170"), "\(answers)")
        #expect(!answers.contains { $0.contains("evil") })
        // A request that claims to come through #2, sent from outside the group: refused.
        let forwarded = "INVITE sip:alice@127.0.0.3:5170 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5170;branch=z9hG4bKfake\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.66:5180;branch=z9hG4bKorig\r\nMax-Forwards: 69\r\nFrom: <sip:c@h>;tag=2\r\n"
            + "To: <sip:alice@h>\r\nCall-ID: forge-2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        try stranger.send(forwarded, to: "127.0.0.3", port: 5170)
        var refusal = ""
        while let answer = stranger.receive(timeoutMilliseconds: 2000) {
            refusal = answer
            if !answer.hasPrefix("SIP/2.0 100") { break }
        }
        #expect(refusal.hasPrefix("SIP/2.0 403 Forbidden"), "\(refusal)")
    }

    @Test func badConfigNamesFileAndLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-bad-\(getpid()).conf")
        defer { try? FileManager.default.removeItem(at: file) }
        try "[node]\nlisten = 127.0.0.1:5060\nthreshold = lots\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Interop.run(Interop.binary.path, ["--check-config", "-c", file.path])
        #expect(result.status == 2)
        #expect(result.error.contains("\(file.path):3: threshold"), "\(result.error)")
    }
}

/// A UDP socket for hand-made messages in tests.
/// Its descriptor never changes; a test that hands it to another thread uses it only there.
final class UDPSocket: @unchecked Sendable {
    let descriptor: Int32

    init(bind address: String, port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var local = UDPSocket.address(address, port)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit { close(descriptor) }

    static func address(_ text: String, _ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr(text)
        return address
    }

    func send(_ text: String, to host: String, port: UInt16) throws {
        try send(bytes: Array(text.utf8), to: host, port: port)
    }

    func send(bytes: [UInt8], to host: String, port: UInt16) throws {
        var destination = UDPSocket.address(host, port)
        _ = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(descriptor, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    func receive(timeoutMilliseconds: Int32) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}
