import Basics
import SIP

/// A proxy the group assigned to an endpoint, read from a 302's Contact (DESIGN §5): the
/// URI as written, its host, port and transport, and how long it holds. Made when an answer
/// arrives (rare), so it owns its bytes.
public struct Assignment: Equatable, Sendable {
    /// The URI inside the Contact's angle brackets, e.g. `sip:127.0.0.2:5060;transport=udp`.
    public var proxy: [UInt8]
    /// The host as written, without IPv6 brackets.
    public var host: [UInt8]
    /// 5060 when the URI names none (5061 for sips).
    public var port: Int
    /// `udp` unless the URI says otherwise (lower case).
    public var transport: [UInt8]
    public var expiresSeconds: Int
    /// The host and port as an address, when the host is an IP literal: what probes go to.
    public var address: Endpoint?

    public init(proxy: [UInt8], host: [UInt8], port: Int, transport: [UInt8], expiresSeconds: Int, address: Endpoint?) {
        self.proxy = proxy
        self.host = host
        self.port = port
        self.transport = transport
        self.expiresSeconds = expiresSeconds
        self.address = address
    }

    /// From a 302's first Contact: `<URI>;expires=N` or a bare URI. `defaultExpires` when it
    /// names no expiry. Nil when there is no Contact or its URI is not sip:/sips:.
    public init?(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, defaultExpires: Int) {
        guard let contact = Contact.first(message, buffer) else { return nil }
        let expires = ASCII.decimal(buffer, SIPScanner.parameter("expires", in: contact.parameters, buffer), limit: 86_400 * 365)
        self.init(uri: contact.uri, buffer, expiresSeconds: expires ?? defaultExpires)
    }

    /// The proxy a URI names: `proxy` is the URI without its user part and with only its
    /// transport parameter (`sip:bob@10.0.0.2:5060;transport=udp;x=y` names the proxy
    /// `sip:10.0.0.2:5060;transport=udp`): where to connect, not whom to call.
    public init?(uri: SIPURI, _ buffer: UnsafeRawBufferPointer, expiresSeconds: Int) {
        guard let parts = HostPort.split(buffer, uri.hostPort) else { return nil }
        let secure = ASCII.equals(buffer, uri.scheme, "sips")
        var text = TextBuffer(capacity: 64)
        text.append(bytes: uri.scheme.slice(of: buffer))
        text.append(":")
        text.append(bytes: uri.hostPort.slice(of: buffer))
        let transportValue = SIPScanner.parameter("transport", in: uri.parameters, buffer)
        if !transportValue.isEmpty {
            text.append(";transport=")
            text.append(bytes: transportValue.slice(of: buffer))
        }
        proxy = text.bytes
        host = Array(parts.host.slice(of: buffer))
        port = parts.port > 0 ? parts.port : secure ? 5061 : 5060
        transport = transportValue.isEmpty ? Array((secure ? "tls" : "udp").utf8)
            : transportValue.slice(of: buffer).map { ASCII.lower($0) }
        self.expiresSeconds = expiresSeconds
        address = uri.endpoint(in: buffer)
    }
}

/// The first Contact of a message, split into its URI and the header's parameters.
public enum Contact {
    public static func first(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) -> (uri: SIPURI, parameters: ByteRange)? {
        guard !message.contact.isEmpty else { return nil }
        var values = HeaderValues.commaSeparated(buffer, message.contact)
        guard let contact = values.next() else { return nil }
        let uriRange: ByteRange
        let parameters: ByteRange
        if let open = ASCII.find(0x3C, in: buffer, contact), let close = ASCII.find(0x3E, in: buffer, ByteRange(open, contact.end)) {
            uriRange = ByteRange(open + 1, close)
            parameters = ByteRange(close + 1, contact.end)
        } else {
            // Without brackets, parameters belong to the header (RFC 3261 §20.10).
            let semicolon = ASCII.find(ASCII.semicolon, in: buffer, contact) ?? contact.end
            uriRange = ByteRange(contact.start, semicolon)
            parameters = ByteRange(semicolon, contact.end)
        }
        guard let uri = SIPURI(buffer, uriRange) else { return nil }
        return (uri, parameters)
    }
}

/// An address of record as endpoints are matched by: `user@host` of a From or To URI,
/// compared without case (hosts are case-insensitive; phones vary in the user's case too).
public enum AddressOfRecord {
    /// `user@host` (or `host`) of the URI in a name-addr or addr-spec header value.
    public static func key(_ buffer: UnsafeRawBufferPointer, header range: ByteRange) -> ByteRange? {
        var uriRange = ASCII.trim(buffer, range)
        if let open = ASCII.find(0x3C, in: buffer, uriRange), let close = ASCII.find(0x3E, in: buffer, ByteRange(open, uriRange.end)) {
            uriRange = ByteRange(open + 1, close)
        } else if let semicolon = ASCII.find(ASCII.semicolon, in: buffer, uriRange) {
            uriRange = ByteRange(uriRange.start, semicolon)
        }
        guard let colon = ASCII.find(ASCII.colon, in: buffer, uriRange) else { return nil }
        var end = colon + 1
        var inBrackets = false
        // Up to the URI's parameters, headers or port.
        var hostStart = colon + 1
        while end < uriRange.end {
            let byte = buffer[end]
            if byte == 0x40 { hostStart = end + 1 }
            if byte == 0x5B { inBrackets = true }
            if byte == 0x5D { inBrackets = false }
            if byte == ASCII.semicolon || byte == 0x3F || (byte == ASCII.colon && !inBrackets && end >= hostStart) { break }
            end += 1
        }
        let key = ByteRange(colon + 1, end)
        return key.isEmpty ? nil : key
    }

    /// Whether `key` of `buffer` is the same address of record as `stored`.
    public static func matches(_ buffer: UnsafeRawBufferPointer, _ key: ByteRange, _ stored: [UInt8]) -> Bool {
        guard key.count == stored.count else { return false }
        for i in 0..<stored.count where ASCII.lower(buffer[key.start + i]) != ASCII.lower(stored[i]) { return false }
        return true
    }

    /// The key of a configured identity (`sip:alice@example.com`, `<sip:...>`), as bytes.
    public static func key(of identity: [UInt8]) -> [UInt8]? {
        identity.withUnsafeBytes { buffer in
            key(buffer, header: ByteRange(0, buffer.count)).map { Array($0.slice(of: buffer)) }
        }
    }
}
