import Testing
import Basics
import Capture

struct LinkLayerTests {
    let payload: [UInt8] = Array("INVITE sip:a@b SIP/2.0\r\n".utf8)

    @Test func ethernetIPv4UDP() {
        let frame = Frame.ethernet(payload: Frame.ipv4(payload: Frame.udp(source: 5060, destination: 5070, payload: payload)))
        let (result, decoder) = Frame.decode(frame)
        let found = Frame.datagram(result)
        #expect(found?.payload == payload)
        #expect(found?.source == Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: 5060))
        #expect(found?.destination.port == 5070)
        #expect(decoder.counters.decoded == 1)
    }

    @Test func vlanAndQinQTags() {
        for tags in [[100], [100, 200], [1, 2, 3]] {
            let frame = Frame.ethernet(tags: tags, payload: Frame.ipv4(payload: Frame.udp(source: 1, destination: 2, payload: payload)))
            #expect(Frame.datagram(Frame.decode(frame).0)?.payload == payload, "tags \(tags)")
        }
    }

    @Test func ethernetPaddingIsNotPayload() {
        // A short frame padded to Ethernet's 60-byte minimum: the IP total length governs.
        let frame = Frame.ethernet(payload: Frame.ipv4(payload: Frame.udp(source: 1, destination: 2, payload: [1, 2])))
            + [UInt8](repeating: 0xEE, count: 20)
        #expect(Frame.datagram(Frame.decode(frame).0)?.payload == [1, 2])
    }

    @Test func linuxCookedV1AndV2() {
        let ip = Frame.ipv4(payload: Frame.udp(source: 1, destination: 2, payload: payload))
        let sll = [0, 0, 0, 1, 0, 6] + [UInt8](repeating: 0, count: 8) + Frame.be16(0x0800) + ip
        #expect(Frame.datagram(Frame.decode(sll, link: .linuxCooked).0)?.payload == payload)
        let sll2 = Frame.be16(0x0800) + [0, 0] + Frame.be32(1) + [0, 1, 0, 6] + [UInt8](repeating: 0, count: 8) + ip
        #expect(Frame.datagram(Frame.decode(sll2, link: .linuxCooked2).0)?.payload == payload)
    }

    @Test func rawIPAndBSDLoopback() {
        let ip = Frame.ipv4(payload: Frame.udp(source: 1, destination: 2, payload: payload))
        #expect(Frame.datagram(Frame.decode(ip, link: .rawIP).0)?.payload == payload)
        // DLT_NULL in either byte order, and DLT_LOOP in network order; AF_INET6 values vary.
        #expect(Frame.datagram(Frame.decode([2, 0, 0, 0] + ip, link: .bsdLoopback).0)?.payload == payload)
        #expect(Frame.datagram(Frame.decode([0, 0, 0, 2] + ip, link: .bsdLoopback).0)?.payload == payload)
        #expect(Frame.datagram(Frame.decode([0, 0, 0, 2] + ip, link: .bsdLoopbackNetworkOrder).0)?.payload == payload)
        let ip6 = Frame.ipv6(payload: Frame.udp(source: 1, destination: 2, payload: payload))
        #expect(Frame.datagram(Frame.decode([30, 0, 0, 0] + ip6, link: .bsdLoopback).0)?.payload == payload)
    }

    @Test func notUnderstoodIsCountedNotFatal() {
        let arp = Frame.ethernet(type: 0x0806, payload: [UInt8](repeating: 0, count: 28))
        let (result, decoder) = Frame.decode(arp)
        guard case .nothing = result else { Issue.record("ARP gave a payload"); return }
        #expect(decoder.counters.notUnderstood == 1)
        let icmp = Frame.ethernet(payload: Frame.ipv4(protocolNumber: 1, payload: [8, 0, 0, 0]))
        _ = Frame.decode(icmp, decoder: decoder)
        #expect(decoder.counters.notUnderstood == 2)
        #expect(decoder.counters.malformed == 0)
    }
}

struct IPTests {
    let payload: [UInt8] = Array(0..<200).map { UInt8($0) }

