import Basics

/// Scans SIP messages (RFC 3261 §7) over bytes, handing out ranges: nothing is copied and
/// nothing is allocated. Header names are matched case-insensitively, in long and compact
/// form; folded header lines are joined; the body is delimited by Content-Length.
public enum SIPScanner {
    public enum Framing {
        /// A UDP datagram: the message ends with the datagram; Content-Length may be absent.
        case datagram
        /// A TCP stream: Content-Length (absent = 0) says where the message ends, and
        /// bytes after it belong to the next message.
        case stream
    }

    /// The start line, if `buffer` begins with one; nil means "not SIP".
    public static func startLine(_ buffer: UnsafeRawBufferPointer) -> SIPStartLine? {
        let count = buffer.count
        guard count >= 12 else { return nil }
        // Every SIP start line begins with a token character ("SIP/2.0" or a method, which
        // may be any RFC 3261 token): this one test turns away RTP and RTCP (0x80 and up),
        // and most other binary UDP, at once.
        guard isTokenByte(buffer[0]) else { return nil }
        // A start line longer than 8 KiB is no SIP we take.
        let limit = min(count, 8193)
        let lineEnd = ASCII.lineEnd(buffer, from: 0, to: limit)
        guard lineEnd < limit else { return nil }
        let next = lineEnd + 1
        let end = ASCII.contentEnd(buffer, lineStart: 0, lineEnd: lineEnd)
        if isVersion(buffer, 0) {
            // SIP/2.0 SP 3DIGIT [SP Reason-Phrase]
            guard end >= 11, buffer[7] == ASCII.space, ASCII.isDigit(buffer[8]), ASCII.isDigit(buffer[9]),
                  ASCII.isDigit(buffer[10]), end == 11 || buffer[11] == ASCII.space else { return nil }
            let code = Int(buffer[8] - 0x30) * 100 + Int(buffer[9] - 0x30) * 10 + Int(buffer[10] - 0x30)
            guard code >= 100 && code <= 699 else { return nil }
            return SIPStartLine(isRequest: false, method: .other, methodRange: .empty, requestURI: .empty,
                                statusCode: code, reason: ByteRange(min(12, end), end), headersStart: next)
        }
        // Method SP Request-URI SP SIP/2.0
        var i = 0
        while i < end && isTokenByte(buffer[i]) { i += 1 }
        guard i > 0, i < end, buffer[i] == ASCII.space else { return nil }
        let methodRange = ByteRange(0, i)
        let uriStart = i + 1
        var uriEnd = uriStart
        var sawColon = false
        while uriEnd < end && buffer[uriEnd] != ASCII.space {
            if buffer[uriEnd] == ASCII.colon { sawColon = true }
            uriEnd += 1
        }
        guard uriEnd > uriStart, sawColon, uriEnd + 8 == end, isVersion(buffer, uriEnd + 1) else { return nil }
        return SIPStartLine(isRequest: true, method: SIPMethod(buffer, methodRange), methodRange: methodRange,
                            requestURI: ByteRange(uriStart, uriEnd), statusCode: 0, reason: .empty,
                            headersStart: next)
    }

