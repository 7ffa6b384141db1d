import Foundation
import Testing

/// Package.swift and the firmware script (scripts/firmware.sh, which compiles each module
/// itself for the target) name the same Swift modules, the script in an order where each
/// comes after what it depends on; and the protocol core never reaches the capture library.
struct ModuleListTests {
    /// `.target(name: "X", dependencies: [...])` and `.executableTarget(...)` of Sources/.
    static func packageTargets() throws -> [String: [String]] {
        let text = try String(contentsOf: Interop.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"\.(?:target|executableTarget)\(name: "(\w+)", dependencies: \[([^\]]*)\]"#)
        var targets: [String: [String]] = [:]
        for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            let name = String(text[Range(match.range(at: 1), in: text)!])
            let list = String(text[Range(match.range(at: 2), in: text)!])
            targets[name] = list.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"\n")) }
        }
        return targets
    }

    static func firmwareModules() throws -> [String] {
        let text = try String(contentsOf: Interop.root.appendingPathComponent("scripts/firmware.sh"), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("MODULES=\"") })
        return line.dropFirst("MODULES=\"".count).dropLast().split(separator: " ").map(String.init)
    }

    @Test func theFirmwareBuildsThePackagesModulesInDependencyOrder() throws {
        let targets = try Self.packageTargets()
        let sources = try FileManager.default.contentsOfDirectory(atPath: Interop.root.appendingPathComponent("Sources").path)
        // Swift modules: the Sources/ directories whose targets are not C (C shims start with C
        // and a capital letter, and hold no Swift).
        let swiftModules = Set(sources.filter { targets[$0] != nil })
        let order = try Self.firmwareModules()
        #expect(Set(order) == swiftModules, "firmware.sh MODULES \(order), Package.swift \(swiftModules.sorted())")
        for (index, module) in order.enumerated() {
            for dependency in targets[module] ?? [] where swiftModules.contains(dependency) {
                let at = order.firstIndex(of: dependency)
                #expect(at != nil && at! < index, "\(module) depends on \(dependency), which firmware.sh builds later")
            }
        }
    }

    @Test func theProtocolCoreDoesNotDependOnCaptureOrTheMeter() throws {
        let targets = try Self.packageTargets()
        #expect(targets["GatewayCore"] == ["Basics", "SIP"])
        #expect(targets["SIP"] == ["Basics"])
        let core = Interop.root.appendingPathComponent("Sources/GatewayCore")
        let files = FileManager.default.enumerator(atPath: core.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: core.appendingPathComponent(file), encoding: .utf8)
            #expect(!text.contains("import Capture") && !text.contains("import LoadMeter") && !text.contains("import CPcap"),
                    "Sources/GatewayCore/\(file) reaches the capture side")
        }
    }
}
