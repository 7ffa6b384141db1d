import Foundation
import Testing
import LoadMeter
import SIP

/// The SIP torture test messages of RFC 4475, one file each in Tests/Fixtures/rfc4475 (see its
/// README for where the bytes came from), run through the scanner as UDP datagrams.
enum RFC4475 {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/rfc4475")

    /// Every file of the RFC's archive and its size: a CRLF -> LF conversion changes these.
    static let sizes: [String: Int] = [
        "badaspec": 346, "badbranch": 262, "baddate": 532, "baddn": 331, "badinv01": 472, "badvers": 291,
        "bcast": 516, "bext01": 381, "bigcode": 332, "clerr": 498, "cparam01": 321, "cparam02": 311,
        "dblreq": 750, "esc01": 543, "esc02": 439, "escnull": 359, "escruri": 550, "insuf": 304,
        "intmeth": 641, "inv2543": 445, "invut": 391, "longreq": 3515, "ltgtruri": 452, "lwsdisp": 255,
        "lwsruri": 541, "lwsstart": 506, "mcl01": 382, "mismatch01": 236, "mismatch02": 449, "mpart01": 1290,
        "multi01": 643, "ncl": 486, "noreason": 274, "novelsc": 277, "quotbal": 485, "regaut01": 304,
        "regbadct": 307, "regescrt": 302, "scalar02": 476, "scalarlg": 385, "sdp01": 494, "semiuri": 380,
        "test": 318, "transports": 503, "trws": 327, "unkscm": 291, "unksm2": 282, "unreason": 526,
        "wsinv": 1001, "zeromf": 272,
    ]

    /// §3.1.1: every element should take these as well-formed.
    static let valid = ["wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq",
                        "semiuri", "transports", "mpart01", "unreason", "noreason"]

    /// Valid messages the scanner turns away: scanner bugs, described.
    /// Valid messages the scanner turns away: none since intmeth's first byte (`!`) is taken.
    static let validButRefused: [String: String] = [:]

    enum Expected: Sendable, CustomStringConvertible {
        /// `startLine` returns nil.
        case notSIP
        /// `scan` throws exactly this.
        case defect(SIPDefect)
        /// Scans: the message is fine for the scanner, for the reason given.
        case scans(String)
        /// Should be turned away but scans: a scanner bug, described.
        case knownIssue(String)

        var description: String {
            switch self {
            case .notSIP: "not SIP"
            case .defect(let defect): "\(defect)"
            case .scans(let reason): "scans: \(reason)"
            case .knownIssue(let bug): "known issue: \(bug)"
            }
        }
    }

