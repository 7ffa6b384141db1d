import Testing
import Basics
import Capture
import LoadMeter

struct RTPTests {
    let caller = Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: 4000)
    let callee = Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 6000)

    func call(_ configure: (inout MeterConfiguration) -> Void = { _ in }, proto: String = "RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000")
        -> MeterHarness
    {
        var h = MeterHarness(configure)
        h.sip(H.request("INVITE", callID: "m", cseq: 1, body: H.sdp("10.0.0.1", 4000, proto: proto)))
        h.sip(H.response(200, "INVITE", callID: "m", cseq: 1, body: H.sdp("10.0.0.2", 6000)), from: H.proxy, to: H.phone)
        return h
    }

    @Test func perfectStreamHasNoLossAndNoJitter() throws {
        var h = call()
        for i in 0..<500 {
            h.advance(milliseconds: 20)
            h.udp(H.rtp(sequence: UInt16(65000 &+ i), timestamp: UInt32(i * 160), ssrc: 1), from: caller, to: callee)
        }
        let stream = try #require(h.streams().first)
        #expect(stream.statistics.packets == 500)
        #expect(stream.statistics.lost == 0)  // across the sequence wrap
        #expect(stream.statistics.maxJitter < 1e-9)
        #expect(stream.announced)
    }

    @Test func lossDuplicatesAndReordering() throws {
        var h = call()
        var sequences: [UInt16] = Array(0..<100)
        sequences.removeAll { $0 == 10 || $0 == 11 || $0 == 50 }  // three lost
        sequences.insert(30, at: 31)  // one duplicate
        sequences.swapAt(60, 61)  // one reordered pair
        for sequence in sequences {
            h.advance(milliseconds: 20)
            h.udp(H.rtp(sequence: sequence, timestamp: UInt32(sequence) * 160, ssrc: 2), from: caller, to: callee)
        }
        let stats = try #require(h.streams().first).statistics
        #expect(stats.packets == 98)
        #expect(stats.expected == 100)
        #expect(stats.lost == 2)  // 3 lost, 1 duplicate: RFC 3550 A.3 counts received packets
        #expect(stats.duplicates == 1)
        #expect(stats.sequenceErrors >= 3)
    }

    @Test func jitterFollowsRFC3550() throws {
        var h = call()
        // Packets 20 ms apart in RTP time arrive 10 and 30 ms apart: each transit change is
        // 10 ms, and the estimator J += (|D| - J)/16 converges to 10 ms.
        for i in 0..<400 {
            h.advance(milliseconds: i % 2 == 0 ? 10 : 30)
            h.udp(H.rtp(sequence: UInt16(i), timestamp: UInt32(i * 160), ssrc: 3), from: caller, to: callee)
        }
        let stats = try #require(h.streams().first).statistics
        #expect(abs(stats.jitter - 10) < 0.01)
        #expect(stats.maxJitter <= 10 + 1e-9 && stats.maxJitter > 9.9)
        #expect(stats.meanJitter > 8 && stats.meanJitter < 10)
    }

    @Test func telephoneEventHasNoJitter() throws {
        var h = call()
        for i in 0..<20 {
            h.advance(milliseconds: 50)
            // An event: the timestamp stands still while the packets go on.
            h.udp(H.rtp(sequence: UInt16(i), timestamp: 8000, ssrc: 4, payloadType: 101), from: caller, to: callee)
        }
        let stats = try #require(h.streams().first).statistics
        #expect(stats.packets == 20 && stats.maxJitter == 0)
    }

    @Test func rtcpIsRecognisedAndNotRTP() {
        var h = call()
        let rtcpPort = Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 6001)
        h.udp([0x80, 200, 0, 6] + [UInt8](repeating: 0, count: 24), from: caller, to: rtcpPort)
        // RTCP multiplexed on the RTP port (RFC 5761).
        h.udp([0x81, 201, 0, 7] + [UInt8](repeating: 0, count: 28), from: caller, to: callee)
        #expect(h.meter.media.rtcpPackets == 2)
        #expect(h.meter.media.rtpPackets == 0)
    }

    @Test func t38IsNotRTPAndRejectedOffersAreUndone() throws {
        var h = call()
        h.advance(milliseconds: 20)
        h.udp(H.rtp(sequence: 1, timestamp: 160, ssrc: 5), from: caller, to: callee)
        // Offer T.38 on the callee's address, rejected: the address still carries RTP.
        h.sip(H.request("INVITE", callID: "m", cseq: 2, toTag: "to", body: H.sdp("10.0.0.2", 6000, proto: "udptl t38")),
              from: H.proxy, to: H.phone)
        h.sip(H.response(488, "INVITE", callID: "m", cseq: 2), from: H.phone, to: H.proxy)
        let stranger = Endpoint(address: IPAddress(ipv4: 0x0A00_0009), port: 9)
        h.udp(H.rtp(sequence: 1, timestamp: 160, ssrc: 99), from: stranger, to: callee)
        #expect(h.meter.media.rtpPackets == 2)
        // Offered again and accepted: a new source there is not RTP any more.
        h.sip(H.request("INVITE", callID: "m", cseq: 3, toTag: "to", body: H.sdp("10.0.0.2", 6000, proto: "udptl t38")),
              from: H.proxy, to: H.phone)
        h.sip(H.response(200, "INVITE", callID: "m", cseq: 3), from: H.phone, to: H.proxy)
        h.udp(H.rtp(sequence: 1, timestamp: 160, ssrc: 77), from: stranger, to: callee)
        #expect(h.meter.media.rtpPackets == 2)
        #expect(h.meter.media.otherMediaPackets == 1)
    }

    @Test func unannouncedRTPNeedsProbation() throws {
        var h = MeterHarness { $0.detectUnannouncedRTP = true }
        let a = Endpoint(address: IPAddress(ipv4: 0x0A00_0005), port: 30000)
        let b = Endpoint(address: IPAddress(ipv4: 0x0A00_0006), port: 30002)
        // Random-looking version-2 packets that never follow each other are not a stream.
        for i in 0..<50 {
            h.advance(milliseconds: 20)
            h.udp(H.rtp(sequence: UInt16(i * 7919 % 65536), timestamp: 0, ssrc: UInt32(i)), from: a, to: b)
        }
        #expect(h.streams().isEmpty)
        for i in 0..<10 {
            h.advance(milliseconds: 20)
            h.udp(H.rtp(sequence: UInt16(100 + i), timestamp: UInt32(i * 160), ssrc: 42, payloadType: 0), from: a, to: b)
        }
        let stream = try #require(h.streams().first)
        #expect(stream.statistics.packets == 10 && !stream.announced)
        #expect(h.meter.media.rtpPackets == 10)
    }

    @Test func streamTableIsBoundedAndClosedStreamsAreHandedOut() {
        var h = MeterHarness {
            $0.detectUnannouncedRTP = true
            $0.streamCapacity = 8
        }
        for port in 0..<100 {
            let a = Endpoint(address: IPAddress(ipv4: 0x0A00_0005), port: UInt16(20000 + port))
            let b = Endpoint(address: IPAddress(ipv4: 0x0A00_0006), port: 40000)
            for i in 0..<3 {
                h.advance(milliseconds: 1)
                h.udp(H.rtp(sequence: UInt16(i), timestamp: UInt32(i * 160), ssrc: 1), from: a, to: b)
            }
        }
        #expect(h.meter.openStreams == 8)
        var closed = 0
        while h.meter.takeClosedStream() != nil { closed += 1 }
        #expect(closed == 64)  // the hand-out ring keeps the newest 64 of the 92 evicted
        #expect(h.meter.media.streamsEvicted == 92)
        #expect(h.meter.media.summariesDropped == 28)
    }

    @Test func workloadIsTheLargestRatio() {
        var h = call({
            $0.capacities.calls = 2
            $0.capacities.activeStreams = 10
        })
        for i in 0..<100 {
            h.advance(milliseconds: 20)
            h.udp(H.rtp(sequence: UInt16(i), timestamp: UInt32(i * 160), ssrc: 6), from: caller, to: callee)
        }
        let workload = h.meter.workload(at: PacketTime(nanoseconds: h.now))
        #expect(workload.calls == 1 && workload.activeStreams == 1)
        #expect(workload.value == 0.5)
        #expect(workload.limitingResource == .calls)
        #expect(h.meter.peakWorkload.value == 0.5)
    }
}
