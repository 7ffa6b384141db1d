// libFuzzer target: the SIP scanner, the SDP scanner, multipart bodies and MGCP bodies on one
// buffer (a UDP payload or a piece of a TCP stream).
//
// Every range the scanners hand out is checked against the buffer and read byte by byte:
// the input is libFuzzer's exactly sized heap copy, so a range past its end is an ASan
// heap-buffer-overflow even in an optimised build, and an inconsistent range traps here.
//
// `@testable import` reaches two internal helpers (MultipartParts, MGCP.sdpBody); it needs
// LoadMeter compiled with -enable-testing, which Fuzz/run.sh does.
import Basics
import Capture
@testable import LoadMeter
import SIP

let sdp = SDPDescription()
nonisolated(unsafe) var sink: UInt64 = 0

/// Reads every byte of `range`, after checking it lies inside `buffer`.
@inline(never)
func touch(_ range: ByteRange, _ buffer: UnsafeRawBufferPointer, _ what: String) {
    guard !range.isEmpty else { return }
    precondition(range.start >= 0 && range.end <= buffer.count, "\(what) \(range.start)..<\(range.end) outside a buffer of \(buffer.count)")
    var sum: UInt64 = 0
    for byte in range.slice(of: buffer) { sum &+= UInt64(byte) }
    sink &+= sum
}

func touch(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) {
    touch(message.startLine.methodRange, buffer, "methodRange")
    touch(message.startLine.requestURI, buffer, "requestURI")
    touch(message.startLine.reason, buffer, "reason")
    touch(message.callID, buffer, "callID")
    touch(message.from, buffer, "from")
    touch(message.fromTag, buffer, "fromTag")
    touch(message.to, buffer, "to")
    touch(message.toTag, buffer, "toTag")
    touch(message.topVia, buffer, "topVia")
    touch(message.topViaBranch, buffer, "topViaBranch")
    touch(message.contact, buffer, "contact")
    touch(message.contentType, buffer, "contentType")
    touch(message.body, buffer, "body")
    precondition(message.length >= 0 && message.length <= buffer.count, "message length past the buffer")
    precondition(message.body.isEmpty || message.body.end <= message.length, "body past the message")
    _ = message.method.name
    _ = message.cseqMethod.name
}

/// Scans `body` as SDP and reads back every medium and format it reports.
func scanSDP(_ buffer: UnsafeRawBufferPointer, body: ByteRange) {
    sdp.scan(buffer, body: body)
    precondition(sdp.mediaCount >= 0 && sdp.mediaCount <= SDPDescription.maxMedia, "SDP mediaCount out of range")
    precondition(sdp.formatCount >= 0 && sdp.formatCount <= SDPDescription.maxFormats, "SDP formatCount out of range")
    for i in 0..<sdp.mediaCount {
        let medium = sdp.medium(i)
        sink &+= UInt64(medium.port) &+ UInt64(medium.rtcpPort) &+ medium.address.hash
        for j in 0..<medium.formatCount {
            let format = sdp.format(medium.firstFormat + j)
            sink &+= UInt64(format.payloadType) &+ UInt64(format.format.clockRate)
        }
    }
    for i in 0..<sdp.formatCount { sink &+= UInt64(sdp.format(i).payloadType) }
}

/// SDP in a message body: directly, or in the parts of a multipart body.
func scanBodies(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) {
    guard !message.body.isEmpty else { return }
    if ASCII.hasPrefix(buffer, message.contentType, "multipart/") {
        var parts = MultipartParts(buffer, contentType: message.contentType, body: message.body)
        var count = 0
        while let part = parts.next() {
            touch(part.contentType, buffer, "part contentType")
            touch(part.body, buffer, "part body")
            precondition(part.body.isEmpty || (part.body.start >= message.body.start && part.body.end <= message.body.end),
                         "multipart part outside the body")
            scanSDP(buffer, body: part.body)
            count += 1
            precondition(count <= buffer.count, "multipart parts do not end")
        }
    } else {
        scanSDP(buffer, body: message.body)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)

    if let line = SIPScanner.startLine(buffer) {
        precondition(line.headersStart > 0 && line.headersStart <= buffer.count, "headersStart past the buffer")
        touch(line.methodRange, buffer, "methodRange")
        touch(line.requestURI, buffer, "requestURI")
        touch(line.reason, buffer, "reason")
        for framing in [SIPScanner.Framing.datagram, .stream] {
            if let message = try? SIPScanner.scan(buffer, startLine: line, framing: framing) {
                touch(message, buffer)
                scanBodies(message, buffer)
            }
        }
        switch SIPScanner.frameLength(buffer) {
        case .complete(let length):
            precondition(length > 0 && length <= buffer.count, "frameLength past the buffer")
            // What a TCP reader does next: scan exactly that frame, from an exactly sized copy
            // so that ASan sees a read past the frame.
            let copy = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 1)
            defer { copy.deallocate() }
            copy.copyMemory(from: data, byteCount: length)
            let frame = UnsafeRawBufferPointer(start: copy, count: length)
            if let frameLine = SIPScanner.startLine(frame),
               let message = try? SIPScanner.scan(frame, startLine: frameLine, framing: .stream) {
                touch(message, frame)
                scanBodies(message, frame)
            }
        case .needMore, .unframeable:
            break
        }
    }

    // The node's framing of a TCP connection (StreamFramer): frames taken one after another
    // lie inside what is left, and a frame read on from where a shorter read stopped is the
    // frame read whole.
    var offset = 0
    framing: while offset < buffer.count {
        let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
        var fresh = StreamScan(), resumed = StreamScan()
        let whole = StreamFramer.next(rest, resuming: &fresh, limit: 65_536)
        // Framing by scanning frames the same, and its message is the one the receiver's scan gives.
        var scanning = StreamScan()
        var scanned: SIPMessage?
        precondition(StreamFramer.next(rest, resuming: &scanning, limit: 65_536, scanned: &scanned) == whole,
                     "framing by scanning differs")
        if let scanned, case .message(let length) = whole {
            let bytes = UnsafeRawBufferPointer(rebasing: rest[0..<length])
            precondition(SIPScanner.startLine(bytes).flatMap { try? SIPScanner.scan(bytes, startLine: $0, framing: .datagram) } == scanned,
                         "the framer's scan differs from the receiver's")
        }
        if StreamFramer.next(UnsafeRawBufferPointer(rebasing: rest[0..<(rest.count / 2)]), resuming: &resumed,
                             limit: 65_536) == .needMore {
            precondition(StreamFramer.next(rest, resuming: &resumed, limit: 65_536) == whole, "resumed framing differs")
        }
        switch whole {
        case .message(let length), .ping(let length), .skip(let length):
            precondition(length > 0 && length <= rest.count, "a frame past the bytes")
            offset += length
        case .needMore, .unframeable, .tooLarge:
            break framing
        }
    }

    // The whole input as an SDP body, and as an MGCP message.
    scanSDP(buffer, body: ByteRange(0, buffer.count))
    if let body = MGCP.sdpBody(buffer) {
        touch(body, buffer, "MGCP body")
        scanSDP(buffer, body: body)
    }
    return 0
}
