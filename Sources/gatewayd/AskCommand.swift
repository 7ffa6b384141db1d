import Basics
import CSystem
import Capture
import LoadMeter

/// `gatewayd ask [-m INVITE|REGISTER|OPTIONS] [-t SECONDS] ENTRY`: asks the group what a
/// client would get. One request to connect goes to ENTRY (HOST:PORT) over UDP, retransmitted
/// as RFC 3261 Timer A says (500 ms, doubling) until an answer or the timeout; an INVITE's final
/// answer is acknowledged as a client's is. It prints the proxy assigned, or all busy with
/// Retry-After, how long the answer took, and the members the request went through: the
/// request carries `X-Gatewayd-Trace`, and the member that answers lists the path it read
/// from the Via headers in `X-Gatewayd-Path`. Exit 0 assigned, 1 busy (or refused), 2 no answer
/// or bad usage.
enum AskCommand {
    static func run(_ arguments: inout Arguments) -> Int32 {
        var method: StaticString = "INVITE"
        var isInvite = true
        var timeoutSeconds = 4
        var entry: Endpoint?
        while let word = arguments.next() {
            if Arguments.equals(word, "-m") || Arguments.equals(word, "--method") {
                guard let value = arguments.next() else { return usage("-m needs INVITE, REGISTER or OPTIONS") }
                isInvite = Arguments.equals(value, "INVITE")
                if isInvite {
                    method = "INVITE"
                } else if Arguments.equals(value, "REGISTER") {
                    method = "REGISTER"
                } else if Arguments.equals(value, "OPTIONS") {
                    method = "OPTIONS"
                } else {
                    return usage("-m needs INVITE, REGISTER or OPTIONS")
                }
            } else if Arguments.equals(word, "-t") || Arguments.equals(word, "--timeout") {
                guard let value = arguments.next(), let seconds = Arguments.number(value, in: 1...3600) else {
                    return usage("-t needs whole seconds from 1 to 3600")
                }
                timeoutSeconds = seconds
            } else if entry == nil, word[0] != 0x2D {
                var bytes: [UInt8] = []
                var i = 0
                while word[i] != 0 { bytes.append(UInt8(bitPattern: word[i])); i += 1 }
                guard let parsed = ConfigType.endpoint(bytes[...]) else { return usage("ENTRY must be HOST:PORT ([v6]:PORT for IPv6)") }
                entry = parsed
            } else {
                return usage("unexpected argument")
            }
        }
        guard let entry else { return usage("which entry node? gatewayd ask HOST:PORT") }
        return ask(entry, method: method, isInvite: isInvite, timeout: Int64(timeoutSeconds) * 1_000_000_000)
    }

    static func usage(_ message: StaticString) -> Int32 {
        Output.error(message)
        var text = TextBuffer()
        text.append("usage: gatewayd ask [-m INVITE|REGISTER|OPTIONS] [-t SECONDS] HOST:PORT\n")
        Output.write(text, to: 2)
        return 2
    }

    static func ask(_ entry: Endpoint, method: StaticString, isInvite: Bool, timeout: Int64) -> Int32 {
        var unspecified = [UInt8](repeating: 0, count: 16)
        if entry.address.isIPv4 { unspecified[10] = 0xFF; unspecified[11] = 0xFF }
        let socket = unspecified.withUnsafeBufferPointer { gw_udp_bind($0.baseAddress, 0) }
        guard socket >= 0 else { return failed("cannot open a UDP socket: ", Int32(-socket)) }
        defer { gw_close(socket) }
        var destination = [UInt8](repeating: 0, count: 16)
        NodeDaemon.store(entry.address, into: &destination)
        var localBytes = [UInt8](repeating: 0, count: 16)
        var localPort: UInt16 = 0
        let connected = destination.withUnsafeBufferPointer { to in
            localBytes.withUnsafeMutableBufferPointer { gw_udp_connect(socket, to.baseAddress, entry.port, $0.baseAddress, &localPort) }
        }
        guard connected == 0 else { return failed("cannot reach the entry node: ", -connected) }
        let local = Endpoint(address: NodeDaemon.load(localBytes), port: localPort)

        var entropy = KernelEntropy()
        let request = AskRequest(method: method, isInvite: isInvite, entry: entry, local: local, entropy: &entropy)
        let started = gw_monotonic_ns()
        let deadline = started + timeout
        var nextSend = started
        var interval: Int64 = 500_000_000
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var source = [UInt8](repeating: 0, count: 16)
        let loop = gw_epoll_create()
        guard loop >= 0, gw_epoll_add(loop, socket, 1) == 0 else { return failed("cannot wait for the answer: ", gw_errno()) }
        defer { gw_close(loop) }
        var tags: [UInt64] = [0]
        while true {
            let now = gw_monotonic_ns()
            if now >= deadline { break }
            if now >= nextSend {
                _ = request.text.bytes.withUnsafeBytes { gw_udp_send(socket, $0.baseAddress, $0.count, destination, entry.port) }
                nextSend = now + interval
                interval = min(interval * 2, 4_000_000_000)
            }
            var port: UInt16 = 0
            let count = buffer.withUnsafeMutableBytes { raw in
                source.withUnsafeMutableBufferPointer { gw_udp_receive(socket, raw.baseAddress, raw.count, $0.baseAddress, &port) }
            }
            if count < 0 {
                let wait = (min(nextSend, deadline) - gw_monotonic_ns() + 999_999) / 1_000_000
                _ = tags.withUnsafeMutableBufferPointer { gw_epoll_wait(loop, $0.baseAddress, 1, Int32(max(wait, 0))) }
                continue
            }
            let took = gw_monotonic_ns() - started
            let outcome = buffer.withUnsafeBytes { raw in
                AskAnswer.read(UnsafeRawBufferPointer(rebasing: raw[0..<count]), for: request, socket: socket,
                               destination: destination, entry: entry, took: took)
            }
            if let outcome { return outcome }
        }
        var text = TextBuffer()
        text.append("no answer from ")
        text.append(entry)
        text.append(" within ")
        text.append(Int(timeout / 1_000_000_000))
        text.append(" s\n")
        Output.standardOutput(text)
        return 2
    }

    static func failed(_ what: StaticString, _ errno: Int32) -> Int32 {
        var message = TextBuffer()
        message.append(what)
        message.append(cString: strerror(errno))
        Output.error(message)
        return 2
    }
}
