import SIP

/// MGCP (RFC 3435) as far as the meter needs it: gateways controlled by a call agent carry
/// their SDP in MGCP commands (CRCX, MDCX) and responses, not in SIP. The media those bodies
/// announce is measured like SIP-announced media, with no call to tie it to.
enum MGCP {
    /// The well-known ports: 2427 for gateways, 2727 for call agents.
    static func isMGCPPort(_ port: UInt16) -> Bool { port == 2427 || port == 2727 }

    /// The SDP body of an MGCP message, or nil when there is none or this is not MGCP.
    static func sdpBody(_ buffer: UnsafeRawBufferPointer) -> ByteRange? {
        guard buffer.count >= 8 else { return nil }
        // "VERB transaction-id endpoint MGCP 1.0" or "code transaction-id [comment]".
        var i = 0
        if ASCII.isDigit(buffer[0]) {
            while i < 3 && ASCII.isDigit(buffer[i]) { i += 1 }
            guard i == 3 else { return nil }
        } else {
            while i < 4 && buffer[i] >= 0x41 && buffer[i] <= 0x5A { i += 1 }
            guard i == 4 else { return nil }
        }
        guard buffer[i] == ASCII.space, ASCII.isDigit(buffer[i + 1]) else { return nil }
        // The body follows the first empty line.
        var lineStart = 0
        while true {
            let lineEnd = ASCII.lineEnd(buffer, from: lineStart, to: buffer.count)
            guard lineEnd < buffer.count else { break }
            if ASCII.contentEnd(buffer, lineStart: lineStart, lineEnd: lineEnd) == lineStart && lineStart > 0 {
                let body = ByteRange(lineEnd + 1, buffer.count)
                return ASCII.hasPrefix(buffer, body, "v=0") ? body : nil
            }
            lineStart = lineEnd + 1
        }
        return nil
    }
}
