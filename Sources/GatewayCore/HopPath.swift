import Basics
import SIP

/// `X-Gatewayd-Path`: the members a request to connect went through, entry first and the
/// member that answered last, read from the request's Via path at the member that answers.
/// Only a request that asks for it with an `X-Gatewayd-Trace` header gets it (`gatewayd ask`
/// does), in the 302 or 503 the member makes; relaying members pass it back unchanged. It
/// names the members' addresses, which a client is otherwise never told.
public enum HopPath {
    public static func isAsked(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) -> Bool {
        if message.linesNoted { return message.asksForHopPath }
        var headers = HeaderLines(buffer, message)
        while let header = headers.next() {
            if headers.named(header, "x-gatewayd-trace") { return true }
        }
        return false
    }

    public static func append(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer, sequence: GroupSequence,
                              into out: inout TextBuffer) {
        // Vias are newest first: the members that forwarded it, the last one on top.
        var forwarders: [Int] = []
        var vias = ViaValues.vias(buffer, message)
        while let via = vias.next() {
            guard let sentBy = ViaValues.sentBy(buffer, via),
                  let address = IPAddress(text: sentBy.host.slice(of: buffer)),
                  let member = sequence.index(of: Endpoint(address: address, port: UInt16(sentBy.port == 0 ? 5060 : sentBy.port)))
            else { continue }
            forwarders.append(member)
        }
        out.append("X-Gatewayd-Path: ")
        for member in forwarders.reversed() {
            out.append(sequence.members[member].address)
            out.append(", ")
        }
        out.append(sequence.members[sequence.selfIndex].address)
        out.append("\r\n")
    }
}
