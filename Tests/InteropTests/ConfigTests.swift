import Foundation
import Testing

/// Broken configuration files: each is refused with exit status 2 and `FILE:LINE: what`.
struct ConfigTests {
    static let cases: [(name: String, text: String, line: Int, message: String)] = [
        ("threshold word", "[node]\nthreshold = lots\n", 2, "threshold: expected a number above 0 and at most 10"),
        ("threshold zero", "[node]\nlisten = 127.0.0.1:5060\nthreshold = 0\n", 3, "threshold: expected a number above 0 and at most 10"),
        ("hysteresis above threshold", "[node]\nthreshold = 0.5\nhysteresis = 0.7\n", 3,
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
        ("unknown section", "; comment\n[nodes]\nlisten = 127.0.0.1:5060\n", 3, "unknown section [nodes]"),
        ("capacity word", "[capacity]\ncalls = many\n", 2, "calls: expected a whole number from 0 to 10000000"),
        ("sequence bad address", "[sequence]\na = here\n", 2, "sequence: expected NAME = HOST:PORT"),
        ("sequence twice", "[node]\nlisten = 127.0.0.1:5060\n[sequence]\na = 127.0.0.1:5060\nb = 127.0.0.1:5060\n", 5,
         "sequence: this address is listed twice"),
        ("this node missing", "[node]\nlisten = 127.0.0.3:5060\n[sequence]\na = 127.0.0.1:5060\n", 2,
         "this node (listen in [node]) is not in [sequence]"),
        ("probe interval range", "[health]\nprobe_interval_ms = 1\n", 2,
         "probe_interval_ms: expected a whole number from 50 to 600000"),
        ("status file relative", "[node]\nstatus_file = status.json\n", 2, "status_file: expected an absolute path"),
        ("prometheus file relative", "[node]\n\nprometheus_file = g.prom\n", 3, "prometheus_file: expected an absolute path"),
        ("no such user", "[node]\nuser = gatewayd-nobody-here\n", 2, "user: no such user 'gatewayd-nobody-here'"),
        ("facility", "[node]\nlog_facility = kern\n", 2, "log_facility: expected daemon, user or local0 to local7"),
        ("syntax section", "[node\nlisten = 127.0.0.1:5060\n", 1, "syntax error: expected [SECTION] or NAME = VALUE"),
        // libinih also takes ':' between name and value, so this reads as a key "listen 127.0.0.1".
        ("missing equals", "[node]\nlisten 127.0.0.1:5060\n", 2, "unknown key 'listen 127.0.0.1' in [node]"),
        ("no delimiter", "[node]\nlisten\n", 2, "syntax error: expected [SECTION] or NAME = VALUE"),
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

    @Test func theCommentedExampleIsValid() throws {
        let example = Interop.root.appendingPathComponent("docs/gatewayd.conf")
        let result = try Interop.run(Interop.binary.path, ["--check-config", "-c", example.path])
        #expect(result.status == 0, "\(result.error)")
    }
}
