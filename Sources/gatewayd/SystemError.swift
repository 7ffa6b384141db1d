import Basics
import CSystem
import Capture

/// A system call that failed: which one, and the errno it gave. The C shim returns -errno
/// for every failure (csystem.h) and retries interrupted calls itself; Swift code turns a
/// negative result into this with `check`, so no result goes unlooked at.
struct SystemError: Error {
    /// The call as a person reading the log knows it (`bind`, `epoll_ctl`, `getrandom`).
    let call: StaticString
    let code: Int32

    /// `call: what strerror says`.
    func describe(into text: inout TextBuffer) {
        text.append(call)
        text.append(": ")
        text.append(cString: strerror(code))
    }

    /// `result` when it is not an error (0 or more); a `SystemError` when it is -errno.
    @discardableResult
    static func check(_ result: Int32, _ call: StaticString) throws(SystemError) -> Int32 {
        guard result >= 0 else { throw SystemError(call: call, code: -result) }
        return result
    }

    @discardableResult
    static func check(_ result: Int, _ call: StaticString) throws(SystemError) -> Int {
        guard result >= 0 else { throw SystemError(call: call, code: Int32(truncatingIfNeeded: -result)) }
        return result
    }
}
