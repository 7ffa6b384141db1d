import Basics
import Capture
import SIP

/// SIP messages by kind. Every message with a valid start line is counted here, as
/// `tshark -z sip,stat` counts them, retransmissions included.
public final class SIPCounters {
    let requests = FixedArray<Int>(repeating: 0, count: SIPMethod.other.rawValue.asInt + 1)
    /// Index = status code - 100, for 100...699.
    let responses = FixedArray<Int>(repeating: 0, count: 600)
    /// Began like SIP but could not be taken (see `SIPDefect`); counted, then skipped.
    public internal(set) var malformed = 0
    /// CRLF keep-alives (RFC 5626).
    public internal(set) var keepalives = 0
    /// Bytes skipped in TCP streams to find the next message after a gap.
    public internal(set) var streamBytesSkipped = 0

    init() {}

    public func requests(_ method: SIPMethod) -> Int { requests[method.rawValue.asInt] }

    public func responses(_ code: Int) -> Int { code >= 100 && code <= 699 ? responses[code - 100] : 0 }

    public var totalRequests: Int {
        var total = 0
        for i in 0..<requests.count { total += requests[i] }
        return total
    }

    public var totalResponses: Int {
        var total = 0
        for i in 0..<responses.count { total += responses[i] }
        return total
    }

    func count(_ line: SIPStartLine) {
        if line.isRequest {
            requests[line.method.rawValue.asInt] += 1
        } else {
            responses[line.statusCode - 100] += 1
        }
    }
}

extension UInt8 {
    var asInt: Int { Int(self) }
}
