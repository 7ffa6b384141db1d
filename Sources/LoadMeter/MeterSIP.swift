import Basics
import Capture
import SIP

/// The meter's SIP: each message counted, calls and registrations followed, and the media
/// its SDP announces taken into the media table.
extension Meter {
    /// Counts and follows one SIP message; false when `bytes` do not begin like SIP.
    func sipMessage(_ bytes: UnsafeRawBufferPointer, framing: SIPScanner.Framing, time: PacketTime) -> Bool {
        guard let line = SIPScanner.startLine(bytes) else { return false }
        sip.count(line)
        sipRate.add(1, at: time)
        let message: SIPMessage
        do {
            message = try SIPScanner.scan(bytes, startLine: line, framing: framing)
        } catch {
            sip.malformed += 1
            return true
        }
        var owner = DialogTracker.Handle.none
        if message.cseqMethod == .register || (message.isRequest && message.method == .register) {
            registrations.take(message, bytes, time: time)
        } else {
            let attemptsBefore = dialogs.counters.attempts
            owner = dialogs.take(message, bytes, time: time)
            if dialogs.counters.attempts != attemptsBefore { attemptRate.add(1, at: time) }
        }
        guard owner.slot >= 0 else { return true }
        let offerAnswer = message.cseqMethod == .invite || message.cseqMethod == .update
        if !message.isRequest && offerAnswer && message.statusCode >= 200 {
            mediaTable.settle(owner: owner, sequence: message.cseqNumber, accepted: message.statusCode < 300)
        }
        // SDP offers and answers: in requests, and in provisional and success responses.
        if !message.body.isEmpty && (message.isRequest || message.statusCode < 300) {
            let offer: UInt32? = message.isRequest && offerAnswer ? message.cseqNumber : nil
            if let onHold = announceSDP(message, bytes, owner: owner, offer: offer, time: time) {
                dialogs.noteHold(owner, onHold)
            }
        }
        return true
    }

    /// Records the media of the message's SDP; returns whether it puts the call on hold, or
    /// nil when there was no SDP.
    func announceSDP(_ message: SIPMessage, _ bytes: UnsafeRawBufferPointer,
                             owner: DialogTracker.Handle, offer: UInt32?, time: PacketTime) -> Bool? {
        let type = message.contentType
        var onHold: Bool?
        if ASCII.hasPrefix(bytes, type, "application/sdp") {
            if sdp.scan(bytes, body: message.body) {
                mediaTable.announce(sdp, owner: owner, offer: offer, time: time)
                onHold = sdp.isOnHold
            }
        } else if ASCII.hasPrefix(bytes, type, "multipart/") {
            var parts = MultipartParts(bytes, contentType: type, body: message.body)
            while let part = parts.next() {
                if ASCII.hasPrefix(bytes, part.contentType, "application/sdp"), sdp.scan(bytes, body: part.body) {
                    mediaTable.announce(sdp, owner: owner, offer: offer, time: time)
                    onHold = (onHold ?? false) || sdp.isOnHold
                }
            }
        }
        return onHold
    }

    func isKeepalive(_ payload: UnsafeRawBufferPointer) -> Bool {
        guard payload.count > 0 && payload.count <= 4 else { return false }
        for byte in payload where byte != 0x0D && byte != 0x0A { return false }
        return true
    }

    /// How many bytes to skip to reach the first line (after the first) that starts a SIP
    /// message. With none, everything up to the last line is skipped and counted: that line
    /// may be a start line cut short, and waits for more bytes.
    func resynchronise(_ bytes: UnsafeRawBufferPointer) -> Int {
        var lastLineStart = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0A {
                // Line ends before a start line are what the reader takes as keep-alives
                // between messages: look past them, or a stream cut just after this LF (and
                // read from the next byte on) would find a message that the uncut one skips.
                var start = i + 1
                while start < bytes.count && (bytes[start] == 0x0D || bytes[start] == 0x0A) {
                    if bytes[start] == 0x0A { lastLineStart = start + 1 }
                    start += 1
                }
                lastLineStart = max(lastLineStart, i + 1)
                if start < bytes.count,
                   SIPScanner.startLine(UnsafeRawBufferPointer(rebasing: bytes[start...])) != nil {
                    sip.streamBytesSkipped += i + 1
                    return i + 1
                }
                i = start  // the run is garbage's too; each byte is looked at once
                continue
            }
            i += 1
        }
        // A last line longer than any start line cannot become one: skip it too.
        let skip = bytes.count - lastLineStart > 8192 ? bytes.count : lastLineStart
        sip.streamBytesSkipped += skip
        return skip
    }
}
