import Basics

/// The one writer of the OPTIONS requests gatewayd makes: the group's probes of its members
/// (Max-Forwards 0: the member answers itself), the steering agent's probes of the proxies
/// it assigned, and its asks to connect for analog and H.323 endpoints (Max-Forwards 70,
/// From and To the endpoint).
public enum OptionsRequest {
    /// Who a From or To header names.
    public enum Name {
        /// `<sip:user@host:port>`
        case user(StaticString, at: Endpoint)
        /// `<sip:host:port>`
        case host(Endpoint)
        /// `<uri>` as configured.
        case uri(UnsafeRawBufferPointer)
    }

    /// The Via's sent-by: an address, or a name where replies never go over the network.
    public enum SentBy {
        case endpoint(Endpoint)
        case host(StaticString)
    }

    /// `OPTIONS sip:target SIP/2.0` with Via, Max-Forwards, From with `fromTag`, To, Call-ID
    /// `callID@callIDHost`, CSeq and an empty body.
    public static func write(into out: inout TextBuffer, target: Endpoint, sentBy: SentBy, branch: UnsafeRawBufferPointer,
                             maxForwards: Int, from: Name, fromTag: UnsafeRawBufferPointer, to: Name,
                             callID: UnsafeRawBufferPointer, callIDHost: StaticString, cseq: UInt32) {
        out.append("OPTIONS sip:")
        out.append(target)
        out.append(" SIP/2.0\r\nVia: SIP/2.0/UDP ")
        switch sentBy {
        case .endpoint(let endpoint): out.append(endpoint)
        case .host(let host): out.append(host)
        }
        out.append(";branch=")
        out.append(bytes: branch)
        out.append("\r\nMax-Forwards: ")
        out.append(maxForwards)
        out.append("\r\nFrom: ")
        append(from, &out)
        out.append(";tag=")
        out.append(bytes: fromTag)
        out.append("\r\nTo: ")
        append(to, &out)
        out.append("\r\nCall-ID: ")
        out.append(bytes: callID)
        out.append("@")
        out.append(callIDHost)
        out.append("\r\nCSeq: ")
        out.append(UInt64(cseq))
        out.append(" OPTIONS\r\nContent-Length: 0\r\n\r\n")
    }

    static func append(_ name: Name, _ out: inout TextBuffer) {
        switch name {
        case .user(let user, let endpoint):
            out.append("<sip:")
            out.append(user)
            out.append("@")
            out.append(endpoint)
            out.append(">")
        case .host(let endpoint):
            out.append("<sip:")
            out.append(endpoint)
            out.append(">")
        case .uri(let uri):
            out.append("<")
            out.append(bytes: uri)
            out.append(">")
        }
    }
}
