import Foundation
import Testing

/// Calls that end without a BYE, in captures made for the purpose (scripts/make-fixtures-
/// timeouts.sh: SIPp on loopback), read by `gatewayd meter` and closed at chosen times: the
/// meter's clock, not the next packet, ends them.
struct MeterTimeoutTests {
    static func calls(_ name: String, _ options: [String] = []) throws -> [String: Any] {
        let meter = try Interop.meter(Interop.fixtures.appendingPathComponent(name), options)
        return try #require(meter["calls"] as? [String: Any])
    }

    @Test func callsWithLostByesEndAfterTheSilenceTimeout() throws {
        // Two calls with 1.5 s of RTP and no BYE, one ended by BYE; the capture lasts 5.5 s.
        let atEnd = try Self.calls("lost_bye.pcap")
        #expect(atEnd["attempted"] as? Int == 3 && atEnd["completed"] as? Int == 1)
        #expect(atEnd["open_at_end"] as? Int == 2 && atEnd["timed_out_silent"] as? Int == 0)
        // Silent since about 3.5 s: still up at 60 s, over at 66 s (the default minute).
        let before = try Self.calls("lost_bye.pcap", ["--close-at", "60"])
        #expect(before["open_at_end"] as? Int == 2)
        let after = try Self.calls("lost_bye.pcap", ["--close-at", "66"])
        #expect(after["open_at_end"] as? Int == 0 && after["timed_out_silent"] as? Int == 2)
        #expect(after["completed"] as? Int == 1 && after["timed_out"] as? Int == 2)
        // A shorter timeout, as [meter] silence_timeout or the option of the same name.
        let short = try Self.calls("lost_bye.pcap", ["--silence-timeout", "5", "--close-at", "12"])
        #expect(short["open_at_end"] as? Int == 0 && short["timed_out_silent"] as? Int == 2)
        #expect(short["completed"] as? Int == 1)
    }

    @Test func unansweredInvitesAreNeverCallsAndEndAfterTimerB() throws {
        // Three INVITEs nobody answers (t = 0, retransmitted as Timer A says), then two
        // answered only by 100 Trying (t = 32 s; SIPp CANCELs them at 40 s, unanswered too);
        // the capture lasts 40 s.
        let atEnd = try Self.calls("unanswered.pcap")
        #expect(atEnd["attempted"] as? Int == 5)
        #expect(atEnd["peak_concurrent"] as? Int == 0 && atEnd["open_at_end"] as? Int == 0)
        #expect(atEnd["timed_out_no_answer"] as? Int == 3 && atEnd["attempting_at_end"] as? Int == 2)
        let later = try Self.calls("unanswered.pcap", ["--close-at", "65"])
        #expect(later["timed_out_no_answer"] as? Int == 5 && later["attempting_at_end"] as? Int == 0)
        #expect(later["peak_concurrent"] as? Int == 0 && later["failed"] as? Int == 0)
        let workload = try #require(try Interop.meter(Interop.fixtures.appendingPathComponent("unanswered.pcap"))["workload"]
            as? [String: Any])
        let resources = try #require(workload["resources"] as? [String: Any])
        let calls = try #require(resources["calls"] as? [String: Any])
        #expect(calls["in_use"] as? Double == 0)
    }

    @Test func aCallOnHoldAndACallWithRTCPStayWhileACallWithNeitherWouldEnd() throws {
        // Call 1: RTP until 2.5 s, re-INVITE a=sendonly answered a=inactive at 2.5 s, then
        // nothing. Call 2: RTP 4-11 s, then RTCP (rtcp-mux) every second to 22.5 s (the end).
        let options = ["--silence-timeout", "5", "--hold-timeout", "40"]
        let meter = try Interop.meter(Interop.fixtures.appendingPathComponent("hold_rtcp.pcap"), options)
        let atEnd = try #require(meter["calls"] as? [String: Any])
        let rtp = try #require(meter["rtp"] as? [String: Any])
        #expect(rtp["rtcp_packets"] as? Int == 12)
        // Both silent of RTP far longer than 5 s, neither ended.
        #expect(atEnd["open_at_end"] as? Int == 2 && atEnd["timed_out"] as? Int == 0)
        // The RTCP stops with the capture: 5 s on, the call with RTCP has gone silent.
        let afterRTCP = try Self.calls("hold_rtcp.pcap", options + ["--close-at", "29"])
        #expect(afterRTCP["timed_out_silent"] as? Int == 1 && afterRTCP["open_at_end"] as? Int == 1)
        // The held call ends on the hold timeout, counted as such.
        let afterHold = try Self.calls("hold_rtcp.pcap", options + ["--close-at", "46"])
        #expect(afterHold["timed_out_on_hold"] as? Int == 1 && afterHold["open_at_end"] as? Int == 0)
    }

    @Test func sessionTimersEndCallsNotRefreshedInTime() throws {
        // Session-Expires: 90. Call 1 answered at 0.2 s, never refreshed; call 2 answered at
        // 2.0 s, refreshed by UPDATE at 10.0 s. Silence is given 300 s, so only the session
        // timer can end them.
        let options = ["--silence-timeout", "300"]
        let before = try Self.calls("session_timer.pcap", options + ["--close-at", "89"])
        #expect(before["open_at_end"] as? Int == 2)
        let between = try Self.calls("session_timer.pcap", options + ["--close-at", "95"])
        #expect(between["session_expired"] as? Int == 1 && between["open_at_end"] as? Int == 1)
        let after = try Self.calls("session_timer.pcap", options + ["--close-at", "102"])
        #expect(after["session_expired"] as? Int == 2 && after["open_at_end"] as? Int == 0)
        #expect(after["timed_out_silent"] as? Int == 0)
    }

    @Test func theReportForPeopleNamesEachReason() throws {
        let result = try Interop.run(Interop.binary.path,
                                     ["meter", "--close-at", "66", Interop.fixtures.appendingPathComponent("lost_bye.pcap").path])
        #expect(result.status == 0)
        #expect(result.output.contains("timed out   2\n    timed_out_silent 2\n"))
        #expect(result.output.contains("attempting  0"))
    }

    @Test func badTimeoutOptionsAreRefused() throws {
        let file = Interop.fixtures.appendingPathComponent("lost_bye.pcap").path
        for arguments in [["--silence-timeout", "2"], ["--silence-timeout"], ["--attempt-timeout", "x"], ["--close-at", "-1"]] {
            let result = try Interop.run(Interop.binary.path, ["meter"] + arguments + [file])
            #expect(result.status == 2, "\(arguments)")
            #expect(result.error.contains(arguments[0]), "\(arguments): \(result.error)")
        }
    }
}
