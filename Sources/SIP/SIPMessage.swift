/// The first line of a SIP message.
public struct SIPStartLine: Equatable, Sendable {
    public var isRequest: Bool
    /// Requests: the method and its bytes (for methods gatewayd does not name).
    public var method: SIPMethod
    public var methodRange: ByteRange
    public var requestURI: ByteRange
    /// Responses: the status code (100...699) and reason phrase.
    public var statusCode: Int
    public var reason: ByteRange
    /// Where the header lines begin.
    public var headersStart: Int
}

/// What the meter and the node need from a SIP message, as ranges into the scanned bytes.
public struct SIPMessage: Equatable, Sendable {
    public var startLine: SIPStartLine
    public var callID = ByteRange.empty
    public var hasCSeq = false
    public var cseqNumber: UInt32 = 0
    public var cseqMethod = SIPMethod.other
    public var cseqMethodRange = ByteRange.empty
    public var from = ByteRange.empty
    public var fromTag = ByteRange.empty
    public var to = ByteRange.empty
    public var toTag = ByteRange.empty
    /// The top Via's value and its branch parameter; `viaCount` counts every Via value.
    public var topVia = ByteRange.empty
    public var topViaBranch = ByteRange.empty
    /// What else a proxy reads of the top Via's parameters, noted in the same walk: the first
    /// `rport` when it has no value (its name: RFC 3581 asks for the port to be written
    /// after it), whether `received` is there, whether `oc` offers overload control (RFC 7339).
    public var topViaBareRport = ByteRange.empty
    public var topViaHasReceived = false
    public var topViaOffersOverloadControl = false
    public var viaCount = 0
    public var contact = ByteRange.empty
    /// -1 when absent.
    public var maxForwards = -1
    public var contentLength = -1
    public var retryAfter = -1
    /// RFC 4028 Session-Expires in seconds (its delta-seconds); -1 when absent.
    public var sessionExpires = -1
    public var contentType = ByteRange.empty
    public var body = ByteRange.empty
    /// Header lines scanned (folded continuations not counted separately).
    public var headerCount = 0
    /// From the first Via (Route) header line to the end of the last one, or empty when
    /// there is none: readers of Vias and Routes walk these lines only. Set by `scan` (with
    /// `linesNoted`); a message made otherwise is walked whole.
    public var viaLines = ByteRange.empty
    public var routeLines = ByteRange.empty
    public var linesNoted = false
    /// Whether an `X-Gatewayd-Trace` header asks for the members' path (gatewayd's own
    /// header, noted by `scan` so that no answer walks the headers again for it).
    public var asksForHopPath = false
    /// Bytes from the start line to the end of the body.
    public var length = 0

    public init(startLine: SIPStartLine) { self.startLine = startLine }

    public var isRequest: Bool { startLine.isRequest }
    public var method: SIPMethod { startLine.method }
    public var statusCode: Int { startLine.statusCode }
}

/// Why a message that began like SIP was not taken.
public enum SIPDefect: Error, Equatable, Sendable {
    case missingCallID
    case missingCSeq
    case badCSeq
    case missingFrom
    case missingTo
    case missingVia
    case badContentLength
    /// Content-Length says the body runs past the bytes that arrived.
    case bodyPastEnd
    /// No empty line ends the headers.
    case unterminatedHeaders
    case badHeaderLine
    /// A request whose CSeq names another method (RFC 4475 mismatch01).
    case cseqMethodMismatch
    /// Call-ID, CSeq, From, To or Max-Forwards twice with different values (RFC 4475 multi01).
    case conflictingHeaders
    case badMaxForwards
}
