import Testing
import Basics
import GatewayCore
import SIP

func scanned<R>(_ bytes: [UInt8], _ body: (SIPMessage, UnsafeRawBufferPointer) throws -> R) throws -> R {
    try bytes.withUnsafeBytes { buffer in
        let line = try #require(SIPScanner.startLine(buffer))
        return try body(try SIPScanner.scan(buffer, startLine: line, framing: .datagram), buffer)
    }
}

struct ForwardingTests {
    @Test func forwardedRequestGetsOurViaAndOneHopLess() throws {
        var out = TextBuffer()
        let branch = Array("z9hG4bK0123456789abcdef".utf8)
        try scanned(Array(request(maxForwards: 5).utf8)) { message, buffer in
            branch.withUnsafeBytes { RequestForwarder.write(message, buffer, via: endpoint(1), branch: $0, into: &out) }
        }
        try scanned(out.bytes) { forwarded, buffer in
            #expect(forwarded.method == .invite && forwarded.maxForwards == 4 && forwarded.viaCount == 2)
            #expect(String(decoding: forwarded.topVia.slice(of: buffer), as: UTF8.self)
                == "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0123456789abcdef")
            #expect(String(decoding: forwarded.startLine.requestURI.slice(of: buffer), as: UTF8.self)
                == "sip:alice@primary.example;user=phone")
        }
    }

    @Test func responsesLoseOnlyOurVia() throws {
        let response = "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours, "
            + "SIP/2.0/UDP 127.0.0.100:5070;branch=z9hG4bKc\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>;tag=t\r\n"
            + "Call-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.3:5060>;expires=60\r\nContent-Length: 0\r\n\r\n"
        var out = TextBuffer()
        let ours = Array("z9hG4bKours".utf8), theirs = Array("z9hG4bKother".utf8)
        try scanned(Array(response.utf8)) { message, buffer in
            #expect(theirs.withUnsafeBytes { !RequestForwarder.relay(message, buffer, ownBranch: $0, into: &out) })
            #expect(ours.withUnsafeBytes { RequestForwarder.relay(message, buffer, ownBranch: $0, into: &out) })
        }
        try scanned(out.bytes) { relayed, buffer in
            #expect(relayed.statusCode == 302 && relayed.viaCount == 1)
            #expect(String(decoding: relayed.topViaBranch.slice(of: buffer), as: UTF8.self) == "z9hG4bKc")
            #expect(String(decoding: relayed.contact.slice(of: buffer), as: UTF8.self) == "<sip:alice@127.0.0.3:5060>;expires=60")
        }
    }

    @Test func probeLoadRoundTrips() throws {
        var out = TextBuffer()
        try scanned(Array(request("OPTIONS", maxForwards: 0).utf8)) { message, buffer in
            ResponseWriter.begin(200, for: message, buffer, toTag: nil, into: &out)
        }
        ProbeLoad.append(workload: 0.4237, state: .forwarding, into: &out)
        ResponseWriter.end(into: &out)
        try scanned(out.bytes) { answer, buffer in
            let load = try #require(ProbeLoad.read(answer, buffer))
            #expect(load.workload == 0.424 && load.state == .forwarding)
        }
    }

    @Test func rateLimitPerSource() {
        let limiter = SourceRateLimiter(sources: 2, perSecond: 10, burst: 5)
        let a = IPAddress(ipv4: 0x7F00_0001), b = IPAddress(ipv4: 0x7F00_0002)
        var allowed = 0
        for _ in 0..<20 where limiter.allow(a, now: 0) { allowed += 1 }
        #expect(allowed == 5)
        #expect(limiter.allow(b, now: 0))  // another source is not affected
        #expect(limiter.allow(a, now: 100_000_000))  // 0.1 s refills one token
        #expect(!limiter.allow(a, now: 100_000_000))
        #expect(limiter.limited == 16)
    }
}
