import CSystem
import Capture

extension NodeDaemon {
    /// Started as root with `user =`: the capture is open and the socket bound, so all that
    /// is kept is CAP_NET_RAW (to reopen a lost capture). The status file's directory, if
    /// gatewayd made it, is handed to the user first so the status can still be written.
    static func dropPrivileges(_ config: NodeConfig, status: StatusFile) -> Bool {
        if status.createdDirectory {
            _ = status.directory.withUnsafeBufferPointer { gw_chown($0.baseAddress!, config.userID, config.groupID) }
        }
        var step: UnsafePointer<CChar>?
        let result = gw_drop_privileges(config.userID, config.groupID, &step)
        guard result == 0 else {
            var message = TextBuffer()
            message.append("cannot run as ")
            config.user.withUnsafeBytes { message.append(bytes: $0) }
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
