import Foundation
import Testing

/// tshark on `lo` for the test's ports (SIP 5400-5499, RTP 20000-20999): every packet written
/// to a file (for `SIPCount` afterwards) and, at the same time, one line per packet
/// (addresses, ports, SIP method or status) that the test reads while the capture runs, so it
/// can wait for media instead of sleeping.
final class LoopbackCapture: LabMember {
    /// One UDP packet as tshark printed it.
    struct Packet {
        var time: Double
        var source: String
        var sourcePort: Int
        var destination: String
        var destinationPort: Int
        /// SIP request method, when it is one.
        var method: String?
        /// SIP response code, when it is one.
        var status: Int?
        var callID: String?
    }

    static let defaultFilter = "udp portrange 5400-5499 or udp portrange 20000-20999"

    let name: String
    let file: String
    let lines: String
    let errors: String
    private var process: ChildProcess?

    /// Starts tshark and waits until it captures.
    init(_ lab: PhoneLab, name: String = "capture", filter: String = LoopbackCapture.defaultFilter,
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        self.name = name
        file = lab.path(name + ".pcapng")
        lines = lab.path(name + ".txt")
        errors = lab.path(name + ".err")
        let arguments = ["-i", "lo", "-n", "-l", "-f", filter, "-w", file, "-P", "-T", "fields", "-E", "separator=|",
                         "-e", "frame.time_epoch", "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport",
                         "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID"]
        process = try lab.launch(RealPhones.path(.tshark), arguments, in: lab.directory.path, output: lines, error: errors)
        _ = lab.add(self)
        let capturing = RealPhones.waitUntil(15, every: 0.05) {
            RealPhones.read(errors).contains("Capturing on") || process?.isRunning != true
        }
        try #require(capturing && process?.isRunning == true, "tshark did not start: \(RealPhones.tail(errors))",
                     sourceLocation: sourceLocation)
    }

    /// Every packet so far (the last line may be incomplete and is left out).
    func packets() -> [Packet] {
        let text = RealPhones.read(lines)
        var rows = text.split(separator: "\n", omittingEmptySubsequences: true)
        if !text.hasSuffix("\n"), !rows.isEmpty { rows.removeLast() }
        return rows.compactMap { row in
            let fields = row.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 5, let time = Double(fields[0]), let sourcePort = Int(fields[2]),
                  let destinationPort = Int(fields[4]) else { return nil }
            let method = fields.count > 5 && !fields[5].isEmpty ? fields[5] : nil
            let status = fields.count > 6 ? Int(fields[6]) : nil
            let callID = fields.count > 7 && !fields[7].isEmpty ? fields[7] : nil
            return Packet(time: time, source: fields[1], sourcePort: sourcePort, destination: fields[3],
                          destinationPort: destinationPort, method: method, status: status, callID: callID)
        }
    }

    /// UDP packets from a port in `from` to a port in `to` (RTP and RTCP both: a phone's RTP
    /// range holds its RTCP port too).
    func packets(from: ClosedRange<Int>, to: ClosedRange<Int>) -> Int {
        packets().filter { from.contains($0.sourcePort) && to.contains($0.destinationPort) }.count
    }

    /// Waits until at least `count` packets went each way between the two ranges; the counts
    /// (a→b, b→a) at the end.
    func waitForMedia(between a: ClosedRange<Int>, and b: ClosedRange<Int>, atLeast count: Int,
                      within seconds: Double = 15) -> (Int, Int) {
        var counts = (0, 0)
        _ = RealPhones.waitUntil(seconds, every: 0.2) {
            let all = packets()
            counts = (all.filter { a.contains($0.sourcePort) && b.contains($0.destinationPort) }.count,
                      all.filter { b.contains($0.sourcePort) && a.contains($0.destinationPort) }.count)
            return counts.0 >= count && counts.1 >= count
        }
        return counts
    }

    /// SIP requests seen so far that went to `address`:`port` (any when nil).
    func requests(_ method: String? = nil, to address: String? = nil, port: Int? = nil) -> [Packet] {
        packets().filter { packet in
            guard let seen = packet.method else { return false }
            return (method == nil || seen == method) && (address == nil || packet.destination == address)
                && (port == nil || packet.destinationPort == port)
        }
    }

    /// Waits until a request matching the arguments was seen; all such requests.
    func waitForRequest(_ method: String, to address: String? = nil, port: Int? = nil, within seconds: Double = 10) -> [Packet] {
        RealPhones.wait(seconds, every: 0.1) { () -> [Packet]? in
            let seen = requests(method, to: address, port: port)
            return seen.isEmpty ? nil : seen
        } ?? []
    }

    /// Stops tshark (SIGINT: it closes the file properly) and waits for it.
    func stop() {
        guard let process, process.isRunning else { return }
        PhoneLab.end(process, signal: SIGINT, grace: 10)
        self.process = nil
    }
}

/// SIP requests counted per method in a capture file (tshark `-Y sip.Method`), for asserting
/// that nothing loops: "at most N INVITEs per call".
enum SIPCount {
    /// One request in the file.
    struct Request {
        var method: String
        var source: String
        var sourcePort: Int
        var destination: String
        var destinationPort: Int
        var callID: String
        var requestURI: String
    }

    /// The requests in `file` sent to (or, with `either`, from or to) any of `ports` (all
    /// requests when `ports` is empty), in order.
    static func requests(in file: String, ports: [Int] = [], either: Bool = false) throws -> [Request] {
        var filter = "sip.Method"
        if !ports.isEmpty {
            let set = ports.map(String.init).joined(separator: " ")
            filter += either ? " && udp.port in {\(set)}" : " && udp.dstport in {\(set)}"
        }
        let result = try Interop.run(RealPhones.path(.tshark), [
            "-r", file, "-n", "-Y", filter, "-T", "fields", "-E", "separator=|", "-e", "sip.Method", "-e", "ip.src",
            "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport", "-e", "sip.Call-ID", "-e", "sip.r-uri",
        ])
        try #require(result.status == 0, "tshark -r \(file) failed: \(result.error)")
        return result.output.split(separator: "\n").compactMap { row in
            let fields = row.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 7, let sourcePort = Int(fields[2]), let destinationPort = Int(fields[4]) else { return nil }
            return Request(method: fields[0], source: fields[1], sourcePort: sourcePort, destination: fields[3],
                           destinationPort: destinationPort, callID: fields[5], requestURI: fields[6])
        }
    }

    /// Requests per method sent to any of `ports` (see `requests`).
    static func byMethod(in file: String, ports: [Int] = [], either: Bool = false) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for request in try requests(in: file, ports: ports, either: either) { counts[request.method, default: 0] += 1 }
        return counts
    }

    /// Requests of `method` per Call-ID sent to any of `ports`.
    static func perCall(_ method: String, in file: String, ports: [Int] = []) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for request in try requests(in: file, ports: ports) where request.method == method { counts[request.callID, default: 0] += 1 }
        return counts
    }
}
