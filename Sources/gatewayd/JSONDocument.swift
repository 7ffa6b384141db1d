import Capture

/// A JSON text read into one flat table of values, for `gatewayd status`: it reads the
/// status file as JSON, whatever its spacing or key order, rather than by substrings of
/// the way gatewayd happens to write it. Strings are handed out raw (escapes left as they
/// are: the status file escapes only what JSON requires). Nil for anything that is not
/// JSON, nested deeper than `maximumDepth`, or larger than `maximumValues` values.
struct JSONDocument {
    enum Kind: UInt8 {
        case object
        case array
        case string
        case number
        case literal  // true, false, null
    }

    struct Value {
        var kind: Kind
        /// The value's bytes; a string's without its quotes.
        var range: Range<Int>
        /// An object member's key, without quotes; empty otherwise.
        var key: Range<Int>
        /// First child and next sibling, -1 for none.
        var first: Int
        var next: Int
    }

    static let maximumDepth = 32
    static let maximumValues = 65_536

    let text: UnsafeRawBufferPointer
    private(set) var values: [Value] = []

    init?(_ text: UnsafeRawBufferPointer) {
        self.text = text
        var position = 0
        guard parseValue(&position, key: 0..<0, depth: 0) == 0 else { return nil }
        skipSpace(&position)
        guard position == text.count else { return nil }
    }

    /// The member `key` of the object at `object`, or nil.
    func member(_ object: Int, _ key: StaticString) -> Int? {
        guard values[object].kind == .object else { return nil }
        var child = values[object].first
        while child >= 0 {
            if equals(values[child].key, key) { return child }
            child = values[child].next
        }
        return nil
    }

    /// The value at `path` of member names from the top object.
    func value(_ path: StaticString...) -> Int? {
        var current = 0
        for key in path {
            guard let next = member(current, key) else { return nil }
            current = next
        }
        return current
    }

    /// The elements of an array (or members of an object), in order.
    func children(_ value: Int) -> [Int] {
        var result: [Int] = []
        var child = values[value].first
        while child >= 0 {
            result.append(child)
            child = values[child].next
        }
        return result
    }

    func bytes(_ value: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: text[values[value].range]) }

    /// A number's whole part (the status file's are integers or fixed point).
    func integer(_ value: Int) -> Int? {
        guard values[value].kind == .number else { return nil }
        var result = 0
        var negative = false
        for byte in bytes(value) {
            if byte == 0x2D { negative = true; continue }
            guard byte >= 0x30 && byte <= 0x39 else { break }
            result = result &* 10 &+ Int(byte - 0x30)
        }
        return negative ? -result : result
    }

    func isTrue(_ value: Int) -> Bool { values[value].kind == .literal && equals(values[value].range, "true") }

    func equals(_ value: Int, _ text: StaticString) -> Bool { equals(values[value].range, text) }

    private func equals(_ range: Range<Int>, _ other: StaticString) -> Bool {
        guard range.count == other.utf8CodeUnitCount else { return false }
        for i in 0..<range.count where text[range.lowerBound + i] != other.utf8Start[i] { return false }
        return true
    }

    // MARK: Parsing

    private func skipSpace(_ position: inout Int) {
        while position < text.count, text[position] == 0x20 || text[position] == 0x0A || text[position] == 0x0D || text[position] == 0x09 {
            position += 1
        }
    }

    /// Parses one value at `position` into the table; its index, or -1 when malformed.
    private mutating func parseValue(_ position: inout Int, key: Range<Int>, depth: Int) -> Int {
        skipSpace(&position)
        guard position < text.count, depth <= JSONDocument.maximumDepth, values.count < JSONDocument.maximumValues else { return -1 }
        let index = values.count
        values.append(Value(kind: .literal, range: position..<position, key: key, first: -1, next: -1))
        let start = position
        switch text[position] {
        case 0x7B, 0x5B:  // { [
            let isObject = text[position] == 0x7B
            values[index].kind = isObject ? .object : .array
            position += 1
            var previous = -1
            skipSpace(&position)
            if position < text.count && text[position] == (isObject ? 0x7D : 0x5D) {
                position += 1
            } else {
                while true {
                    var memberKey = 0..<0
                    if isObject {
                        skipSpace(&position)
                        guard let name = parseString(&position) else { return -1 }
                        memberKey = name
                        skipSpace(&position)
                        guard position < text.count && text[position] == 0x3A else { return -1 }
                        position += 1
                    }
                    let child = parseValue(&position, key: memberKey, depth: depth + 1)
                    guard child >= 0 else { return -1 }
                    if previous < 0 { values[index].first = child } else { values[previous].next = child }
                    previous = child
                    skipSpace(&position)
                    guard position < text.count else { return -1 }
                    if text[position] == 0x2C {
                        position += 1
                        continue
                    }
                    guard text[position] == (isObject ? 0x7D : 0x5D) else { return -1 }
                    position += 1
                    break
                }
            }
            values[index].range = start..<position
        case 0x22:
            guard let content = parseString(&position) else { return -1 }
            values[index].kind = .string
            values[index].range = content
        case 0x2D, 0x30...0x39:
            while position < text.count, text[position] == 0x2D || text[position] == 0x2B || text[position] == 0x2E
                || text[position] == 0x65 || text[position] == 0x45 || (text[position] >= 0x30 && text[position] <= 0x39) {
                position += 1
            }
            values[index].kind = .number
            values[index].range = start..<position
        default:
            while position < text.count, text[position] >= 0x61 && text[position] <= 0x7A { position += 1 }
            values[index].range = start..<position
            guard equals(start..<position, "true") || equals(start..<position, "false") || equals(start..<position, "null")
            else { return -1 }
        }
        return index
    }

    /// A string at `position` (which is at its opening quote): its content's range.
    private func parseString(_ position: inout Int) -> Range<Int>? {
        guard position < text.count && text[position] == 0x22 else { return nil }
        position += 1
        let start = position
        while position < text.count && text[position] != 0x22 {
            position += text[position] == 0x5C ? 2 : 1
        }
        guard position < text.count else { return nil }
        position += 1
        return start..<(position - 1)
    }
}
