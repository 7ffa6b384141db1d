import Basics
import CBench
import GatewayCore
import SIP

/// `swift run -c release node-bench [--calls N] [--rounds N]`
///
/// The node's own work per redirected call, without sockets or the kernel: what
/// `scripts/bench-tcp.sh` and `bench-node.sh` show as "gatewayd adds" above their floor. Each
/// call is SIPp's INVITE → 302 → ACK (the scenario the benchmarks run), its messages built
/// beforehand; the timed loop does what the daemon does with them over TCP (StreamFramer,
/// Node.receive, the outbox emptied, Node.tick) and, in a second loop, over UDP (receive,
/// outbox, tick). In the same run, the baseline: a loop that only frames each message and
/// copies five header lines of the INVITE into a 302: the user-space work of
/// `Benchmarks/Floor/responder.c` (its own C code). Best of `rounds` rounds, nanoseconds per call.
@main
struct NodeBench {
    static func main() {
        var calls = 30_000
        var rounds = 7
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let word = arguments.next() {
            switch word {
            case "--calls": calls = Int(arguments.next() ?? "") ?? calls
            case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
            default: print("usage: node-bench [--calls N] [--rounds N]"); return
            }
        }
        let traffic = Traffic(calls: calls)
        var stream = Int64.max, datagram = Int64.max, floor = Int64.max
        var answered = 0
        for round in 0..<rounds {
            // Each round a fresh node, so that every INVITE is new to it.
            let (tcpTime, tcpAnswers) = traffic.run(over: .tcp, round: round)
            let (udpTime, udpAnswers) = traffic.run(over: .udp, round: round)
            stream = min(stream, tcpTime)
            datagram = min(datagram, udpTime)
            floor = min(floor, traffic.floor())
            answered = min(tcpAnswers, udpAnswers)
        }
        func perCall(_ nanoseconds: Int64) -> String {
            let tenths = nanoseconds * 10 / Int64(calls)
            return "\(tenths / 10).\(tenths % 10) ns"
        }
        print("calls      \(calls) a round, best of \(rounds) rounds; 302s answered \(answered) of \(calls)")
        print("node/TCP   \(perCall(stream)) a call: StreamFramer, Node.receive, outbox, tick (INVITE and ACK)")
        print("node/UDP   \(perCall(datagram)) a call: Node.receive, outbox, tick (INVITE and ACK)")
        print("floor      \(perCall(floor)) a call: responder.c's own work (frame both by the empty line, copy five lines into a 302)")
        print("node adds  \(perCall(stream - floor)) a call over TCP, \(perCall(datagram - floor)) over UDP")
    }
}

/// SIPp's calls of `bench_redirect_uac.xml`, as bytes: INVITE and ACK of each call.
struct Traffic {
    let calls: Int
    var invites: [[UInt8]] = []
    var acks: [[UInt8]] = []
    let client = Endpoint(address: IPAddress(ipv4: 0x7F00_0064), port: 5398)
    let node = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 5380)

    init(calls: Int) {
        self.calls = calls
        for call in 0..<calls {
            let via = "Via: SIP/2.0/TCP 127.0.0.100:5398;branch=z9hG4bK-4242-\(call)-0\r\n"
            let from = "From: sipp <sip:sipp@127.0.0.100:5398>;tag=4242SIPpTag00\(call)\r\n"
            let callID = "Call-ID: \(call)-4242@127.0.0.100\r\n"
            invites.append(Array(("INVITE sip:service@127.0.0.1:5380 SIP/2.0\r\n" + via + from
                + "To: <sip:service@127.0.0.1:5380>\r\n" + callID + "CSeq: 1 INVITE\r\n"
                + "Contact: <sip:sipp@127.0.0.100:5398>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").utf8))
            acks.append(Array(("ACK sip:service@127.0.0.1:5380 SIP/2.0\r\n" + via + from
                + "To: <sip:service@127.0.0.1:5380>;tag=3f6a9c0e51d2b784\r\n" + callID + "CSeq: 1 ACK\r\n"
                + "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").utf8))
        }
    }

    /// A node as the benchmarks' config makes it (one member, 16,384 transactions).
    func makeNode(round: Int) -> Node<SeededEntropy> {
        var settings = NodeSettings(identity: Array("sip:127.0.0.1:5380".utf8))
        settings.serverTransactions = 16_384
        settings.clientTransactions = 16_384
        settings.rateLimitPerSecond = 0
        let sequence = GroupSequence(members: [Member(address: node, identity: settings.identity)], selfIndex: 0)
        return Node(settings: settings, sequence: sequence, entropy: SeededEntropy(state: UInt64(round + 1)))
    }

    /// Nanoseconds for all calls over `transport`, and the 302s the node answered.
    func run(over transport: Transport, round: Int) -> (Int64, Int) {
        let node = makeNode(round: round)
        var now: Int64 = 1_000_000_000
        var answers = 0
        let start = cbench_now_ns()
        for call in 0..<calls {
            // 2,000 calls a second, as the benchmarks run them.
            now += 500_000
            for messages in [invites, acks] {
                messages[call].withUnsafeBytes { bytes in
                    if transport == .tcp {
                        // As the daemon does: framing scans a message that came whole.
                        var scan = StreamScan()
                        var scanned: SIPMessage?
                        guard case .message(let length) = StreamFramer.next(bytes, resuming: &scan, limit: 65_535, scanned: &scanned)
                        else { return }
                        let message = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
                        if let scanned {
                            node.receive(scanned, message, from: client, over: .tcp, now: now)
                        } else {
                            node.receive(message, from: client, over: .tcp, now: now)
                        }
                    } else {
                        node.receive(bytes, from: client, over: .udp, now: now)
                    }
                }
                answers += node.outbox.count
                node.outbox.removeAll()
                node.tick(now: now)
            }
        }
        return (cbench_now_ns() - start, answers)
    }

    /// Nanoseconds for the floor responder's own work on the same messages (its C code):
    /// frames each by its empty line, answers the INVITE by copying five header lines.
    func floor() -> Int64 {
        var out = [UInt8](repeating: 0, count: 4096)
        var written = 0
        let start = cbench_now_ns()
        out.withUnsafeMutableBytes { target in
            let answer = target.baseAddress!.assumingMemoryBound(to: CChar.self)
            for call in 0..<calls {
                for message in [invites, acks] {
                    message[call].withUnsafeBytes { bytes in
                        written &+= cbench_floor_answers(bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count,
                                                         answer, target.count)
                    }
                }
            }
        }
        let elapsed = cbench_now_ns() - start
        if written == 0 { print("floor wrote nothing") }
        return elapsed
    }
}
