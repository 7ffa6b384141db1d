import Foundation
import Testing

/// Broken configuration files: each is refused with exit status 2 and `FILE:LINE: what`.
struct ConfigTests {
    static let cases: [(name: String, text: String, line: Int, message: String)] = [
        ("threshold word", "[node]\nthreshold = lots\n", 2, "threshold: expected a number above 0 and at most 10"),
        ("threshold zero", "[node]\nlisten = 127.0.0.1:5060\nthreshold = 0\n", 3, "threshold: expected a number above 0 and at most 10"),
        ("hysteresis above threshold", "[node]\nthreshold = 0.5\nhysteresis = 0.7\n", 3,
         "hysteresis: expected a number from 0 to below the threshold"),
        // The same, written the other way round: checked once the whole file is read.
        ("hysteresis before threshold", "[node]\nhysteresis = 0.7\nthreshold = 0.5\n", 2,
         "hysteresis: expected a number from 0 to below the threshold"),
        ("drain maybe", "[node]\ndrain = perhaps\n", 2, "drain: expected yes or no"),
        ("listen without port", "[node]\nlisten = 127.0.0.1\n", 2, "listen: expected HOST:PORT"),
        ("listen bad address", "[node]\nlisten = 999.1.1.1:5060\n", 2, "listen: expected HOST:PORT"),
        ("identity not sip", "[node]\nidentity = http://example.com\n", 2, "identity: expected a sip: URI"),
        ("retry_after range", "[node]\nretry_after = 0\n", 2, "retry_after: expected a whole number from 1 to 86400"),
        ("forward timeout range", "[node]\nforward_timeout_ms = 5\n", 2,
         "forward_timeout_ms: expected a whole number from 10 to 60000"),
        ("rate_limit negative", "[node]\nrate_limit = -1\n", 2, "rate_limit: expected a whole number from 0 to 1000000"),
        ("unknown key", "[node]\nlisten = 127.0.0.1:5060\ncolour = blue\n", 3, "unknown key 'colour' in [node]"),
        ("unknown section", "; comment\n[nodes]\nlisten = 127.0.0.1:5060\n", 2, "unknown section [nodes]"),
        ("unknown section, keys later", "[node]\nlisten = 127.0.0.1:5060\n[capacty]\n\n; calls\ncalls = 10\n", 3,
         "unknown section [capacty]"),
        ("capacity word", "[capacity]\ncalls = many\n", 2, "calls: expected a whole number from 0 to 10000000"),
        ("sequence bad address", "[sequence]\na = here\n", 2, "sequence: expected NAME = HOST:PORT [IDENTITY]"),
        ("sequence identity not sip", "[sequence]\na = 127.0.0.1:5060 http://proxy\n", 2,
         "sequence: the identity after HOST:PORT must be a sip: URI"),
        ("recurse maybe", "[node]\nrecurse = sometimes\n", 2, "recurse: expected yes or no"),
        ("steering mode", "[steering]\nentry_points = 127.0.0.1:5060\nmode = proxy\n", 3, "mode: expected recurse or redirect"),
        ("steering path", "[steering]\nentry_points = 127.0.0.1:5060\npath = maybe\n", 3, "path: expected yes or no"),
        ("sequence twice", "[node]\nlisten = 127.0.0.1:5060\n[sequence]\na = 127.0.0.1:5060\nb = 127.0.0.1:5060\n", 5,
         "sequence: this address is listed twice"),
        ("this node missing", "[node]\nlisten = 127.0.0.3:5060\n[sequence]\na = 127.0.0.1:5060\n", 2,
         "this node (listen in [node]) is not in [sequence]"),
        ("probe interval range", "[health]\nprobe_interval_ms = 1\n", 2,
         "probe_interval_ms: expected a whole number from 50 to 600000"),
        ("steering without entry points", "[steering]\nlisten = 127.0.0.1:5071\n", 1, "[steering]: entry_points is missing"),
        ("entry point without port", "[steering]\nentry_points = 127.0.0.1:5060, 127.0.0.2\n", 2,
         "entry_points: expected 1 to 16 HOST:PORT, ... (primary first)"),
        ("entry point twice", "[steering]\nentry_points = 127.0.0.1:5060 127.0.0.1:5060\n", 2,
         "entry_points: this address is listed twice"),
        ("hook relative", "[steering]\nentry_points = 127.0.0.1:5060\nhook = hook.sh\n", 3, "hook: expected an absolute path"),
        ("hook not executable", "[steering]\nentry_points = 127.0.0.1:5060\nhook = /etc\n", 3,
         "hook: not an executable file"),
        ("refresh range", "[steering]\nrefresh_interval = 1\n", 2, "refresh_interval: expected a whole number from 5 to 86400"),
        ("endpoint kind", "[steering]\nentry_points = 127.0.0.1:5060\n[endpoint fxs1]\nkind = isdn\n", 4,
         "kind: expected analog, sip or h323"),
        ("endpoint without identity", "[steering]\nentry_points = 127.0.0.1:5060\nhook = /bin/true\n\n[endpoint fxs1]\nkind = analog\n", 5,
         "[endpoint]: identity is missing"),
        ("sip endpoint not sip", "[steering]\nentry_points = 127.0.0.1:5060\n[endpoint alice]\nkind = sip\nidentity = alice\n", 3,
         "[endpoint]: a sip endpoint's identity must be a sip: address of record"),
        ("analog without hook", "[node]\nstatus_interval = 2\n[steering]\nentry_points = 127.0.0.1:5060\n[endpoint fxs1]\nkind = analog\nidentity = fxs1\n", 3,
         "[steering]: hook is needed for analog and h323 endpoints"),
        ("endpoint without steering", "[node]\nlisten = 127.0.0.1:5060\n[endpoint alice]\nkind = sip\nidentity = sip:alice@example.com\n", 3,
         "[endpoint]: needs a [steering] section"),
        ("steering on the node's address", "[node]\nlisten = 127.0.0.1:5070\n[steering]\nentry_points = 127.0.0.1:5060\n", 3,
         "[steering]: listen must differ from the node's listen"),
        ("status file relative", "[node]\nstatus_file = status.json\n", 2, "status_file: expected an absolute path"),
        ("prometheus file relative", "[node]\n\nprometheus_file = g.prom\n", 3, "prometheus_file: expected an absolute path"),
        ("no such user", "[node]\nuser = gatewayd-nobody-here\n", 2, "user: no such user 'gatewayd-nobody-here'"),
        ("facility", "[node]\nlog_facility = kern\n", 2, "log_facility: expected daemon, user or local0 to local7"),
        ("syntax section", "[node\nlisten = 127.0.0.1:5060\n", 1, "syntax error: expected [SECTION] or NAME = VALUE"),
        // libinih also takes ':' between name and value, so this reads as a key "listen 127.0.0.1".
        ("missing equals", "[node]\nlisten 127.0.0.1:5060\n", 2, "unknown key 'listen 127.0.0.1' in [node]"),
        ("no delimiter", "[node]\nlisten\n", 2, "syntax error: expected [SECTION] or NAME = VALUE"),
        ("a key set twice", "[node]\nthreshold = 0.5\n\nthreshold = 0.6\n", 4, "threshold: set twice in this section, first at line 2"),
        ("a key before any section", "; top\nthreshold = 0.5\n[node]\n", 2, "a key before any [section]"),
        ("an unknown key in [capacity]", "[capacity]\ncalls = 10\ncpu = 50\n", 3, "unknown key 'cpu' in [capacity]"),
        ("an unknown key in [health]", "[health]\nprobe_interval = 100\n", 2, "unknown key 'probe_interval' in [health]"),
        ("an unknown key in [steering]", "[steering]\nentry_points = 127.0.0.1:5060\nentry_point = 127.0.0.2:5060\n", 3,
         "unknown key 'entry_point' in [steering]"),
        ("an unknown key in [endpoint]", "[steering]\nentry_points = 127.0.0.1:5060\n[endpoint a]\ntype = sip\n", 4,
         "unknown key 'type' in [endpoint]"),
        ("a third unknown section after good ones", "[node]\ndrain = no\n[health]\nfailures_to_down = 2\n[metering]\n; c\n\nclock = 1\n", 5,
         "unknown section [metering]"),
        ("a line too long", "[node]\n; " + String(repeating: "x", count: 300) + "\n", 2, "line too long: at most 198 characters"),
        ("threshold above ten", "[node]\nthreshold = 10.5\n", 2, "threshold: expected a number above 0 and at most 10"),
        ("threshold with an exponent", "[node]\nthreshold = 8e-1\n", 2, "threshold: expected a number above 0 and at most 10"),
        ("hysteresis at the default threshold", "[node]\nhysteresis = 0.8\n", 2, "hysteresis: expected a number from 0 to below the threshold"),
        ("hysteresis against a threshold set later", "[node]\nhysteresis = 0.4\nrate_limit = 5\nthreshold = 0.3\n", 2,
         "hysteresis: expected a number from 0 to below the threshold"),
        ("rate_burst zero", "[node]\nrate_burst = 0\n", 2, "rate_burst: expected a whole number from 1 to 1000000"),
        ("transactions too few", "[node]\ntransactions = 15\n", 2, "transactions: expected a whole number from 16 to 1000000"),
        ("a huge number", "[node]\nretry_after = 99999999999999999999\n", 2, "retry_after: expected a whole number from 1 to 86400"),
        ("status interval zero", "[node]\nstatus_interval = 0\n", 2, "status_interval: expected a whole number from 1 to 3600"),
        ("failures_to_down zero", "[health]\nfailures_to_down = 0\n", 2, "failures_to_down: expected a whole number from 1 to 100"),
        ("sequence name twice", "[node]\nlisten = 127.0.0.1:5060\n[sequence]\na = 127.0.0.1:5060\na = 127.0.0.2:5060\n", 5,
         "sequence: this name is listed twice"),
        ("sequence port zero", "[sequence]\na = 127.0.0.1:0\n", 2, "sequence: expected NAME = HOST:PORT [IDENTITY]"),
        ("endpoint kind twice", "[steering]\nentry_points = 127.0.0.1:5060\n[endpoint a]\nkind = sip\nkind = sip\n", 5,
         "kind: set twice for this endpoint"),
        ("endpoint identity with a space", "[steering]\nentry_points = 127.0.0.1:5060\n[endpoint a]\nkind = analog\nidentity = \"a b\"\n", 5,
         "identity: expected a line name, SIP address of record or H.323 alias without spaces"),
        ("a continued entry point listed twice", "[steering]\nentry_points = 127.0.0.1:5060,\n  127.0.0.1:5060\n", 3,
         "entry_points: this address is listed twice"),
        ("tls_port without a certificate", "[node]\ntls_port = 5061\n", 2, "tls_port: needs certificate and key in [tls]"),
        ("tls_port on the listen port", "[node]\nlisten = 127.0.0.1:5060\ntls_port = 5060\n", 3,
         "tls_port: must differ from listen's port, where TCP is"),
        ("tls verify without a CA", "[node]\ntls_port = 5061\n[tls]\ncertificate = /x.pem\nkey = /x.key\nverify = peer\n", 6,
         "[tls] verify: needs ca, the certificates peers are checked against"),
        ("tls certificate relative", "[tls]\ncertificate = node.pem\n", 2, "certificate: expected an absolute path"),
        ("a TLS proxy to recurse to without tls_port", "[node]\nidentity = sips:127.0.0.1:5061\nrecurse = yes\n", 2,
         "identity: a TLS proxy (sips: or transport=tls) with recurse needs tls_port"),
        ("a TCP proxy to recurse to without tcp", "[node]\nrecurse = yes\ntcp = no\nidentity = sip:127.0.0.1:5070;transport=tcp\n", 4,
         "identity: a TCP proxy (transport=tcp) with recurse needs tcp = yes"),
        ("steering listen twice", "[steering]\nentry_points = 127.0.0.1:5060\nlisten = 127.0.0.1:5071\nlisten = 127.0.0.1:5072\n", 4,
         "listen: set twice in this section, first at line 3"),
    ]

