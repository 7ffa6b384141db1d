import Basics
import CInih
import CSystem
import Capture

/// A problem in a configuration file: the line it is at (0: the file as a whole) and what is wrong.
struct ConfigProblem: Error {
    var line: Int
    var message: TextBuffer

    init(line: Int, _ text: StaticString) {
        self.line = line
        message = TextBuffer()
        message.append(text)
    }

    init(line: Int, message: TextBuffer) {
        self.line = line
        self.message = message
    }
}

/// One `[sequence]` line. Equal when the same member, wherever its line is.
struct ConfigMember: Equatable {
    var name: [UInt8]
    var address: Endpoint
    var identity: [UInt8]
    var line: Int

    static func == (a: ConfigMember, b: ConfigMember) -> Bool {
        a.name == b.name && a.address == b.address && a.identity == b.identity
    }
}

/// One `[endpoint NAME]` section with what it set. Equal when it sets the same, wherever it is.
struct ConfigEndpointSection: Equatable {
    var name: [UInt8]
    var line: Int
    var kind: Int?
    var identity: [UInt8]?

    static func == (a: ConfigEndpointSection, b: ConfigEndpointSection) -> Bool {
        a.name == b.name && a.kind == b.kind && a.identity == b.identity
    }
}

/// What a file says, key by key, before the checks over the whole file: every key of the
/// table has its value (the default when the file leaves it out) and the line that set it.
struct ConfigFile {
    /// By `ConfigKey.rawValue`; nil: not set and without default.
    var values: [ConfigValue?]
    /// The line that set each key; 0 when the default holds.
    var lines: [Int]
    var members: [ConfigMember] = []
    var endpoints: [ConfigEndpointSection] = []
    /// Where `[steering]` opens, 0 when the file has none.
    var steeringLine = 0
    /// Whether a key other than the daemon's own was set outside `[steering]` and `[endpoint]`.
    var configuresNode = false

    /// The table's defaults.
    init() {
        values = ConfigKey.allCases.map { key in
            let spec = key.spec
            guard spec.defaultValue.utf8CodeUnitCount > 0 else { return nil }
            var ignored = TextBuffer()
            let text = Array(UnsafeBufferPointer(start: spec.defaultValue.utf8Start, count: spec.defaultValue.utf8CodeUnitCount))
            return spec.type.parse(text, problem: &ignored)
        }
        lines = [Int](repeating: 0, count: ConfigKey.allCases.count)
    }

    subscript(key: ConfigKey) -> ConfigValue? { values[key.rawValue] }
    func line(_ key: ConfigKey) -> Int { lines[key.rawValue] }

    /// Reads `path` with libinih; a problem names the line, or 0 when the file cannot be read.
    static func read(_ path: UnsafePointer<CChar>) throws(ConfigProblem) -> ConfigFile {
        let reader = ConfigReader(capacity: ConfigReader.largestFile)
        let length = reader.text.withUnsafeMutableBytes { gw_read_file(path, $0.baseAddress, $0.count) }
        guard length >= 0 else {
            var message = TextBuffer()
            message.append("cannot read the file: ")
            message.append(cString: strerror(Int32(-length)))
            throw ConfigProblem(line: 0, message: message)
        }
        guard Int(length) < reader.text.count else { throw ConfigProblem(line: 0, "the file is larger than 1 MiB") }
        reader.length = Int(length)
        return try parse(reader)
    }

    /// Parses a file's text held in memory (what `read` does once the file is read).
    static func parse(_ text: UnsafeRawBufferPointer) throws(ConfigProblem) -> ConfigFile {
        guard text.count < ConfigReader.largestFile else { throw ConfigProblem(line: 0, "the file is larger than 1 MiB") }
        let reader = ConfigReader(capacity: text.count)
        reader.text.withUnsafeMutableBytes { $0.copyMemory(from: text) }
        reader.length = text.count
        return try parse(reader)
    }

