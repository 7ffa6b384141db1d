import Testing
import Basics
import GatewayCore
import SIP

func endpoint(_ last: UInt32, _ port: UInt16 = 5060) -> Endpoint {
    Endpoint(address: IPAddress(ipv4: 0x7F00_0000 | last), port: port)
}

/// A group of `count` nodes on 127.0.0.1...n, seen from node `me` (0-based).
func group(_ count: Int, me: Int) -> GroupSequence {
    GroupSequence(members: (0..<count).map {
        Member(address: endpoint(UInt32($0 + 1)), identity: Array("sip:127.0.0.\($0 + 1):5060;transport=udp".utf8))
    }, selfIndex: me)
}

/// A request with the given Vias (top first).
func request(_ method: String = "INVITE", vias: [String] = ["SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKclient"],
             maxForwards: Int = 70, uri: String = "sip:alice@primary.example;user=phone") -> String {
    var text = "\(method) \(uri) SIP/2.0\r\n"
    for via in vias { text += "Via: \(via)\r\n" }
    text += "Max-Forwards: \(maxForwards)\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>\r\nCall-ID: call-1\r\n"
        + "CSeq: 1 \(method)\r\nContent-Length: 0\r\n\r\n"
    return text
}

func decide(_ text: String, from source: Endpoint = endpoint(100, 5070), admission: Admission,
            sequence: GroupSequence, up: Set<Int> = [0, 1, 2, 3, 4]) -> RequestDecision {
    Array(text.utf8).withUnsafeBytes { buffer in
        let line = SIPScanner.startLine(buffer)!
        let message = try! SIPScanner.scan(buffer, startLine: line, framing: .datagram)
        return RequestDecider.decide(message, buffer, source: source, admission: admission, sequence: sequence,
                                     isUp: { up.contains($0) })
    }
}

struct AdmissionTests {
    @Test func hysteresis() {
        var admission = Admission(threshold: 0.8, hysteresis: 0.1)
        #expect(admission.update(workload: 0.5) == nil && admission.accepts)
        #expect(admission.update(workload: 0.8) == .forwarding)
        #expect(admission.update(workload: 0.75) == nil && !admission.accepts)  // not below 0.7 yet
        #expect(admission.update(workload: 0.69) == .accepting)
    }

    @Test func drainForwardsEverything() {
        var admission = Admission(threshold: 0.8, hysteresis: 0.1, drain: true)
        #expect(admission.state == .draining)
        #expect(admission.update(workload: 0) == nil && !admission.accepts)
        admission.drain = false
        #expect(admission.update(workload: 0.1) == .accepting)
    }
}

struct DecisionTests {
    let idle = Admission(threshold: 0.8, hysteresis: 0.1)
    var busy: Admission {
        var admission = Admission(threshold: 0.8, hysteresis: 0.1)
        _ = admission.update(workload: 1)
        return admission
    }

    @Test func belowThresholdRedirects() {
        #expect(decide(request(), admission: idle, sequence: group(3, me: 0)) == .redirect)
        #expect(decide(request("REGISTER"), admission: idle, sequence: group(3, me: 0)) == .redirect)
        #expect(decide(request("OPTIONS"), admission: idle, sequence: group(3, me: 0)) == .redirect)
    }

    @Test func overThresholdForwardsToTheNextLiveMember() {
        #expect(decide(request(), admission: busy, sequence: group(3, me: 0)) == .forward(to: 1))
        #expect(decide(request(), admission: busy, sequence: group(3, me: 0), up: [0, 2]) == .forward(to: 2))
    }

    @Test func theLastNodeAnswersAllBusy() {
        // Entered at node 0, went through 1, now at 2: nobody left.
        let vias = ["SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK2", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1",
                    "SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKc"]
        #expect(decide(request(vias: vias), from: endpoint(2), admission: busy, sequence: group(3, me: 2)) == .allBusy)
        // Every other member down: the entry node itself answers busy.
        #expect(decide(request(), admission: busy, sequence: group(3, me: 0), up: [0]) == .allBusy)
    }

    @Test func theSequenceIsARing() {
        // Entered at node 3 of 5, forwarded by 3 to 4; 4 is busy: next is 0, then 1, 2.
        let vias = ["SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bK4", "SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKc"]
        #expect(decide(request(vias: vias), from: endpoint(4), admission: busy, sequence: group(5, me: 4)) == .forward(to: 0))
        // At node 2, having come 3 → 4 → 0 → 1 → 2: back at the entry, so all busy.
        let around = ["SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKb", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa",
                      "SIP/2.0/UDP 127.0.0.5:5060;branch=z9hG4bK5", "SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bK4",
                      "SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKc"]
        #expect(decide(request(vias: around), from: endpoint(2), admission: busy, sequence: group(5, me: 2)) == .allBusy)
    }

