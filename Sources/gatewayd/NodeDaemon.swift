import Basics
import SIP
import CSystem
import Capture
import GatewayCore
import LoadMeter

/// Random bits from the kernel, read 64 words at a time.
struct KernelEntropy: EntropySource {
    var pool = [UInt64](repeating: 0, count: 64)
    var used = 64

    mutating func next() -> UInt64 {
        if used == pool.count {
            // Branches and tags must be unguessable: responses are trusted by them. Start-up
            // checks the generator works (`NodeDaemon.checkEntropy`); a later failure is fatal.
            let result = pool.withUnsafeMutableBytes { gw_random($0.baseAddress, $0.count) }
            if result < 0 { fatalError("getrandom failed: branches would be guessable") }
            used = 0
        }
        defer { used += 1 }
        return pool[used]
    }
}

/// `gatewayd [-c FILE] [--check-config] [-f] [-d]`: runs a node of the group. One thread,
/// one epoll loop over the SIP socket, the capture's descriptor and a signalfd; timers are
/// the loop's timeout. Logs to syslog and standard error.
enum NodeDaemon {

    /// The kernel's random numbers can be read: without them branches are guessable and
    /// forged answers would be taken, so gatewayd does not start.
    static func checkEntropy() -> Bool {
        var probe: UInt64 = 0
        do throws(SystemError) {
            try SystemError.check(gw_random(&probe, 8), "getrandom")
            return true
        } catch {
            Daemon.report("cannot read the kernel's random numbers: ", error)
            return false
        }
    }

    static func run(_ arguments: inout Arguments) -> Int32 {
        var path: UnsafeMutablePointer<CChar>?
        var pidFile: UnsafeMutablePointer<CChar>?
        var checkOnly = false
        var debug = false
        while let word = arguments.next() {
            if Arguments.equals(word, "-c") || Arguments.equals(word, "--config") {
                guard let value = arguments.next() else { return MeterCommand.usage("-c needs a file") }
                path = value
            } else if Arguments.equals(word, "-p") || Arguments.equals(word, "--pidfile") {
                guard let value = arguments.next() else { return MeterCommand.usage("-p needs a file") }
                pidFile = value
            } else if Arguments.equals(word, "--check-config") {
                checkOnly = true
            } else if Arguments.equals(word, "-f") || Arguments.equals(word, "--foreground") {
                // gatewayd never forks: init supervises it.
            } else if Arguments.equals(word, "-d") || Arguments.equals(word, "--debug") {
                debug = true
            } else {
                var message = TextBuffer()
                message.append("unknown option ")
                message.append(cString: word)
                return MeterCommand.usage(message)
            }
        }
        var message = TextBuffer()
        let config: NodeConfig
        if let path {
            guard let loaded = NodeConfig.load(path, message: &message) else {
                Output.error(message)
                return 2
            }
            config = loaded
        } else {
            config = NodeConfig.defaults()
        }
        if checkOnly {
            // The certificate files too: one that cannot be used is named, as at start.
            if let files = config.tls, TLSContext(files) == nil { return 2 }
            var text = TextBuffer()
            text.append("configuration ok: ")
            if config.runsNode {
                text.append(config.members.count)
                text.append(" members, this node is #")
                text.append(config.selfIndex + 1)
            }
            if let steering = config.steering {
                text.append(config.runsNode ? "; steering " : "steering only, ")
                text.append(steering.endpoints.count)
                text.append(" endpoints, ")
                text.append(steering.entryPoints.count)
                text.append(" entry points")
            }
            text.append("\n")
            Output.standardOutput(text)
            return 0
        }
        gw_syslog_open(config.logFacility)
        if let pidFile {
            let claimed = gw_pidfile_claim(pidFile)
            if claimed != 0 {
                var message = TextBuffer()
                message.append("pid file ")
                message.append(cString: pidFile)
                if claimed > 0 {
                    message.append(" is held by gatewayd ")
                    message.append(Int(claimed))
                    message.append(", which is running")
                } else {
                    message.append(": ")
                    message.append(cString: strerror(-claimed))
                }
                Output.error(message)
                return 1
            }
        }
        guard checkEntropy() else {
            if let pidFile { gw_pidfile_remove(pidFile) }
            return 1
        }
        let status = Daemon(config, path: path, debug: debug)?.run() ?? 1
        if let pidFile { gw_pidfile_remove(pidFile) }
        return status
    }

    /// SIGHUP: reads the file again. A good one gives the configuration to run with: the
    /// new value of every live key, the running one of every restart key (those that changed
    /// are named in the log). A bad one changes nothing and its error is logged.
    static func reload(_ path: UnsafeMutablePointer<CChar>?, running config: NodeConfig) -> NodeConfig? {
        var message = TextBuffer()
        guard let path else {
            message.append("SIGHUP: started without -c, nothing to re-read")
            log(message)
            return nil
        }
        let merged: (config: NodeConfig, restartChanges: TextBuffer)
        do throws(ConfigProblem) {
            guard let loaded = NodeConfig.load(path, message: &message) else { throw ConfigProblem(line: 0, message: message) }
            merged = try config.reloaded(from: loaded)
        } catch {
            var line = TextBuffer()
            line.append("reload failed, running configuration kept: ")
            line.append(error.message)
            log(line, priority: 4)
            return nil
        }
        if merged.restartChanges.count > 0 {
            message.removeAll()
            message.append("reload: ")
            message.append(merged.restartChanges)
            message.append(" changed but need a restart; running with the values gatewayd started with")
            log(message, priority: 4)
        }
        message.removeAll()
        message.append("reloaded ")
        message.append(cString: path)
        if merged.config.runsNode {
            message.append(": threshold ")
            message.append(fixed: merged.config.threshold, decimals: 2)
            message.append(merged.config.drain ? ", draining" : "")
        }
        log(message)
        return merged.config
    }

    /// The 16 bytes the C shim takes and gives for an address (IPv4 as IPv4-mapped IPv6).
    static func store(_ address: IPAddress, into bytes: UnsafeMutableRawBufferPointer) {
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: address.high >> UInt64(56 - 8 * i))
            bytes[8 + i] = UInt8(truncatingIfNeeded: address.low >> UInt64(56 - 8 * i))
        }
    }

    static func store(_ address: IPAddress, into bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { store(address, into: $0) }
    }

    static func load(_ bytes: UnsafeRawBufferPointer) -> IPAddress {
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 {
            high = high << 8 | UInt64(bytes[i])
            low = low << 8 | UInt64(bytes[8 + i])
        }
        return IPAddress(high: high, low: low)
    }

    static func load(_ bytes: [UInt8]) -> IPAddress { bytes.withUnsafeBytes { load($0) } }

    /// A line to syslog (facility daemon; notice unless said otherwise) and to standard error.
    static func log(_ text: TextBuffer, priority: Int32 = 5) {
        text.bytes.withUnsafeBytes { gw_syslog(priority, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        var line = TextBuffer()
        line.append("gatewayd: ")
        line.append(text)
        line.bytes.withUnsafeBytes { gw_log_stderr($0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
    }
}
