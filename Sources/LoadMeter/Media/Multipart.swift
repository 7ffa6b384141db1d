import SIP

/// The parts of a `multipart/*` body (RFC 2046 §5.1), each with its Content-Type, so SDP
/// carried beside other bodies (ISUP, PIDF) is found.
struct MultipartParts {
    struct Part {
        var contentType: ByteRange
        var body: ByteRange
    }

    let buffer: UnsafeRawBufferPointer
    let boundary: ByteRange
    var position: Int
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer, contentType: ByteRange, body: ByteRange) {
        self.buffer = buffer
        var value = SIPScanner.parameter("boundary", in: contentType, buffer)
        if value.count >= 2 && buffer[value.start] == ASCII.quote {
            // The scanner stops at the first space; a quoted boundary runs to its closing quote.
            let closing = ASCII.find(ASCII.quote, in: buffer, ByteRange(value.start + 1, contentType.end))
            value = ByteRange(value.start + 1, closing ?? value.end)
        }
        boundary = value
        position = body.start
        end = body.end
    }

    /// The next part, or nil.
    mutating func next() -> Part? {
        guard !boundary.isEmpty else { return nil }
        guard let start = findDelimiter(from: position) else { return nil }
        // Skip "--boundary", then the rest of that line.
        var cursor = start + 2 + boundary.count
        guard cursor + 1 < end, !(buffer[cursor] == 0x2D && buffer[cursor + 1] == 0x2D) else { return nil }
        cursor = ASCII.lineEnd(buffer, from: cursor, to: end) + 1
        guard let next = findDelimiter(from: cursor) else { return nil }
        // The CRLF before the next delimiter belongs to the delimiter.
        var partEnd = next
        if partEnd > cursor && buffer[partEnd - 1] == ASCII.lf { partEnd -= 1 }
        if partEnd > cursor && buffer[partEnd - 1] == ASCII.cr { partEnd -= 1 }
        position = next
        // Part headers, then an empty line, then the part's body.
        var contentType = ByteRange.empty
        var lineStart = cursor
        while lineStart < partEnd {
            let lineEnd = ASCII.lineEnd(buffer, from: lineStart, to: partEnd)
            let contentEnd = ASCII.contentEnd(buffer, lineStart: lineStart, lineEnd: lineEnd)
            if contentEnd == lineStart {
                return Part(contentType: contentType, body: ByteRange(min(lineEnd + 1, partEnd), partEnd))
            }
            if let colon = ASCII.find(ASCII.colon, in: buffer, ByteRange(lineStart, contentEnd)),
               ASCII.equals(buffer, ASCII.trim(buffer, ByteRange(lineStart, colon)), "content-type") {
                contentType = ASCII.trim(buffer, ByteRange(colon + 1, contentEnd))
            }
            lineStart = lineEnd + 1
        }
        return Part(contentType: contentType, body: ByteRange(partEnd, partEnd))
    }

    /// The index of the next "--boundary" at the start of a line, from `from`.
    private func findDelimiter(from: Int) -> Int? {
        var i = from
        let length = boundary.count
        while i + 2 + length <= end {
            if buffer[i] == 0x2D && buffer[i + 1] == 0x2D && (i == from || buffer[i - 1] == ASCII.lf) {
                var same = true
                for k in 0..<length where buffer[i + 2 + k] != buffer[boundary.start + k] {
                    same = false
                    break
                }
                if same { return i }
            }
            i += 1
        }
        return nil
    }
}
