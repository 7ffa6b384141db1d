import Basics
import Capture
import LoadMeter

/// Feeds a `Meter` hand-made SIP and RTP, as the decoder would.
struct MeterHarness {
    let meter: Meter
    var now: Int64 = 1_700_000_000_000_000_000
    static let phone = Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: 5060)
    static let proxy = Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 5060)

    init(_ configure: (inout MeterConfiguration) -> Void = { _ in }) {
        var configuration = MeterConfiguration()
        configure(&configuration)
        meter = Meter(configuration: configuration)
    }

    mutating func advance(milliseconds: Int64) { now += milliseconds * 1_000_000 }

    /// The meter's clock moves to `now` with no packet, as the daemon's timer moves it.
    func tick() { meter.advance(clock: PacketTime(nanoseconds: now)) }

    mutating func udp(_ bytes: [UInt8], from source: Endpoint = phone, to destination: Endpoint = proxy) {
        bytes.withUnsafeBytes { buffer in
            meter.receive(datagram: Datagram(source: source, destination: destination, payload: buffer,
                                             payloadLength: buffer.count, time: PacketTime(nanoseconds: now)))
        }
    }

    mutating func sip(_ text: String, from source: Endpoint = phone, to destination: Endpoint = proxy) {
        udp(Array(text.utf8), from: source, to: destination)
    }

    static func request(_ method: String, callID: String, cseq: Int, toTag: String? = nil, body: String = "") -> String {
        let to = toTag.map { "<sip:b@h>;tag=\($0)" } ?? "<sip:b@h>"
        let type = body.isEmpty ? "" : "Content-Type: application/sdp\r\n"
        return "\(method) sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK\(callID)\(cseq)\(method)\r\n"
            + "From: <sip:a@h>;tag=from\r\nTo: \(to)\r\nCall-ID: \(callID)\r\nCSeq: \(cseq) \(method == "ACK" ? "INVITE" : method)\r\n"
            + "\(type)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func response(_ code: Int, _ method: String, callID: String, cseq: Int, toTag: String? = "to", body: String = "",
                         headers: String = "") -> String
    {
        let to = toTag.map { "<sip:b@h>;tag=\($0)" } ?? "<sip:b@h>"
        let type = body.isEmpty ? "" : "Content-Type: application/sdp\r\n"
        return "SIP/2.0 \(code) Reason\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK\(callID)\(cseq)\(method)\r\n"
            + "From: <sip:a@h>;tag=from\r\nTo: \(to)\r\nCall-ID: \(callID)\r\nCSeq: \(cseq) \(method)\r\n\(headers)"
            + "\(type)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func sdp(_ address: String, _ port: Int, proto: String = "RTP/AVP 8") -> String {
        "v=0\r\no=- 1 1 IN IP4 \(address)\r\ns=-\r\nc=IN IP4 \(address)\r\nt=0 0\r\nm=audio \(port) \(proto)\r\n"
    }

    static func rtp(sequence: UInt16, timestamp: UInt32, ssrc: UInt32, payloadType: UInt8 = 8, marker: Bool = false,
                    payloadBytes: Int = 160) -> [UInt8] {
        [0x80, (marker ? 0x80 : 0) | payloadType, UInt8(sequence >> 8), UInt8(sequence & 0xFF),
         UInt8(timestamp >> 24), UInt8(timestamp >> 16 & 0xFF), UInt8(timestamp >> 8 & 0xFF), UInt8(timestamp & 0xFF),
         UInt8(ssrc >> 24), UInt8(ssrc >> 16 & 0xFF), UInt8(ssrc >> 8 & 0xFF), UInt8(ssrc & 0xFF)]
            + [UInt8](repeating: 0xD5, count: payloadBytes)
    }

    func streams() -> [RTPStreamSummary] {
        var all: [RTPStreamSummary] = []
        meter.forEachOpenStream { all.append($0) }
        return all
    }
}
