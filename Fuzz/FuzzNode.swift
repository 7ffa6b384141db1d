// libFuzzer target: the node's and the steering agent's receive paths on whatever arrives
// at their sockets: RFC 3581 and §16.4 preparation, routing (already assigned, in a dialog,
// Route, strict routers), the decision, forwarding with the message pool, recursion and the
// relayed answers. The input is one datagram, or several separated by `FE ED FA CE`, each
// handed in turn to the entry node of a three-node group, from a client, from a member or
// from a proxy (byte 0 of each datagram picks which, and whether the clock moves on), and to
// an agent in front of the group. What each outbox holds is delivered on, as the network
// would, so answers and forwarded requests come back around. State lives across inputs.
import Basics
import SIP
import GatewayCore

func address(_ last: UInt32, _ port: UInt16) -> Endpoint { Endpoint(address: IPAddress(ipv4: 0x7F00_0000 | last), port: port) }

let members = (0..<3).map { Member(address: address(UInt32($0 + 1), 5060), identity: Array("sip:127.0.0.\($0 + 11):5460".utf8)) }
func makeNode(_ index: Int) -> Node<SeededEntropy> {
    var settings = NodeSettings(identity: members[index].identity)
    settings.serverTransactions = 16
    settings.clientTransactions = 16
    settings.reservationCapacity = 8
    settings.messagePoolBytes = 256 * 1024  // room for a few large messages, then refusals
    settings.recurse = index == 0
    settings.drain = index == 0
    return Node(settings: settings, sequence: GroupSequence(members: members, selfIndex: index), entropy: SeededEntropy(state: 0x1234_5678))
}
nonisolated(unsafe) var nodes = (0..<3).map(makeNode)
nonisolated(unsafe) let agent: SteeringAgent<SeededEntropy> = {
    var settings = SteeringSettings(listen: address(50, 5070), entryPoints: [members[0].address])
    settings.transactions = 16
    settings.open = true
    settings.path = true
    return SteeringAgent(settings: settings, endpoints: [], relayEntropy: SeededEntropy(state: 0x1234_5678), entropy: SeededEntropy(state: 9), now: 0)
}()
nonisolated(unsafe) var now: Int64 = 1_000_000_000
let sources = [address(100, 5070), members[1].address, address(12, 5460), address(11, 5460)]

/// What an outbox holds, copied out (delivering may fill other outboxes), and emptied.
func take(_ box: Outbox) -> [([UInt8], Endpoint)] {
    defer { box.removeAll() }
    return (0..<box.count).map { item in
        let datagram = box.datagram(item)
        return (Array(box.bytes(datagram)), datagram.destination)
    }
}

/// Delivers what the nodes and the agent want sent among them (a bounded number of rounds:
/// a request may go round the group, never for ever).
func deliver() {
    for _ in 0..<8 {
        var moved = false
        for (index, node) in nodes.enumerated() {
            for (bytes, destination) in take(node.outbox) {
                if let target = members.firstIndex(where: { $0.address == destination }) {
                    moved = true
                    bytes.withUnsafeBytes { _ = nodes[target].receive($0, from: members[index].address, now: now) }
                } else if destination == agent.settings.listen {
                    moved = true
                    bytes.withUnsafeBytes { agent.receive($0, from: members[index].address, now: now) }
                }
            }
        }
        for (bytes, destination) in take(agent.outbox) {
            guard let target = members.firstIndex(where: { $0.address == destination }) else { continue }
            moved = true
            bytes.withUnsafeBytes { _ = nodes[target].receive($0, from: agent.settings.listen, now: now) }
        }
        if !moved { return }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var start = 0
    var i = 0
    while i <= size {
        let separator = i + 4 <= size && input[i] == 0xFE && input[i + 1] == 0xED && input[i + 2] == 0xFA && input[i + 3] == 0xCE
        if separator || i == size {
            if i > start {
                let selector = input[start]
                // Exactly sized heap copies: a read past the end is an ASan report.
                let datagram = Array(UnsafeRawBufferPointer(rebasing: input[(start + 1)..<i]))
                if selector & 0x10 != 0 { now += Int64(selector & 0x0F) * 700_000_000 }
                datagram.withUnsafeBytes { bytes in
                    if selector & 0x20 != 0 {
                        agent.receive(bytes, from: sources[Int(selector & 0x3) % sources.count], now: now)
                    } else {
                        _ = nodes[Int(selector >> 6) % 3].receive(bytes, from: sources[Int(selector & 0x3)], now: now)
                    }
                }
                deliver()
                for node in nodes { node.tick(now: now) }
                agent.tick(now: now)
                deliver()
            }
            start = i + 4
            i += 4
            continue
        }
        i += 1
    }
    return 0
}
