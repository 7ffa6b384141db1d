import Basics
import CSystem
import Capture

/// Writes to standard output and standard error. Output is built in a `TextBuffer` and
/// written in one go, so a report is never interleaved with an error line.
enum Output {
    static func write(_ text: TextBuffer, to descriptor: Int32) {
        text.bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            _ = gw_write_all(descriptor, base, raw.count)
        }
    }

    static func standardOutput(_ text: TextBuffer) { write(text, to: 1) }

    /// `gatewayd: <message>` and a newline, on standard error.
    static func error(_ message: TextBuffer) {
        var line = TextBuffer()
        line.append("gatewayd: ")
        line.append(message)
        line.append(byte: 0x0A)
        write(line, to: 2)
    }

    static func error(_ message: StaticString) {
        var text = TextBuffer()
        text.append(message)
        error(text)
    }
}

/// Command-line words, compared as bytes (no `String`, so no Unicode tables).
struct Arguments {
    let count: Int
    let values: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    var position: Int

    init(argc: Int32, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, from start: Int) {
        count = Int(argc)
        values = argv
        position = start
    }

    var isAtEnd: Bool { position >= count }

    func peek() -> UnsafeMutablePointer<CChar>? { position < count ? values[position] : nil }

    mutating func next() -> UnsafeMutablePointer<CChar>? {
        guard position < count else { return nil }
        defer { position += 1 }
        return values[position]
    }

    static func equals(_ word: UnsafePointer<CChar>, _ text: StaticString) -> Bool {
        let bytes = text.utf8Start
        for i in 0..<text.utf8CodeUnitCount where UInt8(bitPattern: word[i]) != bytes[i] { return false }
        return word[text.utf8CodeUnitCount] == 0
    }

    /// A whole decimal number in `low...high`, or nil.
    static func number(_ word: UnsafePointer<CChar>, in range: ClosedRange<Int>) -> Int? {
        var value = 0
        var i = 0
        while word[i] != 0 {
            let byte = UInt8(bitPattern: word[i])
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
            guard value <= range.upperBound else { return nil }
            i += 1
        }
        guard i > 0, range.contains(value) else { return nil }
        return value
    }
}
