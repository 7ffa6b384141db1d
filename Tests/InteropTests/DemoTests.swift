import Foundation
import Testing

/// README's first command ends in `scripts/demo`: three nodes in front of three SIPp proxies,
/// clients asking the primary. Run headless here, as a newcomer would run it, with the
/// binary under test. The demo checks its own summary (load shifted in sequence order, no
/// proxy above threshold + 1, some client heard "all busy") and exits 1 when it did not
/// hold; this test also reads the summary and the image. Loopback: SIP ports 5901-5960,
/// RTP 19000-19999 (the demo's own).
@Suite struct DemoTests {
    static let tools = ["/usr/bin/sipp", "/usr/bin/gnuplot"]
    static let canRun = getuid() == 0 && tools.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: canRun, "needs root (a live capture on lo), SIPp and gnuplot: sh scripts/install-deps"))
    func theDemoShowsTheGroupShiftingLoadAndDrawsIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatewayd-demo-test-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("demo.png")
        let output = directory.appendingPathComponent("output.txt")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)

        let demo = Process()
        demo.executableURL = Interop.root.appendingPathComponent("scripts/demo")
        demo.arguments = ["--plain", "--gatewayd", Interop.binary.path, "--out", image.path]
        demo.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        demo.standardOutput = try FileHandle(forWritingTo: output)
        demo.standardError = demo.standardOutput
        try demo.run()
        // About a minute; a loaded machine gets three.
        let ended = Interop.eventually(180) { !demo.isRunning }
        if !ended { demo.terminate() }
        demo.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        #expect(ended && demo.terminationStatus == 0, "scripts/demo: \(text.suffix(3000))")

        // The live table: a row per node per second, with every column.
        let rows = text.split(separator: "\n").filter { $0.range(of: #"^\d\d:\d\d   n[123] "#, options: .regularExpression) != nil }
        #expect(rows.count >= 3 * 30, "fewer table rows than 30 seconds of three nodes")
        #expect(text.contains("calls  at proxy  workload  state       answered  forwarded  all busy"))
        // The summary: every proxy took calls, clients heard "all busy", and what it shows.
        for node in 1...3 { #expect(text.contains("n\(node): its proxy answered "), "no summary line for n\(node)") }
        let busy = text.firstMatch(of: /(\d+) heard "all busy"/).flatMap { Int($0.1) }
        #expect((busy ?? 0) > 0)
        #expect(text.contains("what it shows: the clients only ever asked n1."))
        #expect(!text.contains("FAILED"))

        // The image: a PNG with a header of sensible size and its end chunk.
        let png = try Data(contentsOf: image)
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(png.count > 10_000 && png.subdata(in: 12..<16) == Data("IHDR".utf8))
        let width = png.subdata(in: 16..<20).reduce(0) { $0 << 8 | Int($1) }
        let height = png.subdata(in: 20..<24).reduce(0) { $0 << 8 | Int($1) }
        #expect(width >= 640 && height >= 480)
        #expect(png.suffix(8).prefix(4) == Data("IEND".utf8))

        // It stopped everything it started: its ports are free for the next run.
        for node in 1...3 {
            #expect(!Interop.isBoundUDP("127.0.0.\(node)", 5901), "node n\(node) still running")
            #expect(!Interop.isBoundUDP("127.0.0.\(node)", 5910 + node), "proxy \(node) still running")
        }
    }
}
