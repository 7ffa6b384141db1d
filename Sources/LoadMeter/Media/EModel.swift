/// Listening quality as one capture point can estimate it: ITU-T G.107's E-model reduced, as
/// passive monitors (VoIPmonitor and others) reduce it, to the terms visible in a stream:
///
/// - the codec's equipment impairment Ie and packet-loss robustness Bpl (G.113 Appendix I),
/// - the packets lost, plus those a fixed playout buffer would have dropped as too late,
///   as random loss (BurstR = 1),
/// - the delay that buffer and the codec add (G.107's Id, simplified as Cole and Rosenbluth
///   do for a sender without echo problems).
///
/// Everything else (echo, noise, loudness, the network's own delay, which one point cannot
/// see) stays at G.107's defaults. So the figure is a comparison between streams and over
/// time on one proxy, not a measurement of what a listener heard.
public enum EModel {
    /// R with every G.107 parameter at its default and no delay (Ro − Is + A = 93.2).
    public static let defaultRating = 93.2
    /// The playout buffer of the jitter model: a packet arriving more than this after the
    /// earliest one (both measured against RTP time) would have been dropped. 50 ms is the
    /// smaller of the fixed buffers VoIPmonitor simulates.
    public static let jitterBufferMilliseconds = 50.0
    /// A packet this much later than the earliest is a jump (a new route, a sender that
    /// restarted its clock, a switch to and from T.38), not jitter: the buffer re-centres on
    /// it, as Asterisk's fixed jitter buffer does past its `jbresyncthreshold` of 1000 ms.
    public static let resyncMilliseconds = 1000.0
    /// A stream shorter than this (one second of 20 ms packets) gets no estimate: a single
    /// late packet would make it poor.
    public static let minimumPackets = 50

    /// A codec's E-model parameters.
    public struct Codec: Equatable, Sendable {
        /// Ie: the impairment without loss.
        public var impairment: Double
        /// Bpl: how well it conceals random loss (higher is better).
        public var lossRobustness: Double
        /// Frame and look-ahead, added to the buffer's delay.
        public var codecDelayMilliseconds: Double
    }

    /// G.113 Appendix I. G.711 with the packet-loss concealment of G.711 Appendix I, which
    /// every phone and gateway we know of has (without it Bpl is 4.3).
    public static let g711 = Codec(impairment: 0, lossRobustness: 25.1, codecDelayMilliseconds: 0)
    /// G.729A with VAD.
    public static let g729 = Codec(impairment: 11, lossRobustness: 19.0, codecDelayMilliseconds: 15)
    /// G.723.1 at 6.3 kbit/s with VAD.
    public static let g723 = Codec(impairment: 15, lossRobustness: 16.1, codecDelayMilliseconds: 37.5)

    /// The parameters for a payload format, by name (RFC 3551 and SDP rtpmap names, any case),
    /// or nil for formats the narrowband E-model has no figures for (wideband codecs, Opus,
    /// telephone-event, comfort noise, video).
    public static func codec(_ name: ShortName) -> Codec? {
        if name.hasPrefix("pcmu") || name.hasPrefix("pcma") || name.hasPrefix("g711") { return g711 }
        if name.hasPrefix("g729") { return g729 }
        if name.hasPrefix("g723") { return g723 }
        return nil
    }

    /// G.107's Ie,eff for random loss: Ie + (95 − Ie) · Ppl / (Ppl + Bpl).
    public static func effectiveImpairment(_ codec: Codec, lossPercent: Double) -> Double {
        let loss = min(max(lossPercent, 0), 100)
        return codec.impairment + (95 - codec.impairment) * loss / (loss + codec.lossRobustness)
    }

    /// Id from the one-way delay: 0.024 d + 0.11 (d − 177.3) above 177.3 ms.
    public static func delayImpairment(milliseconds delay: Double) -> Double {
        let d = max(delay, 0)
        return 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0)
    }

    /// The rating R.
    public static func rating(_ codec: Codec, lossPercent: Double, delayMilliseconds: Double) -> Double {
        defaultRating - delayImpairment(milliseconds: delayMilliseconds) - effectiveImpairment(codec, lossPercent: lossPercent)
    }

    /// G.107 Annex B: MOS (conversational quality, 1 to 4.5) from R.
    public static func meanOpinionScore(rating r: Double) -> Double {
        if r <= 0 { return 1 }
        if r >= 100 { return 4.5 }
        return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
    }
}

extension RTPStreamStatistics {
    /// Packets lost or too late for the playout buffer, in percent of those expected.
    public var effectiveLossPercent: Double {
        let expected = self.expected
        guard expected > 0 else { return 0 }
        return Double(max(lost, 0) + late) * 100 / Double(expected)
    }
}

extension StreamFormats {
    /// The first format the stream carried that the E-model knows.
    public var speechCodec: EModel.Codec? {
        for i in 0..<Int(count) {
            if let format = format(i), let codec = EModel.codec(format.format.name) { return codec }
        }
        return nil
    }
}

extension EModel {
    /// The estimate for one stream so far: nil when its codec has no figures or it is too
    /// short to judge.
    public static func meanOpinionScore(of statistics: RTPStreamStatistics, formats: StreamFormats) -> Double? {
        guard statistics.packets >= minimumPackets, let codec = formats.speechCodec else { return nil }
        let delay = jitterBufferMilliseconds + codec.codecDelayMilliseconds
        return meanOpinionScore(rating: rating(codec, lossPercent: statistics.effectiveLossPercent, delayMilliseconds: delay))
    }
}

extension RTPStreamSummary {
    /// The E-model's MOS for the stream so far (see `EModel`), nil when it cannot say.
    public var meanOpinionScore: Double? { EModel.meanOpinionScore(of: statistics, formats: formats) }
}
