import Testing
import Basics
import Capture
import LoadMeter
import SIP

struct SDPTests {
    func scan(_ text: String) -> [SDPMedia] {
        let description = SDPDescription()
        return Array(text.utf8).withUnsafeBytes { buffer in
            description.scan(buffer, body: ByteRange(0, buffer.count))
            return (0..<description.mediaCount).map { description.medium($0) }
        }
    }

    @Test func sessionAndMediaConnectionAddresses() throws {
        let media = scan("""
        v=0\r
        o=- 1 1 IN IP4 10.0.0.1\r
        c=IN IP4 10.0.0.1\r
        m=audio 4000 RTP/AVP 0 101\r
        a=rtpmap:101 telephone-event/8000\r
        m=audio 5000 RTP/SAVP 8\r
        c=IN IP4 10.0.0.2/127\r
        a=rtcp:5003 IN IP4 10.0.0.3\r
        m=image 6000 udptl t38\r
        m=video 0 RTP/AVP 31\r
        m=audio 7000 RTP/AVP 0\r
        a=rtcp-mux\r

        """)
        try #require(media.count == 4)
        #expect(media[0].address == IPAddress(ipv4: 0x0A00_0001) && media[0].port == 4000 && media[0].rtcpPort == 4001)
        #expect(media[0].formatCount == 1)
        #expect(media[1].address == IPAddress(ipv4: 0x0A00_0002) && media[1].rtcpPort == 5003)
        #expect(media[1].rtcpAddress == IPAddress(ipv4: 0x0A00_0003))
        #expect(!media[2].isRTP && media[0].isRTP && media[1].isRTP)
        #expect(media[3].port == 7000 && media[3].rtcpPort == 0)
    }

    @Test func ipv6AndBadAddresses() {
        let media = scan("v=0\nc=IN IP6 2001:db8::5\nm=audio 9 RTP/AVP 0\n")
        #expect(media.count == 1 && !media[0].address.isIPv4)
        #expect(scan("v=0\nc=IN IP4 999.1.1.1\nm=audio 9 RTP/AVP 0\n").isEmpty)
        #expect(scan("c=IN IP4 1.1.1.1\nm=audio 9 RTP/AVP 0\n").isEmpty)  // no v= line
        #expect(scan("v=0\nc=IN IP6 1.1.1.1\nm=audio 9 RTP/AVP 0\n").isEmpty)  // family mismatch
    }

    @Test func garbageNeverCrashes() {
        let description = SDPDescription()
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("v=0cmaIN IP4 6:1.2/ RTP/AVPrtpmap:rtcp\r\n".utf8)
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            bytes.withUnsafeBytes { _ = description.scan($0, body: ByteRange(0, $0.count)) }
            #expect(description.mediaCount <= SDPDescription.maxMedia)
        }
    }
}

struct HoldTests {
    static func held(_ body: String) -> Bool {
        let sdp = SDPDescription()
        let bytes = Array(body.utf8)
        return bytes.withUnsafeBytes { buffer in
            sdp.scan(buffer, body: ByteRange(0, buffer.count))
            return sdp.isOnHold
        }
    }

    @Test func directionsAndTheOldZeroAddressSayHold() {
        let base = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
        #expect(!Self.held(base))
        #expect(!Self.held(base + "a=sendrecv\r\n"))
        #expect(Self.held(base + "a=sendonly\r\n"))
        #expect(Self.held(base + "a=recvonly\r\n"))
        #expect(Self.held(base + "a=inactive\r\n"))
        // Session level, before the media line.
        #expect(Self.held("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 8\r\n"))
        #expect(Self.held("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"))
        // Reused for the next body: it does not stick.
        let sdp = SDPDescription()
        for (body, expected) in [(base + "a=sendonly\r\n", true), (base, false)] {
            Array(body.utf8).withUnsafeBytes { buffer in
                sdp.scan(buffer, body: ByteRange(0, buffer.count))
                #expect(sdp.isOnHold == expected)
            }
        }
    }
}
