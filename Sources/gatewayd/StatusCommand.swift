import CSystem
import Capture

/// `gatewayd status [-s FILE]`: the status file for people. Exit 0 while the daemon runs
/// and the file is fresh; 1 when it is stale (older than three intervals), its pid is
/// gone, or the node stopped; 2 when there is no file to read.
enum StatusCommand {
    static func run(_ arguments: inout Arguments) -> Int32 {
        var path: UnsafeMutablePointer<CChar>?
        while let word = arguments.next() {
            if Arguments.equals(word, "-s") || Arguments.equals(word, "--status-file") {
                guard let value = arguments.next() else { return MeterCommand.usage("-s needs a file") }
                path = value
            } else {
                var message = TextBuffer()
                message.append("status: unknown option ")
                message.append(cString: word)
                return MeterCommand.usage(message)
            }
        }
        var file = [UInt8](repeating: 0, count: 1 << 20)
        let defaultPath: StaticString = "/run/gatewayd/status.json"
        let length: Int = file.withUnsafeMutableBytes { buffer in
            if let path { return gw_read_file(path, buffer.baseAddress, buffer.count) }
            return defaultPath.withUTF8Buffer { raw in
                var cPath = [CChar](repeating: 0, count: raw.count + 1)
                for i in 0..<raw.count { cPath[i] = CChar(bitPattern: raw[i]) }
                return gw_read_file(cPath, buffer.baseAddress, buffer.count)
            }
        }
        guard length >= 0 else {
            var message = TextBuffer()
            message.append("status: cannot read ")
            if let path { message.append(cString: path) } else { message.append(defaultPath) }
            message.append(": ")
            message.append(cString: strerror(Int32(-length)))
            Output.error(message)
            return 2
        }
        return file.withUnsafeBytes { raw in
            summarise(UnsafeRawBufferPointer(rebasing: raw[0..<length]))
        }
    }

    static func summarise(_ json: UnsafeRawBufferPointer) -> Int32 {
        let pid = number(after: "\"pid\": ", in: json, from: 0) ?? -1
        let updated = number(after: "\"updated_unix\": ", in: json, from: 0) ?? 0
        let interval = number(after: "\"interval_s\": ", in: json, from: 0) ?? 5
        var out = TextBuffer()
        out.append("gatewayd ")
        out.append(pid)
        out.append(": ")
        let hasNode = find("\"node\": {", in: json, from: 0) != nil
        let state = hasNode ? string(after: "\"state\": \"", in: json, from: 0) : nil
        if let state {
            out.append(bytes: UnsafeRawBufferPointer(rebasing: json[state]))
            out.append(", workload ")
            if let workload = string(after: "\"workload\": ", in: json, from: 0, end: 0x2C) {
                out.append(bytes: UnsafeRawBufferPointer(rebasing: json[workload]))
            }
        } else {
            out.append("steering only")
        }
        let age = Int(gw_unix_seconds()) - updated
        out.append(", updated ")
        out.append(age)
        out.append(" s ago\n")
        // Peers end where the counters begin; endpoints follow them.
        let peersEnd = find("\"counters\": ", in: json, from: 0) ?? json.count
        if let peers = find("\"peers\": [", in: UnsafeRawBufferPointer(rebasing: json[0..<peersEnd]), from: 0) {
            let json = UnsafeRawBufferPointer(rebasing: json[0..<peersEnd])
            var position = peers
            while let name = string(after: "{\"name\": \"", in: json, from: position) {
                out.append("  peer ")
                out.append(bytes: UnsafeRawBufferPointer(rebasing: json[name]))
                if let address = string(after: "\"address\": \"", in: json, from: name.upperBound) {
                    out.append(" ")
                    out.append(bytes: UnsafeRawBufferPointer(rebasing: json[address]))
                    position = address.upperBound
                }
                if let up = string(after: "\"up\": ", in: json, from: position, end: 0x2C) {
                    out.append(json[up.lowerBound] == 0x74 ? " up\n" : " down\n")
                    position = up.upperBound
                } else {
                    break
                }
            }
        }
        if let endpoints = find("\"endpoints\": [", in: json, from: 0) {
            let end = find("\"steering\": {", in: json, from: endpoints) ?? json.count
            let json = UnsafeRawBufferPointer(rebasing: json[0..<end])
            var position = endpoints
            while let name = string(after: "{\"name\": \"", in: json, from: position) {
                out.append("  endpoint ")
                out.append(bytes: UnsafeRawBufferPointer(rebasing: json[name]))
                position = name.upperBound
                for (key, prefix) in [("\"kind\": \"" as StaticString, " (" as StaticString), ("\"state\": \"", ") "),
                                      ("\"proxy\": \"", " "), ("\"last_hook\": \"", ", last hook ")] {
                    guard let value = string(after: key, in: json, from: position),
                          find("{\"name\": \"", in: json, from: position).map({ $0 > value.lowerBound }) ?? true else { continue }
                    out.append(prefix)
                    out.append(bytes: UnsafeRawBufferPointer(rebasing: json[value]))
                }
                out.append("\n")
            }
        }
        var verdict: StaticString = ""
        if let daemon = string(after: "\"daemon\": \"", in: json, from: 0), equals(json, daemon, "stopped") {
            verdict = "the daemon stopped"
        } else if state.map({ equals(json, $0, "stopped") }) ?? false {
            verdict = "the node stopped"
        } else if !(gw_process_alive(pid) != 0) {
            verdict = "its process is gone"
        } else if age > 3 * interval {
            verdict = "the file is stale"
        }
        Output.standardOutput(out)
        guard verdict.utf8CodeUnitCount == 0 else {
            Output.error(verdict)
            return 1
        }
        return 0
    }

    static func find(_ key: StaticString, in json: UnsafeRawBufferPointer, from start: Int) -> Int? {
        let length = key.utf8CodeUnitCount
        guard json.count >= length else { return nil }
        var i = start
        while i + length <= json.count {
            var same = true
            for k in 0..<length where json[i + k] != key.utf8Start[k] {
                same = false
                break
            }
            if same { return i + length }
            i += 1
        }
        return nil
    }

    /// The bytes after `key` up to `end` (a quote by default).
    static func string(after key: StaticString, in json: UnsafeRawBufferPointer, from start: Int, end: UInt8 = 0x22)
        -> Range<Int>?
    {
        guard let begin = find(key, in: json, from: start) else { return nil }
        var stop = begin
        while stop < json.count && json[stop] != end && json[stop] != 0x7D && json[stop] != 0x0A { stop += 1 }
        return begin..<stop
    }

    static func number(after key: StaticString, in json: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let begin = find(key, in: json, from: start) else { return nil }
        var value = 0
        var i = begin
        while i < json.count && json[i] >= 0x30 && json[i] <= 0x39 {
            value = value * 10 + Int(json[i] - 0x30)
            i += 1
        }
        return i > begin ? value : nil
    }

    static func equals(_ json: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        for i in 0..<range.count where json[range.lowerBound + i] != text.utf8Start[i] { return false }
        return true
    }
}
