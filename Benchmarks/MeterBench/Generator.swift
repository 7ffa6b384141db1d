import Foundation

/// Writes a capture of realistic gateway traffic: calls set up with SIP and SDP over UDP,
/// G.711 RTP both ways every 20 ms while they last, torn down with BYE, and REGISTERs with
/// digest challenges from a population of phones. Deterministic for a given seed.
struct TrafficGenerator {
    var packets = 0
    var output: [UInt8] = []
    let file: UnsafeMutablePointer<FILE>
    var random: SplitMix

    init(path: String, seed: UInt64) throws {
        guard let file = fopen(path, "wb") else { throw BenchError("cannot write \(path)") }
        self.file = file
        random = SplitMix(seed: seed)
        // pcap header, microsecond timestamps, Ethernet.
        output += le32(0xA1B2_C3D4) + le16(2) + le16(4) + le32(0) + le32(0) + le32(65535) + le32(1)
    }

    struct Call {
        var id: Int
        var ends: Int  // in 20 ms ticks
        var sequenceA: UInt16
        var sequenceB: UInt16
        var timestamp: UInt32
        var ssrcA: UInt32
        var ssrcB: UInt32
    }

    /// Runs the simulation until `target` packets were written, keeping about `concurrent`
    /// calls up, each lasting 30 to 180 s.
    mutating func run(target: Int, concurrent: Int) {
        var calls: [Call] = []
        var nextCall = 0
        var tick = 0
        let start: Double = 1_764_000_000
        while packets < target {
            let time = start + Double(tick) * 0.02
            // Calls arrive so that about `concurrent` are up.
            while calls.count < concurrent && random.next() % 8 == 0 || calls.count < concurrent / 4 {
                let call = Call(id: nextCall, ends: tick + 1500 + Int(random.next() % 7500),
                                sequenceA: UInt16(truncatingIfNeeded: random.next()),
                                sequenceB: UInt16(truncatingIfNeeded: random.next()), timestamp: UInt32(truncatingIfNeeded: random.next()),
                                ssrcA: UInt32(truncatingIfNeeded: random.next()), ssrcB: UInt32(truncatingIfNeeded: random.next()))
                setUp(call, time: time)
                calls.append(call)
                nextCall += 1
            }
            if tick % 50 == 7 { register(phone: Int(random.next() % 500), time: time) }
            var index = 0
            while index < calls.count {
                if calls[index].ends <= tick {
                    tearDown(calls[index], time: time + 0.001)
                    calls.remove(at: index)
                    continue
                }
                media(&calls[index], time: time + Double(index % 19) * 0.0005)
                index += 1
            }
            tick += 1
            if output.count > 1 << 20 { flush() }
        }
        flush()
        fclose(file)
    }

    private mutating func setUp(_ call: Call, time: Double) {
        let callID = "bench-\(call.id)@gw.example.net"
        let a = portA(call), b = portB(call)
        let offer = sdp(address: "10.0.0.10", port: a)
        let answer = sdp(address: "10.0.0.20", port: b)
        sip(request("INVITE", callID: callID, cseq: 1, body: offer), from: 1, to: 2, time: time)
        sip(response(100, "Trying", "INVITE", callID: callID, cseq: 1, toTag: false), from: 2, to: 1, time: time + 0.002)
        sip(response(180, "Ringing", "INVITE", callID: callID, cseq: 1), from: 2, to: 1, time: time + 0.004)
        sip(response(200, "OK", "INVITE", callID: callID, cseq: 1, body: answer), from: 2, to: 1, time: time + 0.006)
        sip(request("ACK", callID: callID, cseq: 1, toTag: true), from: 1, to: 2, time: time + 0.008)
    }

    private mutating func tearDown(_ call: Call, time: Double) {
        let callID = "bench-\(call.id)@gw.example.net"
        sip(request("BYE", callID: callID, cseq: 2, toTag: true), from: 1, to: 2, time: time)
        sip(response(200, "OK", "BYE", callID: callID, cseq: 2), from: 2, to: 1, time: time + 0.002)
    }

    private mutating func register(phone: Int, time: Double) {
        let callID = "reg-\(phone)@phones.example.net"
        let cseq = Int(random.next() % 1000) * 2 + 1
        sip(request("REGISTER", callID: callID, cseq: cseq), from: 3, to: 2, time: time)
        sip(response(401, "Unauthorized", "REGISTER", callID: callID, cseq: cseq), from: 2, to: 3, time: time + 0.001)
        sip(request("REGISTER", callID: callID, cseq: cseq + 1), from: 3, to: 2, time: time + 0.003)
        sip(response(200, "OK", "REGISTER", callID: callID, cseq: cseq + 1), from: 2, to: 3, time: time + 0.004)
    }

