import Basics
import CSystem
import Capture

/// A file other programs read while gatewayd rewrites it (the Prometheus textfile): replaced
/// atomically; a failure is logged once, then retried quietly until a write succeeds.
final class AtomicTextFile {
    let path: [CChar]
    let what: StaticString
    private var failing = false

    init(path: [UInt8], what: StaticString) {
        self.path = path.map { CChar(bitPattern: $0) } + [0]
        self.what = what
    }

    func write(_ text: TextBuffer) {
        let result = text.bytes.withUnsafeBytes { bytes in
            path.withUnsafeBufferPointer { gw_write_file_atomic($0.baseAddress!, bytes.baseAddress, bytes.count) }
        }
        guard (result != 0) != failing else { return }
        failing = result != 0
        var line = TextBuffer()
        if failing {
            line.append("cannot write the ")
            line.append(what)
            line.append(" ")
            path.withUnsafeBufferPointer { line.append(cString: $0.baseAddress!) }
            line.append(": ")
            line.append(cString: strerror(-result))
            line.append(" (retrying quietly)")
        } else {
            line.append(what)
            line.append(" written again")
        }
        NodeDaemon.log(line, priority: failing ? 4 : 5)
    }
}
