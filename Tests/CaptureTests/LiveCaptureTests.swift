import Capture
import Foundation
import Testing

/// Live capture on the loopback interface: needs CAP_NET_RAW (root in CI).
@Suite(.enabled(if: geteuid() == 0, "live capture needs CAP_NET_RAW"), .serialized)
struct LiveCaptureTests {
    @Test func capturesUDPOnLoopbackThroughTheSelectableDescriptor() throws {
        let port = UInt16(20000 + getpid() % 20000)
        let source = try CaptureSource.open(interface: "lo", options: LiveCaptureOptions())
        try source.setFilter("udp and dst port \(port)")
        #expect(source.isLive)
        #expect(source.selectableDescriptor >= 0)

        let socket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let message = Array("OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n\r\n".utf8)
        for _ in 0..<5 {
            _ = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(socket, message, message.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }

        let decoder = PacketDecoder(linkType: source.linkType)
        var payloads: [[UInt8]] = []
        let deadline = Date().addingTimeInterval(5)
        while payloads.count < 5 && Date() < deadline {
            var poller = pollfd(fd: source.selectableDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 200)
            while case .packet(let frame, let time, _) = try source.next() {
                if case .datagram(let datagram) = decoder.decode(frame: frame, time: time) {
                    #expect(datagram.destination.port == port)
                    payloads.append(Array(datagram.payload))
                }
            }
        }
        #expect(payloads == [[UInt8]](repeating: message, count: 5))
        let statistics = try #require(source.statistics())
        #expect(statistics.received >= 5)
        #expect(statistics.dropped == 0)
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
