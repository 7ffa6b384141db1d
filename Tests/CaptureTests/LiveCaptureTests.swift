import Foundation
import Testing
import Basics
import Capture

/// Live capture on the loopback interface: needs CAP_NET_RAW (root in CI).
@Suite(.enabled(if: geteuid() == 0, "live capture needs CAP_NET_RAW"), .serialized)
struct LiveCaptureTests {
    @Test func capturesUDPOnLoopbackThroughTheSelectableDescriptor() throws {
        let port = UInt16(20000 + getpid() % 20000)
        let source = try CaptureSource.open(interface: "lo", options: LiveCaptureOptions())
        try source.setFilter("udp and dst port \(port)")
        #expect(source.isLive)
        #expect(source.selectableDescriptor >= 0)

        let message = Array("OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n\r\n".utf8)
        Self.send(message, count: 5, to: port)
        let payloads = try Self.read(source, count: 5, port: port)
        #expect(payloads == [[UInt8]](repeating: message, count: 5))
        let statistics = try #require(source.statistics())
        #expect(statistics.received >= 5)
        #expect(statistics.dropped == 0)
    }

    /// A burst read only after it has all arrived: with the default options (batched, not
    /// immediate mode) the 2 MiB ring holds it; immediate mode held about 32 packets.
    @Test func aBurstOfAThousandDatagramsIsNotDropped() throws {
        let port = UInt16(20000 + (getpid() + 1) % 20000)
        let source = try CaptureSource.open(interface: "lo", options: LiveCaptureOptions())
        try source.setFilter("udp and dst port \(port)")
        let message = Array("OPTIONS sip:burst@127.0.0.1 SIP/2.0\r\nCall-ID: burst\r\n\r\n".utf8)
        Self.send(message, count: 1000, to: port)
        let payloads = try Self.read(source, count: 1000, port: port)
        #expect(payloads.count == 1000)
        let statistics = try #require(source.statistics())
        #expect(statistics.dropped == 0)
    }

    static func send(_ message: [UInt8], count: Int, to port: UInt16) {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        for _ in 0..<count {
            _ = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(socket, message, message.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// The payloads of datagrams to `port` until `count` arrived or 5 s passed.
    static func read(_ source: CaptureSource, count: Int, port: UInt16) throws -> [[UInt8]] {
        let decoder = PacketDecoder(linkType: source.linkType)
        var payloads: [[UInt8]] = []
        let deadline = Date().addingTimeInterval(5)
        while payloads.count < count && Date() < deadline {
            var poller = pollfd(fd: source.selectableDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 200)
            while case .packet(let frame, let time, _) = try source.next() {
                if case .datagram(let datagram) = decoder.decode(frame: frame, time: time) {
                    #expect(datagram.destination.port == port)
                    payloads.append(Array(datagram.payload))
                }
            }
        }
        return payloads
    }

    @Test func noSuchInterfaceIsSaid() {
        do {
            _ = try CaptureSource.open(interface: "gw-no-such0", options: LiveCaptureOptions())
            Issue.record("opened an interface that does not exist")
        } catch {
            #expect(error.kind == .noSuchInterface)
            var text = TextBuffer()
            error.describe(into: &text)
            #expect(String(decoding: text.bytes, as: UTF8.self).contains("gw-no-such0"))
        }
    }

    @Test func badFilterIsLibpcapsMessage() throws {
        let source = try CaptureSource.open(interface: "lo", options: LiveCaptureOptions())
        do {
            try source.setFilter("udp port banana")
            Issue.record("a bad filter was taken")
        } catch {
            #expect(error.kind == .badFilter)
            #expect(!error.message.isEmpty)
        }
    }
}
