import Testing
import Basics
import Capture
import LoadMeter

typealias H = MeterHarness

struct CallTests {
    @Test func challengedInviteIsOneAttempt() {
        var h = H()
        h.sip(H.request("INVITE", callID: "c1", cseq: 1))
        h.sip(H.response(407, "INVITE", callID: "c1", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.request("ACK", callID: "c1", cseq: 1, toTag: "to"))
        #expect(h.meter.calls.active == 0)
        h.sip(H.request("INVITE", callID: "c1", cseq: 2))
        #expect(h.meter.calls.active == 0 && h.meter.calls.attempting == 1)
        h.sip(H.response(180, "INVITE", callID: "c1", cseq: 2), from: H.proxy, to: H.phone)
        #expect(h.meter.calls.active == 1 && h.meter.calls.attempting == 0)
        h.sip(H.response(200, "INVITE", callID: "c1", cseq: 2), from: H.proxy, to: H.phone)
        h.sip(H.request("BYE", callID: "c1", cseq: 3, toTag: "to"))
        let calls = h.meter.calls
        #expect(calls.attempts == 1 && calls.answered == 1 && calls.completed == 1 && calls.failed == 0)
        #expect(calls.active == 0 && calls.peakActive == 1)
    }

    @Test func retransmissionsAndReInvitesAreNotNewCalls() {
        var h = H()
        for _ in 0..<3 { h.sip(H.request("INVITE", callID: "c2", cseq: 1)) }
        h.sip(H.response(200, "INVITE", callID: "c2", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.response(200, "INVITE", callID: "c2", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.request("INVITE", callID: "c2", cseq: 2, toTag: "to"))
        h.sip(H.response(488, "INVITE", callID: "c2", cseq: 2), from: H.proxy, to: H.phone)
        let calls = h.meter.calls
        #expect(calls.attempts == 1 && calls.answered == 1 && calls.failed == 0)
        #expect(calls.active == 1)  // a rejected re-INVITE does not end the call
        #expect(h.meter.sip.requests(.invite) == 4)
    }

    @Test func cancelAndRejection() {
        var h = H()
        h.sip(H.request("INVITE", callID: "a", cseq: 1))
        h.sip(H.response(180, "INVITE", callID: "a", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.request("CANCEL", callID: "a", cseq: 1))
        h.sip(H.response(487, "INVITE", callID: "a", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.request("INVITE", callID: "b", cseq: 1))
        h.sip(H.response(486, "INVITE", callID: "b", cseq: 1), from: H.proxy, to: H.phone)
        let calls = h.meter.calls
        #expect(calls.attempts == 2 && calls.cancelled == 1 && calls.failed == 1 && calls.active == 0)
    }

    @Test func aCallWhoseMediaWasNeverSeenEndsAfterTheNoMediaTimeout() {
        var h = H { $0.callTimeouts.noMediaSeconds = 60 }
        h.sip(H.request("INVITE", callID: "quiet", cseq: 1))
        h.sip(H.response(200, "INVITE", callID: "quiet", cseq: 1), from: H.proxy, to: H.phone)
        #expect(h.meter.calls.active == 1)
        h.advance(milliseconds: 59_000)
        h.tick()
        #expect(h.meter.calls.active == 1)
        h.advance(milliseconds: 2000)
        h.tick()
        #expect(h.meter.calls.active == 0)
        #expect(h.meter.calls[.noMedia] == 1 && h.meter.calls.timedOut == 1)
    }

    @Test func mediaKeepsACallAliveUntilItStops() {
        var h = H { $0.callTimeouts.silenceSeconds = 60 }
        h.sip(H.request("INVITE", callID: "talk", cseq: 1, body: H.sdp("10.0.0.1", 4000)))
        h.sip(H.response(200, "INVITE", callID: "talk", cseq: 1, body: H.sdp("10.0.0.2", 6000)), from: H.proxy, to: H.phone)
        let caller = Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: 4000)
        let callee = Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 6000)
        for i in 0..<(120 * 50) {
            h.advance(milliseconds: 20)
            h.udp(H.rtp(sequence: UInt16(i), timestamp: UInt32(i * 160), ssrc: 7), from: caller, to: callee)
        }
        #expect(h.meter.calls.active == 1 && h.meter.calls.timedOut == 0)
        #expect(h.meter.media.rtpPackets == 6000)
        // The BYE is lost: a minute of nothing later (and the second media marks its call
        // in), on the clock alone, the call is over.
        h.advance(milliseconds: 60_000)
        h.tick()
        #expect(h.meter.calls.active == 1)
        h.advance(milliseconds: 2000)
        h.tick()
        #expect(h.meter.calls.active == 0 && h.meter.calls[.silent] == 1 && h.meter.calls.timedOut == 1)
    }

    @Test func tablesStayWithinCapacityAndCountEvictions() {
        var h = H { $0.dialogCapacity = 64 }
        for i in 0..<10_000 {
            h.sip(H.request("INVITE", callID: "flood-\(i)", cseq: 1))
            h.advance(milliseconds: 1)
        }
        let calls = h.meter.calls
        // Unanswered INVITEs are attempts, never calls, and hold half the table at most.
        #expect(h.meter.dialogs.tracked == 32)
        #expect(calls.attempts == 10_000)
        #expect(calls.evicted == 10_000 - 32)
        #expect(calls.active == 0 && calls.peakActive == 0 && calls.attempting == 32)
    }

    @Test func aFloodOfUnansweredInvitesPushesOutNoCall() {
        var h = H { $0.dialogCapacity = 64 }
        for i in 0..<30 {  // quiet calls: the least recently active entries
            h.sip(H.request("INVITE", callID: "up-\(i)", cseq: 1))
            h.sip(H.response(200, "INVITE", callID: "up-\(i)", cseq: 1), from: H.proxy, to: H.phone)
        }
        for i in 0..<10_000 {
            h.advance(milliseconds: 1)
            h.sip(H.request("INVITE", callID: "flood-\(i)", cseq: 1))
        }
        #expect(h.meter.calls.active == 30 && h.meter.calls.attempting == 32)
        // An attempt of the flood still waiting is still followed: answered, it is a call.
        h.sip(H.response(200, "INVITE", callID: "flood-9999", cseq: 1), from: H.proxy, to: H.phone)
        #expect(h.meter.calls.active == 31)
        h.sip(H.request("BYE", callID: "up-0", cseq: 2, toTag: "to"))
        #expect(h.meter.calls.completed == 1 && h.meter.calls.active == 30)
    }

    @Test func registrationsByTransaction() {
        var h = H()
        h.sip(H.request("REGISTER", callID: "r", cseq: 1))
        h.sip(H.request("REGISTER", callID: "r", cseq: 1))  // retransmission
        h.sip(H.response(401, "REGISTER", callID: "r", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.response(401, "REGISTER", callID: "r", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.request("REGISTER", callID: "r", cseq: 2))
        h.sip(H.response(200, "REGISTER", callID: "r", cseq: 2), from: H.proxy, to: H.phone)
        h.sip(H.request("REGISTER", callID: "s", cseq: 1))
        h.sip(H.response(403, "REGISTER", callID: "s", cseq: 1), from: H.proxy, to: H.phone)
        let registrations = h.meter.registrations.counters
        #expect(registrations.attempts == 3 && registrations.challenges == 1)
        #expect(registrations.successes == 1 && registrations.failures == 1)
        #expect(h.meter.sip.requests(.register) == 4)
    }

    @Test func malformedSIPIsCountedAndSkipped() {
        var h = H()
        h.sip("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n")
        h.sip("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n")
        #expect(h.meter.sip.malformed == 2)
        #expect(h.meter.calls.attempts == 0)
    }

    @Test func sipOverTCPFedOneByteAtATime() {
        let h = H()
        let text = Array((H.request("INVITE", callID: "t", cseq: 1) + "\r\n\r\n" + H.request("BYE", callID: "t", cseq: 2, toTag: "x")).utf8)
        var held: [UInt8] = []
        for byte in text {
            held.append(byte)
            let consumed = held.withUnsafeBytes { buffer in
                h.meter.receive(stream: StreamChunk(source: H.phone, destination: H.proxy, bytes: buffer,
                                                    time: PacketTime(nanoseconds: h.now), afterGap: false))
            }
            held.removeFirst(consumed)
        }
        #expect(held.isEmpty)
        #expect(h.meter.sip.requests(.invite) == 1 && h.meter.sip.requests(.bye) == 1)
        #expect(h.meter.calls.attempts == 1 && h.meter.calls.completed == 1)
    }

    @Test func streamJoinedMidMessageResynchronises() {
        let h = H()
        let text = Array(("tail of an earlier message\r\nwith: headers\r\n\r\n" + H.request("OPTIONS", callID: "o", cseq: 1)).utf8)
        let consumed = text.withUnsafeBytes {
            h.meter.receive(stream: StreamChunk(source: H.phone, destination: H.proxy, bytes: $0,
                                                time: PacketTime(nanoseconds: h.now), afterGap: true))
        }
        #expect(consumed == text.count)
        #expect(h.meter.sip.requests(.options) == 1)
        #expect(h.meter.sip.malformed == 0)
    }
}

struct NewCallTests {
    @Test func newCallsAreHandedOutOnceForReservations() {
        var h = H()
        h.sip(H.request("INVITE", callID: "reserved-1", cseq: 1))
        h.sip(H.request("INVITE", callID: "reserved-1", cseq: 1))  // retransmission: not new
        h.sip(H.request("INVITE", callID: "reserved-2", cseq: 1))
        h.sip(H.request("INVITE", callID: "unanswered", cseq: 1))
        var seen: [String] = []
        h.meter.forEachNewCall { seen.append(String(decoding: $0, as: UTF8.self)) }
        #expect(seen.isEmpty)  // attempts are not calls: the reservation holds on
        h.sip(H.response(100, "INVITE", callID: "reserved-1", cseq: 1, toTag: nil), from: H.proxy, to: H.phone)
        h.sip(H.response(180, "INVITE", callID: "reserved-1", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.response(200, "INVITE", callID: "reserved-1", cseq: 1), from: H.proxy, to: H.phone)
        h.sip(H.response(200, "INVITE", callID: "reserved-2", cseq: 1), from: H.proxy, to: H.phone)
        h.meter.forEachNewCall { seen.append(String(decoding: $0, as: UTF8.self)) }
        #expect(seen == ["reserved-1", "reserved-2"])
        h.meter.forEachNewCall { _ in Issue.record("handed out twice") }
    }
}