    private static func parse(_ reader: ConfigReader) throws(ConfigProblem) -> ConfigFile {
        let context = Unmanaged.passUnretained(reader).toOpaque()
        let result = ini_parse_stream({ buffer, size, stream in
            guard let buffer, let stream else { return nil }
            return Unmanaged<ConfigReader>.fromOpaque(stream).takeUnretainedValue().nextLine(into: buffer, size: Int(size))
        }, context, { user, section, name, value in
            guard let user, let section, let name, let value else { return 0 }
            return Unmanaged<ConfigReader>.fromOpaque(user).takeUnretainedValue().take(section, name, value) ? 1 : 0
        }, context)
        // libinih reports the first bad line, its own (not a section nor NAME = VALUE) or one
        // the handler refused; the handler's problem is the one when it is that line.
        if let problem = reader.problem, result == 0 || Int(result) >= problem.line { throw problem }
        if result > 0 { throw ConfigProblem(line: Int(result), "syntax error: expected [SECTION] or NAME = VALUE") }
        if result < 0 { throw ConfigProblem(line: 0, "cannot read the file") }
        return reader.file
    }
}

/// Feeds libinih the file line by line, counting lines, so every key is known with the line
/// that set it (libinih tells lines only for errors), and takes the keys it hands back.
final class ConfigReader {
    /// A config file is a few kilobytes; one of a megabyte is a mistake.
    static let largestFile = 1 << 20
    var text: [UInt8]
    var length = 0
    var offset = 0
    /// The line last handed to libinih, and the last that opened a section.
    var line = 0
    var sectionLine = 0
    /// Whether that line starts with a blank: libinih takes it as the previous key's value continued.
    var lineIsContinuation = false
    var file = ConfigFile()
    var problem: ConfigProblem?

    init(capacity: Int) { text = [UInt8](repeating: 0, count: capacity) }

    /// fgets for libinih: the next line with its newline, NUL-terminated, or nil at the end.
    /// A line longer than libinih's buffer is a problem, not two lines.
    func nextLine(into buffer: UnsafeMutablePointer<CChar>, size: Int) -> UnsafeMutablePointer<CChar>? {
        guard offset < length, problem == nil else { return nil }
        var end = offset
        while end < length && text[end] != 0x0A { end += 1 }
        if end < length { end += 1 }
        line += 1
        guard end - offset < size else {
            var message = TextBuffer()
            message.append("line too long: at most ")
            message.append(size - 2)
            message.append(" characters")
            problem = ConfigProblem(line: line, message: message)
            return nil
        }
        for i in offset..<end { buffer[i - offset] = CChar(bitPattern: text[i]) }
        buffer[end - offset] = 0
        var first = offset
        while first < end && (text[first] == 0x20 || text[first] == 0x09) { first += 1 }
        if first < end && text[first] == 0x5B { sectionLine = line }
        lineIsContinuation = first > offset
        offset = end
        return buffer
    }

    /// One `NAME = VALUE` of `[section]`; false with `problem` set when it is wrong.
    func take(_ section: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>, _ value: UnsafePointer<CChar>) -> Bool {
        guard problem == nil else { return false }
        do throws(ConfigProblem) {
            try take(section, name, bytes(value))
            return true
        } catch {
            problem = error
            return false
        }
    }

