import Foundation
import Testing

/// `gatewayd meter` as a user meets it: outcomes of the fixtures' scenarios, and bad input.
struct MeterCommandTests {
    @Test func callOutcomesOfTheCancelAndRejectScenario() throws {
        let calls = try #require(try Interop.meter(Interop.fixtures.appendingPathComponent("cancel_reject.pcap"))["calls"]
            as? [String: Any])
        // Two calls cancelled while ringing, one 486 and one 503.
        #expect(calls["attempted"] as? Int == 4)
        #expect(calls["cancelled"] as? Int == 2)
        #expect(calls["failed"] as? Int == 2)
        #expect(calls["answered"] as? Int == 0)
        #expect(calls["open_at_end"] as? Int == 0)
    }

    @Test func answeredCallsAreCompletedByBye() throws {
        let meter = try Interop.meter(Interop.fixtures.appendingPathComponent("calls_rtp.pcap"))
        let calls = try #require(meter["calls"] as? [String: Any])
        #expect(calls["attempted"] as? Int == 3)
        #expect(calls["answered"] as? Int == 3)
        #expect(calls["completed"] as? Int == 3)
        #expect(calls["open_at_end"] as? Int == 0)
        // SIPp placed the calls one at a time (`-l 1`, scripts/make-fixtures.sh).
        #expect(calls["peak_concurrent"] as? Int == 1)
        // The peak workload is the fullest resource at the peak: the second call's two streams
        // start while the first call's still count as active, 4 of 200.
        let workload = try #require(meter["workload"] as? [String: Any])
        let resources = try #require(workload["resources"] as? [String: [String: Any]])
        let fullest = resources.values.compactMap { r -> Double? in
            guard let used = (r["in_use"] as? NSNumber)?.doubleValue, let capacity = (r["capacity"] as? NSNumber)?.doubleValue,
                  capacity > 0 else { return nil }
            return used / capacity
        }.max()
        #expect(workload["peak"] as? Double == fullest)
        #expect(workload["peak"] as? Double == 0.02)
        #expect(workload["limiting"] as? String == "active_streams")
    }

    @Test func registrationsCountChallengesOncePerTransaction() throws {
        let meter = try Interop.meter(Interop.fixtures.appendingPathComponent("register_auth.pcap"))
        let registrations = try #require(meter["registrations"] as? [String: Int])
        // Four REGISTERs challenged with 401, retried with credentials: three 200, one 403.
        #expect(registrations["attempts"] == 8)
        #expect(registrations["challenges"] == 4)
        #expect(registrations["successes"] == 3)
        #expect(registrations["failures"] == 1)
    }

    @Test func reportForPeopleNamesEveryPart() throws {
        let file = Interop.fixtures.appendingPathComponent("calls_rtp.pcap")
        let result = try Interop.run(Interop.binary.path, ["meter", file.path])
        #expect(result.status == 0)
        for heading in ["SIP requests", "SIP responses", "calls", "registrations", "RTP", "workload", "127.0.0.1:16000"] {
            #expect(result.output.contains(heading), "report lacks \(heading)")
        }
    }

    @Test func missingFileExitsNonZeroAndSaysWhy() throws {
        let result = try Interop.run(Interop.binary.path, ["meter", "/nonexistent/capture.pcap"])
        #expect(result.status == 1)
        #expect(result.error.contains("No such file"))
        #expect(result.output.isEmpty)
    }

    @Test func truncatedFileExitsNonZeroAndSaysWhy() throws {
        let source = try Data(contentsOf: Interop.fixtures.appendingPathComponent("calls_rtp.pcap"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-truncated-\(getpid()).pcap")
        defer { try? FileManager.default.removeItem(at: file) }
        // Cut in the middle of a packet record.
        try source.prefix(source.count / 2 + 7).write(to: file)
        let result = try Interop.run(Interop.binary.path, ["meter", file.path])
        #expect(result.status == 1)
        #expect(result.error.contains("truncated"), "stderr: \(result.error)")
    }

    @Test func garbageFileExitsNonZeroAndSaysWhy() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-garbage-\(getpid()).pcap")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("this is not a capture file, just text\n".utf8).write(to: file)
        let result = try Interop.run(Interop.binary.path, ["meter", file.path])
        #expect(result.status == 1)
        #expect(result.error.contains("unknown file format"), "stderr: \(result.error)")
    }

    @Test func badFilterIsLibpcapsMessage() throws {
        let file = Interop.fixtures.appendingPathComponent("calls_rtp.pcap")
        let result = try Interop.run(Interop.binary.path, ["meter", "--filter", "udp port banana", file.path])
        #expect(result.status == 1)
        #expect(result.error.contains("bad capture filter"), "stderr: \(result.error)")
    }

    @Test func filterRestrictsWhatIsMeasured() throws {
        let file = Interop.fixtures.appendingPathComponent("calls_rtp.pcap")
        let all = try Interop.meter(file)
        let sipOnly = try Interop.meter(file, ["--filter", "udp port 5060 or udp port 5070 or udp port 5071"])
        #expect(((all["rtp"] as? [String: Int])?["packets"] ?? 0) > 0)
        #expect((sipOnly["rtp"] as? [String: Int])?["packets"] == 0)
    }

    @Test func unknownOptionIsUsageError() throws {
        let result = try Interop.run(Interop.binary.path, ["meter", "--frobnicate", "x.pcap"])
        #expect(result.status == 2)
        #expect(result.error.contains("unknown option"))
    }
}
