/// SIP request methods gatewayd tells apart (RFC 3261 and its extensions); others are `other`.
public enum SIPMethod: UInt8, CaseIterable, Sendable {
    case invite, ack, bye, cancel, register, options, update, prack, info, subscribe, notify, refer,
         message, publish, other

    /// The method's name as it appears on the wire.
    public var name: StaticString {
        switch self {
        case .invite: return "INVITE"
        case .ack: return "ACK"
        case .bye: return "BYE"
        case .cancel: return "CANCEL"
        case .register: return "REGISTER"
        case .options: return "OPTIONS"
        case .update: return "UPDATE"
        case .prack: return "PRACK"
        case .info: return "INFO"
        case .subscribe: return "SUBSCRIBE"
        case .notify: return "NOTIFY"
        case .refer: return "REFER"
        case .message: return "MESSAGE"
        case .publish: return "PUBLISH"
        case .other: return "other"
        }
    }

    /// Method names are case-sensitive (RFC 3261 §7.1). No allocation: this runs per message.
    public init(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) {
        guard !range.isEmpty else {
            self = .other
            return
        }
        let candidate: SIPMethod
        switch buffer[range.start] {
        case 0x49: candidate = range.count == 6 ? .invite : .info
        case 0x41: candidate = .ack
        case 0x42: candidate = .bye
        case 0x43: candidate = .cancel
        case 0x52: candidate = range.count == 8 ? .register : .refer
        case 0x4F: candidate = .options
        case 0x55: candidate = .update
        case 0x50: candidate = range.count == 5 ? .prack : .publish
        case 0x53: candidate = .subscribe
        case 0x4E: candidate = .notify
        case 0x4D: candidate = .message
        default: candidate = .other
        }
        let name = candidate.name
        guard candidate != .other, name.utf8CodeUnitCount == range.count else {
            self = .other
            return
        }
        for i in 0..<range.count where buffer[range.start + i] != name.utf8Start[i] {
            self = .other
            return
        }
        self = candidate
    }
}
