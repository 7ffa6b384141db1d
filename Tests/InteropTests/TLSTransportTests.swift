import Foundation
import Testing

/// SIP over TLS with the real binary (RFC 3261 §26.2): a client's INVITE gets its redirect on
/// its own connection, client certificates are asked for and checked when the config says so,
/// and what a TLS server must survive (garbage, half a handshake, an untrusting client) is
/// closed and counted while the node keeps answering. Certificates are made for each run by
/// scripts/tls-certs; the client is Python's ssl module (Tests/Scripts/tls_client.py).
@Suite(.serialized)
struct TLSTransportTests {
    static let tools = ["/usr/bin/python3", "/usr/bin/openssl"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    static let script = Interop.root.appendingPathComponent("Tests/Scripts/tls_client.py")

    /// A CA and certificates for `names` (NAME=SAN,...), in a directory of their own.
    final class Certificates {
        let directory: URL

        init(_ label: String, _ names: [String]) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-certs-\(getpid())-\(label)")
            try? FileManager.default.removeItem(at: directory)
            let made = try Interop.run(Interop.root.appendingPathComponent("scripts/tls-certs").path, [directory.path] + names)
            try #require(made.status == 0, "tls-certs: \(made.error)")
        }

        func path(_ file: String) -> String { directory.appendingPathComponent(file).path }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    /// A one-member node on 127.0.0.1:`port` with TLS on `port` + 1, certificate `n1`;
    /// `tls`: more lines for [tls].
    static func node(port: Int, certificates: Certificates, tls: String = "", extra: String = "") throws -> TCPTransportTests.OneNode {
        try TCPTransportTests.OneNode(port: port, extra: """
            tls_port = \(port + 1)
            \(extra)
            [tls]
            certificate = \(certificates.path("n1.pem"))
            key = \(certificates.path("n1.key"))
            \(tls)
            """)
    }

    struct Outcome: Decodable {
        var handshake: String
        var responses: [String]
        var closed: Bool
        var finals: [String] { responses.filter { !$0.hasPrefix("SIP/2.0 1") } }
    }

    /// One connection of the Python client to `port` with `arguments`; what it saw.
    static func connect(_ port: Int, _ arguments: [String], messages: [String] = [], expect: Int = 0,
                        timeout: Double = 5) throws -> Outcome {
        var files: [String] = []
        defer { files.forEach { try? FileManager.default.removeItem(atPath: $0) } }
        for (index, message) in messages.enumerated() {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-tls-msg-\(getpid())-\(port)-\(index)").path
            try message.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        let result = try Interop.run("/usr/bin/python3", [script.path, "127.0.0.1", "\(port)", "--expect", "\(expect)",
                                                          "--timeout", "\(timeout)"]
                                     + arguments + files.flatMap { ["--message", $0] })
        try #require(result.status == 0, "tls_client.py: \(result.error)")
        return try JSONDecoder().decode(Outcome.self, from: Data(result.output.utf8))
    }

    static func invite(_ id: String, port: Int) -> String {
        "INVITE sip:alice@127.0.0.1:\(port) SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bK\(id);rport\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: \(id)\r\nCSeq: 1 INVITE\r\n"
            + "Contact: <sip:c@127.0.0.1:9;transport=tls>\r\nContent-Length: 0\r\n\r\n"
    }

    @Test(.enabled(if: tools || RealPhones.inCI, "python3 or openssl is not installed"))
    func invitesOverTLSGetTheirRedirectsOnTheirOwnConnection() throws {
        let certificates = try Certificates("redirect", ["n1=127.0.0.1,node1.test"])
        let node = try Self.node(port: 5240, certificates: certificates)
        // Two INVITEs on one connection, the server's certificate checked by name and CA.
        let seen = try Self.connect(node.tlsPort, ["--ca", certificates.path("ca.pem"), "--server-name", "node1.test"],
                                    messages: [Self.invite("tls-1", port: node.tlsPort), Self.invite("tls-2", port: node.tlsPort)],
                                    expect: 2)
        #expect(seen.handshake == "ok")
        #expect(seen.finals == ["SIP/2.0 302 Moved Temporarily", "SIP/2.0 302 Moved Temporarily"], "\(seen)")
        #expect(Interop.eventually(5) { node.tls("handshakes") == 1 && node.tls("messages") == 2 && node.tls("accepted") == 1 })
        #expect(Interop.eventually(5) { node.tls("open") == 0 && node.tls("closed_by_peer") == 1 })
        #expect(node.tls("closed_handshake") == 0 && node.tls("closed_tls_error") == 0 && node.tls("send_failed") == 0)
        #expect(node.log.contains("listening on 127.0.0.1:5240 (UDP, TCP, TLS on port 5241 with OpenSSL 3"), "\(node.log)")
        #expect(node.mapsOpenSSL)
    }

    /// OpenSSL is loaded for a TLS port only: a node without one does not carry its pages.
    @Test func aNodeWithoutATLSPortDoesNotLoadOpenSSL() throws {
        let node = try TCPTransportTests.OneNode(port: 5248)
        #expect(Interop.eventually(5) { (try? Interop.ask(5248, clientPort: 5249, callID: "no-tls")) == "SIP/2.0 302 Moved Temporarily" })
        #expect(!node.mapsOpenSSL)
    }

    @Test(.enabled(if: tools || RealPhones.inCI, "python3 or openssl is not installed"))
    func withVerifyRequireOnlyClientsWithACertificateFromTheCAAreTaken() throws {
        let certificates = try Certificates("require", ["n1=127.0.0.1", "phone=phone.test"])
        let stranger = try Certificates("stranger", ["phone=phone.test"])
        let node = try Self.node(port: 5242, certificates: certificates,
                               tls: "ca = \(certificates.path("ca.pem"))\nverify = require")
        let ca = ["--ca", certificates.path("ca.pem")]
        let request = [Self.invite("req-1", port: node.tlsPort)]
        // No certificate, then one signed by another CA: the handshake fails on the server's
        // side (with TLS 1.3 the client learns it at its first read).
        let without = try Self.connect(node.tlsPort, ca, messages: request, expect: 1)
        #expect(without.finals.isEmpty && (without.closed || without.handshake != "ok"), "\(without)")
        let foreign = try Self.connect(node.tlsPort, ca + ["--cert", stranger.path("phone.pem"), "--key", stranger.path("phone.key")],
                                       messages: request, expect: 1)
        #expect(foreign.finals.isEmpty && (foreign.closed || foreign.handshake != "ok"), "\(foreign)")
        #expect(Interop.eventually(5) { node.tls("closed_handshake") == 2 }, "\(node.tls("closed_handshake"))")
        let member = try Self.connect(node.tlsPort, ca + ["--cert", certificates.path("phone.pem"), "--key", certificates.path("phone.key")],
                                      messages: request, expect: 1)
        #expect(member.finals == ["SIP/2.0 302 Moved Temporarily"], "\(member)")
        #expect(Interop.eventually(5) { node.tls("handshakes") == 1 && node.tls("messages") == 1 })
    }

    @Test(.enabled(if: tools || RealPhones.inCI, "python3 or openssl is not installed"))
    func garbageAndHalfAHandshakeAreClosedAndCountedAndTheNodeKeepsAnswering() throws {
        let certificates = try Certificates("bad", ["n1=127.0.0.1"])
        let node = try Self.node(port: 5244, certificates: certificates, extra: "tcp_message_timeout_ms = 300")
        // SIP in the clear on the TLS port: not a handshake.
        let clear = try Self.connect(node.tlsPort, ["--garbage"], messages: [Self.invite("clear-1", port: node.tlsPort)], timeout: 5)
        #expect(clear.closed && clear.responses.isEmpty, "\(clear)")
        // The first 60 bytes of a ClientHello, then nothing: closed at the message deadline.
        let started = Date()
        let half = try Self.connect(node.tlsPort, ["--half", "60"], timeout: 10)
        #expect(half.closed, "\(half)")
        #expect(Date().timeIntervalSince(started) < 8, "closed after \(Date().timeIntervalSince(started)) s")
        // A client that does not trust the node's certificate gives up; the node counts it.
        let other = try Certificates("bad-other", ["x=127.0.0.1"])
        let untrusting = try Self.connect(node.tlsPort, ["--ca", other.path("ca.pem")], messages: [Self.invite("u-1", port: node.tlsPort)])
        #expect(untrusting.handshake.hasPrefix("failed"), "\(untrusting)")
        #expect(Interop.eventually(5) { node.tls("closed_handshake") == 3 && node.tls("open") == 0 }, "\(node.tls("closed_handshake"))")
        #expect(Interop.eventually(5) { node.log.contains("TLS connections closed in or after the handshake") }, "\(node.log)")
        // Still answering, over TLS and over UDP.
        let good = try Self.connect(node.tlsPort, ["--ca", certificates.path("ca.pem")],
                                    messages: [Self.invite("good-1", port: node.tlsPort)], expect: 1)
        #expect(good.finals == ["SIP/2.0 302 Moved Temporarily"], "\(good)")
        #expect(try Interop.ask(UInt16(node.port), clientPort: 5245, callID: "udp-after-tls") == "SIP/2.0 302 Moved Temporarily")
    }

    @Test(.enabled(if: tools || RealPhones.inCI, "python3 or openssl is not installed"))
    func aCertificateThatCannotBeReadStopsTheStartAndTheCheckNamingTheFile() throws {
        let certificates = try Certificates("unreadable", ["n1=127.0.0.1"])
        let directory = certificates.directory
        let config = directory.appendingPathComponent("bad.conf")
        // The key of another certificate, then a certificate file that is no certificate.
        _ = try Interop.run(Interop.root.appendingPathComponent("scripts/tls-certs").path, [directory.path, "n2=127.0.0.2"])
        for (certificate, key, says) in [(certificates.path("n1.pem"), certificates.path("n2.key"), "n2.key: the key is not the certificate's"),
                                         (certificates.path("n1.key"), certificates.path("n1.key"), "n1.key: not a readable PEM certificate chain")] {
            try "[node]\nlisten = 127.0.0.1:5246\ntls_port = 5247\n[tls]\ncertificate = \(certificate)\nkey = \(key)\n"
                .write(to: config, atomically: true, encoding: .utf8)
            for arguments in [["-c", config.path], ["--check-config", "-c", config.path]] {
                let result = try Interop.run(Interop.binary.path, arguments)
                // --check-config says 2 (a bad configuration); a start that fails, 1.
                #expect(result.status == (arguments[0] == "--check-config" ? 2 : 1), "\(arguments)")
                #expect(result.error.contains("[tls]: ") && result.error.contains(says), "\(result.error)")
            }
        }
    }

    // MARK: TLS between members

    /// `[node]` and `[tls]` lines for member n of a group running TLS between members: its
    /// status file in `directory`, the certificate named `certificate(n)`.
    static func memberTLS(_ certificates: Certificates, tlsPort: Int, directory: URL,
                          certificate: @escaping (Int) -> String = { "n\($0)" }) -> (Int) -> String {
        { node in
            """
            [node]
            tls_port = \(tlsPort)
            status_file = \(directory.path)/n\(node).status
            status_interval = 1
            [tls]
            certificate = \(certificates.path(certificate(node) + ".pem"))
            key = \(certificates.path(certificate(node) + ".key"))
            ca = \(certificates.path("ca.pem"))
            verify = peer
            members = yes

            """
        }
    }

    static func tls(_ directory: URL, _ node: Int) -> [String: Any] {
        Interop.status(directory.appendingPathComponent("n\(node).status"))?["tls"] as? [String: Any] ?? [:]
    }

    @Test(.enabled(if: (tools && TCPTransportTests.sippInstalled) || RealPhones.inCI, "python3, openssl or sipp is not installed"))
    func aChainRunningTLSBetweenMembersForwardsOverAuthenticatedConnections() throws {
        // #1 and #2 drain: SIPp's INVITE over UDP to #1 goes on over TLS to #2 and #3, each
        // checking the next one's certificate, and #3's 302 comes back along the connections.
        let certificates = try Certificates("chain", ["n1=127.0.0.1", "n2=127.0.0.2", "n3=127.0.0.3"])
        let statuses = try Interop.scratch("tls-chain")
        defer { try? FileManager.default.removeItem(at: statuses) }
        let group = try GroupTests.Group(3, port: 5250, draining: [1, 2],
                                         extra: Self.memberTLS(certificates, tlsPort: 5251, directory: statuses))
        let run = try group.sipp("redirect_uac.xml", calls: 10, clientPort: 5252)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.3:5250" }.count == 10, "\(run.log)")
        // One connection each way along the chain, made once and reused for every call.
        #expect(Interop.eventually(5) {
            Self.tls(statuses, 1)["opened"] as? Int == 1 && Self.tls(statuses, 1)["handshakes"] as? Int == 1
                && Self.tls(statuses, 2)["accepted"] as? Int == 1 && Self.tls(statuses, 2)["opened"] as? Int == 1
                && Self.tls(statuses, 3)["accepted"] as? Int == 1 && Self.tls(statuses, 3)["opened"] as? Int == 0
        }, "\((1...3).map { Self.tls(statuses, $0) })")
        #expect((1...3).allSatisfy { Self.tls(statuses, $0)["closed_certificate"] as? Int == 0 })
        #expect(group.stop() == [0, 0, 0])
        #expect(group.counters(1)?.forwarded == 10 && group.counters(2)?.forwarded == 10 && group.counters(3)?.answeredHere == 10)
    }

