import Foundation
import Testing

/// The meter against tshark, on every capture: the committed SIPp fixtures and the shared
/// corpus of other people's traffic. Expected figures come from running tshark here.
@Suite(.enabled(if: Interop.tsharkAvailable, "tshark is not installed"))
struct TsharkAgreementTests {
    @Test("SIP requests and responses equal tshark's sip,stat", arguments: Interop.captures)
    func sipCounts(file: URL) throws {
        let oracle = try Oracle.sipStatistics(file)
        let meter = try Interop.meter(file)
        let sip = try #require(meter["sip"] as? [String: Any])
        let requests = (sip["requests"] as? [String: Int]) ?? [:]
        let responses = Dictionary(uniqueKeysWithValues: ((sip["responses"] as? [String: Int]) ?? [:])
            .map { (Int($0.key)!, $0.value) })
        #expect(requests == oracle.requests, "\(file.lastPathComponent)")
        #expect(responses == oracle.responses, "\(file.lastPathComponent)")
    }

    @Test("call attempts equal the distinct Call-IDs of INVITEs", arguments: Interop.captures)
    func callAttempts(file: URL) throws {
        let expected = try Oracle.inviteCallIDs(file)
        let calls = try #require(try Interop.meter(file)["calls"] as? [String: Any])
        #expect(calls["attempted"] as? Int == expected, "\(file.lastPathComponent)")
    }

    @Test("RTP streams announced in SDP equal tshark's rtp,streams", arguments: Interop.captures)
    func announcedStreams(file: URL) throws {
        try compareStreams(file, heuristic: false)
    }

    @Test("RTP streams with unannounced detection equal tshark's with rtp_udp", arguments: Interop.captures)
    func detectedStreams(file: URL) throws {
        try compareStreams(file, heuristic: true)
    }

    private func compareStreams(_ file: URL, heuristic: Bool) throws {
        var expected = try Oracle.rtpStreams(file, heuristic: heuristic)
        let shownAsT38 = try Oracle.rtpShownAsT38(file)
        for (stream, extra) in shownAsT38 where expected[stream] != nil { expected[stream]!.packets += extra }
        let meter = try Interop.meter(file, heuristic ? ["--detect-rtp"] : [])
        let rows = try #require(meter["streams"] as? [[String: Any]])
        var measured: [Oracle.Stream: [String: Any]] = [:]
        for row in rows {
            let stream = Oracle.Stream(source: row["source"] as! String, sourcePort: row["source_port"] as! Int,
                                       destination: row["destination"] as! String,
                                       destinationPort: row["destination_port"] as! Int,
                                       ssrc: UInt32(row["ssrc"] as! Int))
            measured[stream] = row
        }
        let name = file.lastPathComponent
        #expect(Set(measured.keys) == Set(expected.keys), "\(name): stream sets differ")
        for (stream, figures) in expected {
            guard let row = measured[stream] else { continue }
            #expect(row["packets"] as? Int == figures.packets, "\(name) \(stream): packets")
            // Where tshark saw some of the stream as T.38, its loss and jitter are over a
            // different set of packets: only the count is comparable.
            guard shownAsT38[stream] == nil else { continue }
            // tshark's loss uses the last sequence number to arrive, and goes negative with
            // duplicates; the meter follows RFC 3550 A.3. Compared where tshark's is >= 0.
            if figures.lost >= 0 { #expect(row["lost"] as? Int == figures.lost, "\(name) \(stream): lost") }
            let maxJitter = try #require(row["max_jitter_ms"] as? Double)
            let meanJitter = try #require(row["mean_jitter_ms"] as? Double)
            #expect(close(maxJitter, figures.maxJitter), "\(name) \(stream): max jitter \(maxJitter) vs \(figures.maxJitter)")
            #expect(close(meanJitter, figures.meanJitter),
                    "\(name) \(stream): mean jitter \(meanJitter) vs \(figures.meanJitter)")
            try checkScore(row, figures, "\(name) \(stream)")
        }
    }

    /// A G.711 stream's MOS is the E-model's for tshark's loss plus the packets the meter
    /// found late for its buffer, worked out here from the published figures (G.113 Appendix
    /// I: Ie 0, Bpl 25.1; G.107: R = 93.2 − Id − Ie,eff, with 50 ms of buffer Id = 1.2; MOS by
    /// Annex B). Other codecs get no score.
    private func checkScore(_ row: [String: Any], _ figures: Oracle.StreamFigures, _ what: String) throws {
        let codecs = try #require(row["codecs"] as? String)
        let score = row["mos"] as? Double
        let lower = codecs.lowercased()
        guard lower.contains("g711") || lower.contains("g729") || lower.contains("g723") else {
            #expect(score == nil, "\(what): \(codecs) scored")
            return
        }
        guard lower.hasPrefix("g711"), figures.packets >= 50, figures.lost >= 0 else { return }
        let late = try #require(row["late"] as? Int)
        let loss = Double(figures.lost + late) * 100 / Double(figures.packets + figures.lost)
        let r = 93.2 - 1.2 - 95 * loss / (loss + 25.1)
        let expected = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
        let measured = try #require(score, "\(what): a G.711 stream of \(figures.packets) packets not scored")
        #expect(abs(measured - expected) < 0.0005, "\(what): MOS \(measured), from tshark's loss \(expected)")
        #expect((1...4.5).contains(measured))
    }

    /// Within 0.01 ms or 1 %; tshark prints three decimals, so half a unit of that is allowed too.
    private func close(_ measured: Double, _ expected: Double) -> Bool {
        abs(measured - expected) <= max(0.01, expected * 0.01) + 0.0005
    }
}
