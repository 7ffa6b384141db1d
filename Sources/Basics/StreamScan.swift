/// How far a reader got through a message it could not finish, so that the next chunk of
/// the flow (the same bytes and more) is read on from there instead of from its start: a
/// sender that trickles a message a byte at a time costs each byte once, not the whole held
/// message again (swift-nio's decoders keep `lastScanOffset` for the same reason). Offsets
/// are from the start of the bytes the reader left unconsumed. The reader fills it in; the
/// reassembler only keeps it with the flow and hands it back.
public struct StreamScan: Equatable, Sendable {
    /// Where the first line not yet read starts.
    public var lineStart = 0
    /// The Content-Length read so far.
    public var contentLength = 0
    /// Where the body starts once the headers have ended, or 0 while they go on.
    public var bodyStart = 0
    /// Whether a Content-Length header has been read (a server's framing needs one; the
    /// meter's takes none as 0).
    public var declaresLength = false

    public init() {}
}