    @Test func ipv6ExtensionHeadersAreSkipped() {
        // Hop-by-hop (8 bytes) → destination options (16 bytes) → UDP.
        let hopByHop: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0]
        let destination: [UInt8] = [17, 1] + [UInt8](repeating: 0, count: 14)
        let frame = Frame.ipv6(nextHeader: 0, payload: hopByHop + destination + Frame.udp(source: 9, destination: 10, payload: payload))
        let found = Frame.datagram(Frame.decode(frame, link: .rawIP).0)
        #expect(found?.payload == payload)
        #expect(found?.source.address.isIPv4 == false)
    }

    @Test func ipv4FragmentsOutOfOrderAreReassembled() {
        let udp = Frame.udp(source: 5060, destination: 5060, payload: payload)
        let first = Array(udp[0..<64]), second = Array(udp[64..<128]), last = Array(udp[128...])
        let decoder = PacketDecoder(linkType: .rawIP)
        for (offset, part, more) in [(128, last, false), (0, first, true)] {
            let (result, _) = Frame.decode(Frame.ipv4(identification: 7, fragmentOffset: offset, moreFragments: more, payload: part),
                                           decoder: decoder)
            if case .nothing = result {} else { Issue.record("datagram before all fragments arrived") }
        }
        let (result, _) = Frame.decode(Frame.ipv4(identification: 7, fragmentOffset: 64, moreFragments: true, payload: second),
                                       decoder: decoder)
        #expect(Frame.datagram(result)?.payload == payload)
        #expect(decoder.counters.fragments == 3)
        #expect(decoder.counters.fragmentsReassembled == 1)
    }

    @Test func ipv6FragmentsAreReassembled() {
        let udp = Frame.udp(source: 5060, destination: 5060, payload: payload)
        let decoder = PacketDecoder(linkType: .rawIP)
        var last: Decoded = .nothing
        for (offset, part, more) in [(0, Array(udp[0..<104]), true), (104, Array(udp[104...]), false)] {
            let fragmentHeader: [UInt8] = [17, 0] + Frame.be16(offset | (more ? 1 : 0)) + Frame.be32(0xABCD)
            last = Frame.decode(Frame.ipv6(nextHeader: 44, payload: fragmentHeader + part), decoder: decoder).0
        }
        #expect(Frame.datagram(last)?.payload == payload)
    }

    @Test func fragmentsThatNeverCompleteTimeOutAndLeaveNoState() {
        var limits = DecoderLimits()
        limits.fragmentSlots = 4
        limits.fragmentTimeoutSeconds = 30
        let decoder = PacketDecoder(linkType: .rawIP, limits: limits)
        for id in 0..<100 {
            _ = Frame.decode(Frame.ipv4(identification: id, moreFragments: true, payload: [UInt8](repeating: 1, count: 64)),
                             decoder: decoder, time: Int64(id) * 1_000_000_000)
        }
        // Four slots: older incomplete datagrams were evicted or timed out, never kept.
        #expect(decoder.counters.fragmentsEvicted + decoder.counters.fragmentsTimedOut == 96)
    }

    @Test func oversizedFragmentIsDropped() {
        var limits = DecoderLimits()
        limits.fragmentMaxDatagram = 1024
        let decoder = PacketDecoder(linkType: .rawIP, limits: limits)
        _ = Frame.decode(Frame.ipv4(fragmentOffset: 2048, payload: [1, 2, 3]), decoder: decoder)
        #expect(decoder.counters.fragmentsDropped == 1)
    }

    @Test func tunnels() {
        let inner = Frame.ipv4(payload: Frame.udp(source: 1, destination: 2, payload: payload))
        // IPv4 in IPv4.
        #expect(Frame.datagram(Frame.decode(Frame.ipv4(protocolNumber: 4, payload: inner), link: .rawIP).0)?.payload == payload)
        // GRE with key and sequence number, carrying IPv4.
        let gre: [UInt8] = [0x30, 0] + Frame.be16(0x0800) + Frame.be32(42) + Frame.be32(1)
        #expect(Frame.datagram(Frame.decode(Frame.ipv4(protocolNumber: 47, payload: gre + inner), link: .rawIP).0)?.payload == payload)
        // ERSPAN type II: GRE with sequence, 8-byte ERSPAN header, mirrored Ethernet frame.
        let erspan: [UInt8] = [0x10, 0] + Frame.be16(0x88BE) + Frame.be32(1) + [0x10, 0, 0, 1, 0, 0, 0, 0]
        let mirrored = Frame.ethernet(payload: inner)
        #expect(Frame.datagram(Frame.decode(Frame.ipv4(protocolNumber: 47, payload: erspan + mirrored), link: .rawIP).0)?
            .payload == payload)
    }

    @Test func everyTruncationOfARealFrameIsHandled() {
        let frame = Frame.ethernet(tags: [5], payload: Frame.ipv4(payload: Frame.udp(source: 1, destination: 2, payload: payload)))
        let decoder = PacketDecoder(linkType: .ethernet)
        for length in 0..<frame.count {
            _ = Frame.decode(Array(frame[0..<length]), decoder: decoder)
        }
        // Cut inside the headers: malformed; cut inside the payload: a shorter datagram.
        #expect(decoder.counters.packets == frame.count)
        #expect(decoder.counters.malformed + decoder.counters.decoded == frame.count)
        #expect(decoder.counters.malformed > 0 && decoder.counters.decoded > 0)
    }

    @Test func truncatedDatagramKeepsItsWireLength() {
        let frame = Frame.ipv4(payload: Frame.udp(source: 1, destination: 2, payload: payload))
        let (result, _) = Frame.decode(Array(frame[0..<40]), link: .rawIP)
        guard case .datagram(let datagram) = result else { Issue.record("no datagram"); return }
        #expect(datagram.payload.count == 12)
        #expect(datagram.payloadLength == payload.count)
        #expect(datagram.isTruncated)
    }

    @Test func garbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for link in [LinkType.ethernet, .linuxCooked, .linuxCooked2, .rawIP, .bsdLoopback] {
            let decoder = PacketDecoder(linkType: link)
            for _ in 0..<2000 {
                let length = Int.random(in: 0..<200, using: &generator)
                var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                // Make many of them look like IP so the deeper layers are reached.
                if length > 20 && Bool.random(using: &generator) { bytes[link == .rawIP ? 0 : min(16, length - 1)] = 0x45 }
                _ = Frame.decode(bytes, decoder: decoder)
                decoder.consumed(0)
            }
            #expect(decoder.counters.packets == 2000)
        }
    }
}
