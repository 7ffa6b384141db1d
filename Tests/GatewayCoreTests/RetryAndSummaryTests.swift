import Testing
import GatewayCore

@Suite struct RetryBackoffTests {
    @Test func doublesFromOneSecondToTheCeilingAndStartsOverAfterASuccess() {
        var backoff = RetryBackoff()
        var delays: [Int64] = []
        for _ in 0..<8 { delays.append(backoff.failed(now: 0, random: 0)) }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30, 30].map { $0 * 1_000_000_000 })
        backoff.succeeded()
        #expect(backoff.failed(now: 5, random: 0) == 5 + 1_000_000_000)
    }

    @Test func randomSpreadTakesOffAtMostAQuarter() {
        var backoff = RetryBackoff()
        for _ in 0..<4 { _ = backoff.failed(now: 0, random: 0) }
        let next = backoff.failed(now: 0, random: UInt64.max)
        #expect(next >= 12_000_000_000 && next <= 16_000_000_000)
    }
}

@Suite struct RepeatedEventTests {
    let second: Int64 = 1_000_000_000

    @Test func aFloodGivesOneLineAtOnceThenOneSummaryPerIntervalThenAStop() {
        var event = RepeatedEvent(intervalNanoseconds: 60 * second)
        #expect(event.observe(0, now: 0) == nil)
        #expect(event.observe(0, now: second) == nil)
        var reports: [RepeatedEvent.Report] = []
        // 1,000 a second for 150 seconds, observed ten times a second.
        var value = 0
        for tenth in 20..<1520 {
            value += 100
            if let report = event.observe(value, now: Int64(tenth) * second / 10) { reports.append(report) }
        }
        // Quiet afterwards.
        for tenth in 1520..<3000 {
            if let report = event.observe(value, now: Int64(tenth) * second / 10) { reports.append(report) }
        }
        // The last summary covers the flood's tail; the stop comes an interval after it.
        #expect(reports == [.started(count: 100), .continuing(count: 60_000, seconds: 60),
                            .continuing(count: 60_000, seconds: 60), .continuing(count: 29_900, seconds: 60),
                            .stopped(total: 150_000)])
    }

    @Test func aResetCounterIsNotAFlood() {
        var event = RepeatedEvent(intervalNanoseconds: 10 * second)
        _ = event.observe(500, now: 0)
        #expect(event.observe(0, now: second) == nil)
        #expect(event.observe(3, now: 2 * second) == .started(count: 3))
    }
}