    /// Scans the headers and body after `startLine`.
    public static func scan(_ buffer: UnsafeRawBufferPointer, startLine: SIPStartLine, framing: Framing)
        throws(SIPDefect) -> SIPMessage
    {
        var message = SIPMessage(startLine: startLine)
        let count = buffer.count
        var lineStart = startLine.headersStart
        var headerName = ByteRange.empty
        var valueStart = 0
        var valueEnd = 0
        var bodyStart = -1
        while lineStart < count {
            let lineEnd = ASCII.lineEnd(buffer, from: lineStart, to: count)
            guard lineEnd < count else { break }
            let contentEnd = ASCII.contentEnd(buffer, lineStart: lineStart, lineEnd: lineEnd)
            let first = buffer[lineStart]
            if contentEnd == lineStart {
                // The empty line: headers are over.
                if !headerName.isEmpty {
                    try take(headerName, ByteRange(valueStart, valueEnd), buffer, into: &message)
                }
                bodyStart = lineEnd + 1
                break
            }
            if first == ASCII.space || first == ASCII.tab {
                // A folded continuation of the previous header's value.
                guard !headerName.isEmpty else { throw .badHeaderLine }
                valueEnd = contentEnd
            } else {
                if !headerName.isEmpty {
                    try take(headerName, ByteRange(valueStart, valueEnd), buffer, into: &message)
                }
                guard let colon = ASCII.find(ASCII.colon, in: buffer, ByteRange(lineStart, contentEnd)) else {
                    throw .badHeaderLine
                }
                headerName = ASCII.trim(buffer, ByteRange(lineStart, colon))
                guard !headerName.isEmpty else { throw .badHeaderLine }
                valueStart = colon + 1
                valueEnd = contentEnd
                message.headerCount += 1
            }
            lineStart = lineEnd + 1
        }
        guard bodyStart >= 0 else { throw .unterminatedHeaders }
        message.linesNoted = true
        guard !message.callID.isEmpty else { throw .missingCallID }
        guard message.hasCSeq else { throw .missingCSeq }
        guard !message.from.isEmpty else { throw .missingFrom }
        guard !message.to.isEmpty else { throw .missingTo }
        guard message.viaCount > 0 else { throw .missingVia }
        if startLine.isRequest && !sameBytes(buffer, message.cseqMethodRange, startLine.methodRange) {
            // ACK and CANCEL carry their own method in CSeq too (RFC 3261 §17.1.1.3, §9.1).
            throw .cseqMethodMismatch
        }
        let available = count - bodyStart
        let bodyLength: Int
        if message.contentLength >= 0 {
            guard message.contentLength <= available else { throw .bodyPastEnd }
            bodyLength = message.contentLength
        } else {
            bodyLength = framing == .datagram ? available : 0
        }
        message.body = ByteRange(bodyStart, bodyStart + bodyLength)
        message.length = bodyStart + bodyLength
        return message
    }

    /// Just the header section after `startLine`, with no header checked: enough to copy
    /// Via, From, To, Call-ID and CSeq into a 400 answer to a request that `scan` refused,
    /// and to label a message with its Call-ID (the last one, if several). Nil when there is
    /// no Via or no end of headers.
    public static func headerSection(_ buffer: UnsafeRawBufferPointer, startLine: SIPStartLine) -> SIPMessage? {
        var message = SIPMessage(startLine: startLine)
        var lineStart = startLine.headersStart
        while lineStart < buffer.count {
            let lineEnd = ASCII.lineEnd(buffer, from: lineStart, to: buffer.count)
            guard lineEnd < buffer.count else { return nil }
            let contentEnd = ASCII.contentEnd(buffer, lineStart: lineStart, lineEnd: lineEnd)
            if contentEnd == lineStart {
                message.body = ByteRange(lineEnd + 1, lineEnd + 1)
                message.length = lineEnd + 1
                var headers = HeaderLines(buffer, message)
                while let header = headers.next() {
                    if headers.named(header, "via", compact: "v") { message.viaCount += 1 }
                    if headers.named(header, "call-id", compact: "i") { message.callID = header.value }
                    if headers.named(header, "to", compact: "t") {
                        message.to = header.value
                        message.toTag = parameter("tag", afterAddressIn: header.value, buffer)
                    }
                }
                return message.viaCount > 0 ? message : nil
            }
            lineStart = lineEnd + 1
        }
        return nil
    }

    /// Where a message in a TCP stream ends, or nil when more bytes are needed; throws when
    /// the headers cannot be framed (no valid Content-Length).
    public static func frameLength(_ buffer: UnsafeRawBufferPointer) -> FrameResult {
        var scan = StreamScan()
        return frameLength(buffer, resuming: &scan)
    }