    private func take(_ sectionText: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>, _ value: [UInt8]) throws(ConfigProblem) {
        guard sectionText[0] != 0 else { throw ConfigProblem(line: line, "a key before any [section]") }
        guard let section = ConfigSection.find(sectionText) else {
            // Named at the section's own line, not at the first key in it.
            var message = TextBuffer()
            message.append("unknown section [")
            message.append(cString: sectionText)
            message.append("]")
            throw ConfigProblem(line: sectionLine, message: message)
        }
        guard let key = ConfigKey.find(section, name) else {
            var message = TextBuffer()
            message.append("unknown key '")
            message.append(cString: name)
            message.append("' in [")
            message.append(section.name)
            message.append("]")
            throw ConfigProblem(line: line, message: message)
        }
        let spec = key.spec
        if section == .steering && file.steeringLine == 0 { file.steeringLine = sectionLine }
        if section != .steering && section != .endpoint && !spec.daemonWide { file.configuresNode = true }
        if value.isEmpty, spec.defaultValue.utf8CodeUnitCount == 0, case .path = spec.type {
            // `prometheus_file =`: none, as when the key is left out.
            file.lines[key.rawValue] = line
            return
        }
        var problem = TextBuffer()
        guard let parsed = spec.type.parse(value, problem: &problem) else {
            throw failure(key, problem)
        }
        switch section {
        case .sequence:
            guard case .member(let address, let identity) = parsed else { return }
            let memberName = bytes(name)
            guard !file.members.contains(where: { $0.address == address }) else { throw failure(key, "this address is listed twice") }
            guard !file.members.contains(where: { $0.name == memberName }) else { throw failure(key, "this name is listed twice") }
            guard file.members.count < 64 else { throw failure(key, "at most 64 members") }
            file.members.append(ConfigMember(name: memberName, address: address, identity: identity, line: line))
        case .endpoint:
            try takeEndpoint(bytes(sectionText + 9), key, parsed)
        default:
            if lineIsContinuation, case .endpoints(let more) = parsed, case .endpoints(let list)? = file.values[key.rawValue] {
                // A list continued on an indented line (libinih hands it over as the same key).
                guard !more.contains(where: { list.contains($0) }) else { throw failure(key, "this address is listed twice") }
                guard case .endpointList(let maximum) = spec.type, list.count + more.count <= maximum else { throw failure(key, TextBuffer()) }
                file.values[key.rawValue] = .endpoints(list + more)
                return
            }
            guard file.lines[key.rawValue] == 0 else {
                var message = TextBuffer()
                message.append("set twice in this section, first at line ")
                message.append(file.lines[key.rawValue])
                throw failure(key, message)
            }
            file.values[key.rawValue] = parsed
            file.lines[key.rawValue] = line
        }
    }

    private func takeEndpoint(_ endpointName: [UInt8], _ key: ConfigKey, _ value: ConfigValue) throws(ConfigProblem) {
        guard !endpointName.isEmpty, !endpointName.contains(where: { $0 == 0x20 || $0 == 0x3D }) else {
            throw ConfigProblem(line: sectionLine, "[endpoint NAME]: expected one word for NAME")
        }
        var index = file.endpoints.firstIndex { $0.name == endpointName } ?? -1
        if index < 0 {
            guard file.endpoints.count < 1024 else { throw ConfigProblem(line: sectionLine, "[endpoint NAME]: at most 1024 endpoints") }
            file.endpoints.append(ConfigEndpointSection(name: endpointName, line: sectionLine))
            index = file.endpoints.count - 1
        }
        if key == .endpointKind {
            guard file.endpoints[index].kind == nil else { throw failure(key, "set twice for this endpoint") }
            file.endpoints[index].kind = value.integer
        } else {
            guard file.endpoints[index].identity == nil else { throw failure(key, "set twice for this endpoint") }
            file.endpoints[index].identity = value.text
        }
    }

    /// `NAME: what is wrong` at the current line; the type's range when `problem` is empty.
    private func failure(_ key: ConfigKey, _ problem: TextBuffer) -> ConfigProblem {
        ConfigProblem(line: line, message: ConfigReader.describe(key, problem))
    }

    private func failure(_ key: ConfigKey, _ text: StaticString) -> ConfigProblem {
        var problem = TextBuffer()
        problem.append(text)
        return failure(key, problem)
    }

    /// `NAME: PROBLEM`, or `NAME: expected RANGE` when there is no problem text.
    static func describe(_ key: ConfigKey, _ problem: TextBuffer) -> TextBuffer {
        let spec = key.spec
        var message = TextBuffer()
        message.append(spec.section == .sequence ? "sequence" : spec.name)
        message.append(": ")
        if problem.count > 0 {
            message.append(problem)
        } else {
            message.append("expected ")
            ConfigReader.expected(key, into: &message)
        }
        return message
    }

    static func expected(_ key: ConfigKey, into text: inout TextBuffer) {
        let spec = key.spec
        if spec.expected.utf8CodeUnitCount > 0 { text.append(spec.expected) } else { spec.type.describe(into: &text) }
    }

    private func bytes(_ text: UnsafePointer<CChar>) -> [UInt8] {
        var buffer = TextBuffer()
        buffer.append(cString: text)
        return buffer.bytes
    }
}
