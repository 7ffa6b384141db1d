import Basics

/// Builds the copy of a request that goes to the next hop (RFC 3261 §16.6): this element's
/// Via on top with a fresh branch, Max-Forwards one lower (added as 69 when absent, as
/// §16.6 step 3 says for 70), everything else byte for byte; the Request-URI too, unless
/// the request is retargeted (step 2: recursion on a 302 sends it to the Contact's URI).
public enum RequestForwarder {
    /// What the forwarding element adds to stay in the path of later requests (§16.6 step 4,
    /// RFC 3327): a Record-Route or a Path with its own loose-routing URI.
    public enum StayInPath {
        case none
        case recordRoute
        case path
    }

    /// The URI parameter that marks a Path or Record-Route as this element's own, so a
    /// request that comes back along it is told from one a phone routed here itself.
    public static var insertedMark: StaticString { "gatewayd" }

    /// Whether `uri` (a Route's, or a Request-URI a strict router put there) carries the mark.
    public static func isInserted(_ uri: SIPURI, _ buffer: UnsafeRawBufferPointer) -> Bool {
        SIPScanner.hasParameter(insertedMark, in: uri.parameters, buffer)
    }

    /// `branch` must start with the magic cookie `z9hG4bK` and carry at least 64 random bits.
    /// `strictNextHop`: the top Route is a strict router (no `lr`, §16.6 step 7), so its URI
    /// becomes the Request-URI and the Request-URI goes last in Route.
    public static func write(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, via sentBy: Endpoint,
                             over transport: Transport = .udp,
                             branch: UnsafeRawBufferPointer, requestURI: UnsafeRawBufferPointer? = nil,
                             stayInPath: StayInPath = .none, strictNextHop: Bool = false,
                             offerOverloadControl: Bool = false, into out: inout TextBuffer) {
        out.removeAll()
        var routes = HeaderValues.routes(buffer, message)
        let strictRouter = strictNextHop ? routes.next().flatMap { SIPURI(nameAddress: $0, in: buffer) } : nil
        if let strictRouter {
            let line = message.startLine
            out.append(bytes: ByteRange(0, line.requestURI.start).slice(of: buffer))
            out.append(bytes: ByteRange(strictRouter.scheme.start, strictRouter.headers.end).slice(of: buffer))
            out.append(bytes: ByteRange(line.requestURI.end, line.headersStart).slice(of: buffer))
        } else if let requestURI {
            let line = message.startLine
            out.append(bytes: ByteRange(0, line.requestURI.start).slice(of: buffer))
            out.append(bytes: requestURI)
            out.append(bytes: ByteRange(line.requestURI.end, line.headersStart).slice(of: buffer))
        } else {
            // The request line as it was.
            out.append(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<message.startLine.headersStart]))
        }
        out.append("Via: SIP/2.0/")
        out.append(transport.viaName)
        out.append(" ")
        out.append(sentBy)
        out.append(";branch=")
        out.append(bytes: branch)
        // To members: RFC 7339 overload control offered, so their answers say how busy they are.
        if offerOverloadControl { out.append(";oc") }
        out.append("\r\n")
        switch stayInPath {
        case .none:
            break
        case .recordRoute, .path:
            out.append(stayInPath == .path ? "Path: <sip:" : "Record-Route: <sip:")
            out.append(sentBy)
            out.append(";lr;")
            out.append(insertedMark)
            out.append(">\r\n")
        }
        if strictRouter != nil {
            // The Route values after the strict router's, then the Request-URI, in one header.
            out.append("Route: ")
            while let value = routes.next() {
                out.append(bytes: value.slice(of: buffer))
                out.append(", ")
            }
            out.append("<")
            out.append(bytes: message.startLine.requestURI.slice(of: buffer))
            out.append(">\r\n")
        }
        var sawMaxForwards = false
        var headers = HeaderLines(buffer, message)
        while let header = headers.next() {
            if strictRouter != nil && headers.named(header, "route") { continue }
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
    /// With `overload`, the next Via (the one the answer goes to), if it offered overload
    /// control, carries this node's figures (RFC 7339: each hop reports to the one before it).
    public static func relay(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, ownBranch: UnsafeRawBufferPointer,
                             overload: OverloadControl.Report? = nil, into out: inout TextBuffer) -> Bool {
        guard message.topViaBranch.count == ownBranch.count else { return false }
        for i in 0..<ownBranch.count where buffer[message.topViaBranch.start + i] != ownBranch[i] { return false }
        out.removeAll()
        out.append(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<message.startLine.headersStart]))
        var droppedTop = false
        var nextViaWritten = false
        var headers = HeaderLines(buffer, message)
        // The Via the answer goes to next: with its overload figures when it offered them.
        func appendNextVia(_ value: ByteRange) {
            nextViaWritten = true
            if let overload, OverloadControl.isOffered(value, buffer) {
                OverloadControl.appendVia(value, buffer, overload, into: &out)
            } else {
                out.append(bytes: value.slice(of: buffer))
            }
        }
        while let header = headers.next() {
            if headers.named(header, "via", compact: "v") && (!droppedTop || (!nextViaWritten && overload != nil)) {
                // A Via header may carry several values: ours is the very first.
                var values = ViaValues.commaSeparated(buffer, header.value)
                if !droppedTop {
                    droppedTop = true
                    _ = values.next()
                } else {
                    // The next Via starts this line: the line stays as it was unless it offered oc.
                    var peek = ViaValues.commaSeparated(buffer, header.value)
                    if let next = peek.next(), !OverloadControl.isOffered(next, buffer) {
                        nextViaWritten = true
                        out.append(bytes: header.line.slice(of: buffer))
                        out.append("\r\n")
                        continue
                    }
                }
                var first = true
                while let value = values.next() {
                    out.append(first ? "Via: " : ", ")
                    if nextViaWritten { out.append(bytes: value.slice(of: buffer)) } else { appendNextVia(value) }
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
