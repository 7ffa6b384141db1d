import Basics
import CSystem
import Capture

extension NodeDaemon {
    /// Started as root with `user =`: the capture is open and the socket bound, so all that
    /// is kept is CAP_NET_RAW (to reopen a lost capture). The status file's directory, if
    /// gatewayd made it, is handed to the user first so the status can still be written.
    static func dropPrivileges(_ user: (name: [UInt8], uid: Int, gid: Int), status: StatusFile) -> Bool {
        if status.createdDirectory {
            let handed = status.directory.withUnsafeBufferPointer { gw_chown($0.baseAddress!, user.uid, user.gid) }
            do throws(SystemError) {
                try SystemError.check(handed, "chown")
            } catch {
                // Not fatal: the node runs, and each failed status write is logged.
                Daemon.report("the status directory stays root's, so the status file may not be written: ", error)
            }
        }
        var step: UnsafePointer<CChar>?
        let result = gw_drop_privileges(user.uid, user.gid, &step)
        guard result == 0 else {
            var message = TextBuffer()
            message.append("cannot run as ")
            user.name.withUnsafeBytes { message.append(bytes: $0) }
            message.append(": ")
            if let step { message.append(cString: step) }
            message.append(": ")
            message.append(cString: strerror(-result))
            if getuid() != 0 { message.append(" (user = needs gatewayd started as root)") }
            Output.error(message)
            return false
        }
        return true
    }
}
