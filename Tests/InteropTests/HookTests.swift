import Foundation
import Testing

/// The example hooks in examples/hooks/, run as the steering agent runs them
/// (`HOOK assigned|busy|lost` with the assignment in the environment), under /bin/sh, under
/// dash when /bin/sh is another shell, and under `busybox sh` with only busybox's applets
/// on PATH when /bin/busybox exists, as on a gateway's firmware.
struct HookTests {
    struct Shell: Sendable, CustomTestStringConvertible {
        var name: String
        var executable: String
        var arguments: [String]
        /// PATH holds busybox's applets only.
        var busyboxOnly: Bool
        var testDescription: String { name }
    }

    static let shells: [Shell] = {
        let files = FileManager.default
        var shells = [Shell(name: "sh", executable: "/bin/sh", arguments: [], busyboxOnly: false)]
        let sh = (try? files.destinationOfSymbolicLink(atPath: "/bin/sh")) ?? "/bin/sh"
        if !sh.hasSuffix("dash"), files.isExecutableFile(atPath: "/bin/dash") {
            shells.append(Shell(name: "dash", executable: "/bin/dash", arguments: [], busyboxOnly: false))
        }
        if files.isExecutableFile(atPath: "/bin/busybox") {
            shells.append(Shell(name: "busybox sh", executable: "/bin/busybox", arguments: ["sh"], busyboxOnly: true))
        }
        return shells
    }()

    static let hooks = Interop.root.appendingPathComponent("examples/hooks")
    static let samples = Interop.fixtures.appendingPathComponent("hooks")

    /// A temporary directory with copies of the samples; the reload commands it hands out
    /// append a line to `reloads` in it.
    final class Sandbox {
        let directory: URL
        let shell: Shell
        let path: String

        init(_ shell: Shell) throws {
            let files = FileManager.default
            self.shell = shell
            directory = files.temporaryDirectory.appendingPathComponent("gatewayd-hooks-\(getpid())-\(UUID().uuidString)")
            try files.createDirectory(at: directory, withIntermediateDirectories: true)
            for name in ["pjsip.conf", "ooh323.conf"] {
                try files.copyItem(at: HookTests.samples.appendingPathComponent(name),
                                   to: directory.appendingPathComponent(name))
            }
            if shell.busyboxOnly {
                let bin = directory.appendingPathComponent("bin")
                try files.createDirectory(at: bin, withIntermediateDirectories: false)
                let list = try Interop.run("/bin/busybox", ["--list"])
                for applet in list.output.split(separator: "\n") {
                    try files.createSymbolicLink(atPath: bin.appendingPathComponent(String(applet)).path,
                                                 withDestinationPath: "/bin/busybox")
                }
                path = bin.path
            } else {
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            }
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

        func text(_ name: String) throws -> String { try String(contentsOf: file(name), encoding: .utf8) }

        func write(_ name: String, _ text: String) throws { try text.write(to: file(name), atomically: false, encoding: .utf8) }

        /// A reload command that counts its runs.
        var reload: String { "echo reload >> '\(file("reloads").path)'" }

        var reloads: Int {
            guard let text = try? String(contentsOf: file("reloads"), encoding: .utf8) else { return 0 }
            return text.split(separator: "\n").count
        }

        func process(_ hook: String, _ action: String?, _ environment: [String: String]) -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: shell.executable)
            process.arguments = shell.arguments + [HookTests.hooks.appendingPathComponent(hook).path]
                + (action.map { [$0] } ?? [])
            process.environment = environment.merging(["PATH": path]) { _, new in new }
            process.standardInput = FileHandle.nullDevice
            return process
        }

        /// Runs `hook action` with exactly this environment (and PATH).
        func run(_ hook: String, _ action: String?, _ environment: [String: String]) throws -> Interop.Result {
            try Interop.run(process(hook, action, environment))
        }

        /// The asterisk-pjsip environment for this sandbox, plus `extra`.
        func pjsip(_ extra: [String: String]) -> [String: String] {
            ["PJSIP_CONF": file("pjsip.conf").path, "ASTERISK_RELOAD": reload, "KIND": "analog",
             "TRANSPORT": "udp", "EXPIRES": "300"].merging(extra) { _, new in new }
        }

