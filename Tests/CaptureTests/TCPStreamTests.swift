import Testing
import Capture

struct TCPStreamTests {
    /// Feeds segments of one flow and collects what the reader sees, consuming only whole
    /// "messages" (lines ending in '\n'), as the SIP framer does.
    func run(_ segments: [(UInt32, UInt8, [UInt8])], limits: DecoderLimits = DecoderLimits())
        -> (lines: [String], gaps: [Bool], decoder: PacketDecoder)
    {
        let decoder = PacketDecoder(linkType: .rawIP, limits: limits)
        var lines: [String] = []
        var gaps: [Bool] = []
        for (sequence, flags, payload) in segments {
            let frame = Frame.ipv4(protocolNumber: 6, payload: Frame.tcp(source: 5060, destination: 40000, sequence: sequence,
                                                                        flags: flags, payload: payload))
            let (result, _) = Frame.decode(frame, decoder: decoder)
            guard case .stream(let chunk) = result else { continue }
            gaps.append(chunk.afterGap)
            var consumed = 0
            var start = 0
            for (index, byte) in chunk.bytes.enumerated() where byte == 0x0A {
                lines.append(String(decoding: chunk.bytes[start..<index], as: UTF8.self))
                start = index + 1
                consumed = start
            }
            decoder.consumed(consumed)
        }
        return (lines, gaps, decoder)
    }

    @Test func severalMessagesInOneSegment() {
        let result = run([(100, 0x02, []), (101, 0x18, Array("one\ntwo\nthree\n".utf8))])
        #expect(result.lines == ["one", "two", "three"])
        #expect(result.gaps == [false])
    }

    @Test func oneMessageSplitAcrossSegments() {
        let text = Array("a long message\nnext\n".utf8)
        let result = run([(1000, 0x02, []), (1001, 0x18, Array(text[0..<3])), (1004, 0x18, Array(text[3..<9])),
                          (1010, 0x18, Array(text[9...]))])
        #expect(result.lines == ["a long message", "next"])
    }

    @Test func byteAtATime() {
        let text = Array("first line\nsecond line\n".utf8)
        var segments: [(UInt32, UInt8, [UInt8])] = [(0, 0x02, [])]
        for (index, byte) in text.enumerated() { segments.append((UInt32(1 + index), 0x18, [byte])) }
        #expect(run(segments).lines == ["first line", "second line"])
    }

    @Test func retransmissionsAreSkipped() {
        let result = run([(0, 0x02, []), (1, 0x18, Array("abc\n".utf8)), (1, 0x18, Array("abc\n".utf8)),
                          (3, 0x18, Array("c\ndef\n".utf8))])
        #expect(result.lines == ["abc", "def"])
        #expect(result.decoder.counters.tcpRetransmissions == 2)
    }

    @Test func gapResumesAtTheNewSegmentFlagged() {
        let result = run([(0, 0x02, []), (1, 0x18, Array("partial".utf8)), (500, 0x18, Array("later\n".utf8))])
        #expect(result.lines == ["later"])
        #expect(result.gaps == [false, true])
        #expect(result.decoder.counters.tcpGaps == 1)
    }

    @Test func captureJoinedMidConnectionIsFlagged() {
        let result = run([(777, 0x18, Array("tail of something\nwhole\n".utf8))])
        #expect(result.gaps == [true])
    }

    @Test func unconsumedBytesAreBoundedPerFlow() {
        var limits = DecoderLimits()
        limits.tcpFlowBytes = 64
        // 200 bytes without a line end: the reader can never consume them.
        var segments: [(UInt32, UInt8, [UInt8])] = [(0, 0x02, [])]
        for i in 0..<10 { segments.append((UInt32(1 + i * 20), 0x18, [UInt8](repeating: 0x41, count: 20))) }
        let result = run(segments, limits: limits)
        #expect(result.decoder.counters.tcpOverflows > 0)
        #expect(result.lines.isEmpty)
    }

    @Test func flowsAreEvictedWhenTheTableIsFull() {
        var limits = DecoderLimits()
        limits.tcpFlows = 2
        let decoder = PacketDecoder(linkType: .rawIP, limits: limits)
        for port in 0..<10 {
            let frame = Frame.ipv4(protocolNumber: 6, payload: Frame.tcp(source: 1000 + port, destination: 5060, sequence: 1,
                                                                        payload: Array("x".utf8)))
            _ = Frame.decode(frame, decoder: decoder)
        }
        #expect(decoder.counters.tcpFlowsEvicted == 8)
    }
}
