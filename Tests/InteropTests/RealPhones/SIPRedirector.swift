import Foundation

/// A tiny UDP SIP responder, the stand-in for a gatewayd node in the experiments of
/// docs/phones.md: REGISTER, INVITE and OPTIONS get `302 Moved Temporarily` with
/// `Contact: <sip:[USER@]TARGET>;expires=60` (the Request-URI's user kept for INVITE), a
/// request whose Request-URI already names TARGET gets `480` (it came back instead of going
/// to TARGET), ACK is absorbed, anything else gets 200. Every request it got is kept, so a
/// test can tell what each phone sent after the 302 and where.
final class SIPRedirector: LabMember {
    /// A request as it arrived.
    struct Request: CustomStringConvertible, Sendable {
        var method: String
        var requestURI: String
        var source: String
        var sourcePort: Int
        var via: [String]
        var route: [String]
        var text: String
        var description: String {
            "\(method) \(requestURI) from \(source):\(sourcePort)" + (route.isEmpty ? "" : " Route: \(route.joined(separator: ", "))")
        }
    }

    /// What the answering thread shares with the test: the socket, the requests, the flag.
    private final class State: @unchecked Sendable {
        let socket: RedirectorSocket
        let target: String
        let lock = NSLock()
        var received: [Request] = []
        var running = true
        let done = DispatchSemaphore(value: 0)

        init(socket: RedirectorSocket, target: String) {
            self.socket = socket
            self.target = target
        }

        var isRunning: Bool { lock.withLock { running } }

        func serve() {
            while isRunning {
                if let message = socket.receive(timeoutMilliseconds: 50) { handle(message.text, from: message.host, port: message.port) }
            }
            done.signal()
        }

        func handle(_ text: String, from host: String, port sourcePort: Int) {
            let head = text.components(separatedBy: "\r\n\r\n").first ?? text
            let lines = head.components(separatedBy: "\r\n")
            guard let first = lines.first, !first.hasPrefix("SIP/2.0") else { return }
            let parts = first.split(separator: " ")
            guard parts.count >= 3 else { return }
            let method = String(parts[0]), uri = String(parts[1])
            func values(_ names: Set<String>) -> [String] {
                lines.dropFirst().compactMap { line in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return names.contains(line[..<colon].trimmingCharacters(in: .whitespaces).lowercased())
                        ? line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) : nil
                }
            }
            let request = Request(method: method, requestURI: uri, source: host, sourcePort: sourcePort,
                                  via: values(["via", "v"]), route: values(["route"]), text: head)
            lock.withLock { received.append(request) }
            guard method != "ACK" else { return }
            let code: String
            var contact = ""
            if uri.contains("@\(target)") || uri.hasSuffix(":\(target)") || uri.contains(":\(target);") {
                code = "480 Came Back Instead Of Going To The Contact"
            } else if ["REGISTER", "INVITE", "OPTIONS"].contains(method) {
                var user = ""
                if method == "INVITE", let at = uri.firstIndex(of: "@"), let colon = uri.firstIndex(of: ":"), colon < at {
                    user = String(uri[uri.index(after: colon)..<at]) + "@"
                }
                code = "302 Moved Temporarily"
                contact = "Contact: <sip:\(user)\(target)>;expires=60\r\n"
            } else {
                code = "200 OK"
            }
            var to = values(["to", "t"]).first ?? ""
            if !to.contains("tag=") { to += ";tag=redirector" }
            var answer = "SIP/2.0 \(code)\r\n"
            for via in request.via { answer += "Via: \(via)\r\n" }
            answer += "From: \(values(["from", "f"]).first ?? "")\r\nTo: \(to)\r\nCall-ID: \(values(["call-id", "i"]).first ?? "")\r\n"
            answer += "CSeq: \(values(["cseq"]).first ?? "")\r\n\(contact)Content-Length: 0\r\n\r\n"
            // Back to where it came from (rport, RFC 3581: every phone here asks for it).
            socket.send(answer, to: host, port: UInt16(sourcePort))
        }
    }

    let name: String
    let address: String
    let port: Int
    let target: String
    private let state: State

    init(_ lab: PhoneLab, name: String, address: String, port: Int, target: String) throws {
        self.name = name
        self.address = address
        self.port = port
        self.target = target
        let state = State(socket: try RedirectorSocket(bind: address, port: UInt16(port)), target: target)
        self.state = state
        Thread { state.serve() }.start()
        _ = lab.add(self)
    }

    /// Every request so far.
    var requests: [Request] { state.lock.withLock { state.received } }

    func requests(_ method: String) -> [Request] { requests.filter { $0.method == method } }

    /// Ends the thread and closes the socket (the port is free when this returns).
    func stop() {
        guard state.lock.withLock({ let was = state.running; state.running = false; return was }) else { return }
        state.done.wait()
        state.socket.close()
    }

    deinit { stop() }
}

/// The redirector's UDP socket, closed when the redirector stops.
final class RedirectorSocket: @unchecked Sendable {
    private var descriptor: Int32

    init(bind address: String, port: UInt16) throws {
        descriptor = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var local = UDPSocket.address(address, port)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { Glibc.close(descriptor); throw POSIXError(.EADDRINUSE) }
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    func send(_ text: String, to host: String, port: UInt16) {
        var destination = UDPSocket.address(host, port)
        let bytes = Array(text.utf8)
        _ = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(descriptor, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// One datagram and who sent it.
    func receive(timeoutMilliseconds: Int32) -> (text: String, host: String, port: Int)? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var source = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = withUnsafeMutablePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(descriptor, &buffer, buffer.count, 0, $0, &length) }
        }
        guard count > 0 else { return nil }
        let host = String(cString: inet_ntoa(source.sin_addr))
        return (String(decoding: buffer[0..<count], as: UTF8.self), host, Int(UInt16(bigEndian: source.sin_port)))
    }
}
