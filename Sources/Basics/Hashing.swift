/// Hashes for table keys. Deterministic (no per-process seed) so that a capture file always
/// lays out the tables the same way; keys come from traffic, so they are mixed well enough
/// that chains stay short even for sequential addresses and ports.
public enum KeyHash {
    @inlinable public static func mix(_ value: UInt64) -> UInt64 {
        // splitmix64's finaliser.
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inlinable public static func combine(_ seed: UInt64, _ value: UInt64) -> UInt64 {
        mix(seed ^ (value &+ 0x9E37_79B9_7F4A_7C15 &+ (seed << 6) &+ (seed >> 2)))
    }

    @inlinable public static func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        value << bits | value >> (64 - bits)
    }

    /// Bytes eight at a time (a multiply and a rotation each, then the tail and the length),
    /// finished with `mix`: branches and Call-IDs are 20 to 60 bytes, and byte-at-a-time
    /// FNV-1a spent a multiply per byte in a chain the processor could not overlap.
    @inlinable public static func bytes(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        guard let base = bytes.baseAddress else { return mix(hash) }
        var i = 0
        while i + 8 <= count {
            let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            hash = rotate((hash ^ word) &* 0x9E37_79B9_7F4A_7C15, 31)
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift += 8
            i += 1
        }
        return mix((hash ^ tail ^ UInt64(count) << 56) &* 0x0000_0100_0000_01B3)
    }
}
