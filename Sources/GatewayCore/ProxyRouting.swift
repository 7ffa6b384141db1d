import Basics
import SIP

/// The first steps of RFC 3261 §16 for a request this element received, written as an
/// amended copy that everything after reads (responses copy its Via, forwarding copies its
/// headers):
/// - RFC 3581 §4 and RFC 3261 §18.2.1: the top Via gets `received` when its sent-by is not
///   the source address, and a valueless `rport` gets the source port (with `received`);
/// - §16.4: a top Route value that names this element is removed;
/// - §16.4, strict routing upstream: a Request-URI that is this element's own Record-Route
///   URI (no user part, `lr`) is replaced by the last Route value, which is removed.
public enum ProxyPreparation {
    public struct Outcome: Equatable, Sendable {
        /// `out` holds the amended request (else it is untouched and the request stands as it came).
        public var rewritten = false
        /// The top Route named this element and was one it inserted (`RequestForwarder.StayInPath`): the
        /// request comes back along a Path or a Record-Route (an incoming call to a phone).
        public var insertedRoute = false
    }

    /// Writes the amended request into `out` when it needs a change. `isSelf` says whether
    /// an address is this element's.
    public static func prepare(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, source: Endpoint,
                               isSelf: (Endpoint) -> Bool, into out: inout TextBuffer) -> Outcome {
        let via = viaAmendment(message, buffer, source: source)
        let routes = routeAmendment(message, buffer, isSelf: isSelf)
        var outcome = Outcome(rewritten: false, insertedRoute: routes.inserted)
        guard via.needed || routes.dropFirst || routes.strictTarget != nil else { return outcome }
        outcome.rewritten = true
        out.removeAll()
        let line = message.startLine
        if let target = routes.strictTarget {
            out.append(bytes: ByteRange(0, line.requestURI.start).slice(of: buffer))
            out.append(bytes: target.slice(of: buffer))
            out.append(bytes: ByteRange(line.requestURI.end, line.headersStart).slice(of: buffer))
        } else {
            out.append(bytes: ByteRange(0, line.headersStart).slice(of: buffer))
        }
        var routeIndex = 0
        var headers = HeaderLines(buffer, message)
        while let header = headers.next() {
            // The line that holds the scanner's top Via (not simply the first Via line: a
            // malformed first one may have been passed over).
            if via.needed && header.line.start <= via.value.start && via.value.end <= header.line.end {
                writeVia(header, via, source: source, buffer, into: &out)
            } else if (routes.dropFirst || routes.strictTarget != nil) && headers.named(header, "route") {
                var values = HeaderValues.commaSeparated(buffer, header.value)
                var first = true
                while let value = values.next() {
                    defer { routeIndex += 1 }
                    if routes.dropFirst && routeIndex == 0 { continue }
                    if routes.strictTarget != nil && routeIndex == routes.count - 1 { continue }
                    out.append(first ? "Route: " : ", ")
                    out.append(bytes: value.slice(of: buffer))
                    first = false
                }
                if !first { out.append("\r\n") }
                continue
            } else {
                out.append(bytes: header.line.slice(of: buffer))
            }
            out.append("\r\n")
        }
        out.append("\r\n")
        out.append(bytes: message.body.slice(of: buffer))
        return outcome
    }

    struct ViaAmendment {
        var needed = false
        /// The top Via value.
        var value = ByteRange.empty
        /// `rport` without a value: its name, to write `=port` after.
        var rportName: ByteRange?
        var addReceived = false
    }

    static func viaAmendment(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, source: Endpoint) -> ViaAmendment {
        var amendment = ViaAmendment()
        amendment.value = message.topVia
        guard !message.topVia.isEmpty, source.address != .unspecified else { return amendment }
        let sentBy = ViaValues.sentBy(buffer, message.topVia)
        let sameHost = sentBy.flatMap { IPAddress(text: $0.host.slice(of: buffer)) } == source.address
        if !message.topViaBareRport.isEmpty { amendment.rportName = message.topViaBareRport }
        amendment.addReceived = !message.topViaHasReceived && (!sameHost || amendment.rportName != nil)
        amendment.needed = amendment.addReceived || amendment.rportName != nil
        return amendment
    }

    /// The Via header line holding the top Via value, that value amended, the rest as it was.
    static func writeVia(_ header: HeaderLines.Header, _ via: ViaAmendment, source: Endpoint,
                         _ buffer: UnsafeRawBufferPointer, into out: inout TextBuffer) {
        var cursor = header.line.start
        if let rport = via.rportName {
            out.append(bytes: ByteRange(cursor, rport.end).slice(of: buffer))
            out.append("=")
            out.append(Int(source.port))
            cursor = rport.end
        }
        out.append(bytes: ByteRange(cursor, via.value.end).slice(of: buffer))
        if via.addReceived {
            out.append(";received=")
            out.append(source.address)
        }
        out.append(bytes: ByteRange(via.value.end, header.line.end).slice(of: buffer))
    }

    struct RouteAmendment {
        var count = 0
        var dropFirst = false
        /// The dropped Route carries the mark of one this element inserted.
        var inserted = false
        /// The last Route value's URI, to become the Request-URI (strict routing upstream).
        var strictTarget: ByteRange?
    }

    static func routeAmendment(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer,
                               isSelf: (Endpoint) -> Bool) -> RouteAmendment {
        var amendment = RouteAmendment()
        var values = HeaderValues.routes(buffer, message)
        var last = ByteRange.empty
        while let value = values.next() {
            if amendment.count == 0, let uri = SIPURI(nameAddress: value, in: buffer),
               let endpoint = uri.endpoint(in: buffer), isSelf(endpoint) {
                amendment.dropFirst = true
                amendment.inserted = RequestForwarder.isInserted(uri, buffer)
            }
            last = value
            amendment.count += 1
        }
        guard amendment.count > 0, let target = SIPURI(buffer, message.startLine.requestURI),
              target.user.isEmpty, SIPScanner.hasParameter("lr", in: target.parameters, buffer),
              let endpoint = target.endpoint(in: buffer), isSelf(endpoint),
              !(amendment.dropFirst && amendment.count == 1),
              let lastURI = SIPURI(nameAddress: last, in: buffer) else { return amendment }
        amendment.strictTarget = ByteRange(lastURI.scheme.start, lastURI.headers.end)
        amendment.inserted = RequestForwarder.isInserted(target, buffer)
        return amendment
    }
}

/// Where a prepared request goes next when it is not a request to connect (§16.5, §16.6
/// step 6): the top Route's URI when there is one (loose routing; a Route URI without `lr`
/// is a strict router), else the Request-URI.
public struct NextHop: Sendable {
    public var uri: SIPURI
    /// The URI's address; nil when its host is a name (the node has no resolver).
    public var address: Endpoint?
    public var fromRoute: Bool
    /// The next hop is a strict router (a Route URI without `lr`): the request goes to it
    /// rewritten as §16.6 step 7 says (`RequestForwarder.write(strictNextHop:)`).
    public var strict: Bool

    public init?(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) {
        var routes = HeaderValues.routes(buffer, message)
        if let top = routes.next() {
            guard let uri = SIPURI(nameAddress: top, in: buffer) else { return nil }
            self.uri = uri
            fromRoute = true
            strict = !SIPScanner.hasParameter("lr", in: uri.parameters, buffer)
        } else {
            guard let uri = SIPURI(buffer, message.startLine.requestURI) else { return nil }
            self.uri = uri
            fromRoute = false
            strict = false
        }
        address = uri.endpoint(in: buffer)
    }
}
