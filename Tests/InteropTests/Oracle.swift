import Foundation

/// What tshark says about a capture, parsed from its own output at test time.
struct Oracle {
    /// One row of `-z rtp,streams`.
    struct Stream: Hashable {
        var source: String
        var sourcePort: Int
        var destination: String
        var destinationPort: Int
        var ssrc: UInt32
    }

    struct StreamFigures {
        var packets: Int
        var lost: Int
        var maxJitter: Double
        var meanJitter: Double
    }

    /// `-z sip,stat`: requests by method and responses by code, retransmissions included.
    static func sipStatistics(_ file: URL) throws -> (requests: [String: Int], responses: [Int: Int]) {
        let text = try Interop.tshark(["-n", "-r", file.path, "-q", "-z", "sip,stat"])
        var requests: [String: Int] = [:]
        var responses: [Int: Int] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasSuffix("Packets"), let colon = trimmed.lastIndex(of: ":") else { continue }
            let name = trimmed[..<colon].trimmingCharacters(in: .whitespaces)
            let count = Int(trimmed[trimmed.index(after: colon)...].split(separator: " ")[0])!
            if name.hasPrefix("SIP ") {
                responses[Int(name.split(separator: " ")[1])!] = count
            } else {
                requests[name] = count
            }
        }
        return (requests, responses)
    }

    /// `-z rtp,streams`, with unannounced RTP when `heuristic`.
    static func rtpStreams(_ file: URL, heuristic: Bool) throws -> [Stream: StreamFigures] {
        var arguments = ["-n", "-r", file.path, "-q", "-z", "rtp,streams"]
        if heuristic { arguments.insert(contentsOf: ["--enable-heuristic", "rtp_udp"], at: 0) }
        let text = try Interop.tshark(arguments)
        var streams: [Stream: StreamFigures] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // start end src sport dst dport ssrc payload... pkts lost (pct) min mean max minj meanj maxj [X]
            guard fields.count >= 16, fields[6].hasPrefix("0x"), let ssrc = UInt32(fields[6].dropFirst(2), radix: 16),
                  let lostIndex = fields.lastIndex(where: { $0.hasPrefix("(") && $0.hasSuffix("%)") })
            else { continue }
            let stream = Stream(source: String(fields[2]), sourcePort: Int(fields[3])!, destination: String(fields[4]),
                                destinationPort: Int(fields[5])!, ssrc: ssrc)
            streams[stream] = StreamFigures(packets: Int(fields[lostIndex - 2])!, lost: Int(fields[lostIndex - 1])!,
                                            maxJitter: Double(fields[lostIndex + 6])!,
                                            meanJitter: Double(fields[lostIndex + 5])!)
        }
        return streams
    }

    /// Distinct Call-IDs of INVITEs, the call-attempt query of SOURCES.md.
    static func inviteCallIDs(_ file: URL) throws -> Int {
        let text = try Interop.tshark(["-n", "-r", file.path, "-Y", "sip.Method==\"INVITE\"", "-T", "fields",
                                       "-e", "sip.Call-ID"])
        return Set(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            .count
    }

    /// Packets tshark showed as T.38 that are plainly RTP of a stream: version 2 with that
    /// stream's SSRC, on its addresses and ports.
    ///
    /// Once tshark has dissected T.38 on an address, it keeps doing so for the rest of the
    /// file even after SIP moved the address back to RTP (heplify's FAX capture shows it:
    /// 2010 packets of SSRC 0x0EAF0EAF with consecutive sequence numbers and timestamps,
    /// shown as malformed T.38). The meter counts them as the RTP they are; the test adds
    /// them to tshark's figure, and compares only the count for such a stream.
    static func rtpShownAsT38(_ file: URL) throws -> [Stream: Int] {
        let text = try Interop.tshark(["-n", "-r", file.path, "-Y", "t38", "-T", "fields", "-E", "separator=|",
                                       "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport", "-e", "ip.dst",
                                       "-e", "ipv6.dst", "-e", "udp.dstport", "-e", "udp.payload"])
        var counts: [Stream: Int] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 7, f[6].count >= 24, f[6].hasPrefix("8") || f[6].hasPrefix("9") || f[6].hasPrefix("a")
                || f[6].hasPrefix("b"), let ssrc = UInt32(f[6].dropFirst(16).prefix(8), radix: 16) else { continue }
            let stream = Stream(source: f[0].isEmpty ? f[1] : f[0], sourcePort: Int(f[2])!,
                                destination: f[3].isEmpty ? f[4] : f[3], destinationPort: Int(f[5])!, ssrc: ssrc)
            counts[stream, default: 0] += 1
        }
        return counts
    }
}
