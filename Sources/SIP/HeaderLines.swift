/// Walks the header lines of a scanned message: each header's name and value (folded
/// continuation lines included), and the bytes of the whole line, for copying headers
/// into a response unchanged.
public struct HeaderLines {
    public struct Header {
        public var name: ByteRange
        public var value: ByteRange
        /// From the name to the end of the last continuation line, line break excluded.
        public var line: ByteRange
    }

    let buffer: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    /// No headers at all.
    init(buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        position = 0
        end = 0
    }

    /// The headers of `message`, scanned from `buffer`.
    public init(_ buffer: UnsafeRawBufferPointer, _ message: SIPMessage) {
        self.buffer = buffer
        position = message.startLine.headersStart
        end = message.body.start
    }

    /// The header lines within `lines` (whole lines, the last without its line end).
    init(_ buffer: UnsafeRawBufferPointer, lines: ByteRange) {
        self.buffer = buffer
        position = lines.start
        end = lines.end
    }

    public mutating func next() -> Header? {
        while position < end {
            let start = position
            var lineEnd = ASCII.lineEnd(buffer, from: start, to: end)
            let contentEnd0 = ASCII.contentEnd(buffer, lineStart: start, lineEnd: lineEnd)
            if contentEnd0 == start { return nil }  // the empty line
            // Continuation lines start with a space or tab.
            while lineEnd + 1 < end, buffer[lineEnd + 1] == ASCII.space || buffer[lineEnd + 1] == ASCII.tab {
                lineEnd = ASCII.lineEnd(buffer, from: lineEnd + 1, to: end)
            }
            position = lineEnd + 1
            let lineContentEnd = ASCII.contentEnd(buffer, lineStart: start, lineEnd: lineEnd)
            guard let colon = ASCII.find(ASCII.colon, in: buffer, ByteRange(start, lineContentEnd)) else { continue }
            return Header(name: ASCII.trim(buffer, ByteRange(start, colon)),
                          value: ASCII.trim(buffer, ByteRange(colon + 1, lineContentEnd)),
                          line: ByteRange(start, lineContentEnd))
        }
        return nil
    }

    /// Whether `header`'s name is `long` or its compact form `compact` (lower case).
    public func named(_ header: Header, _ long: StaticString, compact: StaticString? = nil) -> Bool {
        if ASCII.equals(buffer, header.name, long) { return true }
        if let compact { return ASCII.equals(buffer, header.name, compact) }
        return false
    }
}

/// The values of every header of one name in order (Via by default; Route, Record-Route,
/// Path the same way), comma-separated values split outside quotes.
public struct HeaderValues {
    var headers: HeaderLines
    var pending = ByteRange.empty
    let buffer: UnsafeRawBufferPointer
    let long: StaticString
    let compact: StaticString?

    public init(_ buffer: UnsafeRawBufferPointer, _ message: SIPMessage, named long: StaticString = "via",
                compact: StaticString? = "v") {
        self.buffer = buffer
        self.long = long
        self.compact = compact
        headers = HeaderLines(buffer, message)
    }

    /// The Via values, walking only the lines the scanner saw them on; of a request with
    /// one Via (any from a client), just the top Via the scanner found.
    public static func vias(_ buffer: UnsafeRawBufferPointer, _ message: SIPMessage) -> HeaderValues {
        if message.linesNoted && message.viaCount == 1 { return commaSeparated(buffer, message.topVia) }
        var values = HeaderValues(buffer, message)
        if message.linesNoted { values.headers = HeaderLines(buffer, lines: message.viaLines) }
        return values
    }

    /// The Route values, walking only the lines the scanner saw them on (none, mostly).
    public static func routes(_ buffer: UnsafeRawBufferPointer, _ message: SIPMessage) -> HeaderValues {
        var values = HeaderValues(buffer, message, named: "route", compact: nil)
        if message.linesNoted { values.headers = HeaderLines(buffer, lines: message.routeLines) }
        return values
    }

    /// The comma-separated values of one header value only.
    public static func commaSeparated(_ buffer: UnsafeRawBufferPointer, _ value: ByteRange) -> HeaderValues {
        var values = HeaderValues(buffer: buffer)
        values.pending = value
        return values
    }

    init(buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        long = "via"
        compact = "v"
        headers = HeaderLines(buffer: buffer)
    }

    public mutating func next() -> ByteRange? {
        while true {
            if !pending.isEmpty {
                guard let i = ASCII.valueEnd(buffer, in: pending) else {
                    pending = .empty
                    continue
                }
                let value = ASCII.trim(buffer, ByteRange(pending.start, i))
                pending = i < pending.end ? ByteRange(i + 1, pending.end) : .empty
                if !value.isEmpty { return value }
                continue
            }
            guard let header = headers.next() else { return nil }
            if headers.named(header, long, compact: compact) { pending = header.value }
        }
    }

    /// The sent-by host and port of one Via value (`SIP/2.0/UDP host:port;params`). The
    /// sent-protocol may have white space around its slashes (RFC 3261 §25.1 SLASH).
    public static func sentBy(_ buffer: UnsafeRawBufferPointer, _ value: ByteRange) -> (host: ByteRange, port: Int)? {
        var i = value.start
        // protocol-name SLASH protocol-version SLASH transport
        for part in 0..<3 {
            while i < value.end && ASCII.isWhitespace(buffer[i]) { i += 1 }
            while i < value.end && !ASCII.isWhitespace(buffer[i]) && buffer[i] != ASCII.slash { i += 1 }
            guard part < 2 else { break }
            while i < value.end && ASCII.isWhitespace(buffer[i]) { i += 1 }
            guard i < value.end && buffer[i] == ASCII.slash else { return nil }
            i += 1
        }
        while i < value.end && ASCII.isWhitespace(buffer[i]) { i += 1 }
        var end = i
        while end < value.end && buffer[end] != ASCII.semicolon && !ASCII.isWhitespace(buffer[end]) { end += 1 }
        guard end > i else { return nil }
        return HostPort.split(buffer, ByteRange(i, end))
    }
}

/// The Via values of a message: `HeaderValues` with its default name.
public typealias ViaValues = HeaderValues

/// host[:port], with IPv6 references in brackets.
public enum HostPort {
    public static func split(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) -> (host: ByteRange, port: Int)? {
        guard !range.isEmpty else { return nil }
        if buffer[range.start] == 0x5B {
            guard let close = ASCII.find(0x5D, in: buffer, range) else { return nil }
            let host = ByteRange(range.start + 1, close)
            if close + 1 == range.end { return (host, 0) }
            guard buffer[close + 1] == ASCII.colon,
                  let port = ASCII.decimal(buffer, ByteRange(close + 2, range.end), limit: 65_535) else { return nil }
            return (host, port)
        }
        if let colon = ASCII.find(ASCII.colon, in: buffer, range) {
            guard let port = ASCII.decimal(buffer, ByteRange(colon + 1, range.end), limit: 65_535) else { return nil }
            return (ByteRange(range.start, colon), port)
        }
        return (range, 0)
    }
}
