import Testing
import Basics
import Capture
import LoadMeter

/// Calls end as SIP and media say, on the meter's clock: attempts are not calls, ringing
/// has a limit, silence and session timers end calls whose BYE was lost.
struct CallLifeTests {
    static let caller = Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: 4000)
    static let callee = Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 6000)

    /// A confirmed call with SDP both ways, and one RTP packet so its media is seen.
    static func answeredCall(_ h: inout H, _ callID: String, headers: String = "") {
        h.sip(H.request("INVITE", callID: callID, cseq: 1, body: H.sdp("10.0.0.1", 4000)))
        h.sip(H.response(200, "INVITE", callID: callID, cseq: 1, body: H.sdp("10.0.0.2", 6000), headers: headers),
              from: H.proxy, to: H.phone)
        h.sip(H.request("ACK", callID: callID, cseq: 1, toTag: "to"))
        rtp(&h, 0)
    }

    static func rtp(_ h: inout H, _ index: Int) {
        h.udp(H.rtp(sequence: UInt16(truncatingIfNeeded: index), timestamp: UInt32(index * 160), ssrc: 7),
              from: caller, to: callee)
    }

    static func rtcp(_ h: inout H) {
        // An empty receiver report (RFC 3550 §6.4.2) to the announced RTCP port (RTP + 1).
        h.udp([0x80, 201, 0, 1, 0, 0, 0, 7], from: Endpoint(address: caller.address, port: 4001),
              to: Endpoint(address: callee.address, port: 6001))
    }

    /// Moves the clock `seconds` on, with no packet.
    static func wait(_ h: inout H, seconds: Int64) {
        h.advance(milliseconds: seconds * 1000)
        h.tick()
    }

    @Test func anUnansweredInviteIsAnAttemptThatEndsAfterTimerB() {
        var h = H()
        h.sip(H.request("INVITE", callID: "nobody", cseq: 1))
        for _ in 0..<6 {  // Timer A retransmissions
            h.advance(milliseconds: 4000)
            h.sip(H.request("INVITE", callID: "nobody", cseq: 1))
        }
        #expect(h.meter.calls.attempts == 1 && h.meter.calls.attempting == 1)
        #expect(h.meter.calls.active == 0 && h.meter.workload(at: PacketTime(nanoseconds: h.now)).calls == 0)
        Self.wait(&h, seconds: 7)  // 31 s after the first INVITE
        #expect(h.meter.calls.attempting == 1)
        Self.wait(&h, seconds: 2)
        #expect(h.meter.calls.attempting == 0 && h.meter.calls[.noAnswer] == 1)
        #expect(h.meter.calls.peakActive == 0)
    }

    @Test func onlyA100TryingEndsTheSameWay() {
        var h = H()
        h.sip(H.request("INVITE", callID: "trying", cseq: 1))
        h.sip(H.response(100, "INVITE", callID: "trying", cseq: 1, toTag: nil), from: H.proxy, to: H.phone)
        Self.wait(&h, seconds: 20)
        h.sip(H.response(100, "INVITE", callID: "trying", cseq: 1, toTag: nil), from: H.proxy, to: H.phone)
        #expect(h.meter.calls.active == 0 && h.meter.calls.attempting == 1)
        Self.wait(&h, seconds: 13)
        #expect(h.meter.calls.attempting == 0 && h.meter.calls[.noAnswer] == 1)
    }

    @Test func ringingLastsWhileProvisionalResponsesComeUpToTheLimit() {
        var h = H { $0.callTimeouts.ringingSeconds = 180 }
        h.sip(H.request("INVITE", callID: "ring", cseq: 1))
        h.sip(H.response(180, "INVITE", callID: "ring", cseq: 1), from: H.proxy, to: H.phone)
        #expect(h.meter.calls.active == 1 && h.meter.calls.attempting == 0)
        Self.wait(&h, seconds: 170)
        h.sip(H.response(183, "INVITE", callID: "ring", cseq: 1), from: H.proxy, to: H.phone)
        Self.wait(&h, seconds: 170)  // 340 s ringing, 170 s since the last 1xx
        #expect(h.meter.calls.active == 1)
        Self.wait(&h, seconds: 11)
        #expect(h.meter.calls.active == 0 && h.meter.calls[.ringing] == 1)
    }

    @Test func aCallOnHoldIsNotSilentUntilTheHoldTimeout() {
        var h = H {
            $0.callTimeouts.silenceSeconds = 60
            $0.callTimeouts.holdSeconds = 300
        }
        Self.answeredCall(&h, "held")
        h.sip(H.request("INVITE", callID: "held", cseq: 2, toTag: "to", body: H.sdp("10.0.0.1", 4000) + "a=sendonly\r\n"))
        h.sip(H.response(200, "INVITE", callID: "held", cseq: 2, body: H.sdp("10.0.0.2", 6000) + "a=recvonly\r\n"),
              from: H.proxy, to: H.phone)
        Self.wait(&h, seconds: 120)
        #expect(h.meter.calls.active == 1)
        Self.wait(&h, seconds: 182)
        #expect(h.meter.calls.active == 0 && h.meter.calls[.onHold] == 1)
    }

    @Test func takenOffHoldTheSilenceTimeoutIsBack() {
        var h = H { $0.callTimeouts.silenceSeconds = 60 }
        Self.answeredCall(&h, "resumed")
        h.sip(H.request("INVITE", callID: "resumed", cseq: 2, toTag: "to", body: H.sdp("10.0.0.1", 4000) + "a=inactive\r\n"))
        h.sip(H.request("INVITE", callID: "resumed", cseq: 3, toTag: "to", body: H.sdp("10.0.0.1", 4000) + "a=sendrecv\r\n"))
        Self.wait(&h, seconds: 62)
        #expect(h.meter.calls.active == 0 && h.meter.calls[.silent] == 1)
    }

    @Test func rtcpStillFlowingKeepsACallWhoseRTPStopped() {
        var h = H { $0.callTimeouts.silenceSeconds = 60 }
        Self.answeredCall(&h, "rtcp")
        for _ in 0..<40 {  // 200 s of RTCP every 5 s, no RTP
            h.advance(milliseconds: 5000)
            Self.rtcp(&h)
        }
        #expect(h.meter.calls.active == 1 && h.meter.media.rtcpPackets == 40)
        Self.wait(&h, seconds: 62)
        #expect(h.meter.calls.active == 0 && h.meter.calls[.silent] == 1)
    }

    @Test func aSessionTimerNotRefreshedEndsTheCallEvenWithMediaFlowing() {
        var h = H()
        Self.answeredCall(&h, "timer", headers: "Session-Expires: 90;refresher=uac\r\n")
        for i in 1...(80 * 50) {  // 80 s of RTP
            h.advance(milliseconds: 20)
            Self.rtp(&h, i)
        }
        // The refresh: a re-INVITE's 2xx with Session-Expires (compact form) starts it again.
        h.sip(H.request("INVITE", callID: "timer", cseq: 2, toTag: "to"))
        h.sip(H.response(200, "INVITE", callID: "timer", cseq: 2, headers: "x: 90\r\n"), from: H.proxy, to: H.phone)
        for i in 1...(89 * 50) {
            h.advance(milliseconds: 20)
            Self.rtp(&h, i)
        }
        #expect(h.meter.calls.active == 1)
        for i in 1...(2 * 50) {
            h.advance(milliseconds: 20)
            Self.rtp(&h, i)
        }
        #expect(h.meter.calls.active == 0 && h.meter.calls[.sessionExpired] == 1)
    }

    @Test func aTwoHundredWithoutSessionExpiresTurnsTheTimerOff() {
        var h = H()
        Self.answeredCall(&h, "off", headers: "Session-Expires: 90\r\n")
        h.sip(H.request("UPDATE", callID: "off", cseq: 2, toTag: "to"))
        h.sip(H.response(200, "UPDATE", callID: "off", cseq: 2), from: H.proxy, to: H.phone)
        for i in 1...(100 * 50) {
            h.advance(milliseconds: 20)
            Self.rtp(&h, i)
        }
        #expect(h.meter.calls.active == 1 && h.meter.calls[.sessionExpired] == 0)
    }

    @Test func aSpellWithoutCaptureIsNotSilence() {
        var h = H { $0.callTimeouts.silenceSeconds = 60 }
        Self.answeredCall(&h, "gap")
        // 100 s without capture, and the clock not moved meanwhile (the daemon holds it).
        h.advance(milliseconds: 100_000)
        h.meter.noteCaptureGap(nanoseconds: 100_000_000_000)
        h.tick()
        #expect(h.meter.calls.active == 1)
        Self.wait(&h, seconds: 62)
        #expect(h.meter.calls.active == 0 && h.meter.calls[.silent] == 1)
    }

    @Test func streamsAndActiveStreamsEndOnTheSameClock() {
        var h = H { $0.streamIdleSeconds = 60 }
        Self.answeredCall(&h, "streams")
        for i in 1...50 {
            h.advance(milliseconds: 20)
            Self.rtp(&h, i)
        }
        #expect(h.meter.openStreams == 1 && h.meter.workload(at: PacketTime(nanoseconds: h.now)).activeStreams == 1)
        Self.wait(&h, seconds: 6)  // no packet: not active any more, still open
        #expect(h.meter.openStreams == 1 && h.meter.workload(at: PacketTime(nanoseconds: h.now)).activeStreams == 0)
        Self.wait(&h, seconds: 56)
        #expect(h.meter.openStreams == 0 && h.meter.hasClosedStream)
        #expect(h.meter.rates(at: PacketTime(nanoseconds: h.now)).rtpPackets == 0)
    }

    @Test func endedCallsAreForgottenAndTheTableEmpties() {
        var h = H { $0.dialogCapacity = 64 }
        for i in 0..<32 {
            h.sip(H.request("INVITE", callID: "up-\(i)", cseq: 1))
            h.sip(H.response(200, "INVITE", callID: "up-\(i)", cseq: 1), from: H.proxy, to: H.phone)
        }
        for i in 0..<32 { h.sip(H.request("INVITE", callID: "gone-\(i)", cseq: 1)) }
        #expect(h.meter.dialogs.tracked == 64)
        Self.wait(&h, seconds: 33)  // the attempts end
        #expect(h.meter.calls[.noAnswer] == 32 && h.meter.calls.active == 32)
        Self.wait(&h, seconds: 900)  // the calls, whose media was never seen
        #expect(h.meter.calls[.noMedia] == 32)
        Self.wait(&h, seconds: 33)  // and all are forgotten after their linger
        #expect(h.meter.dialogs.tracked == 0)
        #expect(h.meter.calls.attempting == 0 && h.meter.calls.active == 0)
    }

    @Test func aTimeoutChangedLiveJudgesCallsAlreadyUp() {
        var h = H()
        Self.answeredCall(&h, "reload")
        Self.wait(&h, seconds: 30)
        #expect(h.meter.calls.active == 1)
        h.meter.callTimeouts.silenceSeconds = 20
        Self.wait(&h, seconds: 1)
        #expect(h.meter.calls.active == 0 && h.meter.calls[.silent] == 1)
    }

    @Test func finishingLaterEndsWhatHasTimedOutByThen() {
        var h = H()
        h.sip(H.request("INVITE", callID: "late", cseq: 1))
        h.meter.finish()
        #expect(h.meter.calls.attempting == 1)
        h.meter.finish(at: PacketTime(nanoseconds: h.now + 33_000_000_000))
        #expect(h.meter.calls.attempting == 0 && h.meter.calls[.noAnswer] == 1)
    }
}
