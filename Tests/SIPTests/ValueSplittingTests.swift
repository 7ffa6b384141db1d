import Basics
import SIP
import Testing

/// The one line walker and the one comma splitter the scanners share.
struct ValueSplittingTests {
    func values(_ text: String) -> [String]? {
        Array(text.utf8).withUnsafeBytes { buffer -> [String]? in
            var result: [String] = []
            var start = 0
            while true {
                guard let end = ASCII.valueEnd(buffer, in: ByteRange(start, buffer.count)) else { return nil }
                result.append(String(decoding: buffer[start..<end], as: UTF8.self))
                guard end < buffer.count else { return result }
                start = end + 1
            }
        }
    }

    @Test func commasInQuotesAndAngleBracketsDoNotSplit() {
        #expect(values("<sip:a;x=1,2>,\"b, c\" <sip:b>,sip:c") == ["<sip:a;x=1,2>", "\"b, c\" <sip:b>", "sip:c"])
        #expect(values("") == [""])
        #expect(values(",") == ["", ""])
        // A quote that never closes leaves no value.
        #expect(values("a, \"b, c") == nil)
    }

    @Test func linesEndAtLFWithOrWithoutCR() {
        Array("one\r\ntwo\nthree".utf8).withUnsafeBytes { buffer in
            let first = ASCII.lineEnd(buffer, from: 0, to: buffer.count)
            #expect(first == 4 && ASCII.contentEnd(buffer, lineStart: 0, lineEnd: first) == 3)
            let second = ASCII.lineEnd(buffer, from: 5, to: buffer.count)
            #expect(second == 8 && ASCII.contentEnd(buffer, lineStart: 5, lineEnd: second) == 8)
            // No LF before the end: the end.
            #expect(ASCII.lineEnd(buffer, from: 9, to: buffer.count) == buffer.count)
            #expect(ASCII.lineEnd(buffer, from: 0, to: 3) == 3)
        }
    }

    /// The Via and Route readers walk only the lines the scanner saw those headers on; what
    /// they give is what a walk of every header gives, folded lines and lines between included.
    @Test func viaAndRouteReadersGiveWhatAWalkOfEveryHeaderGives() throws {
        let text = "INVITE sip:a@127.0.0.1 SIP/2.0\r\nRoute: <sip:p1;lr>\r\nVia: SIP/2.0/UDP h1;branch=z9hG4bK1,\r\n"
            + " SIP/2.0/UDP h2;branch=z9hG4bK2\r\nFrom: <sip:c@h>;tag=1\r\nRoute: <sip:p2;lr>,\r\n\t<sip:p3;lr>\r\n"
            + "v: SIP/2.0/TCP h3;branch=z9hG4bK3\r\nTo: <sip:a@h>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        try Array(text.utf8).withUnsafeBytes { buffer in
            let message = try SIPScanner.scan(buffer, startLine: #require(SIPScanner.startLine(buffer)), framing: .datagram)
            func all(_ values: HeaderValues) -> [String] {
                var values = values, found: [String] = []
                while let value = values.next() { found.append(String(decoding: value.slice(of: buffer), as: UTF8.self)) }
                return found
            }
            #expect(all(.routes(buffer, message)) == ["<sip:p1;lr>", "<sip:p2;lr>", "<sip:p3;lr>"])
            #expect(all(.routes(buffer, message)) == all(HeaderValues(buffer, message, named: "route", compact: nil)))
            #expect(all(.vias(buffer, message)).count == 3)
            #expect(all(.vias(buffer, message)) == all(HeaderValues(buffer, message)))
        }
        let bare = "OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@h>;tag=1\r\nTo: <sip:a@h>\r\n"
            + "Call-ID: y\r\nCSeq: 1 OPTIONS\r\n\r\n"
        try Array(bare.utf8).withUnsafeBytes { buffer in
            let message = try SIPScanner.scan(buffer, startLine: #require(SIPScanner.startLine(buffer)), framing: .datagram)
            var routes = HeaderValues.routes(buffer, message)
            #expect(message.routeLines.isEmpty && routes.next() == nil)
        }
    }
}