    @Test(arguments: cases.map(\.name))
    func brokenConfigIsRefusedWithFileAndLine(_ name: String) throws {
        let broken = try #require(ConfigTests.cases.first { $0.name == name })
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gatewayd-config-\(getpid())-\(name.replacingOccurrences(of: " ", with: "-")).conf")
        defer { try? FileManager.default.removeItem(at: file) }
        try broken.text.write(to: file, atomically: true, encoding: .utf8)
        for arguments in [["--check-config", "-c", file.path], ["-c", file.path]] {
            let result = try Interop.run(Interop.binary.path, arguments)
            #expect(result.status == 2, "\(name): \(result.error)")
            #expect(result.error == "gatewayd: \(file.path):\(broken.line): \(broken.message)\n", "\(name)")
        }
    }

    /// Hysteresis is judged against the threshold of the whole file, whichever comes first.
    @Test func hysteresisBeforeAHigherThresholdIsAccepted() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-config-\(getpid())-order.conf")
        defer { try? FileManager.default.removeItem(at: file) }
        try "[node]\nhysteresis = 0.85\nthreshold = 0.9\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Interop.run(Interop.binary.path, ["--check-config", "-c", file.path])
        #expect(result.status == 0, "\(result.error)")
    }

    /// The steering sections of the example, taken out of their comments, are valid too.
    @Test func theExampleWithSteeringIsValid() throws {
        let example = try String(contentsOf: Interop.root.appendingPathComponent("docs/gatewayd.conf"), encoding: .utf8)
        var lines: [String] = []
        var steering = false
        for line in example.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(";[steering]") { steering = true }
            if steering && line.hasPrefix(";") && !line.hasPrefix("; ") && !line.hasPrefix(";;") {
                lines.append(line.hasPrefix(";hook =") ? "hook = /bin/true" : String(line.dropFirst()))
            } else {
                lines.append(String(line))
            }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-example-steering-\(getpid()).conf")
        defer { try? FileManager.default.removeItem(at: file) }
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let result = try Interop.run(Interop.binary.path, ["--check-config", "-c", file.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == "configuration ok: 1 members, this node is #1; steering 1 endpoints, 2 entry points\n")
    }

    /// docs/gatewayd.conf and the keys of gatewayd.conf(5) are what the key table says, as
    /// `gatewayd config-reference` writes them (scripts/config-docs brings them up to date).
    @Test func theDocsAreTheKeyTable() throws {
        let conf = try Interop.run(Interop.binary.path, ["config-reference", "conf"])
        #expect(conf.status == 0)
        let example = try String(contentsOf: Interop.root.appendingPathComponent("docs/gatewayd.conf"), encoding: .utf8)
        #expect(example == conf.output, "docs/gatewayd.conf is not the key table: run scripts/config-docs")
        let man = try Interop.run(Interop.binary.path, ["config-reference", "man"])
        #expect(man.status == 0)
        let page = try String(contentsOf: Interop.root.appendingPathComponent("docs/man/gatewayd.conf.5"), encoding: .utf8)
        let start = try #require(page.range(of: ".\\\" The keys:"), "gatewayd.conf.5 lost its generated part")
        let end = try #require(page.range(of: ".\\\" End of the keys.\n"))
        #expect(String(page[start.lowerBound..<end.upperBound]) == man.output,
                "gatewayd.conf(5) is not the key table: run scripts/config-docs")
        // Every key is in both, with its default and its reload rule.
        for line in example.split(separator: "\n") where line.hasPrefix("; Expected: ") {
            #expect(line.contains("Default: ") || line.contains("Required"), "\(line)")
        }
        let keyLines = example.split(separator: "\n").filter { !$0.hasPrefix("; ") && $0.contains(" = ") }
        #expect(keyLines.count == man.output.components(separatedBy: ".TP\n").count - 1)
    }

    /// `prometheus_file =` with nothing after it means none, as leaving it out does.
    @Test func anEmptyOptionalPathIsNone() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-config-\(getpid())-empty-path.conf")
        defer { try? FileManager.default.removeItem(at: file) }
        try "[node]\nprometheus_file =\n[steering]\nentry_points = 127.0.0.1:5060,\n    127.0.0.2:5060\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try Interop.run(Interop.binary.path, ["--check-config", "-c", file.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == "configuration ok: steering only, 0 endpoints, 2 entry points\n")
    }

    @Test func theCommentedExampleIsValid() throws {
        let example = Interop.root.appendingPathComponent("docs/gatewayd.conf")
        let result = try Interop.run(Interop.binary.path, ["--check-config", "-c", example.path])
        #expect(result.status == 0, "\(result.error)")
    }
}
