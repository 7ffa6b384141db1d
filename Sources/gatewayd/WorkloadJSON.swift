import Basics
import Capture
import LoadMeter

extension TextBuffer {
    /// `"resources": {"calls": {"in_use": X, "capacity": N}, ...}` for the meter report and
    /// the status file.
    mutating func appendResources(of workload: Workload, decimals: Int) {
        append("\"resources\": {")
        for resource in Resource.allCases {
            if resource != .calls { append(", ") }
            append("\"")
            append(resource.name)
            append("\": {\"in_use\": ")
            append(fixed: workload.inUse(resource), decimals: decimals)
            append(", \"capacity\": ")
            append(workload.capacity(resource))
            append("}")
        }
        append("}")
    }

    /// `, "timed_out_no_answer": N, ...`: calls ended on the meter's clock, by reason, for the
    /// meter report and the status file.
    mutating func appendCallTimeouts(of calls: CallCounters) {
        for reason in CallTimeout.allCases {
            append(", \"")
            append(reason.name)
            append("\": ")
            append(calls[reason])
        }
    }
}