        func ooh323(_ extra: [String: String]) -> [String: String] {
            ["OOH323_CONF": file("ooh323.conf").path, "OOH323_RELOAD": reload, "KIND": "h323", "ENDPOINT": "room",
             "PORT": "5060", "TRANSPORT": "udp", "EXPIRES": "300"].merging(extra) { _, new in new }
        }
    }

    static func sample(_ name: String) throws -> String {
        try String(contentsOf: samples.appendingPathComponent(name), encoding: .utf8)
    }

    /// `text` with its one occurrence of `old` replaced by `new`; fails when `old` is not
    /// there exactly once, so that a changed sample cannot make an expectation vacuous.
    static func replacing(_ old: String, with new: String, in text: String) throws -> String {
        let parts = text.components(separatedBy: old)
        try #require(parts.count == 2, "expected exactly one '\(old)' in the sample")
        return parts.joined(separator: new)
    }

    // MARK: asterisk-pjsip

    static let trunkLine = "outbound_proxy = sip:192.0.2.10:5060\\;lr   ; set by gatewayd's hook\n"

    @Test(arguments: shells)
    func pjsipAssignedRewritesTheOneLineAndReloadsOnce(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: box.file("pjsip.conf").path)
        let result = try box.run("asterisk-pjsip", "assigned", box.pjsip([
            "PJSIP_SECTION": "gw-trunk", "ENDPOINT": "fxs1", "PROXY": "sip:10.0.0.2:5060;transport=udp",
            "HOST": "10.0.0.2", "PORT": "5060",
        ]))
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == "")
        let expected = try Self.replacing(
            Self.trunkLine, with: "outbound_proxy = sip:10.0.0.2:5060\\;transport=udp\\;lr   ; set by gatewayd's hook\n",
            in: Self.sample("pjsip.conf"))
        #expect(try box.text("pjsip.conf") == expected)
        #expect(box.reloads == 1)
        let mode = try FileManager.default.attributesOfItem(atPath: box.file("pjsip.conf").path)[.posixPermissions] as? Int
        #expect(mode == 0o640, "the new file keeps the old one's mode")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: box.directory.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }

    @Test(arguments: shells)
    func pjsipSameProxyTwiceReloadsOnlyOnce(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        // No PJSIP_SECTION: the section is named after the endpoint.
        let environment = box.pjsip(["ENDPOINT": "gw-trunk", "PROXY": "sip:10.0.0.3:5060"])
        let first = try box.run("asterisk-pjsip", "assigned", environment)
        #expect(first.status == 0, "\(first.error)")
        let afterFirst = try box.text("pjsip.conf")
        #expect(afterFirst == (try Self.replacing(
            Self.trunkLine, with: "outbound_proxy = sip:10.0.0.3:5060\\;lr   ; set by gatewayd's hook\n",
            in: Self.sample("pjsip.conf"))))
        let second = try box.run("asterisk-pjsip", "assigned", environment)
        #expect(second.status == 0, "\(second.error)")
        #expect(second.error == "", "nothing to say when nothing changed")
        #expect(try box.text("pjsip.conf") == afterFirst)
        #expect(box.reloads == 1)
        // A different proxy is a change again.
        let third = try box.run("asterisk-pjsip", "assigned", box.pjsip(["ENDPOINT": "gw-trunk", "PROXY": "sip:10.0.0.4"]))
        #expect(third.status == 0, "\(third.error)")
        #expect(box.reloads == 2)
    }

    @Test(arguments: shells)
    func pjsipIPv6HostGetsBracketsAndTheLineIsAddedWhereMissing(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        // No PROXY: the URI is made from HOST, PORT and TRANSPORT.
        let result = try box.run("asterisk-pjsip", "assigned", box.pjsip([
            "PJSIP_SECTION": "line2-trunk", "HOST": "::1", "PORT": "5062", "TRANSPORT": "udp",
        ]))
        #expect(result.status == 0, "\(result.error)")
        // line2-trunk (type endpoint) has no outbound_proxy: it goes after its last setting,
        // before the blank line and the comment that belong to the next section.
        let expected = try Self.replacing(
            "from_user = line2\n", with: "from_user = line2\noutbound_proxy = sip:[::1]:5062\\;transport=udp\\;lr\n",
            in: Self.sample("pjsip.conf"))
        #expect(try box.text("pjsip.conf") == expected)
        #expect(box.reloads == 1)
    }

    @Test(arguments: shells)
    func pjsipIPv6ProxyAsGiven(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let result = try box.run("asterisk-pjsip", "assigned", box.pjsip([
            "ENDPOINT": "gw-trunk", "PROXY": "sip:[2001:db8::5]:5062", "HOST": "2001:db8::5", "PORT": "5062",
        ]))
        #expect(result.status == 0, "\(result.error)")
        let expected = try Self.replacing(
            Self.trunkLine, with: "outbound_proxy = sip:[2001:db8::5]:5062\\;lr   ; set by gatewayd's hook\n",
            in: Self.sample("pjsip.conf"))
        #expect(try box.text("pjsip.conf") == expected)
    }

    @Test(arguments: shells)
    func pjsipTypeChoosesAmongSectionsOfOneName(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let result = try box.run("asterisk-pjsip", "assigned", box.pjsip([
            "ENDPOINT": "gw-trunk", "PJSIP_TYPE": "aor", "PROXY": "sip:10.0.0.2",
        ]))
        #expect(result.status == 0, "\(result.error)")
        let expected = try Self.replacing(
            "qualify_frequency = 30\n", with: "qualify_frequency = 30\noutbound_proxy = sip:10.0.0.2\\;lr\n",
            in: Self.sample("pjsip.conf"))
        #expect(try box.text("pjsip.conf") == expected)
    }

    @Test(arguments: shells)
    func pjsipMissingSectionOrFileFailsNamingTheFile(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let sample = try Self.sample("pjsip.conf")
        let conf = box.file("pjsip.conf").path
        // line3-trunk exists only inside a ;-- --; block comment; carrier-auth is an auth.
        for (section, message) in [("nothere", "no [nothere] section"), ("line3-trunk", "no [line3-trunk] section"),
                                   ("carrier-auth", "no [carrier-auth] section with type = endpoint")] {
            let result = try box.run("asterisk-pjsip", "assigned", box.pjsip(["PJSIP_SECTION": section, "PROXY": "sip:10.0.0.2"]))
            #expect(result.status == 1, "\(section)")
            #expect(result.error == "asterisk-pjsip: \(conf): \(message)\n")
        }
        let absent = box.file("absent/pjsip.conf").path
        let missing = try box.run("asterisk-pjsip", "assigned", box.pjsip([
            "PJSIP_CONF": absent, "ENDPOINT": "gw-trunk", "PROXY": "sip:10.0.0.2",
        ]))
        #expect(missing.status == 1)
        #expect(missing.error.contains(absent), "\(missing.error)")
        #expect(try box.text("pjsip.conf") == sample)
        #expect(box.reloads == 0)
    }

    @Test(arguments: shells)
    func pjsipRefusesWhatIsNotASipURI(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        for proxy in ["sip:10.0.0.2\n[evil]\ntype = endpoint", "sip:10.0.0.2 ;x", "http://10.0.0.2/", "sip:10.0.0.2\\;lr"] {
            let result = try box.run("asterisk-pjsip", "assigned", box.pjsip(["ENDPOINT": "gw-trunk", "PROXY": proxy]))
            #expect(result.status == 1, "\(proxy)")
            #expect(result.error.hasPrefix("asterisk-pjsip: PROXY "), "\(result.error)")
        }
        #expect(try box.text("pjsip.conf") == (try Self.sample("pjsip.conf")))
        #expect(box.reloads == 0)
    }

    @Test(arguments: shells)
    func pjsipFailedReloadIsReported(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let result = try box.run("asterisk-pjsip", "assigned", box.pjsip([
            "ENDPOINT": "gw-trunk", "PROXY": "sip:10.0.0.2", "ASTERISK_RELOAD": "false",
        ]))
        #expect(result.status == 1)
        #expect(result.error.contains("reload failed"), "\(result.error)")
        // The file stays written: Asterisk reads it when it starts.
        #expect(try box.text("pjsip.conf") != (try Self.sample("pjsip.conf")))
    }

    /// Hooks for several endpoints run at once on one file: every edit must survive (with
    /// flock(1) under /bin/sh here, with the fallback lock under busybox, which has none).
    @Test(arguments: shells)
    func pjsipHooksAtOnceLoseNoEdit(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let targets = [("gw-trunk", "endpoint"), ("gw-trunk", "aor"), ("line2-trunk", "endpoint"),
                       ("line2-trunk", "aor"), ("carrier", "endpoint")]
        for round in 1...3 {
            let proxy = "sip:10.0.\(round).1"
            let processes = targets.map { section, type in
                box.process("asterisk-pjsip", "assigned", box.pjsip([
                    "PJSIP_SECTION": section, "PJSIP_TYPE": type, "PROXY": proxy,
                ]))
            }
            for process in processes {
                process.standardError = FileHandle.nullDevice
                try process.run()
            }
            for process in processes {
                process.waitUntilExit()
                #expect(process.terminationStatus == 0)
            }
            let lines = try box.text("pjsip.conf").split(separator: "\n")
            #expect(lines.filter { $0.hasPrefix("outbound_proxy = \(proxy)\\;lr") }.count == targets.count,
                    "round \(round)")
            #expect(box.reloads == targets.count * round)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: box.directory.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }

    /// What a hook killed at the time limit leaves: its temporary file, and with the
    /// fallback lock, a lock naming a pid that is gone.
    @Test(arguments: shells)
    func whatAKilledHookLeftIsCleared(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        try "half written".write(to: box.file(".pjsip.conf.Ab3xYz"), atomically: false, encoding: .utf8)
        // With flock(1) on PATH the kernel's lock is used, and no lock file is made.
        let flock = box.path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/flock") }
        if !flock {
            let gone = Process()
            gone.executableURL = URL(fileURLWithPath: "/bin/true")
            try gone.run()
            gone.waitUntilExit()
            try FileManager.default.createSymbolicLink(atPath: box.file(".pjsip.conf.lock").path,
                                                       withDestinationPath: String(gone.processIdentifier))
        }
        let result = try box.run("asterisk-pjsip", "assigned", box.pjsip(["ENDPOINT": "gw-trunk", "PROXY": "sip:10.0.0.2"]))
        #expect(result.status == 0, "\(result.error)")
        #expect(box.reloads == 1)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: box.directory.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }

    // MARK: ooh323-gatekeeper

    @Test(arguments: shells)
    func ooh323AssignedSetsTheGatekeeperOnce(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let environment = box.ooh323(["HOST": "192.0.2.20", "PROXY": "sip:192.0.2.20:5060"])
        let first = try box.run("ooh323-gatekeeper", "assigned", environment)
        #expect(first.status == 0, "\(first.error)")
        let expected = try Self.replacing("\ngatekeeper = DISABLE\n", with: "\ngatekeeper = 192.0.2.20\n",
                                          in: Self.sample("ooh323.conf"))
        #expect(try box.text("ooh323.conf") == expected)
        let second = try box.run("ooh323-gatekeeper", "assigned", environment)
        #expect(second.status == 0, "\(second.error)")
        #expect(try box.text("ooh323.conf") == expected)
        #expect(box.reloads == 1)
    }

    @Test(arguments: shells)
    func ooh323AddsTheLineWhereMissing(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let without = try Self.replacing("\ngatekeeper = DISABLE\n", with: "\n", in: Self.sample("ooh323.conf"))
        try box.write("ooh323.conf", without)
        let result = try box.run("ooh323-gatekeeper", "assigned", box.ooh323(["HOST": "192.0.2.20"]))
        #expect(result.status == 0, "\(result.error)")
        let expected = try Self.replacing("dtmfmode=rfc2833\n", with: "dtmfmode=rfc2833\ngatekeeper = 192.0.2.20\n", in: without)
        #expect(try box.text("ooh323.conf") == expected)
        #expect(box.reloads == 1)
    }

    @Test(arguments: shells)
    func ooh323RefusesWhatItCannotUse(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        let conf = box.file("ooh323.conf").path
        for (host, message) in [("::1", "HOST ::1: chan_ooh323 reaches a gatekeeper over IPv4 only"),
                                ("DISCOVER", "HOST is not an IPv4 address: 'DISCOVER'"),
                                ("192.0.2.256", "HOST is not an IPv4 address: '192.0.2.256'"),
                                ("010.0.0.1", "HOST is not an IPv4 address: '010.0.0.1'"),
                                ("192.0.2", "HOST is not an IPv4 address: '192.0.2'"),
                                ("", "HOST is not set")] {
            let result = try box.run("ooh323-gatekeeper", "assigned", box.ooh323(["HOST": host]))
            #expect(result.status == 1, "\(host)")
            #expect(result.error == "ooh323-gatekeeper: \(message)\n")
        }
        try box.write("ooh323.conf", try Self.replacing("[general]\n", with: "[globals]\n", in: Self.sample("ooh323.conf")))
        let noGeneral = try box.run("ooh323-gatekeeper", "assigned", box.ooh323(["HOST": "192.0.2.20"]))
        #expect(noGeneral.status == 1)
        #expect(noGeneral.error == "ooh323-gatekeeper: \(conf): no [general] section\n")
        let absent = box.file("nothere.conf").path
        let missing = try box.run("ooh323-gatekeeper", "assigned", box.ooh323(["HOST": "192.0.2.20", "OOH323_CONF": absent]))
        #expect(missing.status == 1)
        #expect(missing.error == "ooh323-gatekeeper: \(absent): no such file\n")
        #expect(box.reloads == 0)
    }

    // MARK: both

    @Test(arguments: shells)
    func busyAndLostLeaveTheFiles(_ shell: Shell) throws {
        let box = try Sandbox(shell)
        for action in ["busy", "lost", "some-future-event"] {
            let pjsip = try box.run("asterisk-pjsip", action, box.pjsip([
                "ENDPOINT": "gw-trunk", "PROXY": "sip:10.0.0.9", "RETRY_AFTER": "30",
            ]))
            #expect(pjsip.status == 0, "\(action): \(pjsip.error)")
            let ooh323 = try box.run("ooh323-gatekeeper", action, box.ooh323(["HOST": "10.0.0.9", "RETRY_AFTER": "30"]))
            #expect(ooh323.status == 0, "\(action): \(ooh323.error)")
        }
        #expect(try box.text("pjsip.conf") == (try Self.sample("pjsip.conf")))
        #expect(try box.text("ooh323.conf") == (try Self.sample("ooh323.conf")))
        #expect(box.reloads == 0)
        for hook in ["asterisk-pjsip", "ooh323-gatekeeper"] {
            let usage = try box.run(hook, nil, [:])
            #expect(usage.status == 2, "\(hook) without an event")
            #expect(usage.error.hasPrefix("usage: \(hook) assigned|busy|lost"), "\(usage.error)")
        }
    }

    /// Each hook is one file to install, so the editing code is in both: it must stay the same.
    @Test func theSharedPartIsTheSameInBoth() throws {
        func shared(_ hook: String) throws -> Substring {
            let text = try String(contentsOf: Self.hooks.appendingPathComponent(hook), encoding: .utf8)
            let start = try #require(text.range(of: "# --- shared part"), "\(hook): no start marker")
            let end = try #require(text.range(of: "# --- end of the shared part"), "\(hook): no end marker")
            return text[start.lowerBound..<end.upperBound]
        }
        let pjsip = try shared("asterisk-pjsip"), ooh323 = try shared("ooh323-gatekeeper")
        #expect(pjsip.count > 1000)
        #expect(pjsip == ooh323)
        for hook in ["asterisk-pjsip", "ooh323-gatekeeper"] {
            #expect(FileManager.default.isExecutableFile(atPath: Self.hooks.appendingPathComponent(hook).path), "\(hook)")
        }
    }
}