    /// §3.1.2: invalid messages. The RFC wants each refused (400, or 501/505/discard), but the
    /// scanner only checks what the meter reads, so some scan; each says why that is right.
    static let invalid: [String: Expected] = [
        // Via `;;,;,,` and Contact `;;;;`: parameter syntax is not checked; the top Via's
        // sent-by (192.0.2.15) is still found, and a stray `;` counts as a second Via value.
        "badinv01": .scans("Via/Contact parameter syntax is not validated"),
        "clerr": .defect(.bodyPastEnd),  // Content-Length 9999 in a 498-byte datagram
        "ncl": .defect(.badContentLength),  // Content-Length -999
        "scalar02": .defect(.badCSeq),  // CSeq 36893488147419103232 > 2^32-1
        "scalarlg": .defect(.badCSeq),  // CSeq 9292394834772304023312 in a response
        // To `"Mr. J. User <sip:j.user@example.com>`: display names are never parsed; the To
        // range is taken whole and the To tag is (rightly) empty.
        "quotbal": .scans("unterminated quote in To's display name: display names are not parsed"),
        // Request-URI `<sip:user@example.com>`: the Request-URI is an opaque range (only a
        // colon is required); nothing in the meter or node reads it.
        "ltgtruri": .scans("<> around the Request-URI: the Request-URI is not parsed"),
        "lwsruri": .notSIP,  // `sip:user@example.com; lr`: a space inside the Request-URI
        "lwsstart": .notSIP,  // two spaces between request-line elements
        "trws": .notSIP,  // spaces after SIP/2.0
        // `?Route=%3Csip:example.com%3E` in the Request-URI: URI headers are not interpreted.
        "escruri": .scans("escaped headers in the Request-URI: the Request-URI is not parsed"),
        "baddate": .scans("Date with time zone EST: Date is not read"),
        // `Contact: sip:user@example.com?Route=...` without <>: Contact is an opaque range.
        "regbadct": .scans("URI with ? in Contact not in <>: Contact is not parsed"),
        // `To: "Watson, Thomas" < sip:t.watson@example.org >`: addr-specs are not parsed.
        "badaspec": .scans("spaces inside <> in To: addr-spec is not parsed"),
        // The archive's baddn.dat has no empty line after the headers (the RFC's printed text
        // has one), so it fails before the display names matter; with the empty line it scans
        // (see `baddnWithItsEmptyLine`).
        "baddn": .defect(.unterminatedHeaders),
        "badvers": .notSIP,  // SIP/7.0
        // The CSeq method must be the request's (RFC 3261 §8.1.1.5): OPTIONS / NEWMETHOD with
        // CSeq `8 INVITE` would otherwise be counted as INVITE transactions.
        "mismatch01": .defect(.cseqMethodMismatch),
        "mismatch02": .defect(.cseqMethodMismatch),
        "bigcode": .notSIP,  // status code 4294967301
    ]

    /// §3.2 (transaction layer), §3.3 (application layer), §3.4 (backward compatibility), and
    /// the archive's extra test.dat. Most of these are well-formed and are for the layers above.
    static let otherLayers: [String: Expected] = [
        "badbranch": .scans("branch is only the magic cookie: valid syntax, a transaction-layer matter"),
        "insuf": .defect(.missingCallID),  // no Call-ID, From, To or Max-Forwards
        "unkscm": .scans("unknown Request-URI scheme: application layer (416)"),
        "novelsc": .scans("soap.beep Request-URI: application layer"),
        "unksm2": .scans("unknown schemes in To/From/Contact: application layer"),
        "bext01": .scans("unsupported Require/Proxy-Require: application layer (420)"),
        "invut": .scans("unknown body type: application layer (415)"),
        "regaut01": .scans("unknown Authorization scheme: application layer"),
        // Two different Call-IDs, CSeqs, Froms, Tos and Max-Forwards: refused, not guessed.
        "multi01": .defect(.conflictingHeaders),
        "mcl01": .defect(.badContentLength),  // Content-Length 13 and 5
        "bcast": .scans("200 OK with a 255.255.255.255 Via: routing policy, not syntax"),
        "zeromf": .scans("Max-Forwards 0: the node answers it (tooManyHops/answerProbe)"),
        "cparam01": .scans("unknown Contact parameter outside <>: Contact is not parsed"),
        "cparam02": .scans("unknown URI parameter inside <> in Contact: Contact is not parsed"),
        "regescrt": .scans("escaped Route in a Contact URI: Contact is not parsed"),
        "sdp01": .scans("Accept without application/sdp but an SDP body: application layer"),
        "inv2543": .scans("RFC 2543 INVITE (no branch, no Max-Forwards, no Content-Length): valid"),
        "test": .notSIP,  // archive extra: `INVITE sip:alan@jasomi.com` has no SIP-Version
    ]

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name + ".dat")))
    }
}

/// What the scanner made of one buffer.
enum RFC4475Outcome: Equatable {
    case notSIP
    case defect(SIPDefect)
    case scanned(SIPMessage)

    init(_ buffer: UnsafeRawBufferPointer, framing: SIPScanner.Framing = .datagram) {
        guard let line = SIPScanner.startLine(buffer) else {
            self = .notSIP
            return
        }
        do throws(SIPDefect) {
            self = .scanned(try SIPScanner.scan(buffer, startLine: line, framing: framing))
        } catch {
            self = .defect(error)
        }
    }

