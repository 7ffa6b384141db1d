import Basics
import SIP

/// The header a node puts in its 200 OK to a probe (OPTIONS, Max-Forwards 0), so peers and
/// operators see its load: `X-Gatewayd-Load: 0.423;state=accepting`. The workload is in
/// [0, ∞) with three decimals (1.000 = a resource full); state is accepting, forwarding
/// or draining.
public enum ProbeLoad {
    public static func append(workload: Double, state: AdmissionState, into out: inout TextBuffer) {
        out.append("X-Gatewayd-Load: ")
        out.append(fixed: max(workload, 0), decimals: 3)
        out.append(";state=")
        switch state {
        case .accepting: out.append("accepting")
        case .forwarding: out.append("forwarding")
        case .draining: out.append("draining")
        }
        out.append("\r\n")
    }

    /// Reads the header from a scanned response; nil when absent or unreadable.
    public static func read(_ message: SIPMessage, _ buffer: UnsafeRawBufferPointer)
        -> (workload: Double, state: AdmissionState)?
    {
        var headers = HeaderLines(buffer, message)
        while let header = headers.next() {
            guard headers.named(header, "x-gatewayd-load") else { continue }
            let value = header.value
            var i = value.start
            var whole = 0
            var fraction = 0
            var scale = 1
            var digits = 0
            while i < value.end && ASCII.isDigit(buffer[i]) && digits < 9 {
                whole = whole * 10 + Int(buffer[i] - 0x30)
                i += 1
                digits += 1
            }
            guard digits > 0 else { return nil }
            if i < value.end && buffer[i] == 0x2E {
                i += 1
                while i < value.end && ASCII.isDigit(buffer[i]) && scale < 1_000_000 {
                    fraction = fraction * 10 + Int(buffer[i] - 0x30)
                    scale *= 10
                    i += 1
                }
            }
            let state = SIPScanner.parameter("state", in: ByteRange(i, value.end), buffer)
            let parsed: AdmissionState
            if ASCII.equals(buffer, state, "accepting") {
                parsed = .accepting
            } else if ASCII.equals(buffer, state, "forwarding") {
                parsed = .forwarding
            } else if ASCII.equals(buffer, state, "draining") {
                parsed = .draining
            } else {
                return nil
            }
            return (Double(whole) + Double(fraction) / Double(scale), parsed)
        }
        return nil
    }
}