    @Test(.enabled(if: (tools && TCPTransportTests.sippInstalled) || RealPhones.inCI, "python3, openssl or sipp is not installed"))
    func aMemberWhoseCertificateNamesAnotherAddressIsNotForwardedTo() throws {
        // #2's certificate, from the same CA, names 127.0.0.9: #1 closes its connection after
        // the handshake, sends nothing on it, and skips #2 once the forward times out.
        let certificates = try Certificates("wrong", ["n1=127.0.0.1", "n3=127.0.0.3", "n2=127.0.0.9"])
        let statuses = try Interop.scratch("tls-wrong")
        defer { try? FileManager.default.removeItem(at: statuses) }
        let group = try GroupTests.Group(3, port: 5254, draining: [1],
                                         extra: Self.memberTLS(certificates, tlsPort: 5255, directory: statuses))
        let run = try group.sipp("redirect_uac.xml", calls: 3, rate: 1, clientPort: 5256)
        #expect(run.status == 0)
        #expect(run.log.filter { $0 == "contact sip:service@127.0.0.3:5254" }.count == 3, "\(run.log)")
        #expect(Interop.eventually(5) { (Self.tls(statuses, 1)["closed_certificate"] as? Int ?? 0) >= 1 },
                "\((1...3).map { Self.tls(statuses, $0) })")
        #expect(group.stop() == [0, 0, 0])
        #expect(group.counters(2)?.answeredHere == 0 && group.counters(3)?.answeredHere == 3)
    }

    @Test(.enabled(if: tools || RealPhones.inCI, "python3 or openssl is not installed"))
    func aForwardOverUDPFromAMembersAddressIsAStrangersWhenTheGroupRunsTLS() throws {
        // Node #2 of three, the others not running; a forward with #1's Via sent from #1's
        // own address and port over UDP: refused with TLS between members, taken without.
        let certificates = try Certificates("forged", ["n2=127.0.0.2"])
        let directory = try Interop.scratch("tls-forged")
        defer { try? FileManager.default.removeItem(at: directory) }
        for (members, expected) in [("yes", "SIP/2.0 403"), ("no", "SIP/2.0 302")] {
            let config = directory.appendingPathComponent("n2-\(members).conf")
            try """
                [node]
                listen = 127.0.0.2:5258
                tls_port = 5259
                rate_limit = 0
                [sequence]
                n1 = 127.0.0.1:5258
                n2 = 127.0.0.2:5258
                n3 = 127.0.0.3:5258
                [tls]
                certificate = \(certificates.path("n2.pem"))
                key = \(certificates.path("n2.key"))
                ca = \(certificates.path("ca.pem"))
                verify = peer
                members = \(members)

                """.write(to: config, atomically: true, encoding: .utf8)
            let node = try Interop.startNode(config) { Interop.isBoundUDP("127.0.0.2", 5258) }
            defer {
                node.terminate()
                node.waitUntilExit()
            }
            let member = try UDPSocket(bind: "127.0.0.1", port: 5258)
            let forged = "INVITE sip:alice@127.0.0.1:5258 SIP/2.0\r\n"
                + "Via: SIP/2.0/UDP 127.0.0.1:5258;branch=z9hG4bKforged-\(members)\r\n"
                + "Via: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKclient-\(members)\r\n"
                + "Max-Forwards: 69\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: forged-\(members)\r\n"
                + "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
            try member.send(forged, to: "127.0.0.2", port: 5258)
            var final: String?
            while final == nil, let answer = member.receive(timeoutMilliseconds: 2000) {
                if !answer.hasPrefix("SIP/2.0 100") { final = answer }
            }
            #expect(final?.hasPrefix(expected) == true, "members = \(members): \(String(describing: final))")
        }
    }
}

extension TCPTransportTests.OneNode {
    /// A counter of the status file's tls object (-1 while there is none).
    func tls(_ name: String) -> Int { counter(of: "tls", name) }

    /// Where `TLSTransportTests.node` listens for TLS.
    var tlsPort: Int { port + 1 }
}
