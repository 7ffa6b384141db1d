import Testing
import Basics
@testable import SIP

/// Framing SIP on a TCP connection as a server does (RFC 3261 §18.3, RFC 5626 §4.4.1).
struct StreamFramerTests {
    static let invite = "INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.100:5399;branch=z9hG4bK1\r\n"
        + "From: <sip:c@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: f1\r\nCSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nv=0\n"

    /// Frames `text` from its start, reading on from `scan`.
    func frame(_ text: String, _ scan: inout StreamScan, limit: Int = 65_536) -> StreamFrame {
        Array(text.utf8).withUnsafeBytes { StreamFramer.next($0, resuming: &scan, limit: limit) }
    }

    func frame(_ text: String, limit: Int = 65_536) -> StreamFrame {
        var scan = StreamScan()
        return frame(text, &scan, limit: limit)
    }

    @Test func aWholeMessageAndWhatFollowsIt() {
        let length = StreamFramerTests.invite.utf8.count
        #expect(frame(StreamFramerTests.invite) == .message(length))
        #expect(frame(StreamFramerTests.invite + "OPTIONS sip:") == .message(length))
    }

    @Test func aMessageArrivingInPiecesIsReadOnFromWhereItStopped() {
        let bytes = Array(StreamFramerTests.invite.utf8)
        var scan = StreamScan()
        for end in stride(from: 1, to: bytes.count, by: 7) {
            let result = bytes[0..<end].withUnsafeBytes { StreamFramer.next($0, resuming: &scan, limit: 65_536) }
            #expect(result == .needMore, "at \(end) bytes")
        }
        let whole = bytes.withUnsafeBytes { StreamFramer.next($0, resuming: &scan, limit: 65_536) }
        #expect(whole == .message(bytes.count))
    }

    @Test func keepAlivesAreAnsweredOrSkipped() {
        #expect(frame("\r\n\r\n") == .ping(4))
        #expect(frame("\r\n\r\nINVITE") == .ping(4))
        // What could still become a ping waits; a lone CRLF before a message is skipped.
        #expect(frame("\r") == .needMore)
        #expect(frame("\r\n") == .needMore)
        #expect(frame("\r\n\r") == .needMore)
        #expect(frame("\r\nINVITE sip:") == .skip(2))
        #expect(frame("\n\nINVITE") == .skip(2))
        #expect(frame("") == .needMore)
    }

    @Test func withoutContentLengthTheEndCannotBeKnown() {
        let bare = StreamFramerTests.invite.replacingOccurrences(of: "Content-Length: 4\r\n", with: "")
        #expect(frame(bare) == .unframeable)
        let bad = StreamFramerTests.invite.replacingOccurrences(of: "Content-Length: 4", with: "Content-Length: four")
        #expect(frame(bad) == .unframeable)
        // The compact form counts.
        let compact = StreamFramerTests.invite.replacingOccurrences(of: "Content-Length: 4", with: "l: 4")
        #expect(frame(compact) == .message(compact.utf8.count))
        // Framed but otherwise malformed (no Call-ID) is the receiver's to answer.
        let noCallID = StreamFramerTests.invite.replacingOccurrences(of: "Call-ID: f1\r\n", with: "")
        #expect(frame(noCallID) == .message(noCallID.utf8.count))
        // Not SIP at all: no Content-Length either.
        #expect(frame("hello there\r\n\r\n") == .unframeable)
    }

    @Test func moreThanTheLimitIsTooLarge() {
        let body = String(repeating: "a", count: 2000)
        let large = StreamFramerTests.invite.replacingOccurrences(of: "Content-Length: 4\r\n\r\nv=0\n",
                                                                  with: "Content-Length: 2000\r\n\r\n" + body)
        #expect(frame(large, limit: 1000) == .tooLarge)
        #expect(frame(large, limit: 4096) == .message(large.utf8.count))
        // Headers that never end fill the buffer.
        #expect(frame("INVITE sip:a@h SIP/2.0\r\nX: " + String(repeating: "b", count: 1000), limit: 1000) == .tooLarge)
        #expect(frame("INVITE sip:a@h SIP/2.0\r\nX: " + String(repeating: "b", count: 100), limit: 1000) == .needMore)
    }
}
