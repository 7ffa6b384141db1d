import Basics

/// Parameters of header values (RFC 3261 §7.3.1): a named one after the address of From,
/// To or Contact, or anywhere in a Via or URI, quotes respected.
extension SIPScanner {
    /// A `;name=value` parameter of a name-addr or addr-spec (From, To, Contact): parameters
    /// inside `<...>` belong to the URI and are skipped, as are quoted display names.
    public static func parameter(_ name: StaticString, afterAddressIn value: ByteRange,
                          _ buffer: UnsafeRawBufferPointer) -> ByteRange {
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

    /// The value of `;name=value` among the ';'-separated parameters in `range`.
    public static func parameter(_ name: StaticString, in range: ByteRange, _ buffer: UnsafeRawBufferPointer) -> ByteRange {
        var rest = range
        while let found = parameterName(name, in: rest, buffer) {
            var j = found.end
            while j < range.end && ASCII.isWhitespace(buffer[j]) { j += 1 }
            if j < range.end && buffer[j] == ASCII.equals {
                var valueStart = j + 1
                while valueStart < range.end && ASCII.isWhitespace(buffer[valueStart]) { valueStart += 1 }
                var valueEnd = valueStart
                while valueEnd < range.end && buffer[valueEnd] != ASCII.semicolon && buffer[valueEnd] != ASCII.comma
                    && !ASCII.isWhitespace(buffer[valueEnd]) {
                    valueEnd += 1
                }
                return ByteRange(valueStart, valueEnd)
            }
            rest = ByteRange(found.end, range.end)  // the same name without a value: look further
        }
        return .empty
    }

    /// Whether `;name` (valueless, or with a value) is among the ';'-separated parameters in
    /// `range`: `lr` of a Route URI, `rport` of a Via.
    public static func hasParameter(_ name: StaticString, in range: ByteRange, _ buffer: UnsafeRawBufferPointer) -> Bool {
        parameterName(name, in: range, buffer) != nil
    }

    /// The range of the first `;name` itself (without the ';'), value excluded, or nil.
    /// Semicolons inside quoted values do not start parameters.
    public static func parameterName(_ name: StaticString, in range: ByteRange, _ buffer: UnsafeRawBufferPointer) -> ByteRange? {
        var i = range.start
        var inQuotes = false
        while i < range.end {
            let byte = buffer[i]
            if byte == ASCII.quote { inQuotes.toggle() }
            guard byte == ASCII.semicolon && !inQuotes else {
                i += 1
                continue
            }
            var nameStart = i + 1
            while nameStart < range.end && ASCII.isWhitespace(buffer[nameStart]) { nameStart += 1 }
            var nameEnd = nameStart
            while nameEnd < range.end && buffer[nameEnd] != ASCII.equals && buffer[nameEnd] != ASCII.semicolon
                && !ASCII.isWhitespace(buffer[nameEnd]) && buffer[nameEnd] != ASCII.comma {
                nameEnd += 1
            }
            if ASCII.equals(buffer, ByteRange(nameStart, nameEnd), name) { return ByteRange(nameStart, nameEnd) }
            i = max(nameEnd, i + 1)
        }
        return nil
    }
}