    private mutating func media(_ call: inout Call, time: Double) {
        call.sequenceA &+= 1
        call.sequenceB &+= 1
        call.timestamp &+= 160
        // A little loss and jitter, as on a real network.
        if random.next() % 500 != 0 {
            udp(rtp(call.sequenceA, call.timestamp, call.ssrcA), sourceHost: 10, sourcePort: portA(call), destinationHost: 20,
                destinationPort: portB(call), time: time + Double(random.next() % 3000) / 1e6)
        }
        udp(rtp(call.sequenceB, call.timestamp, call.ssrcB), sourceHost: 20, sourcePort: portB(call), destinationHost: 10,
            destinationPort: portA(call), time: time + 0.0003 + Double(random.next() % 1000) / 1e6)
    }

    private func portA(_ call: Call) -> Int { 10000 + (call.id % 20000) * 2 }
    private func portB(_ call: Call) -> Int { 40000 + (call.id % 10000) * 2 }

    private func rtp(_ sequence: UInt16, _ timestamp: UInt32, _ ssrc: UInt32) -> [UInt8] {
        [0x80, 8] + be16(Int(sequence)) + be32(timestamp) + be32(ssrc) + [UInt8](repeating: 0xD5, count: 160)
    }

    private func sdp(address: String, port: Int) -> String {
        "v=0\r\no=gw 1 1 IN IP4 \(address)\r\ns=call\r\nc=IN IP4 \(address)\r\nt=0 0\r\n"
            + "m=audio \(port) RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            + "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    }

    private func request(_ method: String, callID: String, cseq: Int, toTag: Bool = false, body: String = "") -> String {
        "\(method) sip:+4930\(callID.count)@proxy.example.net SIP/2.0\r\n"
            + "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK\(callID.prefix(12))\(cseq)\(method)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:line1@gw.example.net>;tag=gw\(cseq)\r\n"
            + "To: <sip:+4930@proxy.example.net>\(toTag ? ";tag=px1" : "")\r\nCall-ID: \(callID)\r\nCSeq: \(cseq) \(method == "ACK" ? "INVITE" : method)\r\n"
            + "Contact: <sip:line1@10.0.0.1:5060>\r\nUser-Agent: gatewayd-bench\r\n"
            + (body.isEmpty ? "" : "Content-Type: application/sdp\r\n") + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    private func response(_ code: Int, _ reason: String, _ method: String, callID: String, cseq: Int, toTag: Bool = true,
                          body: String = "") -> String {
        "SIP/2.0 \(code) \(reason)\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK\(callID.prefix(12))\(cseq)\(method)\r\n"
            + "From: <sip:line1@gw.example.net>;tag=gw\(cseq)\r\nTo: <sip:+4930@proxy.example.net>\(toTag ? ";tag=px1" : "")\r\n"
            + "Call-ID: \(callID)\r\nCSeq: \(cseq) \(method)\r\n"
            + (code == 401 ? "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"abc\"\r\n" : "")
            + (body.isEmpty ? "" : "Content-Type: application/sdp\r\n") + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    private mutating func sip(_ text: String, from: Int, to: Int, time: Double) {
        udp(Array(text.utf8), sourceHost: from, sourcePort: 5060, destinationHost: to, destinationPort: 5060, time: time)
    }

    private mutating func udp(_ payload: [UInt8], sourceHost: Int, sourcePort: Int, destinationHost: Int, destinationPort: Int,
                              time: Double) {
        let udp = be16(sourcePort) + be16(destinationPort) + be16(8 + payload.count) + [0, 0] + payload
        let ip: [UInt8] = [0x45, 0] + be16(20 + udp.count) + [0, 0, 0x40, 0, 64, 17, 0, 0]
            + [10, UInt8(sourceHost >> 8 & 0xFF), 0, UInt8(sourceHost & 0xFF)]
            + [10, UInt8(destinationHost >> 8 & 0xFF), 0, UInt8(destinationHost & 0xFF)] + udp
        let frame = [UInt8](repeating: 0x02, count: 12) + [0x08, 0x00] + ip
        let seconds = UInt32(time)
        let micros = UInt32((time - Double(seconds)) * 1e6)
        output += le32(seconds) + le32(micros) + le32(UInt32(frame.count)) + le32(UInt32(frame.count)) + frame
        packets += 1
    }

    private mutating func flush() {
        output.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, file) }
        output.removeAll(keepingCapacity: true)
    }

    private func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    private func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
    private func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    private func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
