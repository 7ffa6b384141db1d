import Basics
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
        guard let document = JSONDocument(json), document.values[0].kind == .object else {
            Output.error("status: the status file is not a JSON object")
            return 2
        }
        let pid = document.value("pid").flatMap { document.integer($0) } ?? -1
        let updated = document.value("updated_unix").flatMap { document.integer($0) } ?? 0
        let interval = document.value("interval_s").flatMap { document.integer($0) } ?? 5
        var out = TextBuffer()
        out.append("gatewayd ")
        out.append(pid)
        out.append(": ")
        let state = document.value("node", "state")
        if let state {
            out.append(bytes: document.bytes(state))
            out.append(", workload ")
            if let workload = document.value("load", "workload") { out.append(bytes: document.bytes(workload)) }
        } else {
            out.append("steering only")
        }
        let age = Int(gw_unix_seconds()) - updated
        out.append(", updated ")
        out.append(age)
        out.append(" s ago\n")
        for peer in document.value("peers").map({ document.children($0) }) ?? [] {
            out.append("  peer ")
            if let name = document.member(peer, "name") { out.append(bytes: document.bytes(name)) }
            if let address = document.member(peer, "address") {
                out.append(" ")
                out.append(bytes: document.bytes(address))
            }
            out.append(document.member(peer, "up").map { document.isTrue($0) } ?? false ? " up\n" : " down\n")
        }
        for endpoint in document.value("endpoints").map({ document.children($0) }) ?? [] {
            out.append("  endpoint ")
            if let name = document.member(endpoint, "name") { out.append(bytes: document.bytes(name)) }
            for (key, prefix) in [("kind" as StaticString, " (" as StaticString), ("state", ") "), ("proxy", " "),
                                  ("last_hook", ", last hook ")] {
                guard let value = document.member(endpoint, key), document.values[value].kind == .string else { continue }
                out.append(prefix)
                out.append(bytes: document.bytes(value))
            }
            out.append("\n")
        }
        var verdict: StaticString = ""
        if let daemon = document.value("daemon"), document.equals(daemon, "stopped") {
            verdict = "the daemon stopped"
        } else if state.map({ document.equals($0, "stopped") }) ?? false {
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
}
