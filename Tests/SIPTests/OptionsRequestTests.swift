import Basics
import SIP
import Testing

/// A counter as entropy: each word is 1, 2, 3... so which word a digit came from shows.
struct CountingEntropy: EntropySource {
    var word: UInt64 = 0
    mutating func next() -> UInt64 {
        word += 1
        return word
    }
}

struct OptionsRequestTests {
    func written(_ body: (inout TextBuffer) -> Void) -> String {
        var out = TextBuffer()
        body(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func aMemberProbe() {
        let me = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 5060)
        let member = Endpoint(address: IPAddress(ipv4: 0x7F00_0002), port: 5060)
        let text = written { out in
            Array("z9hG4bKabc".utf8).withUnsafeBytes { branch in
                Array("0123".utf8).withUnsafeBytes { tag in
                    Array("abc".utf8).withUnsafeBytes { callID in
                        OptionsRequest.write(into: &out, target: member, sentBy: .endpoint(me), branch: branch, maxForwards: 0,
                                             from: .user("gatewayd", at: me), fromTag: tag, to: .host(member), callID: callID,
                                             callIDHost: "gatewayd", cseq: 1)
                    }
                }
            }
        }
        #expect(text == "OPTIONS sip:127.0.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc\r\n"
                + "Max-Forwards: 0\r\nFrom: <sip:gatewayd@127.0.0.1:5060>;tag=0123\r\nTo: <sip:127.0.0.2:5060>\r\n"
                + "Call-ID: abc@gatewayd\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        // And the scanner reads what the writer wrote.
        let scanned = Array(text.utf8).withUnsafeBytes { buffer in
            SIPScanner.startLine(buffer).flatMap { try? SIPScanner.scan(buffer, startLine: $0, framing: .datagram) }
        }
        #expect(scanned?.method == .options && scanned?.cseqNumber == 1 && scanned?.maxForwards == 0)
    }

    @Test func anAskNamesTheEndpointInFromAndTo() {
        let entry = Endpoint(address: IPAddress(ipv4: 0x7F00_0001), port: 5060)
        let text = written { out in
            Array("sip:fxs1@gw".utf8).withUnsafeBytes { uri in
                Array("z9hG4bK1".utf8).withUnsafeBytes { branch in
                    OptionsRequest.write(into: &out, target: entry, sentBy: .host("steering.invalid"), branch: branch, maxForwards: 70,
                                         from: .uri(uri), fromTag: branch, to: .uri(uri), callID: branch, callIDHost: "steering", cseq: 42)
                }
            }
        }
        #expect(text.contains("Via: SIP/2.0/UDP steering.invalid;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"))
        #expect(text.contains("From: <sip:fxs1@gw>;tag=z9hG4bK1\r\nTo: <sip:fxs1@gw>\r\n"))
        #expect(text.contains("CSeq: 42 OPTIONS\r\n"))
    }

    /// Each word gives 16 digits (4 bits each, lowest first); longer runs take new words, so
    /// no digit is a constant 0 from a word shifted empty.
    @Test func hexDigitsTakeAWordEverySixteen() {
        var entropy = CountingEntropy()
        var digits: [UInt8] = []
        entropy.hexDigits(20) { index, digit in
            #expect(index == digits.count)
            digits.append(digit)
        }
        #expect(String(decoding: digits, as: UTF8.self) == "1000000000000000" + "2000")
        #expect(entropy.word == 2)
    }
}