    /// The same, read on from where an earlier read of the same bytes stopped (`scan`, which
    /// is left where this read stopped when it needs more).
    public static func frameLength(_ buffer: UnsafeRawBufferPointer, resuming scan: inout StreamScan) -> FrameResult {
        let count = buffer.count
        if scan.bodyStart > 0 {
            let total = scan.bodyStart + scan.contentLength
            return total <= count ? .complete(total) : .needMore
        }
        var i = min(scan.lineStart, count)
        var lineStart = i
        var contentLength = scan.contentLength
        defer {
            scan.lineStart = lineStart
            scan.contentLength = contentLength
        }
        while i < count {
            let lineEnd = ASCII.lineEnd(buffer, from: i, to: count)
            guard lineEnd < count else { break }
            let contentEnd = ASCII.contentEnd(buffer, lineStart: lineStart, lineEnd: lineEnd)
            if contentEnd == lineStart && lineStart > 0 {
                scan.bodyStart = lineEnd + 1
                let total = lineEnd + 1 + contentLength
                return total <= count ? .complete(total) : .needMore
            }
            if let colon = ASCII.find(ASCII.colon, in: buffer, ByteRange(lineStart, contentEnd)) {
                let name = ASCII.trim(buffer, ByteRange(lineStart, colon))
                if ASCII.equals(buffer, name, "content-length") || ASCII.equals(buffer, name, "l") {
                    // The value may go on over folded lines (as `scan` reads it): known only
                    // once the line after the last of them has begun.
                    var valueEnd = contentEnd
                    var next = lineEnd + 1
                    while next < count && (buffer[next] == ASCII.space || buffer[next] == ASCII.tab) {
                        let foldEnd = ASCII.lineEnd(buffer, from: next, to: count)
                        guard foldEnd < count else { return .needMore }
                        valueEnd = ASCII.contentEnd(buffer, lineStart: next, lineEnd: foldEnd)
                        next = foldEnd + 1
                    }
                    guard next < count else { return .needMore }
                    guard let value = ASCII.decimal(buffer, ASCII.trim(buffer, ByteRange(colon + 1, valueEnd)),
                                                    limit: 1 << 24) else { return .unframeable }
                    contentLength = value
                    scan.declaresLength = true
                }
            }
            lineStart = lineEnd + 1
            i = lineStart
        }
        return .needMore
    }

    public enum FrameResult: Equatable {
        case complete(Int)
        case needMore
        case unframeable
    }

    // MARK: Headers

