import Basics
import CSystem
import Capture
import GatewayCore

/// Runs the steering hook the way udhcpc runs its script: `HOOK assigned|busy|lost` with
/// the endpoint and its assignment in the environment. One at a time, never waited for:
/// the child is reaped from the event loop (SIGCHLD through the signalfd), its standard
/// error read through a non-blocking pipe in the same loop, and it is killed (its whole
/// process group) when it outlives the time limit. Exit status and standard error are
/// logged; the last result per endpoint goes to the status file.
final class HookRunner {
    let path: [CChar]
    let timeLimit: Int64
    private(set) var child: Int32 = 0
    private(set) var output: Int32 = -1
    private var endpoint = 0
    private var event = HookEvent.assigned
    private var deadline = Int64.max
    private var killed = false
    private var errorText = TextBuffer(capacity: 512)
    /// Per endpoint: what its last hook run came to ("assigned: exit 0").
    private(set) var lastResults: [TextBuffer]
    private var chunk = [UInt8](repeating: 0, count: 512)

    init(path: [UInt8], timeLimitSeconds: Int, endpoints: Int) {
        self.path = path.map { CChar(bitPattern: $0) } + [0]
        timeLimit = Int64(timeLimitSeconds) * 1_000_000_000
        lastResults = [TextBuffer](repeating: TextBuffer(), count: endpoints)
    }

    var isRunning: Bool { child > 0 }
    var nextDeadline: Int64 { child > 0 ? deadline : Int64.max }

    /// Starts the hook for `index`'s `event`; returns the pipe to watch, or nil when it could not start (logged).
    func start(_ event: HookEvent, for index: Int, agent: SteeringAgent<KernelEntropy>, retrySeconds: Int, now: Int64) -> Int32? {
        let endpoint = agent.endpoints[index]
        let state = agent.states[index]
        var environment = TextBuffer(capacity: 512)
        func entry(_ name: StaticString, _ write: (inout TextBuffer) -> Void) {
            environment.append(name)
            environment.append("=")
            write(&environment)
            environment.append(byte: 0)
        }
        entry("ENDPOINT") { text in endpoint.name.withUnsafeBytes { text.append(bytes: $0) } }
        entry("KIND") { $0.append(endpoint.kind.name) }
        entry("IDENTITY") { text in endpoint.identity.withUnsafeBytes { text.append(bytes: $0) } }
        var count = 3
        // assigned: the new proxy; lost: the one that stopped answering; busy: none.
        if event != .busy, let assignment = state.assignment {
            entry("PROXY") { text in assignment.proxy.withUnsafeBytes { text.append(bytes: $0) } }
            entry("HOST") { text in assignment.host.withUnsafeBytes { text.append(bytes: $0) } }
            entry("PORT") { $0.append(assignment.port) }
            entry("TRANSPORT") { text in assignment.transport.withUnsafeBytes { text.append(bytes: $0) } }
            entry("EXPIRES") { $0.append(assignment.expiresSeconds) }
            count += 5
        }
        if event == .busy {
            entry("RETRY_AFTER") { $0.append(state.retryAfterSeconds > 0 ? state.retryAfterSeconds : retrySeconds) }
            count += 1
        }
        var argument = TextBuffer()
        argument.append(event.name)
        argument.append(byte: 0)
        var pipe: Int32 = -1
        let pid = environment.bytes.withUnsafeBytes { env in
            argument.bytes.withUnsafeBytes { arg in
                path.withUnsafeBufferPointer {
                    gw_spawn($0.baseAddress!, arg.baseAddress!.assumingMemoryBound(to: CChar.self),
                             env.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(count), &pipe)
                }
            }
        }
        self.endpoint = index
        self.event = event
        lastEndpointName = endpoint.name
        guard pid > 0 else {
            var line = TextBuffer()
            line.append("hook ")
            path.withUnsafeBufferPointer { line.append(cString: $0.baseAddress!) }
            line.append(" could not start: ")
            line.append(cString: strerror(-pid))
            NodeDaemon.log(line, priority: 3)
            record(TextBuffer.literal("could not start"))
            return nil
        }
        child = pid
        output = pipe
        deadline = now + timeLimit
        killed = false
        errorText.removeAll()
        return pipe
    }

    /// Reads what the hook wrote to standard error (the first 512 bytes are kept).
    func readOutput() {
        guard output >= 0 else { return }
        while true {
            let n = chunk.withUnsafeMutableBytes { gw_read(output, $0.baseAddress, $0.count) }
            if n <= 0 {
                if n == 0 {  // end: the hook closed it (it may still run)
                    gw_close(output)
                    output = -1
                }
                return
            }
            for i in 0..<Int(n) where errorText.count < 512 { errorText.append(byte: chunk[i]) }
        }
    }

    /// Reaps the hook if it ended, or kills it when late. Returns true when it is done.
    func check(now: Int64) -> Bool {
        guard child > 0 else { return false }
        var code: Int32 = 0
        let reaped = gw_reap(child, &code)
        if reaped == 0 {
            if now >= deadline && !killed {
                gw_kill_group(child, Int32(GW_SIGKILL))
                killed = true
            }
            return false
        }
        readOutput()
        if output >= 0 {
            gw_close(output)
            output = -1
        }
        child = 0
        var result = TextBuffer()
        result.append(event.name)
        if killed {
            result.append(": killed after ")
            result.append(Int(timeLimit / 1_000_000_000))
            result.append(" s")
        } else if code >= 0 {
            result.append(": exit ")
            result.append(Int(code))
        } else {
            result.append(": signal ")
            result.append(Int(-code))
        }
        record(result)
        var line = TextBuffer()
        line.append("hook ")
        line.append(event.name)
        line.append(" for ")
        lastEndpointName.withUnsafeBytes { line.append(bytes: $0) }
        line.append(": ")
        line.append(killed ? "killed after the time limit" : code == 0 ? "exit 0" : code > 0 ? "exit " : "signal ")
        if !killed && code != 0 { line.append(Int(code > 0 ? code : -code)) }
        var end = errorText.count
        while end > 0 && (errorText.bytes[end - 1] <= 0x20) { end -= 1 }
        if end > 0 {
            line.append("; stderr: ")
            for byte in errorText.bytes[0..<end] {
                line.append(byte: byte == 0x0A || byte == 0x0D ? 0x20 : byte)
            }
        }
        NodeDaemon.log(line, priority: code == 0 && !killed ? 5 : 4)
        return true
    }

    /// The name of the endpoint of the hook running or last run.
    var lastEndpointName: [UInt8] = []

    private func record(_ result: TextBuffer) {
        if endpoint < lastResults.count { lastResults[endpoint] = result }
    }
}

extension TextBuffer {
    static func literal(_ text: StaticString) -> TextBuffer {
        var buffer = TextBuffer()
        buffer.append(text)
        return buffer
    }
}
