import Basics
import CSystem
import Capture
import LoadMeter
import SIP

/// The request `gatewayd ask` sends: a request to connect as a client would send it, asking
/// the member that answers for the path (`X-Gatewayd-Trace`).
struct AskRequest {
    let isInvite: Bool
    var text = TextBuffer()
    /// The lines an ACK repeats: Via, From, Call-ID.
    var via = TextBuffer()
    var from = TextBuffer()
    var callID = TextBuffer()
    var requestURI = TextBuffer()
    var branch = TextBuffer()

    init(method: StaticString, isInvite: Bool, entry: Endpoint, local: Endpoint, entropy: inout KernelEntropy) {
        self.isInvite = isInvite
        requestURI.append(isInvite ? "sip:ask@" : "sip:")
        requestURI.append(entry)
        branch.append("z9hG4bK")
        branch.append(hex: entropy.next(), width: 16)
        via.append("Via: SIP/2.0/UDP ")
        via.append(local)
        via.append(";branch=")
        via.append(branch)
        via.append(";rport\r\n")
        from.append("From: <sip:ask@")
        from.append(local)
        from.append(">;tag=")
        from.append(hex: entropy.next(), width: 8)
        from.append("\r\n")
        callID.append(hex: entropy.next(), width: 16)
        callID.append("@gatewayd-ask")

        text.append(method)
        text.append(" ")
        text.append(requestURI)
        text.append(" SIP/2.0\r\n")
        text.append(via)
        text.append("Max-Forwards: 70\r\n")
        text.append(from)
        text.append("To: <sip:ask@")
        text.append(entry)
        text.append(">\r\nCall-ID: ")
        text.append(callID)
        text.append("\r\nCSeq: 1 ")
        text.append(method)
        text.append("\r\nContact: <sip:ask@")
        text.append(local)
        text.append(">\r\nX-Gatewayd-Trace: path\r\nUser-Agent: gatewayd-ask/")
        text.append(Usage.version)
        text.append("\r\nContent-Length: 0\r\n\r\n")
    }

    /// The ACK for a final answer to the INVITE (RFC 3261 §17.1.1.3): the same Via branch,
    /// the answer's To with its tag.
    func ack(to: UnsafeRawBufferPointer) -> TextBuffer {
        var ack = TextBuffer()
        ack.append("ACK ")
        ack.append(requestURI)
        ack.append(" SIP/2.0\r\n")
        ack.append(via)
        ack.append("Max-Forwards: 70\r\n")
        ack.append(from)
        ack.append("To: ")
        ack.append(bytes: to)
        ack.append("\r\nCall-ID: ")
        ack.append(callID)
        ack.append("\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
        return ack
    }
}

/// What `gatewayd ask` makes of an answer: printed for people, and the exit status.
enum AskAnswer {
    /// Nil while the answer is not final or not to this request; otherwise the exit status.
    static func read(_ buffer: UnsafeRawBufferPointer, for request: AskRequest, socket: Int32, destination: [UInt8],
                     entry: Endpoint, took: Int64) -> Int32? {
        guard let line = SIPScanner.startLine(buffer), !line.isRequest,
              let message = try? SIPScanner.scan(buffer, startLine: line, framing: .datagram) else { return nil }
        let matches = request.callID.bytes.withUnsafeBytes { message.callID.slice(of: buffer).elementsEqual($0) }
            && request.branch.bytes.withUnsafeBytes { message.topViaBranch.slice(of: buffer).elementsEqual($0) }
        guard matches, message.statusCode >= 200 else { return nil }
        if request.isInvite {
            let ack = request.ack(to: message.to.slice(of: buffer))
            _ = ack.bytes.withUnsafeBytes { gw_udp_send(socket, $0.baseAddress, $0.count, destination, entry.port) }
        }
        var text = TextBuffer()
        let status: Int32
        if message.statusCode >= 300 && message.statusCode < 400 && !message.contact.isEmpty {
            text.append("assigned ")
            text.append(bytes: uri(in: message.contact.slice(of: buffer)))
            status = 0
        } else if message.statusCode == 503 {
            text.append("all busy, retry after ")
            text.append(max(message.retryAfter, 0))
            text.append(" s")
            status = 1
        } else {
            text.append("refused: ")
            text.append(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<line.headersStart]).trimmingLineEnd)
            status = 1
        }
        text.append(" (")
        text.append(message.statusCode)
        text.append(" from ")
        text.append(entry)
        text.append(" in ")
        text.append(fixed: Double(took) / 1e6, decimals: 1)
        text.append(" ms)\npath: ")
        if let path = header("x-gatewayd-path", message, buffer) {
            // "a, b, c" printed as "a -> b -> c".
            for byte in path {
                if byte == 0x2C { text.append(" ->") } else { text.append(byte: byte) }
            }
        } else {
            text.append("not reported (the member that answered does not add X-Gatewayd-Path)")
        }
        text.append("\n")
        Output.standardOutput(text)
        return status
    }

    /// The URI inside `<...>` of a Contact value, or the value.
    static func uri(in value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let open = value.firstIndex(of: 0x3C), let close = value[open...].firstIndex(of: 0x3E) else { return value }
        return UnsafeRawBufferPointer(rebasing: value[(open + 1)..<close])
    }

    static func header(_ name: StaticString, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var headers = HeaderLines(buffer, message)
        while let header = headers.next() {
            if headers.named(header, name) { return header.value.slice(of: buffer) }
        }
        return nil
    }
}

extension UnsafeRawBufferPointer {
    /// Without a trailing CR LF or LF.
    var trimmingLineEnd: UnsafeRawBufferPointer {
        var end = count
        while end > 0 && (self[end - 1] == 0x0A || self[end - 1] == 0x0D) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: self[0..<end])
    }
}
