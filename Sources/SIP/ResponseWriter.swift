import Basics

/// Writes responses to a request into a buffer the caller keeps and reuses (RFC 3261 §8.2.6):
/// every Via line in order as it came, From, To (with a tag added when it has none), Call-ID
/// and CSeq with their values as they came, then what the response adds.
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
        guard message.linesNoted else {
            copyWalking(code, for: message, buffer, toTag: toTag, tagBuffer: tagBuffer, overload: overload, into: &out)
            return
        }
        // What the scanner noted: the Via lines, and the values of the others. Each is
        // written with its long name, in this order (RFC 3261 §7.3.1: order matters only
        // among headers of one name).
        var vias = HeaderLines(buffer, lines: message.viaLines)
        var topViaWritten = false
        while let header = vias.next() {
            guard vias.named(header, "via", compact: "v") else { continue }
            appendVia(header, top: !topViaWritten, message, buffer, overload: overload, into: &out)
            topViaWritten = true
        }
        out.append("From: ")
        out.append(bytes: message.from.slice(of: buffer))
        out.append("\r\nTo: ")
        out.append(bytes: message.to.slice(of: buffer))
        appendTag(code, message, toTag: toTag, tagBuffer: tagBuffer, into: &out)
        out.append("\r\nCall-ID: ")
        out.append(bytes: message.callID.slice(of: buffer))
        out.append("\r\nCSeq: ")
        out.append(UInt64(message.cseqNumber))
        out.append(" ")
        out.append(bytes: message.cseqMethodRange.slice(of: buffer))
        out.append("\r\n")
    }

    /// The same for a message whose lines were not noted (a request `SIPScanner.scan`
    /// refused, read with `headerSection`): its header lines copied as they are.
    static func copyWalking(_ code: Int, for message: SIPMessage, _ buffer: UnsafeRawBufferPointer, toTag: ByteRange?,
                            tagBuffer: UnsafeRawBufferPointer?, overload: OverloadControl.Report?, into out: inout TextBuffer) {
        var headers = HeaderLines(buffer, message)
        var topViaWritten = false
        while let header = headers.next() {
            if headers.named(header, "via", compact: "v") {
                appendVia(header, top: !topViaWritten, message, buffer, overload: overload, into: &out)
                topViaWritten = true
            } else if headers.named(header, "from", compact: "f") || headers.named(header, "call-id", compact: "i")
                || headers.named(header, "cseq") {
                out.append(bytes: header.line.slice(of: buffer))
                out.append("\r\n")
            } else if headers.named(header, "to", compact: "t") {
                out.append(bytes: header.line.slice(of: buffer))
                appendTag(code, message, toTag: toTag, tagBuffer: tagBuffer, into: &out)
                out.append("\r\n")
            }
        }
    }

    /// A Via line as it came; the top one with the overload figures when it offered control.
    static func appendVia(_ header: HeaderLines.Header, top: Bool, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer,
                          overload: OverloadControl.Report?, into out: inout TextBuffer) {
        let via = message.topVia
        if top, let overload, OverloadControl.isOffered(via, buffer), via.start >= header.line.start,
           via.end <= header.line.end {
            out.append(bytes: ByteRange(header.line.start, via.start).slice(of: buffer))
            OverloadControl.appendVia(via, buffer, overload, into: &out)
            out.append(bytes: ByteRange(via.end, header.line.end).slice(of: buffer))
        } else {
            out.append(bytes: header.line.slice(of: buffer))
        }
        out.append("\r\n")
    }

    /// `;tag=` and `toTag` when the request's To has no tag (none on 100 Trying).
    static func appendTag(_ code: Int, _ message: SIPMessage, toTag: ByteRange?, tagBuffer: UnsafeRawBufferPointer?,
                          into out: inout TextBuffer) {
        guard message.toTag.isEmpty, code != 100, let toTag, let tagBuffer else { return }
        out.append(";tag=")
        out.append(bytes: toTag.slice(of: tagBuffer))
    }

    /// The last headers and the empty line: no body.
    public static func end(into out: inout TextBuffer) {
        out.append("Server: gatewayd\r\nContent-Length: 0\r\n\r\n")
    }
}
