/// An IPv4 or IPv6 address in 128 bits. IPv4 is held as the IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`), so one comparison serves both families and tables need one key type.
public struct IPAddress: Equatable, Sendable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// `value` is the address as a number, `a.b.c.d` = a<<24 | b<<16 | c<<8 | d.
    public init(ipv4 value: UInt32) {
        high = 0
        low = 0x0000_FFFF_0000_0000 | UInt64(value)
    }

    public static let unspecified = IPAddress(high: 0, low: 0)

    public var isIPv4: Bool { high == 0 && (low >> 32) == 0xFFFF }

    public var ipv4Value: UInt32 { UInt32(truncatingIfNeeded: low) }

    /// Reads 4 bytes at `offset` of `bytes` (caller checked the bounds).
    @inlinable public static func ipv4(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> IPAddress {
        IPAddress(ipv4: UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    /// Reads 16 bytes at `offset` of `bytes` (caller checked the bounds).
    @inlinable public static func ipv6(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> IPAddress {
        IPAddress(high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                  low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }

    @inlinable public var hash: UInt64 { KeyHash.mix(folded) }

    /// The 128 bits folded into 64 without mixing: for hashes of keys that hold addresses.
    @inlinable public var folded: UInt64 { low ^ (high &* 0x9E37_79B9_7F4A_7C15) }

    /// The 16-bit group `index` (0...7) of the IPv6 form.
    func group(_ index: Int) -> UInt16 {
        let word = index < 4 ? high : low
        return UInt16(truncatingIfNeeded: word >> UInt64((3 - index % 4) * 16))
    }
}

extension IPAddress {
    /// Parses dotted IPv4 or RFC 4291 IPv6 text (as found in SDP `c=` lines); nil when invalid.
    public init?(text: UnsafeRawBufferPointer) {
        if let v4 = IPAddress.parseIPv4(text) {
            self = IPAddress(ipv4: v4)
        } else if let v6 = IPAddress.parseIPv6(text) {
            self = v6
        } else {
            return nil
        }
    }

    static func parseIPv4(_ text: UnsafeRawBufferPointer) -> UInt32? {
        var value: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var dots = 0
        for byte in text {
            if byte >= 0x30 && byte <= 0x39 {
                part = part * 10 + UInt32(byte - 0x30)
                digits += 1
                if digits > 3 || part > 255 { return nil }
            } else if byte == 0x2E {
                if digits == 0 || dots == 3 { return nil }
                value = value << 8 | part
                part = 0
                digits = 0
                dots += 1
            } else {
                return nil
            }
        }
        guard dots == 3 && digits > 0 else { return nil }
        return value << 8 | part
    }

    static func parseIPv6(_ text: UnsafeRawBufferPointer) -> IPAddress? {
        var groups: (head: [UInt16], tail: [UInt16]) = ([], [])
        groups.head.reserveCapacity(8)
        var sawGap = false
        var index = 0
        let count = text.count
        if count >= 2 && text[0] == 0x3A && text[1] == 0x3A {
            sawGap = true
            index = 2
        } else if count >= 1 && text[0] == 0x3A {
            return nil
        }
        while index < count {
            // An embedded IPv4 tail (::ffff:1.2.3.4).
            var end = index
            var hasDot = false
            while end < count && text[end] != 0x3A {
                if text[end] == 0x2E { hasDot = true }
                end += 1
            }
            if hasDot {
                guard end == count, let v4 = parseIPv4(UnsafeRawBufferPointer(rebasing: text[index..<end])) else {
                    return nil
                }
                let pair = [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
                if sawGap { groups.tail += pair } else { groups.head += pair }
                index = end
                break
            }
            guard end > index && end - index <= 4 else { return nil }
            var group: UInt16 = 0
            for position in index..<end {
                guard let nibble = hexValue(text[position]) else { return nil }
                group = group << 4 | UInt16(nibble)
            }
            if sawGap { groups.tail.append(group) } else { groups.head.append(group) }
            index = end
            if index < count {
                index += 1  // the ':'
                if index < count && text[index] == 0x3A {
                    if sawGap { return nil }
                    sawGap = true
                    index += 1
                } else if index == count {
                    return nil
                }
            }
        }
        let total = groups.head.count + groups.tail.count
        guard sawGap ? total < 8 : total == 8 else { return nil }
        var all = groups.head
        all += [UInt16](repeating: 0, count: 8 - total)
        all += groups.tail
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(all[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(all[i]) }
        return IPAddress(high: high, low: low)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}

/// An address and a UDP or TCP port.
public struct Endpoint: Equatable, Sendable {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    @inlinable public var hash: UInt64 { KeyHash.mix(folded) }

    /// Address and port folded into 64 bits without mixing. IPv4 addresses use the low 48
    /// bits of `low`, so the port goes in the top 16.
    @inlinable public var folded: UInt64 { address.folded ^ (UInt64(port) << 48) }
}

/// Capture time of a packet, in nanoseconds since the Unix epoch.
public struct PacketTime: Comparable, Sendable {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public init(seconds: Int64, nanoseconds: Int64) { self.nanoseconds = seconds * 1_000_000_000 + nanoseconds }

    public static func < (lhs: PacketTime, rhs: PacketTime) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public static let zero = PacketTime(nanoseconds: 0)

    public var seconds: Int64 { nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000 }
}
