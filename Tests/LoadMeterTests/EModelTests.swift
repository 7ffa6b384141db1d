import Testing
import Basics
import Capture
import LoadMeter

/// The E-model against published values, and the jitter-buffer model and the quality resource
/// on hand-made streams.
struct EModelTests {
    typealias H = MeterHarness
    let caller = Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: 4000)
    let callee = Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 6000)

    /// ITU-T G.109 Table 1: the MOS (G.107 Annex B) at the bounds of its quality categories,
    /// as printed there (two decimals; it gives 4.03 where the formula says 4.024).
    @Test(arguments: [(90.0, 4.34), (80.0, 4.03), (70.0, 3.60), (60.0, 3.10), (50.0, 2.58)])
    func ratingToMOSFollowsG109(rating: Double, mos: Double) {
        #expect(abs(EModel.meanOpinionScore(rating: rating) - mos) < 0.01)
    }

    @Test func mosIsClampedOutsideTheScale() {
        #expect(EModel.meanOpinionScore(rating: -3) == 1)
        #expect(EModel.meanOpinionScore(rating: 0) == 1)
        #expect(EModel.meanOpinionScore(rating: 100) == 4.5)
        #expect(EModel.meanOpinionScore(rating: 120) == 4.5)
        // G.107's default connection: R = 93.2, MOS 4.41.
        #expect(abs(EModel.meanOpinionScore(rating: EModel.defaultRating) - 4.41) < 0.005)
    }

    /// G.711 with packet-loss concealment (G.113 Appendix I: Ie 0, Bpl 25.1) at random loss,
    /// with no delay: Ie,eff = 95 P / (P + 25.1) and R = 93.2 − Ie,eff.
    @Test(arguments: [(0.0, 93.2, 4.41), (1.0, 89.56, 4.33), (3.0, 83.06, 4.13), (5.0, 77.42, 3.92)])
    func g711WithLoss(loss: Double, rating: Double, mos: Double) {
        let r = EModel.rating(EModel.g711, lossPercent: loss, delayMilliseconds: 0)
        #expect(abs(r - rating) < 0.005)
        #expect(abs(EModel.meanOpinionScore(rating: r) - mos) < 0.005)
    }

    @Test func otherCodecsAndDelay() {
        // G.729A: Ie 11, so R 82.2 without loss; its Bpl 19 makes loss cost more than G.711's.
        #expect(abs(EModel.rating(EModel.g729, lossPercent: 0, delayMilliseconds: 0) - 82.2) < 1e-9)
        #expect(abs(EModel.effectiveImpairment(EModel.g729, lossPercent: 2) - (11 + 84 * 2 / 21.0)) < 1e-9)
        #expect(EModel.effectiveImpairment(EModel.g711, lossPercent: 100) > 75)
        #expect(EModel.effectiveImpairment(EModel.g711, lossPercent: -1) == 0)
        // Id: 0.024 d, and 0.11 more per ms above 177.3 ms.
        #expect(abs(EModel.delayImpairment(milliseconds: 100) - 2.4) < 1e-9)
        #expect(abs(EModel.delayImpairment(milliseconds: 200) - (4.8 + 0.11 * 22.7)) < 1e-9)
        // Names as SDP and the static table give them, any case; nothing for others.
        #expect(EModel.codec(ShortName("PCMU")) == EModel.g711)
        #expect(EModel.codec(ShortName("g711A")) == EModel.g711)
        #expect(EModel.codec(ShortName("G729")) == EModel.g729)
        #expect(EModel.codec(ShortName("g723")) == EModel.g723)
        #expect(EModel.codec(ShortName("opus")) == nil)
        #expect(EModel.codec(ShortName("G722")) == nil)
        #expect(EModel.codec(ShortName("telephone-event")) == nil)
    }

    // MARK: Streams

    func call(_ configure: (inout MeterConfiguration) -> Void = { _ in }, proto: String = "RTP/AVP 8") -> MeterHarness {
        var h = MeterHarness(configure)
        h.sip(H.request("INVITE", callID: "q", cseq: 1, body: H.sdp("10.0.0.1", 4000, proto: proto)))
        h.sip(H.response(200, "INVITE", callID: "q", cseq: 1, body: H.sdp("10.0.0.2", 6000, proto: proto)),
              from: H.proxy, to: H.phone)
        return h
    }

    /// 20 ms packets of `ssrc`; `delay(i)` ms added to packet i's arrival (not to the clock).
    func send(_ h: inout MeterHarness, ssrc: UInt32, count: Int, payloadType: UInt8 = 8, skip: Set<Int> = [],
              marker: Set<Int> = [], delay: (Int) -> Int64 = { _ in 0 }) {
        for i in 0..<count {
            h.advance(milliseconds: 20)
            guard !skip.contains(i) else { continue }
            let extra = delay(i)
            h.now += extra * 1_000_000
            h.udp(H.rtp(sequence: UInt16(i), timestamp: UInt32(i * 160), ssrc: ssrc, payloadType: payloadType,
                        marker: marker.contains(i)), from: caller, to: callee)
            h.now -= extra * 1_000_000
        }
    }

    @Test func aCleanStreamScoresTheCodecAndTheBuffer() throws {
        var h = call()
        send(&h, ssrc: 1, count: 200)
        let stream = try #require(h.streams().first)
        #expect(stream.statistics.late == 0)
        // 50 ms of buffer: Id 1.2, R 92.0.
        let expected = EModel.meanOpinionScore(rating: 93.2 - 1.2)
        #expect(abs(try #require(stream.meanOpinionScore) - expected) < 1e-9)
        #expect(abs(expected - 4.38) < 0.005)
    }

    @Test func lateAndLostPacketsAreLoss() throws {
        var h = call()
        // 200 expected: 4 lost, 6 arriving 80 ms late (past the 50 ms buffer), 10 arriving
        // 30 ms late (within it): 5 % effective loss.
        let late: Set<Int> = [20, 40, 60, 80, 100, 120]
        let jittery: Set<Int> = Set(stride(from: 130, to: 150, by: 2))
        send(&h, ssrc: 2, count: 200, skip: [10, 11, 150, 151],
             delay: { late.contains($0) ? 80 : jittery.contains($0) ? 30 : 0 })
        let stream = try #require(h.streams().first)
        #expect(stream.statistics.lost == 4)
        #expect(stream.statistics.late == 6)
        #expect(abs(stream.statistics.effectiveLossPercent - 5) < 1e-9)
        let expected = EModel.meanOpinionScore(rating: EModel.rating(EModel.g711, lossPercent: 5, delayMilliseconds: 50))
        #expect(abs(try #require(stream.meanOpinionScore) - expected) < 1e-9)
    }

    @Test func theBufferRecentresAtATalkspurtAndAfterAJump() throws {
        var h = call()
        // From packet 50 every packet is 120 ms later: late, until the marker at 60 re-centres.
        send(&h, ssrc: 3, count: 100, marker: [60], delay: { $0 >= 50 ? 120 : 0 })
        #expect(try #require(h.streams().first).statistics.late == 10)

        var jump = call()
        // A 3 s step (a new route, a restarted sender) is no jitter: nothing late after it.
        send(&jump, ssrc: 4, count: 100, delay: { $0 >= 50 ? 3000 : 0 })
        #expect(try #require(jump.streams().first).statistics.late == 0)
    }

    @Test func streamsTooShortOrOfUnknownCodecsAreNotScored() throws {
        var h = call(proto: "RTP/AVP 96\r\na=rtpmap:96 opus/48000/2")
        send(&h, ssrc: 5, count: 100, payloadType: 96)
        #expect(try #require(h.streams().first).meanOpinionScore == nil)

        var short = call()
        send(&short, ssrc: 6, count: EModel.minimumPackets - 1)
        #expect(try #require(short.streams().first).meanOpinionScore == nil)
    }

    @Test func poorQualityIsAResourceOfItsOwn() throws {
        var h = call({
            $0.capacities.poorQualityPercent = 40
            $0.capacities.activeStreams = 100
        })
        // Four streams at once: one with 19 of its 100 packets late (MOS about 2.6), three clean.
        for i in 0..<100 {
            h.advance(milliseconds: 20)
            for ssrc in UInt32(7)...10 {
                let late: Int64 = ssrc == 7 && i % 5 == 0 && i > 0 ? 90 : 0
                h.now += late * 1_000_000
                h.udp(H.rtp(sequence: UInt16(i), timestamp: UInt32(i * 160), ssrc: ssrc), from: caller, to: callee)
                h.now -= late * 1_000_000
            }
        }
        #expect(h.streams().compactMap(\.meanOpinionScore).filter { $0 < 3.6 }.count == 1)
        let workload = h.meter.workload(at: PacketTime(nanoseconds: h.now))
        #expect(workload.activeStreams == 4)
        #expect(workload.poorQualityShare == 25)
        #expect(workload.ratio(.poorQuality) == 25.0 / 40.0)
        #expect(workload.limitingResource == .poorQuality)

        // Left out at capacity 0, as every resource is.
        var off = call()
        send(&off, ssrc: 7, count: 100, delay: { $0 % 5 == 0 && $0 > 0 ? 90 : 0 })
        let none = off.meter.workload(at: PacketTime(nanoseconds: off.now))
        #expect(none.poorQualityShare == 0 && none.ratio(.poorQuality) == 0)
    }
}
