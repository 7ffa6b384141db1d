import Basics

/// Parameters of header values (RFC 3261 §7.3.1): a named one after the address of From,
/// To or Contact, or anywhere in a Via or URI, quotes respected.
extension SIPScanner {
    /// A `;name=value` parameter of a name-addr or addr-spec (From, To, Contact): parameters
    /// inside `<...>` belong to the URI and are skipped, as are quoted display names.
    public static func parameter(_ name: StaticString, afterAddressIn value: ByteRange,
                          _ buffer: UnsafeRawBufferPointer) -> ByteRange {
        // Most values quote nothing: the parameters follow the first '>' after the first
        // '<', or the first ';' when there is no '<' (what the walk below finds for them).
        if ASCII.find(ASCII.quote, in: buffer, value) == nil {
            if let open = ASCII.find(0x3C, in: buffer, value) {
                guard let close = ASCII.find(0x3E, in: buffer, ByteRange(open + 1, value.end)) else { return .empty }
                return parameter(name, in: ByteRange(close + 1, value.end), buffer)
            }
            guard let semicolon = ASCII.find(ASCII.semicolon, in: buffer, value) else { return .empty }
            return parameter(name, in: ByteRange(semicolon, value.end), buffer)
        }
        var i = value.start
        var inQuotes = false
        var paramsStart = -1
        var sawAngle = false
        while i < value.end {
            let byte = buffer[i]
            if byte == ASCII.quote && (i == value.start || buffer[i - 1] != 0x5C) {
                inQuotes.toggle()
            } else if !inQuotes {
                if byte == 0x3C {
                    sawAngle = true
                } else if byte == 0x3E && sawAngle {
                    paramsStart = i + 1
                    break
                }
            }
            i += 1
        }
        if paramsStart < 0 {
            // addr-spec without angle brackets: parameters follow the first ';'.
            guard !sawAngle, let semicolon = ASCII.find(ASCII.semicolon, in: buffer, value) else { return .empty }
            paramsStart = semicolon
        }
        return parameter(name, in: ByteRange(paramsStart, value.end), buffer)
    }

    /// The value of `;name=value` among the ';'-separated parameters in `range` (the first
    /// `;name` that has a value).
    public static func parameter(_ name: StaticString, in range: ByteRange, _ buffer: UnsafeRawBufferPointer) -> ByteRange {
        var parameters = Parameters(buffer, range)
        while let found = parameters.next() {
            if let value = found.value, ASCII.equals(buffer, found.name, name) { return value }
        }
        return .empty
    }

    /// Whether `;name` (valueless, or with a value) is among the ';'-separated parameters in
    /// `range`: `lr` of a Route URI, `rport` of a Via.
    public static func hasParameter(_ name: StaticString, in range: ByteRange, _ buffer: UnsafeRawBufferPointer) -> Bool {
        parameterName(name, in: range, buffer) != nil
    }

    /// The range of the first `;name` itself (without the ';'), value excluded, or nil.
    public static func parameterName(_ name: StaticString, in range: ByteRange, _ buffer: UnsafeRawBufferPointer) -> ByteRange? {
        var parameters = Parameters(buffer, range)
        while let found = parameters.next() {
            if ASCII.equals(buffer, found.name, name) { return found.name }
        }
        return nil
    }
}

/// The one parameter walker: each `;name` or `;name=value` in a range in order (whitespace
/// around `=` allowed). Semicolons inside quoted values do not start parameters.
public struct Parameters {
    public struct Parameter {
        public var name: ByteRange
        /// Nil when the parameter has no `=value`.
        public var value: ByteRange?
    }

    let buffer: UnsafeRawBufferPointer
    var position: Int
    let end: Int
    var inQuotes = false

    public init(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) {
        self.buffer = buffer
        position = range.start
        end = range.end
    }

    public mutating func next() -> Parameter? {
        while position < end {
            let byte = buffer[position]
            if byte == ASCII.quote { inQuotes.toggle() }
            guard byte == ASCII.semicolon && !inQuotes else {
                position += 1
                continue
            }
            var nameStart = position + 1
            while nameStart < end && ASCII.isWhitespace(buffer[nameStart]) { nameStart += 1 }
            var nameEnd = nameStart
            while nameEnd < end && buffer[nameEnd] != ASCII.equals && buffer[nameEnd] != ASCII.semicolon
                && !ASCII.isWhitespace(buffer[nameEnd]) && buffer[nameEnd] != ASCII.comma {
                nameEnd += 1
            }
            // Read on from the name's end: a quote in the value still counts.
            position = max(nameEnd, position + 1)
            var j = nameEnd
            while j < end && ASCII.isWhitespace(buffer[j]) { j += 1 }
            guard j < end && buffer[j] == ASCII.equals else { return Parameter(name: ByteRange(nameStart, nameEnd), value: nil) }
            var valueStart = j + 1
            while valueStart < end && ASCII.isWhitespace(buffer[valueStart]) { valueStart += 1 }
            var valueEnd = valueStart
            var quoted = false
            while valueEnd < end && buffer[valueEnd] != ASCII.semicolon && buffer[valueEnd] != ASCII.comma
                && !ASCII.isWhitespace(buffer[valueEnd]) {
                if buffer[valueEnd] == ASCII.quote { quoted = true }
                valueEnd += 1
            }
            // A value without a quote has nothing the walk must see again.
            if !quoted { position = valueEnd }
            return Parameter(name: ByteRange(nameStart, nameEnd), value: ByteRange(valueStart, valueEnd))
        }
        return nil
    }
}
