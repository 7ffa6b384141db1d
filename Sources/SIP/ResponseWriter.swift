import Basics

/// Writes responses to a request into a buffer the caller keeps and reuses (RFC 3261 §8.2.6):
/// every Via in order, From, To (with a tag added when it has none), Call-ID and CSeq copied
/// byte for byte from the request, then what the response adds.
public enum ResponseWriter {
    public static func reason(_ code: Int) -> StaticString {
        switch code {
        case 100: return "Trying"
        case 200: return "OK"
        case 302: return "Moved Temporarily"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 481: return "Call/Transaction Does Not Exist"
        case 482: return "Loop Detected"
        case 483: return "Too Many Hops"
        case 503: return "Service Unavailable"
        case 513: return "Message Too Large"
        default: return "Unknown"
        }
    }

    /// The status line and the headers copied from the request. `toTag` is added to To when
    /// the request's To has no tag (not for 100 Trying, RFC 3261 §8.2.6.2).
    /// With `overload`, a top Via that offered overload control carries its figures (RFC 7339).
    public static func begin(_ code: Int, for message: SIPMessage, _ buffer: UnsafeRawBufferPointer, toTag: ByteRange?,
                             tagBuffer: UnsafeRawBufferPointer? = nil, overload: OverloadControl.Report? = nil,
                             into out: inout TextBuffer) {
        out.removeAll()
        out.append("SIP/2.0 ")
        out.append(code)
        out.append(" ")
        out.append(reason(code))
        out.append("\r\n")
        var headers = HeaderLines(buffer, message)
        var topViaWritten = false
        while let header = headers.next() {
            if !topViaWritten && headers.named(header, "via", compact: "v") {
                topViaWritten = true
                let via = message.topVia
                if let overload, OverloadControl.isOffered(via, buffer), via.start >= header.line.start, via.end <= header.line.end {
                    out.append(bytes: ByteRange(header.line.start, via.start).slice(of: buffer))
                    OverloadControl.appendVia(via, buffer, overload, into: &out)
                    out.append(bytes: ByteRange(via.end, header.line.end).slice(of: buffer))
                } else {
                    out.append(bytes: header.line.slice(of: buffer))
                }
                out.append("\r\n")
            } else if headers.named(header, "via", compact: "v") || headers.named(header, "from", compact: "f")
                || headers.named(header, "call-id", compact: "i") || headers.named(header, "cseq") {
                out.append(bytes: header.line.slice(of: buffer))
                out.append("\r\n")
            } else if headers.named(header, "to", compact: "t") {
                out.append(bytes: header.line.slice(of: buffer))
                if message.toTag.isEmpty, code != 100, let toTag, let tagBuffer {
                    out.append(";tag=")
                    out.append(bytes: toTag.slice(of: tagBuffer))
                }
                out.append("\r\n")
            }
        }
    }

    /// The last headers and the empty line: no body.
    public static func end(into out: inout TextBuffer) {
        out.append("Server: gatewayd\r\nContent-Length: 0\r\n\r\n")
    }
}
