import Capture
import LoadMeter

/// Builds the copy of a request that goes to the next member (RFC 3261 §16.6): this node's
/// Via on top with a fresh branch, Max-Forwards one lower (added as 69 when absent, as
/// §16.6 step 3 says for 70), everything else (Request-URI included) byte for byte.
public enum RequestForwarder {
    /// `branch` must start with the magic cookie `z9hG4bK` and carry at least 64 random bits.
    public static func write(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, via sentBy: Endpoint,
                             branch: UnsafeRawBufferPointer, into out: inout TextBuffer) {
        out.removeAll()
        // The request line as it was.
        out.append(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<message.startLine.headersStart]))
        out.append("Via: SIP/2.0/UDP ")
        out.append(sentBy)
        out.append(";branch=")
        out.append(bytes: branch)
        out.append("\r\n")
        var sawMaxForwards = false
        var headers = HeaderLines(buffer, message)
        while let header = headers.next() {
            if headers.named(header, "max-forwards") {
                sawMaxForwards = true
                out.append("Max-Forwards: ")
                out.append(max(message.maxForwards - 1, 0))
                out.append("\r\n")
            } else {
                out.append(bytes: header.line.slice(of: buffer))
                out.append("\r\n")
            }
        }
        if !sawMaxForwards { out.append("Max-Forwards: 69\r\n") }
        out.append("\r\n")
        out.append(bytes: message.body.slice(of: buffer))
    }

    /// A response on its way back: the top Via (this node's) removed, the rest unchanged.
    /// Returns false when the top Via is not this node's (`branch` of the client transaction).
    public static func relay(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, ownBranch: UnsafeRawBufferPointer,
                             into out: inout TextBuffer) -> Bool {
        guard message.topViaBranch.count == ownBranch.count else { return false }
        for i in 0..<ownBranch.count where buffer[message.topViaBranch.start + i] != ownBranch[i] { return false }
        out.removeAll()
        out.append(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<message.startLine.headersStart]))
        var droppedTop = false
        var headers = HeaderLines(buffer, message)
        while let header = headers.next() {
            if !droppedTop && headers.named(header, "via", compact: "v") {
                droppedTop = true
                // A Via header may carry several values: keep those after the first.
                var values = ViaValues.commaSeparated(buffer, header.value)
                _ = values.next()
                var first = true
                while let value = values.next() {
                    out.append(first ? "Via: " : ", ")
                    out.append(bytes: value.slice(of: buffer))
                    first = false
                }
                if !first { out.append("\r\n") }
                continue
            }
            out.append(bytes: header.line.slice(of: buffer))
            out.append("\r\n")
        }
        out.append("\r\n")
        out.append(bytes: message.body.slice(of: buffer))
        return true
    }
}