    private static func take(_ name: ByteRange, _ rawValue: ByteRange, _ buffer: UnsafeRawBufferPointer,
                             into message: inout SIPMessage) throws(SIPDefect) {
        let value = ASCII.trim(buffer, rawValue)
        let length = name.count
        let first = ASCII.lower(buffer[name.start])
        if length == 1 {
            switch first {
            case 0x69: message.callID = try takeSingle(value, message.callID, buffer)  // i
            case 0x66: try takeFrom(value, buffer, &message)  // f
            case 0x74: try takeTo(value, buffer, &message)  // t
            case 0x76: takeVia(value, line: ByteRange(name.start, rawValue.end), buffer, &message)  // v
            case 0x6C: try takeContentLength(value, buffer, &message)  // l
            case 0x63: message.contentType = value  // c
            case 0x6D: if message.contact.isEmpty { message.contact = value }  // m
            case 0x78: message.sessionExpires = leadingNumber(value, buffer)  // x
            default: break
            }
            return
        }
        // By first letter and length, so that each header is compared with one name at most.
        switch (first, length) {
        case (0x63, 7):
            if ASCII.equals(buffer, name, "call-id") {
                message.callID = try takeSingle(value, message.callID, buffer)
            } else if ASCII.equals(buffer, name, "contact") {
                if message.contact.isEmpty { message.contact = value }
            }
        case (0x63, 4): if ASCII.equals(buffer, name, "cseq") { try takeCSeq(value, buffer, &message) }
        case (0x63, 14): if ASCII.equals(buffer, name, "content-length") { try takeContentLength(value, buffer, &message) }
        case (0x63, 12): if ASCII.equals(buffer, name, "content-type") { message.contentType = value }
        case (0x66, 4): if ASCII.equals(buffer, name, "from") { try takeFrom(value, buffer, &message) }
        case (0x74, 2): if ASCII.equals(buffer, name, "to") { try takeTo(value, buffer, &message) }
        case (0x76, 3):
            if ASCII.equals(buffer, name, "via") { takeVia(value, line: ByteRange(name.start, rawValue.end), buffer, &message) }
        case (0x6D, 12):
            if ASCII.equals(buffer, name, "max-forwards") {
                // 1*DIGIT; values above 255 are taken as 255 (RFC 3261 §20.22 expects 0-255).
                guard let hops = ASCII.decimal(buffer, value, limit: Int(Int32.max)) else { throw .badMaxForwards }
                let clamped = min(hops, 255)
                guard message.maxForwards < 0 || message.maxForwards == clamped else { throw .conflictingHeaders }
                message.maxForwards = clamped
            }
        case (0x72, 5):
            if ASCII.equals(buffer, name, "route") { message.routeLines = spanning(message.routeLines, name.start, rawValue.end) }
        case (0x72, 11): if ASCII.equals(buffer, name, "retry-after") { message.retryAfter = leadingNumber(value, buffer) }
        case (0x73, 15):
            if ASCII.equals(buffer, name, "session-expires") { message.sessionExpires = leadingNumber(value, buffer) }
        case (0x78, 16): if ASCII.equals(buffer, name, "x-gatewayd-trace") { message.asksForHopPath = true }
        default: break
        }
    }

    /// `lines` grown to end at `end` (a header line from `start`), or begun there.
    private static func spanning(_ lines: ByteRange, _ start: Int, _ end: Int) -> ByteRange {
        lines.isEmpty ? ByteRange(start, end) : ByteRange(lines.start, end)
    }

    /// The delta-seconds a value starts with, before any comment or parameter
    /// (`Retry-After: 30;duration=10`, `Session-Expires: 1800;refresher=uac`); -1 when none.
    private static func leadingNumber(_ value: ByteRange, _ buffer: UnsafeRawBufferPointer) -> Int {
        var end = value.start
        while end < value.end && ASCII.isDigit(buffer[end]) { end += 1 }
        return ASCII.decimal(buffer, ByteRange(value.start, end)) ?? -1
    }

    private static func takeFrom(_ value: ByteRange, _ buffer: UnsafeRawBufferPointer,
                                 _ message: inout SIPMessage) throws(SIPDefect) {
        message.from = try takeSingle(value, message.from, buffer)
        message.fromTag = parameter("tag", afterAddressIn: value, buffer)
    }

    private static func takeTo(_ value: ByteRange, _ buffer: UnsafeRawBufferPointer,
                               _ message: inout SIPMessage) throws(SIPDefect) {
        message.to = try takeSingle(value, message.to, buffer)
        message.toTag = parameter("tag", afterAddressIn: value, buffer)
    }

    /// A Via header's values; `line` is the header from its name to the end of its value.
    private static func takeVia(_ value: ByteRange, line: ByteRange, _ buffer: UnsafeRawBufferPointer, _ message: inout SIPMessage) {
        message.viaLines = spanning(message.viaLines, line.start, line.end)
        // One Via header may hold several comma-separated values; the first one seen is the top.
        var start = value.start
        while true {
            guard let end = ASCII.valueEnd(buffer, in: ByteRange(start, value.end)) else { return }
            let one = ASCII.trim(buffer, ByteRange(start, end))
            if !one.isEmpty {
                if message.viaCount == 0 { takeTopVia(one, buffer, &message) }
                message.viaCount += 1
            }
            guard end < value.end else { return }
            start = end + 1
        }
    }

