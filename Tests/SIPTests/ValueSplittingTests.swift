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
}
