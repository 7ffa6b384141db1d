import LoadMeter

/// The [meter] keys and the meter's call timeouts: one mapping, for gatewayd.conf and for
/// `gatewayd meter`'s options of the same names (`--attempt-timeout` for attempt_timeout).
extension ConfigKey {
    /// Sets this [meter] key's value in `timeouts`; false for a key of another section.
    func apply(_ seconds: Int, to timeouts: inout CallTimeouts) -> Bool {
        switch self {
        case .attemptTimeout: timeouts.attemptSeconds = seconds
        case .ringingTimeout: timeouts.ringingSeconds = seconds
        case .silenceTimeout: timeouts.silenceSeconds = seconds
        case .holdTimeout: timeouts.holdSeconds = seconds
        case .noMediaTimeout: timeouts.noMediaSeconds = seconds
        default: return false
        }
        return true
    }

    /// The [meter] key `word` names as an option: "--" and the key with "-" for "_".
    static func meterOption(_ word: UnsafePointer<CChar>) -> ConfigKey? {
        guard word[0] == 0x2D && word[1] == 0x2D else { return nil }
        for key in allCases where key.spec.section == .meter {
            let name = key.spec.name
            var matches = word[name.utf8CodeUnitCount + 2] == 0
            for i in 0..<name.utf8CodeUnitCount where matches {
                let byte = name.utf8Start[i]
                matches = UInt8(bitPattern: word[i + 2]) == (byte == 0x5F ? 0x2D : byte)
            }
            if matches { return key }
        }
        return nil
    }
}