    /// The top Via value and the parameters a proxy reads of it, in one walk.
    private static func takeTopVia(_ via: ByteRange, _ buffer: UnsafeRawBufferPointer, _ message: inout SIPMessage) {
        message.topVia = via
        var parameters = Parameters(buffer, via)
        var sawRport = false
        while let parameter = parameters.next() {
            let name = parameter.name
            switch name.count {
            case 6 where ASCII.equals(buffer, name, "branch"):
                // The first branch with a value.
                if message.topViaBranch.isEmpty, let value = parameter.value { message.topViaBranch = value }
            case 5 where !sawRport && ASCII.equals(buffer, name, "rport"):
                sawRport = true
                if parameter.value == nil { message.topViaBareRport = name }
            case 8 where ASCII.equals(buffer, name, "received"): message.topViaHasReceived = true
            case 2 where ASCII.equals(buffer, name, "oc"): message.topViaOffersOverloadControl = true
            default: break
            }
        }
    }

    private static func takeCSeq(_ value: ByteRange, _ buffer: UnsafeRawBufferPointer,
                                 _ message: inout SIPMessage) throws(SIPDefect) {
        var i = value.start
        // A 32-bit unsigned number (RFC 3261 §8.1.1.5), counted in UInt64 so that 32-bit
        // targets cannot overflow.
        var number: UInt64 = 0
        while i < value.end && ASCII.isDigit(buffer[i]) {
            number = number * 10 + UInt64(buffer[i] - 0x30)
            guard number <= UInt64(UInt32.max) else { throw .badCSeq }
            i += 1
        }
        let method = ASCII.trim(buffer, ByteRange(i, value.end))
        guard i > value.start, !method.isEmpty, i < value.end, ASCII.isWhitespace(buffer[i]) else { throw .badCSeq }
        if message.hasCSeq {
            guard message.cseqNumber == UInt32(number), sameBytes(buffer, message.cseqMethodRange, method) else {
                throw .conflictingHeaders
            }
        }
        message.cseqNumber = UInt32(number)
        message.hasCSeq = true
        message.cseqMethod = SIPMethod(buffer, method)
        message.cseqMethodRange = method
    }

    /// Single-valued headers (Call-ID, From, To) may repeat only with the same value.
    private static func takeSingle(_ value: ByteRange, _ existing: ByteRange, _ buffer: UnsafeRawBufferPointer)
        throws(SIPDefect) -> ByteRange
    {
        guard existing.isEmpty || sameBytes(buffer, existing, value) else { throw .conflictingHeaders }
        return value
    }

    static func sameBytes(_ buffer: UnsafeRawBufferPointer, _ a: ByteRange, _ b: ByteRange) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where buffer[a.start + i] != buffer[b.start + i] { return false }
        return true
    }

    private static func takeContentLength(_ value: ByteRange, _ buffer: UnsafeRawBufferPointer,
                                          _ message: inout SIPMessage) throws(SIPDefect) {
        guard let length = ASCII.decimal(buffer, value, limit: 1 << 24) else { throw .badContentLength }
        guard message.contentLength < 0 || message.contentLength == length else { throw .badContentLength }
        message.contentLength = length
    }

    // MARK: Start-line pieces

    private static func isVersion(_ buffer: UnsafeRawBufferPointer, _ offset: Int) -> Bool {
        guard offset + 7 <= buffer.count else { return false }
        return ASCII.equals(buffer, ByteRange(offset, offset + 7), "sip/2.0")
    }

    /// RFC 3261 `token` characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39: return true
        case 0x2D, 0x2E, 0x21, 0x25, 0x2A, 0x5F, 0x2B, 0x60, 0x27, 0x7E: return true
        default: return false
        }
    }
}
