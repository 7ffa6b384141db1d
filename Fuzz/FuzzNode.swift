// libFuzzer target: the node's and the steering agent's receive paths on whatever arrives
// at their sockets: RFC 3581 and §16.4 preparation, routing (already assigned, in a dialog,
// Route, strict routers), the decision, forwarding with the message pool, recursion and the
// relayed answers. The input is one datagram, or several separated by `FE ED FA CE`, each
// handed in turn to the entry node of a three-node group, from a client, from a member or
// from a proxy (byte 0 of each datagram picks which, and whether the clock moves on), and to
// an agent in front of the group. What each outbox holds is delivered on, as the network
// would, so answers and forwarded requests come back around. State lives across inputs.
// A datagram whose byte 0 has bits 2 and 3 set comes over TCP (members then forward over
// TCP too, and a member's TCP request comes from a connection's port, not its own), or over
// TLS when bit 0 is set too (authenticated when bit 1 is): the third node runs TLS between
// members, so it forwards over TLS to the TLS port and takes only authenticated members.
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
    settings.membersOverTCP = true
    settings.tlsAddress = address(UInt32(index + 1), 5061)
    settings.membersOverTLS = index == 2
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
func take(_ box: Outbox) -> [([UInt8], Endpoint, Transport)] {
    defer { box.removeAll() }
    return (0..<box.count).map { item in
        let datagram = box.datagram(item)
        return (Array(box.bytes(datagram)), datagram.destination, datagram.transport)
    }
}

/// Member `index` as the source of what it sends over `transport`: over TCP or TLS, from
/// its connection's own port.
func source(of index: Int, over transport: Transport) -> Endpoint {
    transport.isReliable ? address(UInt32(index + 1), UInt16(40_000 + index)) : members[index].address
}

/// The member a datagram to `destination` over `transport` reaches: over TCP or TLS, answers
/// go to the connection's port of the member that sent the request; over TLS, requests to
/// its TLS port.
func member(at destination: Endpoint, over transport: Transport) -> Int? {
    members.indices.first {
        members[$0].address == destination
            || (transport.isReliable && source(of: $0, over: transport) == destination)
            || (transport == .tls && address(UInt32($0 + 1), 5061) == destination)
    }
}

/// Delivers what the nodes and the agent want sent among them (a bounded number of rounds:
/// a request may go round the group, never for ever).
func deliver() {
    for _ in 0..<8 {
        var moved = false
        for (index, node) in nodes.enumerated() {
            for (bytes, destination, transport) in take(node.outbox) {
                if let target = member(at: destination, over: transport) {
                    moved = true
                    // Members' TLS connections are authenticated: their certificates name them.
                    bytes.withUnsafeBytes {
                        _ = nodes[target].receive($0, from: source(of: index, over: transport), over: transport,
                                                  authenticated: transport == .tls, now: now)
                    }
                } else if destination == agent.settings.listen {
                    moved = true
                    bytes.withUnsafeBytes { agent.receive($0, from: members[index].address, over: transport, now: now) }
                }
            }
        }
        for (bytes, destination, transport) in take(agent.outbox) {
            guard let target = member(at: destination, over: transport) else { continue }
            moved = true
            bytes.withUnsafeBytes { _ = nodes[target].receive($0, from: agent.settings.listen, over: transport, now: now) }
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
                let transport: Transport = selector & 0x0C != 0x0C ? .udp : selector & 0x01 != 0 ? .tls : .tcp
                let authenticated = transport == .tls && selector & 0x02 != 0
                datagram.withUnsafeBytes { bytes in
                    if selector & 0x20 != 0 {
                        agent.receive(bytes, from: sources[Int(selector & 0x3) % sources.count], over: transport, now: now)
                    } else {
                        _ = nodes[Int(selector >> 6) % 3].receive(bytes, from: sources[Int(selector & 0x3)], over: transport,
                                                                   authenticated: authenticated, now: now)
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
