import Basics
import CSystem
import GatewayCore
import LoadMeter

/// SIGHUP: the configuration file read again, and what is live applied to the running parts.
extension Daemon {
    /// SIGHUP: the file read again; what is live takes effect (NodeDaemon.reload).
    func reload(now: Int64) {
        guard let reloaded = NodeDaemon.reload(path, running: config) else { return }
        if let node, let meter {
            _ = node.apply(reloaded.nodeSettings(), now: now)
            meter.capacities = reloaded.capacities
            meter.callTimeouts = reloaded.callTimeouts
        }
        if reloaded.statusFile != config.statusFile || reloaded.prometheusFile != config.prometheusFile
            || reloaded.statusInterval != config.statusInterval {
            status = StatusFile(reloaded, started: status.started)
        }
        if reloaded.logFacility != config.logFacility { gw_syslog_open(reloaded.logFacility) }
        config = reloaded
    }
}
