import Basics

/// RFC 7339 overload control, loss algorithm, in the Via of whoever offered it. A client (or
/// member) that puts `oc` in its Via gets, in every answer, `oc=` the percentage of its
/// requests it should hold back, `oc-algo="loss"`, `oc-validity` in milliseconds and an
/// increasing `oc-seq`; `oc=0;oc-validity=0` says no reduction is in force.
///
/// The mapping (documented in the README): the figure is the group's, not this node's alone,
/// since a busy node forwards rather than refuses. The group's workload as this node sees it
/// is the lowest of its own and the members' that answered a probe in the last two intervals
/// and are up: the room the least loaded member has. Below 90 % of the threshold nothing is
/// asked; from there the reduction rises in a straight line to 100 % at workload 1.0 (a
/// resource full), so an upstream slows down before every member is past its threshold.
public enum OverloadControl {
    public struct Report: Equatable, Sendable {
        /// Percentage of requests to hold back (0...100).
        public var reduction: Int
        /// How long it holds, in milliseconds; 0 ends overload control.
        public var validityMilliseconds: Int
        /// Increasing with each report: monotonic seconds and a five-digit fraction.
        public var sequenceNanoseconds: Int64

        public init(reduction: Int, validityMilliseconds: Int, sequenceNanoseconds: Int64) {
            self.reduction = reduction
            self.validityMilliseconds = validityMilliseconds
            self.sequenceNanoseconds = sequenceNanoseconds
        }
    }

    /// The reduction asked for at `workload` with this `threshold`.
    public static func reduction(workload: Double, threshold: Double) -> Int {
        let start = 0.9 * threshold
        guard start < 1 else { return workload >= 1 ? 100 : 0 }
        guard workload > start else { return 0 }
        let share = (workload - start) / (1 - start)
        return share >= 1 ? 100 : Int((share * 100).rounded())
    }

    /// Whether the Via value `via` offers overload control (an `oc` parameter).
    public static func isOffered(_ via: ByteRange, _ buffer: UnsafeRawBufferPointer) -> Bool {
        !via.isEmpty && SIPScanner.parameterName("oc", in: via, buffer) != nil
    }

    /// The Via value `via` as it was, less any oc parameters, then this report's.
    public static func appendVia(_ via: ByteRange, _ buffer: UnsafeRawBufferPointer, _ report: Report,
                                 into out: inout TextBuffer) {
        var i = via.start
        var inQuotes = false
        var segmentStart = via.start
        // Copies each ";name[=value]" segment unless it is one of the four oc parameters.
        func flush(_ end: Int) {
            let segment = ByteRange(segmentStart, end)
            if segmentStart == via.start || !isOverloadParameter(segment, buffer) {
                out.append(bytes: segment.slice(of: buffer))
            }
        }
        while i < via.end {
            let byte = buffer[i]
            if byte == ASCII.quote { inQuotes.toggle() }
            if byte == ASCII.semicolon && !inQuotes {
                flush(i)
                segmentStart = i
            }
            i += 1
        }
        flush(via.end)
        out.append(";oc=")
        out.append(report.reduction)
        out.append(";oc-algo=\"loss\";oc-validity=")
        out.append(report.validityMilliseconds)
        out.append(";oc-seq=")
        out.append(Int(report.sequenceNanoseconds / 1_000_000_000))
        out.append(".")
        let fraction = Int((report.sequenceNanoseconds % 1_000_000_000) / 10_000)
        var divisor = 10_000
        while divisor > 0 {  // five digits, leading zeros kept
            out.append(byte: 0x30 + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }

    /// `;oc`, `;oc-algo`, `;oc-validity` or `;oc-seq` (with or without a value).
    public static func isOverloadParameter(_ segment: ByteRange, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var start = segment.start + 1
        while start < segment.end && ASCII.isWhitespace(buffer[start]) { start += 1 }
        var end = start
        while end < segment.end && buffer[end] != ASCII.equals && !ASCII.isWhitespace(buffer[end]) { end += 1 }
        let name = ByteRange(start, end)
        return ASCII.equals(buffer, name, "oc") || ASCII.equals(buffer, name, "oc-algo")
            || ASCII.equals(buffer, name, "oc-validity") || ASCII.equals(buffer, name, "oc-seq")
    }

    /// What a member's answer says about it, read from this node's own Via in the response:
    /// the reduction and how long it holds (nil when the Via has no `oc` value).
    public static func read(_ via: ByteRange, _ buffer: UnsafeRawBufferPointer) -> (reduction: Int, validityMilliseconds: Int)? {
        let value = SIPScanner.parameter("oc", in: via, buffer)
        guard !value.isEmpty, let reduction = ASCII.decimal(buffer, value, limit: 100) else { return nil }
        let validity = SIPScanner.parameter("oc-validity", in: via, buffer)
        let milliseconds = validity.isEmpty ? 500 : (ASCII.decimal(buffer, validity, limit: 86_400_000) ?? 500)
        return (reduction, milliseconds)
    }
}
