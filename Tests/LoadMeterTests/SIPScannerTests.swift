import Testing
import LoadMeter
import SIP

/// Scans `text` and hands the message and its bytes to `body`.
func withScanned<R>(_ text: String, framing: SIPScanner.Framing = .datagram,
                    _ body: (Result<SIPMessage, SIPDefect>?, UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try Array(text.utf8).withUnsafeBytes { buffer in
        guard let line = SIPScanner.startLine(buffer) else { return try body(nil, buffer) }
        let result = Result { () throws(SIPDefect) -> SIPMessage in
            try SIPScanner.scan(buffer, startLine: line, framing: framing)
        }
        return try body(result, buffer)
    }
}

func string(_ range: ByteRange, _ buffer: UnsafeRawBufferPointer) -> String {
    String(decoding: range.slice(of: buffer), as: UTF8.self)
}

let invite = """
INVITE sip:bob@biloxi.example.com SIP/2.0\r
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/UDP proxy.example.com;branch=z9hG4bKold\r
Max-Forwards: 70\r
To: Bob <sip:bob@biloxi.example.com>\r
From: "Alice; the first" <sip:alice@atlanta.example.com;transport=udp>;tag=1928301774\r
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r
CSeq: 314159 INVITE\r
Contact: <sip:alice@pc33.atlanta.example.com>\r
Content-Type: application/sdp\r
Content-Length: 4\r
\r
v=0

"""

struct SIPScannerTests {
    @Test func requestHeadersAreFound() throws {
        try withScanned(invite) { result, buffer in
            let message = try #require(try result?.get())
            #expect(message.isRequest && message.method == .invite)
            #expect(string(message.startLine.requestURI, buffer) == "sip:bob@biloxi.example.com")
            #expect(string(message.callID, buffer) == "a84b4c76e66710@pc33.atlanta.example.com")
            #expect(message.cseqNumber == 314159 && message.cseqMethod == .invite)
            #expect(string(message.fromTag, buffer) == "1928301774")
            #expect(message.toTag.isEmpty)
            #expect(string(message.topViaBranch, buffer) == "z9hG4bK776asdhds")
            #expect(message.viaCount == 2)
            #expect(message.maxForwards == 70)
            #expect(message.contentLength == 4)
            #expect(string(message.body, buffer) == "v=0\n")
            #expect(string(message.contentType, buffer) == "application/sdp")
        }
    }

    @Test func compactFormsCaseAndFoldedLines() throws {
        let text = "SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP h;BRANCH=z9hG4bK1\r\nt: <sip:b@h>\r\n ;tag=abc\r\n"
            + "f: <sip:a@h>;tag=x\r\ni: id1\r\ncSeQ: 7\r\n  INVITE\r\nl: 0\r\n\r\n"
        try withScanned(text) { result, buffer in
            let message = try #require(try result?.get())
            #expect(!message.isRequest && message.statusCode == 180)
            #expect(string(message.toTag, buffer) == "abc")
            #expect(string(message.callID, buffer) == "id1")
            #expect(message.cseqNumber == 7 && message.cseqMethod == .invite)
            #expect(string(message.topViaBranch, buffer) == "z9hG4bK1")
        }
    }

    @Test func tagInsideTheURIIsNotTheHeaderTag() throws {
        let text = "BYE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nTo: <sip:b@h;tag=wrong>\r\n"
            + "From: sip:a@h;tag=right\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n"
        try withScanned(text) { result, buffer in
            let message = try #require(try result?.get())
            #expect(message.toTag.isEmpty)
            #expect(string(message.fromTag, buffer) == "right")
        }
    }

    @Test(arguments: [
        ("no Call-ID", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:a@b>;tag=1\r\nCSeq: 1 OPTIONS\r\n\r\n", SIPDefect.missingCallID),
        ("bad CSeq", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: c\r\nCSeq: x OPTIONS\r\n\r\n", .badCSeq),
        ("body past end", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 900\r\n\r\nshort", .bodyPastEnd),
        ("two lengths", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nl: 1\r\nContent-Length: 2\r\n\r\nxx", .badContentLength),
        ("no end of headers", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\n", .unterminatedHeaders),
        ("header without colon", "OPTIONS sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n", .badHeaderLine),
    ])
    func defectsAreNamed(_ name: String, _ text: String, _ defect: SIPDefect) {
        withScanned(text) { result, _ in
            guard case .failure(let found) = result else {
                Issue.record("\(name): not rejected")
                return
            }
            #expect(found == defect, "\(name)")
        }
    }

    @Test(arguments: ["RTP\u{0}\u{1}", "HTTP/1.1 200 OK\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", "SIP/2.0 99 Low\r\n\r\n",
                      "INVITE sip:a@b SIP/3.0\r\n\r\n", "INVITE  sip:a@b SIP/2.0\r\n\r\n", "invite", ""])
    func notSIPIsNotSIP(_ text: String) {
        withScanned(text) { result, _ in #expect(result == nil) }
    }

    @Test func nulBytesAndThousandsOfHeadersAreHandled() throws {
        var text = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK\u{0}x\r\nTo: <sip:a@b>\r\n"
            + "From: <sip:a@b>;tag=1\r\nCall-ID: c\u{0}d\r\nCSeq: 1 MESSAGE\r\n"
        for i in 0..<5000 { text += "X-Header-\(i): value \(i)\r\n" }
        text += "Content-Length: 0\r\n\r\n"
        try withScanned(text) { result, buffer in
            let message = try #require(try result?.get())
            #expect(message.headerCount == 5006)
            #expect(message.callID.count == 3)
            #expect(message.body.isEmpty)
        }
    }

    @Test func everyTruncationOfAMessageIsHandled() {
        let bytes = Array(invite.utf8)
        var accepted = 0
        for length in 0...bytes.count {
            bytes[0..<length].withUnsafeBytes { buffer in
                guard let line = SIPScanner.startLine(buffer) else { return }
                if (try? SIPScanner.scan(buffer, startLine: line, framing: .datagram)) != nil { accepted += 1 }
            }
        }
        // Only the whole message (and its trailing newline cut) carries the 4-byte body.
        #expect(accepted >= 1 && accepted <= 2)
    }

    @Test func streamFramingUsesContentLength() {
        let two = Array((invite + invite).utf8)
        two.withUnsafeBytes { buffer in
            guard case .complete(let length) = SIPScanner.frameLength(buffer) else {
                Issue.record("not framed")
                return
            }
            #expect(length == invite.utf8.count)
            #expect(SIPScanner.frameLength(UnsafeRawBufferPointer(rebasing: buffer[0..<(length - 1)])) == .needMore)
        }
        Array("INVITE sip:a@b SIP/2.0\r\nl: banana\r\n\r\n".utf8).withUnsafeBytes {
            #expect(SIPScanner.frameLength($0) == .unframeable)
        }
    }
}

struct SessionExpiresTests {
    @Test(arguments: [("Session-Expires: 1800;refresher=uac\r\n", 1800), ("x: 90\r\n", 90),
                      ("session-expires:   600 \r\n", 600), ("", -1), ("Session-Expires: soon\r\n", -1)])
    func sessionExpiresIsItsDeltaSeconds(header: String, seconds: Int) throws {
        let text = invite.replacingOccurrences(of: "Max-Forwards: 70\r\n", with: "Max-Forwards: 70\r\n" + header)
        try withScanned(text) { result, _ in
            let message = try #require(try result?.get())
            #expect(message.sessionExpires == seconds)
        }
    }
}