    @Test func hopLimitAndLoops() {
        #expect(decide(request(maxForwards: 0), admission: idle, sequence: group(3, me: 0)) == .tooManyHops)
        let looped = ["SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK2", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1"]
        #expect(decide(request(vias: looped), from: endpoint(2), admission: busy, sequence: group(3, me: 0)) == .loopDetected)
    }

    @Test func probesAreAnsweredNeverForwarded() {
        #expect(decide(request("OPTIONS", maxForwards: 0), admission: busy, sequence: group(3, me: 0)) == .answerProbe)
    }

    @Test func forgedChainsAreRefused() {
        // Member Vias, but the packet comes from an address outside the group.
        let vias = ["SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK2", "SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKc"]
        #expect(decide(request(vias: vias), from: endpoint(66), admission: busy, sequence: group(3, me: 2)) == .refuse)
    }

    @Test func otherMethodsAreNotRequestsToConnect() {
        #expect(decide(request("BYE"), admission: idle, sequence: group(3, me: 0)) == .methodNotAllowed)
        #expect(decide(request("SUBSCRIBE"), admission: idle, sequence: group(3, me: 0)) == .methodNotAllowed)
    }
}

struct HealthAndReservationTests {
    @Test func peersGoDownAndComeBack() {
        var health = PeerHealth(failuresToDown: 3, successesToUp: 2)
        #expect(!health.unanswered() && !health.unanswered())
        #expect(health.unanswered() && !health.isUp)
        #expect(!health.answered(roundTrip: 1000, load: 0.5) && !health.isUp)
        #expect(health.answered(roundTrip: 1000, load: 0.5) && health.isUp)
        #expect(health.lastReportedLoad == 0.5)
    }

    @Test func reservationsCountUntilHonouredOrExpired() {
        let reservations = Reservations(capacity: 4, lifetimeSeconds: 10)
        let second: Int64 = 1_000_000_000
        for id in ["a", "b", "c"] { Array(id.utf8).withUnsafeBytes { reservations.reserve($0, now: 0) } }
        Array("a".utf8).withUnsafeBytes { reservations.reserve($0, now: 5 * second) }  // renewed, not doubled
        #expect(reservations.count(at: 5 * second) == 3)
        Array("b".utf8).withUnsafeBytes { reservations.honour($0) }
        #expect(reservations.count(at: 5 * second) == 2)
        #expect(reservations.count(at: 11 * second) == 1)  // c expired, a renewed until 15 s
        #expect(reservations.count(at: 16 * second) == 0)
        #expect(reservations.made == 3 && reservations.honoured == 1 && reservations.expired == 2)
    }

    @Test func reservationsAreBounded() {
        let reservations = Reservations(capacity: 4, lifetimeSeconds: 10)
        for i in 0..<100 { Array("r\(i)".utf8).withUnsafeBytes { reservations.reserve($0, now: Int64(i)) } }
        #expect(reservations.count(at: 100) == 4)
        #expect(reservations.dropped == 96)
    }
}

struct MessageTests {
    func text(_ out: TextBuffer) -> String { String(decoding: out.bytes, as: UTF8.self) }

    @Test(arguments: [
        ("sip:alice@primary.example;user=phone;transport=tcp", "sip:alice@127.0.0.3:5062;user=phone;transport=udp"),
        ("sip:+4930123@10.0.0.1:5060", "sip:+4930123@127.0.0.3:5062;transport=udp"),
        ("sips:bob@[2001:db8::1]:5061;lr", "sips:bob@127.0.0.3:5062;lr;transport=udp"),
        ("sip:example.net", "sip:127.0.0.3:5062;transport=udp"),
    ])
    func requestURIIsRetargeted(_ uri: String, _ expected: String) throws {
        let identity = Array("sip:127.0.0.3:5062;transport=udp".utf8)
        let request = Array(uri.utf8)
        var out = TextBuffer()
        try request.withUnsafeBytes { requestBuffer in
            try identity.withUnsafeBytes { identityBuffer in
                let parsed = try #require(SIPURI(requestBuffer, ByteRange(0, requestBuffer.count)))
                let target = try #require(SIPURI(identityBuffer, ByteRange(0, identityBuffer.count)))
                SIPURI.retarget(parsed, in: requestBuffer, to: target, in: identityBuffer, into: &out)
            }
        }
        #expect(text(out) == expected)
    }

    @Test func responsesCopyTheRequestsHeaders() throws {
        let vias = ["SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1", "SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKc;rport"]
        let bytes = Array(request(vias: vias).utf8)
        var out = TextBuffer()
        let tag = Array("n0de".utf8)
        try bytes.withUnsafeBytes { buffer in
            let message = try SIPScanner.scan(buffer, startLine: SIPScanner.startLine(buffer)!, framing: .datagram)
            tag.withUnsafeBytes { tagBuffer in
                ResponseWriter.begin(503, for: message, buffer, toTag: ByteRange(0, 4), tagBuffer: tagBuffer, into: &out)
            }
            out.append("Retry-After: 30\r\n")
            ResponseWriter.end(into: &out)
        }
        let response = text(out)
        #expect(response.hasPrefix("SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
            + "Via: SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKc;rport\r\n"))
        #expect(response.contains("To: <sip:b@h>;tag=n0de\r\n"))
        #expect(response.contains("Call-ID: call-1\r\nCSeq: 1 INVITE\r\n"))
        #expect(response.hasSuffix("Retry-After: 30\r\nServer: gatewayd\r\nContent-Length: 0\r\n\r\n"))
        // The response scans as SIP.
        try out.bytes.withUnsafeBytes { buffer in
            let scanned = try SIPScanner.scan(buffer, startLine: try #require(SIPScanner.startLine(buffer)), framing: .datagram)
            #expect(scanned.statusCode == 503 && scanned.viaCount == 2 && scanned.retryAfter == 30)
        }
    }
}
