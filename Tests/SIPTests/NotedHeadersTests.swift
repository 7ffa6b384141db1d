import Basics
import SIP
import Testing

/// What the scanner notes while it walks the headers once, so that answering and proxying
/// need not walk them again: the top Via's parameters, gatewayd's trace header, and the
/// values a response copies.
struct NotedHeadersTests {
    func scanned<R>(_ text: String, _ body: (SIPMessage, UnsafeRawBufferPointer) throws -> R) throws -> R {
        try Array(text.utf8).withUnsafeBytes { buffer in
            try body(try SIPScanner.scan(buffer, startLine: #require(SIPScanner.startLine(buffer)), framing: .datagram), buffer)
        }
    }

    func request(via: String, extra: String = "") -> String {
        "INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: \(via)\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: x\r\n"
            + "CSeq: 1 INVITE\r\n\(extra)Content-Length: 0\r\n\r\n"
    }

    /// The one walk of the top Via gives what each parameter reader gives on its own.
    @Test(arguments: [
        "SIP/2.0/UDP h:5060;rport;received=10.0.0.1;branch=z9hG4bK1;oc",
        "SIP/2.0/UDP h;rport=5070;branch=z9hG4bK2",
        "SIP/2.0/UDP h;x=\"a;branch=z9hG4bKevil;rport\";branch=z9hG4bK3",
        "SIP/2.0/UDP h ; branch = z9hG4bK4 ; RPort ; OC=1",
        "SIP/2.0/UDP h;branch;branch=z9hG4bK5;rport=1;rport",
        "SIP/2.0/UDP h",
    ])
    func topViaParametersAgreeWithTheReaders(via: String) throws {
        try scanned(request(via: via)) { message, buffer in
            let top = message.topVia
            #expect(message.topViaBranch == SIPScanner.parameter("branch", in: top, buffer))
            let rport = SIPScanner.parameterName("rport", in: top, buffer)
            let bare = rport.flatMap { name in
                name.end >= top.end || buffer[ASCII.trim(buffer, ByteRange(name.end, top.end)).start] != ASCII.equals ? name : nil
            }
            #expect(message.topViaBareRport == (bare ?? .empty))
            #expect(message.topViaHasReceived == SIPScanner.hasParameter("received", in: top, buffer))
            #expect(message.topViaOffersOverloadControl == OverloadControl.isOffered(top, buffer))
        }
        // And the cases read as a person would.
        try scanned(request(via: "SIP/2.0/UDP h;x=\"a;branch=z9hG4bKevil\";branch=z9hG4bKgood;rport")) { message, buffer in
            #expect(String(decoding: message.topViaBranch.slice(of: buffer), as: UTF8.self) == "z9hG4bKgood")
            #expect(String(decoding: message.topViaBareRport.slice(of: buffer), as: UTF8.self) == "rport")
            #expect(!message.topViaHasReceived && !message.topViaOffersOverloadControl)
        }
    }

    /// A tag after the address: parameters inside `<...>` belong to the URI, quoted display
    /// names may hold anything, an addr-spec's parameters follow its first ';'.
    @Test(arguments: [
        ("<sip:a;tag=uri>;tag=y", "y"), ("sip:a@h;tag=z", "z"), ("\"Q <x>; tag=q\" <sip:a>;tag=w", "w"),
        ("Bob <sip:b@h> ; tag = v ;x", "v"), ("<sip:a;tag=x", ""), ("sip:a@h", ""), ("\"a>b\" <sip:a;tag=u>", ""),
        ("<sip:a>;x=\"1;tag=no\";tag=yes", "yes"),
    ])
    func theTagAfterTheAddress(value: String, tag: String) {
        Array(value.utf8).withUnsafeBytes { buffer in
            let found = SIPScanner.parameter("tag", afterAddressIn: ByteRange(0, buffer.count), buffer)
            #expect(String(decoding: found.slice(of: buffer), as: UTF8.self) == tag)
        }
    }

    @Test func theTraceHeaderIsNotedInAnyCase() throws {
        try scanned(request(via: "SIP/2.0/UDP h;branch=z9hG4bK1", extra: "x-GATEWAYD-trace: yes\r\n")) { message, _ in
            #expect(message.asksForHopPath)
        }
        try scanned(request(via: "SIP/2.0/UDP h;branch=z9hG4bK1", extra: "X-Gatewayd-Tracer: no\r\n")) { message, _ in
            #expect(!message.asksForHopPath)
        }
    }

    /// A response copies every Via line as it came, in order, and the values of From, To,
    /// Call-ID and CSeq, whether it is written from what the scanner noted or (for a request
    /// the scanner refused) by walking the header lines.
    @Test func aResponseWrittenFromNotedValuesCarriesWhatTheRequestSaid() throws {
        let text = "INVITE sip:a@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP h1;branch=z9hG4bK1,\r\n SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"
            + "f: \"Carol, C\" <sip:c@h>\r\n ;tag=17\r\nSubject: between\r\nVia: SIP/2.0/TCP h3;branch=z9hG4bK3\r\n"
            + "t: <sip:a@h>\r\ni: call-7@h\r\nCSeq:   42   INVITE\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n"
        let tag = Array("n0de".utf8)
        func response(noted: Bool) throws -> String {
            try Array(text.utf8).withUnsafeBytes { buffer in
                let line = try #require(SIPScanner.startLine(buffer))
                let message = noted ? try SIPScanner.scan(buffer, startLine: line, framing: .datagram)
                    : try #require(SIPScanner.headerSection(buffer, startLine: line))
                var out = TextBuffer()
                tag.withUnsafeBytes { ResponseWriter.begin(302, for: message, buffer, toTag: ByteRange(0, 4), tagBuffer: $0, into: &out) }
                ResponseWriter.end(into: &out)
                return String(decoding: out.bytes, as: UTF8.self)
            }
        }
        let noted = try response(noted: true)
        #expect(noted == "SIP/2.0 302 Moved Temporarily\r\nv: SIP/2.0/UDP h1;branch=z9hG4bK1,\r\n SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"
            + "Via: SIP/2.0/TCP h3;branch=z9hG4bK3\r\nFrom: \"Carol, C\" <sip:c@h>\r\n ;tag=17\r\nTo: <sip:a@h>;tag=n0de\r\n"
            + "Call-ID: call-7@h\r\nCSeq: 42 INVITE\r\nServer: gatewayd\r\nContent-Length: 0\r\n\r\n")
        // Both ways scan to the same message parts.
        func parts(_ response: String) throws -> [String] {
            try scanned(response) { message, buffer in
                var vias = HeaderValues.vias(buffer, message), found: [String] = []
                while let via = vias.next() { found.append(String(decoding: via.slice(of: buffer), as: UTF8.self)) }
                for range in [message.from, message.fromTag, message.to, message.toTag, message.callID, message.cseqMethodRange] {
                    found.append(String(decoding: range.slice(of: buffer), as: UTF8.self))
                }
                return found + ["\(message.cseqNumber)"]
            }
        }
        let walked = try response(noted: false)
        #expect(try parts(noted) == parts(walked))
        #expect(try parts(noted).count == 10)
    }
}
