import Basics
import CSystem
import Capture
import GatewayCore
import LoadMeter
import SIP

/// What a key's value must be, with its range: the parser, the error and the reference all
/// come from here.
enum ConfigType {
    case integer(ClosedRange<Int>)
    /// `d.ddd`, no exponent, within the bounds.
    case decimal(low: Double, lowIncluded: Bool, high: Double, highIncluded: Bool)
    /// yes/true/1 or no/false/0.
    case flag
    /// `a.b.c.d:PORT` or `[v6]:PORT`.
    case endpoint
    /// HOST:PORT separated by commas or blanks, unique, 1 to `maximum`.
    case endpointList(maximum: Int)
    case sipURI
    /// An absolute path.
    case path
    /// An absolute path to an executable file.
    case executable
    /// A user that exists on this system.
    case user
    /// daemon, user, local0 ... local7.
    case facility
    /// One of the names; the value is its index.
    case choice([StaticString])
    /// An interface name, any, or none (stored empty).
    case interface
    case text
    /// `HOST:PORT [IDENTITY]` of a `[sequence]` line.
    case member
    /// A line name, address of record or alias: no blanks, quotes or angle brackets.
    case endpointIdentity

    /// What a good value is, as the error message and the reference say it.
    func describe(into text: inout TextBuffer) {
        switch self {
        case .integer(let range):
            text.append("a whole number from ")
            text.append(range.lowerBound)
            text.append(" to ")
            text.append(range.upperBound)
        case .decimal(let low, let lowIncluded, let high, let highIncluded):
            text.append(lowIncluded ? "a number from " : "a number above ")
            text.append(fixed: low, decimals: 0)
            text.append(highIncluded ? " and at most " : " to below ")
            text.append(fixed: high, decimals: 0)
        case .flag: text.append("yes or no")
        case .endpoint: text.append("HOST:PORT")
        case .endpointList(let maximum):
            text.append("1 to ")
            text.append(maximum)
            text.append(" HOST:PORT, ... (primary first)")
        case .sipURI: text.append("a sip: URI")
        case .path: text.append("an absolute path")
        case .executable: text.append("an absolute path to an executable file")
        case .user: text.append("a user name")
        case .facility: text.append("daemon, user or local0 to local7")
        case .choice(let names):
            for (index, name) in names.enumerated() {
                if index > 0 { text.append(index == names.count - 1 ? " or " : ", ") }
                text.append(name)
            }
        case .interface: text.append("an interface name, any, or none")
        case .text: text.append("text")
        case .member: text.append("NAME = HOST:PORT [IDENTITY]")
        case .endpointIdentity: text.append("a line name, SIP address of record or H.323 alias without spaces")
        }
    }

    /// `value` as this type, or nil with `problem` saying what is wrong (after "NAME: ").
    func parse(_ value: [UInt8], problem: inout TextBuffer) -> ConfigValue? {
        switch self {
        case .integer(let range):
            guard let number = ConfigType.wholeNumber(value), range.contains(number) else { return nil }
            return .integer(number)
        case .decimal(let low, let lowIncluded, let high, let highIncluded):
            guard let number = ConfigType.decimal(value),
                  lowIncluded ? number >= low : number > low, highIncluded ? number <= high : number < high else { return nil }
            return .decimal(number)
        case .flag:
            if ConfigType.matches(value, "yes") || ConfigType.matches(value, "true") || ConfigType.matches(value, "1") { return .flag(true) }
            if ConfigType.matches(value, "no") || ConfigType.matches(value, "false") || ConfigType.matches(value, "0") { return .flag(false) }
            return nil
        case .endpoint:
            return ConfigType.endpoint(value[...]).map { .endpoint($0) }
        case .endpointList(let maximum):
            var list: [Endpoint] = []
            var start = 0
            for end in 0...value.count where end == value.count || value[end] == 0x2C || value[end] == 0x20 || value[end] == 0x09 {
                defer { start = end + 1 }
                guard end > start else { continue }
                guard let endpoint = ConfigType.endpoint(value[start..<end]) else { return nil }
                guard !list.contains(where: { $0 == endpoint }) else {
                    problem.append("this address is listed twice")
                    return nil
                }
                list.append(endpoint)
            }
            guard !list.isEmpty, list.count <= maximum else { return nil }
            return .endpoints(list)
        case .sipURI:
            return ConfigType.isSIPURI(value) ? .text(value) : nil
        case .path:
            return value.first == 0x2F ? .text(value) : nil
        case .executable:
            guard value.first == 0x2F else {
                problem.append("expected an absolute path")
                return nil
            }
            guard (value + [0]).withUnsafeBufferPointer({ gw_is_executable_file($0.baseAddress!) }) != 0 else {
                problem.append("not an executable file")
                return nil
            }
            return .text(value)
        case .user:
            var uid = 0, gid = 0
            guard !value.isEmpty, (value + [0]).withUnsafeBufferPointer({ gw_user_lookup($0.baseAddress!, &uid, &gid) }) == 0 else {
                problem.append("no such user '")
                value.withUnsafeBytes { problem.append(bytes: $0) }
                problem.append("'")
                return nil
            }
            return .user(name: value, uid: uid, gid: gid)
        case .facility:
            return ConfigType.facility(value).map { .integer(Int($0)) }
        case .choice(let names):
            for (index, name) in names.enumerated() where ConfigType.matches(value, name) { return .integer(index) }
            return nil
        case .interface:
            return .text(ConfigType.matches(value, "none") ? [] : value)
        case .text:
            return .text(value)
        case .member:
            // HOST:PORT, then optionally the member's identity (the proxy its 302s name).
            let split = value.firstIndex { $0 == 0x20 || $0 == 0x09 } ?? value.count
            guard let endpoint = ConfigType.endpoint(value[..<split]) else { return nil }
            let identity = Array(value[split...].drop { $0 == 0x20 || $0 == 0x09 })
            guard identity.isEmpty || ConfigType.isSIPURI(identity) else {
                problem.append("the identity after HOST:PORT must be a sip: URI")
                return nil
            }
            return .member(endpoint, identity: identity)
        case .endpointIdentity:
            guard !value.isEmpty, value.count <= 256,
                  !value.contains(where: { $0 <= 0x20 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 }) else { return nil }
            return .text(value)
        }
    }

