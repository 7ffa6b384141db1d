import Basics
import SIP

/// The node's load and health: the meter's figures with reservations on top, admission,
/// what the members' probes said, and reloaded settings.
extension Node {
    /// The meter's latest workload. Reservations count as calls on top of it. Returns the
    /// new admission state when it changed.
    @discardableResult
    public func update(load: MeasuredLoad, now: Int64) -> AdmissionState? {
        measured = load
        return updateAdmission(now: now)
    }

    /// Admission judged on the workload now; a change is also an event.
    @discardableResult
    func updateAdmission(now: Int64) -> AdmissionState? {
        let workload = effectiveWorkload(now: now)
        guard let changed = admission.update(workload: workload) else { return nil }
        events.push(.admission(changed, workload: workload))
        return changed
    }

    /// `member` answered or missed a probe or a forwarded request; a change of up or down is
    /// an event.
    public func missed(_ member: Int) {
        guard member != sequence.selfIndex, member < health.count else { return }
        peerMissed(member)
    }

    func peerMissed(_ member: Int) {
        if health[member].unanswered() { events.push(.peer(member: member, up: false)) }
    }

    /// The measured workload with reservations added to the calls.
    public func effectiveWorkload(now: Int64) -> Double {
        measured.workload(reserving: reservations.count(at: now))
    }

    /// This node's meter now counts the call `callID`: if it was one this node redirected
    /// here, the reservation has become a call the meter counts. The node's measure is the
    /// meter's of up to a second ago, so the call is carried into it until the next one:
    /// otherwise it would count nowhere in between, and a burst would be let in one call
    /// over the threshold.
    public func callSeen(_ callID: UnsafeRawBufferPointer) {
        if reservations.honour(callID) { measured.calls += 1 }
    }

    /// Takes new settings on a reload: threshold, hysteresis, drain, answers, timers of
    /// transactions opened from now on, the rate limit and burst, the reservation lifetime
    /// and the health thresholds. Open transactions, health, reservations and the sequence
    /// are kept (a new sequence or listen address, or table sizes, need a restart).
    @discardableResult
    public func apply(_ new: NodeSettings, now: Int64) -> AdmissionState? {
        var kept = new
        kept.serverTransactions = settings.serverTransactions
        kept.clientTransactions = settings.clientTransactions
        kept.messagePoolBytes = settings.messagePoolBytes
        kept.reservationCapacity = settings.reservationCapacity
        kept.rateLimitSources = settings.rateLimitSources
        settings = kept
        // Everything the node built from its settings follows them too.
        limiter.reconfigure(perSecond: new.rateLimitPerSecond, burst: new.rateLimitBurst)
        reservations.lifetimeSeconds = new.reservationSeconds
        for member in health.indices {
            health[member].setThresholds(failuresToDown: new.failuresToDown, successesToUp: new.successesToUp)
        }
        admission.threshold = new.threshold
        admission.hysteresis = new.hysteresis
        admission.drain = new.drain
        return updateAdmission(now: now)
    }

    /// With `skip_busy`: whether `member`'s probe answer of the last two intervals said it
    /// forwards. Stale or absent answers say nothing: the member is tried as usual.
    func isBelievedBusy(_ member: Int, now: Int64) -> Bool {
        settings.skipBusyMembers && health[member].reportedBusy(now: now, freshness: probeFreshness)
    }

    /// How old a probe answer may be and still say something: two probe intervals.
    var probeFreshness: Int64 { 2 * settings.probeIntervalNanoseconds }

    /// Takes `member` as down now (it was found silent by other means).
    public func markDown(_ member: Int) {
        guard member != sequence.selfIndex, member < health.count else { return }
        if health[member].isUp { events.push(.peer(member: member, up: false)) }
        health[member].markDown()
    }

    /// The number of forwarded requests still waiting for an answer.
    public var openClientTransactions: Int { clients.index.count }

    /// Forwarded requests still waiting for their final answer (transactions that have it and
    /// only linger for retransmissions are left out). A scan: for shutting down, not per packet.
    public var clientTransactionsAwaitingAnswers: Int {
        var waiting = 0
        for slot in 0..<clients.index.capacity where clients.index.isInUse(slot) {
            let state = clients.machines[slot].state
            if state == .calling || state == .proceeding { waiting += 1 }
        }
        return waiting
    }

    /// Puts the node in or out of drain.
    public func setDrain(_ drain: Bool, now: Int64) -> AdmissionState? {
        admission.drain = drain
        return updateAdmission(now: now)
    }
}
