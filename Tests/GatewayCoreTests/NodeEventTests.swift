import Basics
import GatewayCore
import Testing

/// The node and the agent say what happened as events, in order, so the daemon logs from
/// them instead of keeping copies to compare.
struct NodeEventTests {
    func drain(_ queue: EventQueue<NodeEvent>) -> [NodeEvent] {
        var all: [NodeEvent] = []
        while let event = queue.take() { all.append(event) }
        return all
    }

    @Test func admissionChangesAreEventsWithTheirWorkload() {
        let network = Network(1)
        network.setWorkload(0, calls: 50)
        #expect(drain(network.nodes[0].events).isEmpty)  // still accepting: nothing happened
        network.setWorkload(0, calls: 85)
        network.setWorkload(0, calls: 90)
        network.setWorkload(0, calls: 60)
        // Forwarding from 0.8; back to accepting only below 0.8 - 0.1.
        #expect(drain(network.nodes[0].events) == [.admission(.forwarding, workload: 0.85), .admission(.accepting, workload: 0.6)])
        _ = network.nodes[0].setDrain(true, now: network.now)
        #expect(drain(network.nodes[0].events) == [.admission(.draining, workload: 0.6)])
    }

    @Test func peersGoingDownAndUpAreEventsOnce() {
        let network = Network(3)
        network.dead = [1]
        network.run(milliseconds: 3500)
        #expect(drain(network.nodes[0].events) == [.peer(member: 1, up: false)])
        network.run(milliseconds: 2000)
        #expect(drain(network.nodes[0].events).isEmpty)  // still down: no new event
        network.dead = []
        network.run(milliseconds: 2500)
        #expect(drain(network.nodes[0].events) == [.peer(member: 1, up: true)])
        network.nodes[0].markDown(2)
        network.nodes[0].markDown(2)
        #expect(drain(network.nodes[0].events) == [.peer(member: 2, up: false)])
    }

    @Test func aFullQueueCountsWhatItDrops() {
        let queue = EventQueue<Int>(capacity: 3, filler: 0)
        for value in 1...5 { queue.push(value) }
        #expect(queue.count == 3 && queue.dropped == 2)
        #expect(queue.take() == 1 && queue.take() == 2)
        queue.push(6)
        #expect(queue.take() == 3 && queue.take() == 6 && queue.take() == nil)
    }
}
