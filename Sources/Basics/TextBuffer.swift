/// A growable byte buffer for text that people or programs read: reports, JSON, errors.
/// It works on bytes rather than `String` so output is identical in normal and Embedded
/// builds and needs no Unicode tables; numbers are formatted here, floats as fixed point.
public struct TextBuffer: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public var count: Int { bytes.count }

    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func append(byte: UInt8) { bytes.append(byte) }

    public mutating func append(bytes other: UnsafeRawBufferPointer) { bytes.append(contentsOf: other) }

    public mutating func append(_ other: TextBuffer) { bytes.append(contentsOf: other.bytes) }

    /// A NUL-terminated C string.
    public mutating func append(cString: UnsafePointer<CChar>) {
        var p = cString
        while p.pointee != 0 {
            bytes.append(UInt8(bitPattern: p.pointee))
            p += 1
        }
    }

    public mutating func append(_ value: Int) {
        if value < 0 {
            bytes.append(0x2D)
            append(unsigned: UInt64(value.magnitude))
        } else {
            append(unsigned: UInt64(value))
        }
    }

    public mutating func append(_ value: UInt64) { append(unsigned: value) }

    public mutating func append(_ value: UInt32) { append(unsigned: UInt64(value)) }

    mutating func append(unsigned value: UInt64) {
        var place: UInt64 = 1
        while value / place >= 10 { place *= 10 }
        var rest = value
        while place > 0 {
            bytes.append(UInt8(rest / place) + 0x30)
            rest %= place
            place /= 10
        }
    }

    /// `value` with exactly `decimals` digits after the point, rounded half away from zero.
    public mutating func append(fixed value: Double, decimals: Int) {
        precondition(decimals >= 0 && decimals <= 9)
        guard value.isFinite else {
            append("nan")
            return
        }
        var scale: Double = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9.0e18 else {
            append("overflow")
            return
        }
        let units = UInt64(scaled)
        if value < 0 && units != 0 { bytes.append(0x2D) }
        let divisor = UInt64(scale)
        append(unsigned: units / divisor)
        if decimals > 0 {
            bytes.append(0x2E)
            var fraction = units % divisor
            var place = divisor / 10
            while place > 0 {
                bytes.append(UInt8(fraction / place) + 0x30)
                fraction %= place
                place /= 10
            }
        }
    }

    /// Hexadecimal without leading zeros (`0x` not included); `width` pads with zeros.
    public mutating func append(hex value: UInt64, width: Int = 0) {
        let digits: StaticString = "0123456789abcdef"
        var shift = 60
        var started = false
        while shift >= 0 {
            let nibble = Int((value >> UInt64(shift)) & 0xF)
            if nibble != 0 || started || shift < width * 4 || shift == 0 {
                started = true
                bytes.append(digits.utf8Start[nibble])
            }
            shift -= 4
        }
    }

    /// Pads with spaces up to `column` bytes since `lineStart`.
    public mutating func pad(from lineStart: Int, to column: Int) {
        while bytes.count - lineStart < column { bytes.append(0x20) }
    }

    /// Appends `text` as the inside of a JSON string (quotes not included).
    public mutating func appendJSONEscaped(_ text: UnsafeRawBufferPointer) {
        for byte in text {
            switch byte {
            case 0x22: append("\\\"")
            case 0x5C: append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20, 0x7F...:
                append("\\u00")
                append(hex: UInt64(byte), width: 2)
            default: bytes.append(byte)
            }
        }
    }

    /// `host:port`, an IPv6 host in brackets (RFC 3986), as SIP and people write it.
    public mutating func append(_ endpoint: Endpoint) {
        if endpoint.address.isIPv4 {
            append(endpoint.address)
        } else {
            append("[")
            append(endpoint.address)
            append("]")
        }
        append(":")
        append(Int(endpoint.port))
    }

    /// IPv4 dotted, IPv6 in the RFC 5952 canonical form (as tshark prints it).
    public mutating func append(_ address: IPAddress) {
        if address.isIPv4 {
            let v = address.ipv4Value
            append(Int(v >> 24)); append(byte: 0x2E)
            append(Int((v >> 16) & 0xFF)); append(byte: 0x2E)
            append(Int((v >> 8) & 0xFF)); append(byte: 0x2E)
            append(Int(v & 0xFF))
            return
        }
        // The longest run of two or more zero groups becomes "::" (the first, on a tie).
        var bestStart = -1, bestLength = 0
        var runStart = -1
        for i in 0...8 {
            if i < 8 && address.group(i) == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength && i - runStart >= 2 {
                    bestStart = runStart
                    bestLength = i - runStart
                }
                runStart = -1
            }
        }
        var i = 0
        while i < 8 {
            if i == bestStart {
                append("::")
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength { bytes.append(0x3A) }
            append(hex: UInt64(address.group(i)))
            i += 1
        }
    }
}
