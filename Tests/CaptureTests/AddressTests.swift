import Testing
import Basics
import Capture

struct AddressTests {
    func text(_ address: IPAddress) -> String {
        var buffer = TextBuffer()
        buffer.append(address)
        return String(decoding: buffer.bytes, as: UTF8.self)
    }

    func parse(_ text: String) -> IPAddress? {
        Array(text.utf8).withUnsafeBytes { IPAddress(text: $0) }
    }

    @Test(arguments: ["127.0.0.1", "10.35.60.100", "::1", "2001:db8::1", "fe80::1:2", "2001:db8:0:1:1:1:1:1", "::",
                      "2607:f010:3f9::11:0", "1::"])
    func roundTripsInCanonicalForm(_ text: String) throws {
        let address = try #require(parse(text))
        #expect(self.text(address) == text)
    }

    @Test(arguments: ["1.2.3", "256.1.1.1", "1.2.3.4.5", ":::", "1:2:3:4:5:6:7:8:9", "g::1", "", "1.2.3.", "::1::2"])
    func rejectsInvalid(_ text: String) {
        #expect(parse(text) == nil)
    }

    @Test func fixedPointFormatting() {
        var buffer = TextBuffer()
        buffer.append(fixed: 2730.467572, decimals: 3)
        buffer.append(byte: 0x20)
        buffer.append(fixed: -0.0004, decimals: 3)
        buffer.append(byte: 0x20)
        buffer.append(fixed: 0.0995, decimals: 3)
        buffer.append(byte: 0x20)
        buffer.append(-42)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "2730.468 0.000 0.100 -42")
    }
}
