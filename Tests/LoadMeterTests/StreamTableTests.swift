import Basics
@testable import LoadMeter
import Testing

/// The stream key's hash is one multiply (it is on every RTP packet's path): the buckets it
/// picks must still spread streams that differ in one part only.
struct StreamTableTests {
    func endpoint(_ last: UInt32, _ port: Int) -> Endpoint {
        Endpoint(address: IPAddress(ipv4: 0x0A00_0000 | last), port: UInt16(port))
    }

    /// The longest bucket when 4096 keys go into 8192 buckets (a table of 4096 streams).
    func longestBucket(_ keys: [StreamKey]) -> Int {
        var counts = [Int](repeating: 0, count: 8192)
        for key in keys { counts[Int(truncatingIfNeeded: key.hash) & 8191] += 1 }
        return counts.max() ?? 0
    }

    @Test func streamsThatDifferInOnePartSpreadOverTheBuckets() {
        let sourcePorts = (0..<4096).map { StreamKey(source: endpoint(1, 10_000 + 2 * $0), destination: endpoint(2, 20_000), ssrc: 7) }
        let destinationPorts = (0..<4096).map { StreamKey(source: endpoint(1, 10_000), destination: endpoint(2, 20_000 + 2 * $0), ssrc: 7) }
        let ssrcs = (0..<4096).map { StreamKey(source: endpoint(1, 10_000), destination: endpoint(2, 20_000), ssrc: UInt32($0)) }
        let addresses = (0..<4096).map { StreamKey(source: endpoint(UInt32($0), 10_000), destination: endpoint(2, 20_000), ssrc: 7) }
        var generator = SystemRandomNumberGenerator()
        let mixed = (0..<4096).map { _ in
            StreamKey(source: endpoint(UInt32.random(in: 0..<256, using: &generator), Int.random(in: 5000..<10_000, using: &generator) * 2),
                      destination: endpoint(256 + UInt32.random(in: 0..<256, using: &generator), Int.random(in: 5000..<10_000, using: &generator) * 2),
                      ssrc: UInt32.random(in: 0...UInt32.max, using: &generator))
        }
        // Random keys into 8192 buckets: the longest is about 6; a bad hash puts hundreds in one.
        for (name, keys) in [("source ports", sourcePorts), ("destination ports", destinationPorts), ("SSRCs", ssrcs),
                             ("source addresses", addresses), ("mixed", mixed)] {
            #expect(longestBucket(keys) <= 8, "\(name): \(longestBucket(keys)) keys in one bucket")
        }
    }
}