    // MARK: Values

    static func matches(_ value: [UInt8], _ word: StaticString) -> Bool {
        value.count == word.utf8CodeUnitCount && value.withUnsafeBufferPointer { bytes in
            (0..<bytes.count).allSatisfy { bytes[$0] == word.utf8Start[$0] }
        }
    }

    static func wholeNumber(_ value: [UInt8]) -> Int? {
        guard !value.isEmpty else { return nil }
        var number = 0
        for byte in value {
            // Past every range in the table, and below where a 32-bit Int (armv7) overflows.
            guard byte >= 0x30 && byte <= 0x39, number <= 100_000_000 else { return nil }
            number = number * 10 + Int(byte - 0x30)
        }
        return number
    }

    /// `d.ddd` without exponent.
    static func decimal(_ value: [UInt8]) -> Double? {
        var whole = 0.0, scale = 0.0, digits = 0
        for byte in value {
            if byte == 0x2E {
                guard scale == 0 else { return nil }
                scale = 1
            } else if byte >= 0x30 && byte <= 0x39 {
                whole = whole * 10 + Double(byte - 0x30)
                if scale > 0 { scale *= 10 }
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0 else { return nil }
        return scale > 0 ? whole / scale : whole
    }

    /// `a.b.c.d:port` or `[v6]:port`.
    static func endpoint(_ value: ArraySlice<UInt8>) -> Endpoint? {
        value.withUnsafeBytes { raw in
            guard let parts = HostPort.split(raw, ByteRange(0, raw.count)), parts.port > 0,
                  let address = IPAddress(text: parts.host.slice(of: raw)) else { return nil }
            return Endpoint(address: address, port: UInt16(parts.port))
        }
    }

    static func isSIPURI(_ value: [UInt8]) -> Bool {
        value.withUnsafeBytes { SIPURI($0, ByteRange(0, $0.count)) != nil }
    }

    /// A syslog facility by name, as `openlog` takes it (LOG_DAEMON is 3 << 3, LOG_LOCALn 16 + n << 3).
    static func facility(_ value: [UInt8]) -> Int32? {
        if matches(value, "daemon") { return 3 << 3 }
        if matches(value, "user") { return 1 << 3 }
        guard value.count == 6, matches(Array(value.prefix(5)), "local"), value[5] >= 0x30 && value[5] <= 0x37 else { return nil }
        return (16 + Int32(value[5] - 0x30)) << 3
    }
}

/// A key's value once read.
enum ConfigValue: Equatable {
    case integer(Int)
    case decimal(Double)
    case flag(Bool)
    case endpoint(Endpoint)
    case endpoints([Endpoint])
    case text([UInt8])
    case user(name: [UInt8], uid: Int, gid: Int)
    case member(Endpoint, identity: [UInt8])

    var integer: Int { if case .integer(let value) = self { return value }; return 0 }
    var decimal: Double { if case .decimal(let value) = self { return value }; return 0 }
    var flag: Bool { if case .flag(let value) = self { return value }; return false }
    var text: [UInt8] { if case .text(let value) = self { return value }; return [] }
}