    var message: SIPMessage? {
        if case .scanned(let message) = self { return message }
        return nil
    }
}

fileprivate extension ByteRange {
    func text(_ buffer: UnsafeRawBufferPointer) -> String { String(decoding: slice(of: buffer), as: UTF8.self) }
    func bytes(_ buffer: UnsafeRawBufferPointer) -> [UInt8] { Array(slice(of: buffer)) }
}

/// Loads fixture `name`, scans it as a datagram and hands over its bytes and the outcome.
private func withFixture<R>(_ name: String,
                            _ body: (UnsafeRawBufferPointer, RFC4475Outcome) throws -> R) throws -> R {
    try RFC4475.bytes(name).withUnsafeBytes { buffer in try body(buffer, RFC4475Outcome(buffer)) }
}

/// Loads and scans fixture `name`, requiring that it scans.
private func withScannedFixture<R>(_ name: String,
                                   _ body: (UnsafeRawBufferPointer, SIPMessage) throws -> R) throws -> R {
    try withFixture(name) { buffer, outcome in
        let message = try #require(outcome.message, "\(name): \(outcome)")
        return try body(buffer, message)
    }
}

/// What must hold for any message that scans, whatever its RFC verdict.
private func checkConsistency(_ name: String, _ message: SIPMessage, _ buffer: UnsafeRawBufferPointer) {
    #expect(message.length <= buffer.count, "\(name)")
    #expect(message.body.end == message.length && message.body.start >= message.startLine.headersStart, "\(name)")
    #expect(!message.callID.isEmpty && message.hasCSeq && !message.from.isEmpty && !message.to.isEmpty, "\(name)")
    if message.contentLength >= 0 {
        #expect(message.body.count == message.contentLength, "\(name)")
    } else {
        #expect(message.length == buffer.count, "\(name): no Content-Length, the datagram ends the body")
    }
    // HeaderLines and ViaValues see what the scanner saw.
    var headers = HeaderLines(buffer, message)
    var headerCount = 0
    while headers.next() != nil { headerCount += 1 }
    #expect(headerCount == message.headerCount, "\(name)")
    var vias = ViaValues(buffer, message)
    var viaCount = 0
    while let via = vias.next() {
        if viaCount == 0 { #expect(via == message.topVia, "\(name)") }
        viaCount += 1
    }
    #expect(viaCount == message.viaCount, "\(name)")
    // The same bytes framed as a TCP stream.
    let streamLength = message.contentLength >= 0 ? message.length : message.body.start
    #expect(SIPScanner.frameLength(buffer) == .complete(streamLength), "\(name)")
    let stream = RFC4475Outcome(buffer, framing: .stream).message
    #expect(stream?.length == streamLength && stream?.callID == message.callID, "\(name)")
}

struct RFC4475Tests {
    // MARK: The fixtures

    @Test func archiveIsCompleteAndByteExact() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: RFC4475.folder.path)
            .filter { $0.hasSuffix(".dat") }.map { String($0.dropLast(4)) }
        #expect(Set(files) == Set(RFC4475.sizes.keys))
        let sections = RFC4475.valid + RFC4475.invalid.keys + RFC4475.otherLayers.keys
        #expect(sections.count == RFC4475.sizes.count && Set(sections) == Set(RFC4475.sizes.keys))
        for (name, size) in RFC4475.sizes.sorted(by: { $0.key < $1.key }) {
            let bytes = try RFC4475.bytes(name)
            #expect(bytes.count == size, "\(name).dat")
            // Every header line ends in CRLF (mpart01's binary body part has bare CR and LF).
            let headersEnd = (0..<max(bytes.count - 3, 0)).first {
                bytes[$0] == 0x0D && bytes[$0 + 1] == 0x0A && bytes[$0 + 2] == 0x0D && bytes[$0 + 3] == 0x0A
            } ?? bytes.count
            let bareLF = (0..<headersEnd).filter { bytes[$0] == 0x0A && ($0 == 0 || bytes[$0 - 1] != 0x0D) }
            #expect(bareLF.isEmpty, "\(name).dat has bare LF at \(bareLF)")
        }
    }

    // MARK: §3.1.1 valid messages

    @Test(arguments: RFC4475.valid) func validMessageScans(_ name: String) throws {
        try withFixture(name) { buffer, outcome in
            guard let bug = RFC4475.validButRefused[name] else {
                let message = try #require(outcome.message, "\(name): \(outcome)")
                checkConsistency(name, message, buffer)
                return
            }
            withKnownIssue(Comment(rawValue: bug)) {
                #expect(outcome.message != nil, "\(name): \(outcome)")
            }
            if let message = outcome.message { checkConsistency(name, message, buffer) }
        }
    }

    @Test func wsinv() throws {
        try withScannedFixture("wsinv") { buffer, message in
            #expect(message.isRequest && message.method == .invite)
            #expect(message.startLine.methodRange.text(buffer) == "INVITE")
            #expect(message.startLine.requestURI.text(buffer) == "sip:vivekg@chair-dnrc.example.com;unknownparam")
            #expect(message.callID.text(buffer) == "wsinv.ndaksdj@192.0.2.1")
            #expect(message.hasCSeq && message.cseqNumber == 9 && message.cseqMethod == .invite)  // `0009\r\n  INVITE`
            #expect(message.toTag.text(buffer) == "1918181833n")
            #expect(message.fromTag.text(buffer) == "98asjd8")  // after `"J Rosenberg \\\""` and a folded `;`
            #expect(message.maxForwards == 68)  // 0068
            #expect(message.viaCount == 3)  // one Via, then `v:` with two comma-separated values
            #expect(message.topViaBranch.text(buffer) == "390skdjuw")
            #expect(message.contentLength == 150 && message.body.count == 150 && message.length == buffer.count)
            #expect(message.contentType.text(buffer) == "application/sdp")
            #expect(message.contact.text(buffer).hasPrefix("\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com>"))
            #expect(message.headerCount == 14)
            #expect(message.body.text(buffer).hasPrefix("v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\n"))

            var headers = HeaderLines(buffer, message)
            var seen: [String: String] = [:]
            while let header = headers.next() { seen[header.name.text(buffer)] = header.value.text(buffer) }
            #expect(seen["NewFangledHeader"] == "newfangled value\r\n continued newfangled value")
            #expect(seen["UnknownHeaderWithUnusualValue"] == ";;,,;;,;")
            #expect(seen["s"] == "")  // the empty Subject
            #expect(seen["Via"] == "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw")

            var vias = ViaValues(buffer, message)
            var values: [String] = []
            while let via = vias.next() { values.append(via.text(buffer)) }
            #expect(values.count == 3)
            #expect(values.dropFirst().first == "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8")
            #expect(values.last == "SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239")
        }
    }

    /// RFC 3261 allows LWS around the slashes of sent-protocol (`SIP  /   2.0\r\n /UDP`), and
    /// wsinv uses it in every Via.
    @Test func wsinvViaSentBy() throws {
        try withScannedFixture("wsinv") { buffer, message in
            var vias = ViaValues(buffer, message)
            var hosts: [String] = []
            while let via = vias.next() { hosts.append(ViaValues.sentBy(buffer, via).map { $0.host.text(buffer) } ?? "nil") }
            // White space around the slashes of sent-protocol (RFC 3261 SLASH) is allowed.
            #expect(hosts == ["192.0.2.2", "spindle.example.com", "192.168.255.111"])
        }
    }

    @Test func intmeth() throws {
        try withFixture("intmeth") { buffer, outcome in
            #expect(SIPScanner.startLine(buffer) != nil)
            let message = try #require(outcome.message, "intmeth should scan")
            checkIntmeth(buffer, message, method: "!interesting-Method0123456789_*+`.%indeed'~")
        }
    }

    private func checkIntmeth(_ buffer: UnsafeRawBufferPointer, _ message: SIPMessage, method: String) {
        // An unknown method made of all of token's odd characters; `%` is no escape here.
        #expect(message.isRequest && message.method == .other)
        #expect(message.startLine.methodRange.text(buffer) == method)
        #expect(message.startLine.requestURI.text(buffer)
            == "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com")
        #expect(message.cseqNumber == 139122385 && message.cseqMethod == .other)
        #expect(message.callID.text(buffer) == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
        #expect(message.maxForwards == 255)
        #expect(message.topViaBranch.text(buffer) == "z9hG4bK-.!%66*_+`'~")
        // The To display name holds quoted BEL, NUL and DEL bytes, and To has no tag.
        let to = message.to.bytes(buffer)
        #expect(to.contains(0x00) && to.contains(0x07) && to.contains(0x7F))
        #expect(message.toTag.isEmpty)
        // From's UTF-8 quoted parameter value does not hide the tag.
        #expect(message.fromTag.text(buffer) == "_token~1'+`*%!-.")
        #expect(message.contentLength == 0 && message.body.isEmpty && message.length == buffer.count)
    }

    @Test func esc01() throws {
        try withScannedFixture("esc01") { buffer, message in
            #expect(message.method == .invite)
            #expect(message.startLine.requestURI.text(buffer) == "sip:sips%3Auser%40example.com@example.net")
            #expect(message.callID.text(buffer) == "esc01.239409asdfakjkn23onasd0-3234")  // compact `i:`
            #expect(message.contentType.text(buffer) == "application/sdp")  // compact `C:`
            #expect(message.to.text(buffer) == "sip:%75se%72@example.com")
            #expect(message.fromTag.text(buffer) == "938")
            #expect(message.maxForwards == 87)
            // Contact's value starts on a folded line.
            #expect(message.contact.text(buffer) == "<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>")
            #expect(message.contentLength == 150 && message.body.count == 150)
        }
    }

    @Test func escnull() throws {
        try withScannedFixture("escnull") { buffer, message in
            // The NULs are escaped (%00) inside URIs: no raw NUL byte in this message.
            #expect(message.method == .register)
            #expect(message.to.text(buffer) == "sip:null-%00-null@example.com")
            #expect(message.from.text(buffer) == "sip:null-%00-null@example.com;tag=839923423")
            #expect(message.fromTag.text(buffer) == "839923423")
            #expect(message.contact.text(buffer) == "<sip:%00@host5.example.com>")  // the first of two
            #expect(message.callID.text(buffer) == "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd")
            #expect(message.contentLength == 0 && message.length == buffer.count)  // `L:0`
        }
    }

    @Test func esc02() throws {
        try withScannedFixture("esc02") { buffer, message in
            // RE%47IST%45R is not REGISTER: % is no escape in a method.
            #expect(message.method == .other && message.cseqMethod == .other)
            #expect(message.startLine.methodRange.text(buffer) == "RE%47IST%45R")
            #expect(message.cseqNumber == 29344)
            // `C%6Fntact` is an unknown header, not Contact.
            #expect(message.contact.text(buffer) == "<sip:alias1@host1.example.com>")
            var headers = HeaderLines(buffer, message)
            var contacts = 0
            var oddOne = false
            while let header = headers.next() {
                if headers.named(header, "contact", compact: "m") { contacts += 1 }
                if header.name.text(buffer) == "C%6Fntact" { oddOne = true }
            }
            #expect(contacts == 2 && oddOne)
            #expect(message.topViaBranch.text(buffer) == "z9hG4bK209%fzsnel234")
            #expect(message.to.text(buffer) == "\"%Z%45\" <sip:resource@example.com>")
        }
    }

    @Test func lwsdisp() throws {
        try withScannedFixture("lwsdisp") { buffer, message in
            #expect(message.method == .options)
            #expect(message.from.text(buffer) == "caller<sip:caller@example.com>;tag=323")
            #expect(message.fromTag.text(buffer) == "323")
            #expect(message.callID.text(buffer) == "lwsdisp.1234abcd@funky.example.com")
        }
    }

    @Test func longreq() throws {
        try withScannedFixture("longreq") { buffer, message in
            #expect(message.method == .invite && message.cseqNumber == 3882340)
            #expect(message.callID.text(buffer) == "longreq.one" + String(repeating: "really", count: 20) + "longcallid")
            #expect(message.fromTag.text(buffer) == "1" + String(repeating: "298", count: 50) + "2424")
            // To's long URI parameters are inside <>: no tag.
            #expect(message.toTag.isEmpty)
            // 33 Via headers in every spelling (Via, v, V, ViA, `V :`, `Via  :` ...) plus the last.
            #expect(message.viaCount == 34)
            #expect(message.topVia.text(buffer) == "SIP/2.0/TCP sip33.example.com" && message.topViaBranch.isEmpty)
            var vias = ViaValues(buffer, message)
            var last = ByteRange.empty
            while let via = vias.next() { last = via }
            #expect(SIPScanner.parameter("branch", in: last, buffer).text(buffer).hasSuffix("longbranchvalue"))
            #expect(ViaValues.sentBy(buffer, last).map { $0.host.text(buffer) } == "host.example.com")
            #expect(message.maxForwards == 70)
            #expect(message.contentLength == 150 && message.body.count == 150 && message.length == buffer.count)
            #expect(message.headerCount == 43)
        }
    }

    @Test func dblreq() throws {
        try withScannedFixture("dblreq") { buffer, message in
            // The REGISTER, with an empty body; the INVITE after it in the datagram is noise.
            #expect(message.method == .register && message.cseqMethod == .register)
            #expect(message.callID.text(buffer) == "dblreq.0ha0isndaksdj99sdfafnl3lk233412")  // `I:`
            #expect(message.contentLength == 0 && message.body.isEmpty)
            #expect(message.length == 300 && message.length < buffer.count)
            #expect(ByteRange(message.length, message.length + 13).text(buffer) == "\r\nINVITE sip:")
        }
    }

    @Test func semiuri() throws {
        try withScannedFixture("semiuri") { buffer, message in
            #expect(message.method == .options)
            #expect(message.startLine.requestURI.text(buffer) == "sip:user;par=u%40example.net@example.com")
            var headers = HeaderLines(buffer, message)
            var accept = ""
            while let header = headers.next() {
                if headers.named(header, "accept") { accept = header.value.text(buffer) }
            }
            #expect(accept.hasPrefix("application/sdp") && accept.hasSuffix("message/sip, message/sipfrag"))
        }
    }

    @Test func transports() throws {
        try withScannedFixture("transports") { buffer, message in
            #expect(message.callID.text(buffer) == "transports.kijh4akdnaqjkwendsasfdj")  // two spaces before it
            #expect(message.viaCount == 5)
            #expect(message.topViaBranch.text(buffer) == "z9hG4bKkdjuw")
            var vias = ViaValues(buffer, message)
            var protocols: [String] = []
            var hosts: [String] = []
            while let via = vias.next() {
                let text = via.text(buffer)
                protocols.append(String(text.prefix { $0 != " " }))
                hosts.append(ViaValues.sentBy(buffer, via).map { $0.host.text(buffer) } ?? "nil")
            }
            #expect(protocols == ["SIP/2.0/UDP", "SIP/2.0/SCTP", "SIP/2.0/TLS", "SIP/2.0/UNKNOWN", "SIP/2.0/TCP"])
            #expect(hosts == ["t1.example.com", "t2.example.com", "t3.example.com", "t4.example.com", "t5.example.com"])
        }
    }

    @Test func mpart01() throws {
        try withScannedFixture("mpart01") { buffer, message in
            #expect(message.method == .message && message.cseqMethod == .message && message.cseqNumber == 1)
            #expect(message.callID.text(buffer) == "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..")
            #expect(message.contentType.text(buffer) == "multipart/mixed;boundary=7a9cbec02ceef655")
            #expect(message.contentLength == 553 && message.body.count == 553 && message.length == buffer.count)
            // The binary part (NUL, bare CR and LF) is inside the body and does not upset framing.
            let body = message.body.bytes(buffer)
            #expect(body.starts(with: Array("--7a9cbec02ceef655\r\n".utf8)))
            #expect(body.suffix(22).elementsEqual("--7a9cbec02ceef655--\r\n".utf8))
            #expect(body.contains(0x00))
            #expect(message.topViaBranch.text(buffer) == "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-")
            let sentBy = ViaValues.sentBy(buffer, message.topVia)
            #expect(sentBy?.host.text(buffer) == "127.0.0.1" && sentBy?.port == 5070)
        }
    }

    @Test func unreason() throws {
        try withScannedFixture("unreason") { buffer, message in
            #expect(!message.isRequest && message.statusCode == 200 && message.method == .other)
            #expect(message.startLine.reason.text(buffer) == "= 2**3 * 5**2 но сто девяносто девять - простое")
            #expect(message.cseqNumber == 35 && message.cseqMethod == .invite)
            #expect(message.toTag.text(buffer) == "2229" && message.fromTag.text(buffer) == "11141343")
            #expect(message.contentLength == 154 && message.body.count == 154)
        }
    }

    @Test func noreason() throws {
        try withScannedFixture("noreason") { buffer, message in
            // `SIP/2.0 100 ` then CRLF: an empty reason phrase after the space.
            #expect(!message.isRequest && message.statusCode == 100)
            #expect(message.startLine.reason.isEmpty && message.startLine.reason.start == 12)
            #expect(message.startLine.headersStart == 14)
            #expect(message.callID.text(buffer) == "noreason.asndj203insdf99223ndf")
            #expect(message.toTag.text(buffer) == "902jndnke3" && message.cseqMethod == .invite)
            #expect(message.contentLength == 0 && message.length == buffer.count)
        }
        // Without the trailing space too.
        let bare = Array("SIP/2.0 100\r\n".utf8) + (try RFC4475.bytes("noreason")).dropFirst(14)
        bare.withUnsafeBytes { buffer in
            let line = SIPScanner.startLine(buffer)
            #expect(line?.statusCode == 100 && line?.reason.isEmpty == true && line?.headersStart == 13)
        }
    }

    // MARK: §3.1.2 invalid messages, §3.2, §3.3, §3.4

    @Test(arguments: RFC4475.invalid.keys.sorted()) func invalidMessage(_ name: String) throws {
        try check(name, RFC4475.invalid[name]!)
    }

    @Test(arguments: RFC4475.otherLayers.keys.sorted()) func otherLayerMessage(_ name: String) throws {
        try check(name, RFC4475.otherLayers[name]!)
    }

    private func check(_ name: String, _ expected: RFC4475.Expected) throws {
        try withFixture(name) { buffer, outcome in
            switch expected {
            case .notSIP:
                #expect(outcome == .notSIP, "\(name)")
            case .defect(let defect):
                #expect(outcome == .defect(defect), "\(name)")
            case .scans(let reason):
                let message = try #require(outcome.message, "\(name) should scan: \(reason); got \(outcome)")
                checkConsistency(name, message, buffer)
            case .knownIssue(let bug):
                withKnownIssue(Comment(rawValue: bug)) {
                    #expect(outcome.message == nil, "\(name) should be refused")
                }
            }
        }
    }

    @Test func applicationLayerFields() throws {
        try withScannedFixture("badbranch") { buffer, message in
            #expect(message.topViaBranch.text(buffer) == "z9hG4bK")
        }
        try withScannedFixture("zeromf") { _, message in
            #expect(message.maxForwards == 0)
        }
        try withScannedFixture("bcast") { buffer, message in
            #expect(!message.isRequest && message.statusCode == 200 && message.viaCount == 2)
            var vias = ViaValues(buffer, message)
            _ = vias.next()
            let next = vias.next()
            let second = try #require(next)
            #expect(ViaValues.sentBy(buffer, second)?.host.text(buffer) == "255.255.255.255")
        }
        try withScannedFixture("inv2543") { buffer, message in
            #expect(message.topViaBranch.isEmpty && message.maxForwards == -1 && message.contentLength == -1)
            #expect(message.body.count == 105 && message.length == buffer.count)
            #expect(message.toTag.isEmpty && message.cseqNumber == 56)
        }
        try withScannedFixture("unksm2") { buffer, message in
            #expect(message.to.text(buffer) == "isbn:2983792873" && message.fromTag.text(buffer) == "3234233")
            #expect(message.contact.text(buffer) == "<name:John_Smith>")
        }
        try withScannedFixture("unkscm") { buffer, message in
            #expect(message.startLine.requestURI.text(buffer) == "nobodyKnowsThisScheme:totallyopaquecontent")
        }
        try withScannedFixture("invut") { buffer, message in
            #expect(message.contentType.text(buffer) == "application/unknownformat" && message.body.count == 40)
        }
        try withScannedFixture("regaut01") { _, message in
            #expect(message.contentLength == 0)  // `Content-Length:0`, no space
        }
    }

    // MARK: Variants of the archive's messages

    /// baddn.dat with the empty line the RFC's text shows: unquoted display names with commas
    /// are not the scanner's business; the tags are still found.
    @Test func baddnWithItsEmptyLine() throws {
        let bytes = try RFC4475.bytes("baddn") + Array("\r\n".utf8)
        try bytes.withUnsafeBytes { buffer in
            let message = try #require(RFC4475Outcome(buffer).message)
            #expect(message.fromTag.text(buffer) == "43" && message.toTag.isEmpty)
            #expect(message.to.text(buffer) == "Watson, Thomas <sip:t.watson@example.org>")
            checkConsistency("baddn+CRLF", message, buffer)
        }
    }

    /// scalar02 with its CSeq brought into range: an overlarge Max-Forwards (300) is taken as
    /// 255, the most a hop count can say (RFC 4475 lets it be treated either way), so a
    /// forwarded copy still carries a sensible hop limit.
    @Test func scalar02WithValidCSeq() throws {
        let text = String(decoding: try RFC4475.bytes("scalar02"), as: UTF8.self)
            .replacingOccurrences(of: "CSeq: 36893488147419103232 REGISTER", with: "CSeq: 4294967295 REGISTER")
        try Array(text.utf8).withUnsafeBytes { buffer in
            let message = try #require(RFC4475Outcome(buffer).message)
            #expect(message.cseqNumber == UInt32.max && message.maxForwards == 255)
        }
    }

    // MARK: Robustness

    /// Every prefix of every message (a datagram cut anywhere), both framings: no trap, and
    /// whatever scans stays inside the bytes it was given.
    @Test func everyPrefixOfEveryMessage() throws {
        for name in RFC4475.sizes.keys.sorted() {
            let bytes = try RFC4475.bytes(name)
            bytes.withUnsafeBytes { whole in
                for cut in 0...whole.count {
                    let buffer = UnsafeRawBufferPointer(rebasing: whole[0..<cut])
                    if case .complete(let length) = SIPScanner.frameLength(buffer) {
                        #expect(length <= cut, "\(name) cut at \(cut)")
                    }
                    for framing in [SIPScanner.Framing.datagram, .stream] {
                        guard let message = RFC4475Outcome(buffer, framing: framing).message else { continue }
                        #expect(message.length <= cut && message.body.end <= cut, "\(name) cut at \(cut)")
                        var headers = HeaderLines(buffer, message)
                        while let header = headers.next() { #expect(header.line.end <= cut) }
                        var vias = ViaValues(buffer, message)
                        while let via = vias.next() {
                            if let sentBy = ViaValues.sentBy(buffer, via) { #expect(sentBy.host.end <= cut) }
                        }
                    }
                }
            }
        }
    }
}
