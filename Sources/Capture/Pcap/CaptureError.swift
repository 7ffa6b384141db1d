import Basics

/// Why a capture could not be opened or read. The message is libpcap's own text where it
/// has one, kept as bytes so it prints the same in every build.
public struct CaptureError: Error {
    public enum Kind: Equatable, Sendable {
        case noSuchInterface
        /// Live capture needs CAP_NET_RAW (or root).
        case permissionDenied
        case badFilter
        case cannotOpenFile
        /// The file ended in the middle of a packet record, or its data is damaged.
        case readFailed
        case unsupportedLinkType
        case other
    }

    public var kind: Kind
    public var message: [UInt8]

    public init(_ kind: Kind, message: [UInt8]) {
        self.kind = kind
        self.message = message
    }

    init(_ kind: Kind, cString: UnsafePointer<CChar>?) {
        var text = TextBuffer()
        if let cString { text.append(cString: cString) }
        self.init(kind, message: text.bytes)
    }

    /// One line for people: what failed and why.
    public func describe(into text: inout TextBuffer) {
        switch kind {
        case .noSuchInterface: text.append("no such interface: ")
        case .permissionDenied: text.append("permission denied (live capture needs CAP_NET_RAW): ")
        case .badFilter: text.append("bad capture filter: ")
        case .cannotOpenFile: text.append("cannot read capture file: ")
        case .readFailed: text.append("capture read failed: ")
        case .unsupportedLinkType: text.append("unsupported link type: ")
        case .other: text.append("capture failed: ")
        }
        message.withUnsafeBytes { text.append(bytes: $0) }
    }
}
