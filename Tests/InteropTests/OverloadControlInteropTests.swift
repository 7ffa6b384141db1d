import Foundation
import Testing

/// RFC 7339 with the real binary: SIPp, offering overload control in its Via, asks a node one
/// call at a time while each 302 reserves a call, and reads the oc values the node reports
/// (the scenario only takes an answer whose Via matches the grammar of RFC 7339 §5).
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sipp"), "sipp is not installed (package sip-tester)"))
struct OverloadControlInteropTests {
    @Test func ocValuesRiseWithLoadAsSIPpSeesThem() throws {
        // Ten calls of room, threshold 0.95: nine 302s (each reserving a call for a minute),
        // then 503s. Reduction starts at 0.855 (90 % of the threshold).
        let group = try GroupTests.Group(1, port: 5859, draining: [], extra: { _ in
            "[capacity]\ncalls = 10\n[node]\nthreshold = 0.95\nhysteresis = 0.05\nrate_limit = 0\nreservation_seconds = 60\n"
        })
        defer { _ = group.stop() }
        let run = try group.sipp("overload_uac.xml", calls: 12, rate: 50, clientPort: 5860, extra: ["-l", "1"])
        #expect(run.status == 0, "\(run.log)")
        let answers = run.log.filter { $0.hasPrefix("answer ") }
        let codes = answers.map { $0.split(separator: " ")[1] }
        let oc = answers.compactMap { Int($0.split(separator: " ").last ?? "") }
        #expect(codes == Array(repeating: "302", count: 10) + ["503", "503"], "\(answers)")
        // Workload before each answer: 0.0, 0.1, ... 0.9 (the 302s), then 1.0.
        #expect(oc == [0, 0, 0, 0, 0, 0, 0, 0, 0, 31, 100, 100], "\(answers)")
    }
}
