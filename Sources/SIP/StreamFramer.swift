import Basics

/// What the bytes at the start of a SIP connection's buffer hold (RFC 3261 §18.3; RFC 5626
/// §4.4.1 keep-alives): the framing a server applies, stricter than the meter's (which
/// watches other people's traffic and takes a missing Content-Length as 0).
public enum StreamFrame: Equatable, Sendable {
    /// A whole message of this many bytes.
    case message(Int)
    /// A keep-alive ping (CRLF CRLF) of this many bytes: answer with one CRLF.
    case ping(Int)
    /// CRLFs of this many bytes that are not a ping (a pong, or line ends before a message):
    /// skip them.
    case skip(Int)
    /// Not enough bytes yet.
    case needMore
    /// A message whose end cannot be known (no Content-Length, or not a number): answer 400
    /// if possible and close, since the stream can no longer be followed.
    case unframeable
    /// Headers and body longer than the limit: close.
    case tooLarge
}

public enum StreamFramer {
    /// The same as `next(_:resuming:limit:)`, and the message scanned when it came whole in
    /// these bytes with nothing read of it before (most messages do): scanning it frames it
    /// (Content-Length is among what the scan reads), and whoever takes it need not scan it
    /// again, so its header lines are walked once, not twice. `scanned` is nil when the frame
    /// is anything else, or a message that was framed the long way (arriving in pieces,
    /// malformed: its receiver scans it and answers as for any).
    public static func next(_ buffer: UnsafeRawBufferPointer, resuming scan: inout StreamScan, limit: Int,
                            scanned: inout SIPMessage?) -> StreamFrame {
        scanned = nil
        if scan == StreamScan(), let line = SIPScanner.startLine(buffer),
           let message = try? SIPScanner.scan(buffer, startLine: line, framing: .stream), message.contentLength >= 0 {
            guard message.length <= limit else { return .tooLarge }
            scanned = message
            return .message(message.length)
        }
        return next(buffer, resuming: &scan, limit: limit)
    }

    /// The next frame in `buffer`, reading on from `scan` (kept by the caller with the
    /// connection while a message is incomplete, so each byte is read once; reset it after
    /// a frame). `limit` bounds a message's length.
    public static func next(_ buffer: UnsafeRawBufferPointer, resuming scan: inout StreamScan,
                            limit: Int) -> StreamFrame {
        let count = buffer.count
        guard count > 0 else { return .needMore }
        if buffer[0] == ASCII.cr || buffer[0] == ASCII.lf {
            if count >= 4 && buffer[0] == ASCII.cr && buffer[1] == ASCII.lf && buffer[2] == ASCII.cr
                && buffer[3] == ASCII.lf {
                return .ping(4)
            }
            // A CRLF that could still become a ping waits for its next bytes.
            if count < 4 && buffer[0] == ASCII.cr && (1..<count).allSatisfy({ buffer[$0] == (($0 & 1) == 0 ? ASCII.cr : ASCII.lf) }) {
                return .needMore
            }
            var skipped = 0
            while skipped < count && (buffer[skipped] == ASCII.cr || buffer[skipped] == ASCII.lf) { skipped += 1 }
            return .skip(skipped)
        }
        switch SIPScanner.frameLength(buffer, resuming: &scan) {
        case .needMore:
            return count >= limit ? .tooLarge : .needMore
        case .unframeable:
            return .unframeable
        case .complete(let length):
            guard length <= limit else { return .tooLarge }
            // The meter's framing takes a missing Content-Length as 0; a server must not.
            // A message that is framed but otherwise malformed is the receiver's to answer.
            return scan.declaresLength ? .message(length) : .unframeable
        }
    }
}
