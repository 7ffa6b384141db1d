import Basics
import GatewayCore

/// The hooks of analog lines and H.323 endpoints, one at a time: the next one the agent
/// queued starts when none runs, its standard error is watched by the loop, and its end
/// (SIGCHLD or the deadline) lets the next one start.
extension Daemon {
    func startHook(now: Int64) {
        guard let agent, let hooks, !hooks.isRunning, let next = agent.takeHook() else { return }
        if let pipe = hooks.start(next.event, for: next.endpoint, agent: agent, retrySeconds: config.steering?.retrySeconds ?? 30,
                                  now: now) {
            do throws(SystemError) {
                try Daemon.watch(pipe, Daemon.hookTag, in: loop)
            } catch {
                line.removeAll()
                line.append("a hook's standard error is not read: ")
                error.describe(into: &line)
                NodeDaemon.log(line, priority: 4)
            }
        }
        stateChanged = true
    }

    func hookEnded(now: Int64) {
        guard let hooks, hooks.isRunning else { return }
        if hooks.check(now: now) {
            stateChanged = true
            startHook(now: now)
        }
    }
}
