import Foundation
import Testing

/// HEPv3 export (`[hep]`) with the real binary, judged by an independent decoder: sngrep
/// (Debian's, built with HEP) listens as the collector and writes every message it decodes
/// to a pcap. tshark has no HEP dissector in Debian 12 (4.0), so sngrep stands in for it.
/// The reference is tshark capturing lo (LoopbackCapture). Loopback only: SIPp UAS 5861, UAC 5862, node 5863, a
/// client 127.0.0.100:5864, the collector 5865; the second test's node 5866, collector 5867.
@Suite(.serialized) struct HEPTests {
    static let tools = ["/usr/bin/sipp", "/usr/bin/sngrep", "/usr/bin/tshark"]
    static let canRun = getuid() == 0 && tools.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

    /// One SIP message as tshark shows it: time, addresses, ports, payload in hex.
    struct Seen: Equatable {
        var time: Double
        var source: String, sourcePort: Int, destination: String, destinationPort: Int
        var payload: String
    }

    static func messages(_ pcap: URL, filter: String) throws -> [Seen] {
        let text = try Interop.tshark(["-r", pcap.path, "-Y", filter, "-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch",
                                       "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport", "-e", "udp.payload"])
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 6, let time = Double(f[0]), let sport = Int(f[2]), let dport = Int(f[4]) else { return nil }
            return Seen(time: time, source: f[1], sourcePort: sport, destination: f[3], destinationPort: dport,
                        payload: f[5].replacingOccurrences(of: ":", with: "").lowercased())
        }
    }

    /// sngrep as the collector: it decodes each HEP datagram and writes the SIP in it, with
    /// the addresses, ports and time HEP carried, to a pcap (closed on SIGINT).
    final class Collector: LabMember {
        let name = "sngrep"
        let file: String
        private var process: ChildProcess?

        init(_ lab: PhoneLab, port: Int) throws {
            file = lab.path("collector.pcap")
            process = try lab.launch("/usr/bin/sngrep", ["-N", "-q", "-L", "udp:127.0.0.1:\(port)", "-O", file],
                                     in: lab.directory.path, output: lab.path("sngrep.out"), error: lab.path("sngrep.err"))
            _ = lab.add(self)
            try #require(Interop.eventually(10) { Interop.isBoundUDP("127.0.0.1", port) },
                         "sngrep does not listen: \(RealPhones.tail(lab.path("sngrep.out")))")
        }

        func stop() {
            if let process { PhoneLab.end(process, signal: SIGINT, grace: 10) }
            process = nil
        }
    }

    /// The status file's HEP counters.
    static func hep(_ status: [String: Any]?) -> [String: Int] {
        (status?["hep"] as? [String: Any])?.compactMapValues { $0 as? Int } ?? [:]
    }

    /// The chunks of a HEP3 packet given as hex, by type.
    static func chunks(_ hex: String) -> [Int: [UInt8]] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        var result: [Int: [UInt8]] = [:]
        var offset = 6
        while offset + 6 <= bytes.count {
            let type = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let length = Int(bytes[offset + 4]) << 8 | Int(bytes[offset + 5])
            guard length >= 6, offset + length <= bytes.count else { break }
            result[type] = Array(bytes[offset + 6..<offset + length])
            offset += length
        }
        return result
    }

    @Test(.enabled(if: canRun, "needs root (capture), SIPp, sngrep and tshark: sh scripts/install-deps"))
    func everyCapturedAndExchangedMessageReachesTheCollectorOnceAndIntact() throws {
        let lab = try PhoneLab("hep")
        let directory = lab.directory
        let collector = try Collector(lab, port: 5865)
        let capture = try LoopbackCapture(lab, name: "lo", filter: "udp and (port 5861 or port 5863 or port 5865)")
        let live = URL(fileURLWithPath: collector.file), reference = URL(fileURLWithPath: capture.file)

        let config = directory.appendingPathComponent("node.conf")
        let status = directory.appendingPathComponent("status.json")
        try """
            [node]
            listen = 127.0.0.1:5863
            status_file = \(status.path)
            status_interval = 1
            [capture]
            interface = lo
            filter = udp port 5861
            [sequence]
            n1 = 127.0.0.1:5863
            [hep]
            collector = 127.0.0.1:5865
            capture_id = 4242
            auth_key = s3cret
            """.write(to: config, atomically: true, encoding: .utf8)
        let node = try Interop.startNode(config, log: directory.appendingPathComponent("node.log")) {
            (Interop.status(status)?["meter"] as? [String: Any])?["capturing"] as? Bool == true
        }
        defer { node.terminate(); node.waitUntilExit() }

        // Captured: three calls between SIPp's UAC and UAS. Exchanged: an OPTIONS to connect.
        let uas = try lab.launch("/usr/bin/sipp", ["-sn", "uas", "-i", "127.0.0.1", "-p", "5861", "-m", "3", "-nostdin",
                                                   "-timeout", "30s"], in: directory.path, output: lab.path("uas.log"))
        defer { PhoneLab.end(uas) }
        #expect(Interop.eventually(10) { Interop.isBoundUDP("127.0.0.1", 5861) })
        let uac = try lab.launch("/usr/bin/sipp", ["127.0.0.1:5861", "-sn", "uac", "-i", "127.0.0.1", "-p", "5862", "-m", "3",
                                                   "-r", "3", "-d", "200", "-nostdin", "-timeout", "30s", "-timeout_error"],
                                 in: directory.path, output: lab.path("uac.log"))
        #expect(Interop.eventually(40) { !uac.isRunning })
        #expect(uac.terminationStatus == 0, "the SIPp calls failed")
        let client = try UDPSocket(bind: "127.0.0.100", port: 5864)
        try client.send(Interop.options(to: 5863, from: 5864, id: "hep-own-1"), to: "127.0.0.1", port: 5863)
        #expect(client.receive(timeoutMilliseconds: 5000)?.hasPrefix("SIP/2.0 302") == true)

        // Everything the capture saw on the SIP ports has gone to the collector, and been seen.
        var counts = (sip: 0, hep: 0, sent: -1)
        let settled = Interop.eventually(30) {
            let packets = capture.packets()
            counts.sip = packets.filter { [5861, 5863].contains($0.sourcePort) || [5861, 5863].contains($0.destinationPort) }.count
            counts.hep = packets.filter { $0.destinationPort == 5865 }.count
            kill(node.processIdentifier, SIGUSR1)
            counts.sent = Self.hep(Interop.status(status))["sent"] ?? -1
            return counts.sip >= 20 && counts.hep == counts.sip && counts.sent == counts.sip
        }
        #expect(settled, "SIP on lo, HEP datagrams, sent: \(counts)")
        collector.stop()
        capture.stop()

        // sngrep's decode: each message once, byte for byte, same addresses and ports; the
        // captured ones with the capture's time, the node's own within the daemon's reading
        // or sending of them (it stamps them itself, the kernel stamps lo).
        let sip = try Self.messages(reference, filter: "udp.port == 5861 || udp.port == 5863")
        let datagrams = try Self.messages(reference, filter: "udp.dstport == 5865")
        #expect(sip.count == counts.sip && datagrams.count == counts.hep)
        let decoded = try Self.messages(live, filter: "udp")
        #expect(decoded.count == sip.count, "sngrep decoded \(decoded.count) of \(sip.count)")
        for message in sip {
            let same = decoded.filter {
                $0.payload == message.payload && $0.source == message.source && $0.sourcePort == message.sourcePort
                    && $0.destination == message.destination && $0.destinationPort == message.destinationPort
            }
            #expect(same.count == 1, "\(message.source):\(message.sourcePort) -> \(message.destinationPort) seen \(same.count) times")
            let own = message.sourcePort == 5863 || message.destinationPort == 5863
            if let copy = same.first {
                #expect(abs(copy.time - message.time) <= (own ? 0.1 : 0.001),
                        "time \(copy.time) against \(message.time) (\(own ? "own" : "captured"))")
            }
        }
        #expect(sip.contains { $0.destinationPort == 5863 } && sip.contains { $0.sourcePort == 5863 })

        // The chunks sngrep does not write out: capture id, key, and the Call-ID as correlation.
        for datagram in datagrams {
            let chunks = Self.chunks(datagram.payload)
            #expect(chunks[0x0C] == [0, 0, 0x10, 0x92], "capture id 4242")
            #expect(chunks[0x0E] == Array("s3cret".utf8))
            let payload = String(decoding: chunks[0x0F] ?? [], as: UTF8.self)
            let callID = payload.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("call-id:") }?
                .dropFirst(8).trimmingCharacters(in: .whitespaces)
            #expect(callID != nil && chunks[0x11] == Array((callID ?? "").utf8), "correlation id \(String(decoding: chunks[0x11] ?? [], as: UTF8.self)) for \(callID ?? "none")")
        }
        let counters = Self.hep(Interop.status(status))
        #expect(counters["dropped"] == 0 && counters["send_failed"] == 0)
    }

    @Test(.enabled(if: canRun, "needs root, SIPp, sngrep and tshark: sh scripts/install-deps"))
    func aCollectorThatIsDownCostsNothing() throws {
        let lab = try PhoneLab("hep-down")
        let directory = lab.directory
        let config = directory.appendingPathComponent("node.conf")
        let status = directory.appendingPathComponent("status.json")
        try """
            [node]
            listen = 127.0.0.1:5866
            status_file = \(status.path)
            status_interval = 1
            rate_limit = 0
            [sequence]
            n1 = 127.0.0.1:5866
            [hep]
            collector = 127.0.0.1:5867
            """.write(to: config, atomically: true, encoding: .utf8)
        #expect(!Interop.isBoundUDP("127.0.0.1", 5867), "something listens where the collector should be down")
        let node = try Interop.startNode(config, log: directory.appendingPathComponent("node.log"))
        defer { node.terminate(); node.waitUntilExit() }

        // Every request answered, one after another, while each copy to HEP meets a closed port.
        let client = try UDPSocket(bind: "127.0.0.100", port: 5868)
        var answered = 0
        for round in 0..<200 {
            try client.send(Interop.options(to: 5866, from: 5868, id: "hep-down-\(round)"), to: "127.0.0.1", port: 5866)
            if client.receive(timeoutMilliseconds: 2000)?.hasPrefix("SIP/2.0 302") == true { answered += 1 }
        }
        #expect(answered == 200)
        kill(node.processIdentifier, SIGUSR1)
        var counters: [String: Int] = [:]
        // Each request and its answer, and the test's readiness probes (OPTIONS, 200).
        let counted = Interop.eventually(10) {
            counters = Self.hep(Interop.status(status))
            return (counters["sent"] ?? 0) + (counters["send_failed"] ?? 0) + (counters["dropped"] ?? 0) >= 400
        }
        #expect(counted, "\(counters)")
        #expect((counters["send_failed"] ?? 0) > 0, "the refusals of a closed port are counted: \(counters)")
    }
}
