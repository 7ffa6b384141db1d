import Basics

/// Where random bits come from: branches and tags must be unguessable (a response is only
/// taken when it matches a branch this node made). The daemon reads the kernel's
/// generator; tests use a seeded one.
public protocol EntropySource {
    mutating func next() -> UInt64
}

/// SplitMix64 from a seed: the same digits every run, for tests and fuzzing (never for the
/// daemon, which reads the kernel's generator).
public struct SeededEntropy: EntropySource {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension EntropySource {
    /// `count` random lower-case hex digits (4 bits each) for branches, tags and Call-IDs
    /// (RFC 3261 §8.1.1.7, §19.3), each handed to `write` with its index.
    public mutating func hexDigits(_ count: Int, _ write: (Int, UInt8) -> Void) {
        let digits: StaticString = "0123456789abcdef"
        var bits = next()
        for i in 0..<count {
            if i > 0 && i % 16 == 0 { bits = next() }
            write(i, digits.utf8Start[Int(bits & 0xF)])
            bits >>= 4
        }
    }

    /// `count` random hex digits into `storage` from `base`.
    public mutating func writeHex(_ count: Int, into storage: FixedArray<UInt8>, at base: Int) {
        hexDigits(count) { storage[base + $0] = $1 }
    }
}
