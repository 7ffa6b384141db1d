import Basics

/// The parts of a SIP or SIPS URI (RFC 3261 §19.1), as ranges.
public struct SIPURI: Sendable {
    public var scheme: ByteRange
    /// userinfo without the '@'; empty when the URI has none.
    public var user: ByteRange
    public var hostPort: ByteRange
    /// `;param=value;...` including the first ';', or empty.
    public var parameters: ByteRange
    /// `?header=value&...` including the '?', or empty.
    public var headers: ByteRange

    /// Parses `range` of `buffer`; nil when it is not a sip: or sips: URI.
    public init?(_ buffer: UnsafeRawBufferPointer, _ range: ByteRange) {
        guard let colon = ASCII.find(ASCII.colon, in: buffer, range) else { return nil }
        scheme = ByteRange(range.start, colon)
        guard ASCII.equals(buffer, scheme, "sip") || ASCII.equals(buffer, scheme, "sips") else { return nil }
        let rest = ByteRange(colon + 1, range.end)
        // userinfo ends at the last '@' before any ';' '?' of the host part.
        var at = -1
        var i = rest.start
        while i < rest.end {
            if buffer[i] == 0x40 { at = i }
            i += 1
        }
        let hostStart = at >= 0 ? at + 1 : rest.start
        user = at >= 0 ? ByteRange(rest.start, at) : .empty
        var hostEnd = hostStart
        var inBrackets = false
        while hostEnd < rest.end {
            let byte = buffer[hostEnd]
            if byte == 0x5B { inBrackets = true }
            if byte == 0x5D { inBrackets = false }
            if !inBrackets && (byte == ASCII.semicolon || byte == 0x3F) { break }
            hostEnd += 1
        }
        hostPort = ByteRange(hostStart, hostEnd)
        guard !hostPort.isEmpty else { return nil }
        let question = ASCII.find(0x3F, in: buffer, ByteRange(hostEnd, rest.end)) ?? rest.end
        parameters = ByteRange(hostEnd, question)
        headers = ByteRange(question, rest.end)
    }

    /// Writes the Request-URI retargeted to `identity` (DESIGN §3): scheme, user part and
    /// URI parameters of the request kept, host and port taken from the identity, and the
    /// transport parameter replaced by the identity's (or dropped when it has none).
    public static func retarget(_ request: SIPURI, in requestBuffer: UnsafeRawBufferPointer, to identity: SIPURI,
                                in identityBuffer: UnsafeRawBufferPointer, into out: inout TextBuffer) {
        out.append(bytes: request.scheme.slice(of: requestBuffer))
        out.append(":")
        if !request.user.isEmpty {
            out.append(bytes: request.user.slice(of: requestBuffer))
            out.append("@")
        }
        out.append(bytes: identity.hostPort.slice(of: identityBuffer))
        appendParameters(request.parameters, requestBuffer, skippingTransport: true, into: &out)
        appendTransport(of: identity.parameters, identityBuffer, into: &out)
    }

    private static func appendParameters(_ range: ByteRange, _ buffer: UnsafeRawBufferPointer, skippingTransport: Bool,
                                         into out: inout TextBuffer) {
        var start = range.start
        while start < range.end {
            var end = start + 1
            while end < range.end && buffer[end] != ASCII.semicolon { end += 1 }
            let parameter = ByteRange(start + 1, end)  // after the ';'
            if !(skippingTransport && ASCII.hasPrefix(buffer, parameter, "transport=")) && !parameter.isEmpty {
                out.append(bytes: ByteRange(start, end).slice(of: buffer))
            }
            start = end
        }
    }

    private static func appendTransport(of range: ByteRange, _ buffer: UnsafeRawBufferPointer, into out: inout TextBuffer) {
        var start = range.start
        while start < range.end {
            var end = start + 1
            while end < range.end && buffer[end] != ASCII.semicolon { end += 1 }
            if ASCII.hasPrefix(buffer, ByteRange(start + 1, end), "transport=") {
                out.append(bytes: ByteRange(start, end).slice(of: buffer))
            }
            start = end
        }
    }
}

/// Where a URI points when its host is an IP literal: what the node and the agent can send
/// to without a resolver. Port 5060 when the URI names none (5061 over TLS).
extension SIPURI {
    public func endpoint(in buffer: UnsafeRawBufferPointer) -> Endpoint? {
        guard let parts = HostPort.split(buffer, hostPort),
              let address = IPAddress(text: parts.host.slice(of: buffer)) else { return nil }
        return Endpoint(address: address, port: UInt16(parts.port > 0 ? parts.port : transport(in: buffer) == .tls ? 5061 : 5060))
    }

    /// The transport a request to this URI goes over (RFC 3263 §4.1 with an IP literal, so
    /// no lookup): TLS for `sips:` or `transport=tls`, TCP for `transport=tcp`, else UDP.
    public func transport(in buffer: UnsafeRawBufferPointer) -> Transport {
        if ASCII.equals(buffer, scheme, "sips") { return .tls }
        let name = SIPScanner.parameter("transport", in: parameters, buffer)
        if ASCII.equals(buffer, name, "tls") { return .tls }
        return ASCII.equals(buffer, name, "tcp") ? .tcp : .udp
    }

    /// The URI of a name-addr (`"Name" <sip:...>;params`) or a bare addr-spec.
    public init?(nameAddress value: ByteRange, in buffer: UnsafeRawBufferPointer) {
        var uri = ASCII.trim(buffer, value)
        var i = uri.start
        var inQuotes = false
        while i < uri.end {
            let byte = buffer[i]
            if byte == ASCII.quote { inQuotes.toggle() }
            if !inQuotes && byte == 0x3C {
                guard let close = ASCII.find(0x3E, in: buffer, ByteRange(i, uri.end)) else { return nil }
                uri = ByteRange(i + 1, close)
                break
            }
            i += 1
        }
        self.init(buffer, uri)
    }
}
