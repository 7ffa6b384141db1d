import Basics

/// A range of byte offsets into the buffer a message was scanned from. Scanning hands out
/// ranges, never copies; `slice(of:)` turns one back into bytes while the buffer lives.
public struct ByteRange: Equatable, Sendable {
    public var start: Int
    public var end: Int

    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = end
    }

    public static let empty = ByteRange(0, 0)

    public var count: Int { end - start }
    public var isEmpty: Bool { end <= start }

    @inlinable public func slice(of buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[start..<end])
    }
}

/// Byte-level helpers shared by the SIP and SDP scanners. ASCII only, by design.
public enum ASCII {
    public static let cr: UInt8 = 0x0D
    public static let lf: UInt8 = 0x0A
    public static let space: UInt8 = 0x20
    public static let tab: UInt8 = 0x09
    public static let colon: UInt8 = 0x3A
    public static let semicolon: UInt8 = 0x3B
    public static let comma: UInt8 = 0x2C
    public static let equals: UInt8 = 0x3D
    public static let slash: UInt8 = 0x2F
    public static let quote: UInt8 = 0x22

    /// The one line walker of the scanners (SIP, SDP, multipart, MGCP): where the line that
    /// starts at `start` ends, the index of its LF, or `end` when none comes before it.
    @inline(__always) public static func lineEnd(_ buffer: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int {
        ByteSearch.first(lf, in: buffer, from: start, to: end)
    }

    /// Where the content of the line from `lineStart` to `lineEnd` ends: before a CR that
    /// precedes the LF (RFC 3261 and RFC 8866 lines end in CRLF; a bare LF is taken too).
    @inline(__always) public static func contentEnd(_ buffer: UnsafeRawBufferPointer, lineStart: Int, lineEnd: Int) -> Int {
        lineEnd > lineStart && lineEnd <= buffer.count && buffer[lineEnd - 1] == cr ? lineEnd - 1 : lineEnd
    }

    /// The one comma splitter of header values (RFC 3261 §7.3.1): where the value that starts
    /// `range` ends, the first comma outside quotes and angle brackets (a URI in angle
    /// brackets may hold a comma in its headers part), or `range.end`; nil when a quote
    /// opened in it never closes (the rest is malformed, and no value).
    public static func valueEnd(_ buffer: UnsafeRawBufferPointer, in range: ByteRange) -> Int? {
        var inQuotes = false
        var inAngles = false
        var i = range.start
        while i < range.end {
            let byte = buffer[i]
            if byte == quote { inQuotes.toggle() }
            if !inQuotes && byte == 0x3C { inAngles = true }
            if !inQuotes && byte == 0x3E { inAngles = false }
            if byte == comma && !inQuotes && !inAngles { return i }
            i += 1
        }
        return inQuotes ? nil : range.end
    }

    @inline(__always) public static func lower(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    @inline(__always) public static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab || byte == cr || byte == lf
    }

    @inline(__always) public static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// Case-insensitive equality of `range` in `buffer` with the lower-case `text`.
    public static func equals(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        let pattern = text.utf8Start
        for i in 0..<range.count where lower(buffer[range.start + i]) != pattern[i] {
            return false
        }
        return true
    }

    /// Whether `range` begins with the lower-case `text`, ignoring case.
    public static func hasPrefix(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange, _ text: StaticString) -> Bool {
        guard range.count >= text.utf8CodeUnitCount else { return false }
        return equals(buffer, ByteRange(range.start, range.start + text.utf8CodeUnitCount), text)
    }

    /// `range` without leading and trailing whitespace (folded-line breaks included).
    public static func trim(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) -> ByteRange {
        var start = range.start, end = range.end
        while start < end && isWhitespace(buffer[start]) { start += 1 }
        while end > start && isWhitespace(buffer[end - 1]) { end -= 1 }
        return ByteRange(start, end)
    }

    /// A non-negative decimal number filling `range`, or nil (also on overflow past `limit`).
    public static func decimal(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange, limit: Int = Int(Int32.max)) -> Int? {
        guard !range.isEmpty else { return nil }
        var value = 0
        for i in range.start..<range.end {
            let byte = buffer[i]
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - 0x30)
            if value > limit { return nil }
        }
        return value
    }

    /// The first index in `range` holding `byte`, or nil.
    public static func find(_ byte: UInt8, in buffer: UnsafeRawBufferPointer, _ range: ByteRange) -> Int? {
        let found = ByteSearch.first(byte, in: buffer, from: range.start, to: range.end)
        return found < range.end ? found : nil
    }
}
