// swift-tools-version:6.1
// gatewayd: one package, two build modes.
//
//   swift build                                     normal Swift, for tests and `swift run`
//   GATEWAYD_EMBEDDED=1 swift build --scratch-path .build-embedded -c release
//                                                   the Embedded Swift subset, as on firmware
//
// The switch is an environment variable read here so that the very same targets build both
// ways; in Embedded mode the test targets are left out (tests may use the whole language).
import PackageDescription

let embedded = Context.environment["GATEWAYD_EMBEDDED"] == "1"

// Exclusivity is enforced statically only: Embedded Swift has no dynamic checks, and the
// normal build should run the same code the same way (the checks cost a tenth of the
// per-packet time).
// Nothing in Sources/ uses concurrency or regexes: without their implicit imports the
// daemon does not load those runtimes (and libdispatch), about 1.3 MiB of resident memory.
let moduleSettings: [SwiftSetting] = (embedded
    ? [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo"])]
    : []) + [.unsafeFlags(["-enforce-exclusivity=unchecked",
                           "-Xfrontend", "-disable-implicit-concurrency-module-import",
                           "-Xfrontend", "-disable-implicit-string-processing-module-import"])]
// The executable has a C-style entry point (`gatewayd_main(argc, argv)`) because Embedded Swift
// has no `CommandLine`; SwiftPM aliases `main` to `<module>_main` for executables.
let executableSettings = moduleSettings + [.unsafeFlags(["-parse-as-library"])]
// Module maps' `link` lines are not applied in Embedded mode, so libraries are named again here.
let pcapLink: [LinkerSetting] = [.linkedLibrary("pcap"), .linkedLibrary("m")]
// OpenSSL is not linked: Sources/CTLS loads it when a TLS port is configured.
let executableLink: [LinkerSetting] = pcapLink + [.linkedLibrary("inih")]

var targets: [Target] = [
    .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
    .target(name: "CSystem"),
    // SIP over TLS: OpenSSL 3 behind a few functions with memory BIOs (no sockets of its own),
    // loaded with dlopen when the first TLS context is made.
    .target(name: "CTLS"),
    .systemLibrary(name: "CInih", pkgConfig: "inih", providers: [.apt(["libinih-dev"])]),
    // Modules by what they depend on (the README's design table draws the graph). Basics:
    // fixed tables, addresses, text, hashing; only the libc shim, for zeroed pages. SIP: the
    // scanner and URIs, pure logic. The protocol core never links the capture library.
    .target(name: "Basics", dependencies: ["CSystem"], swiftSettings: moduleSettings),
    .target(name: "SIP", dependencies: ["Basics"], swiftSettings: moduleSettings),
    .target(name: "Capture", dependencies: ["Basics", "CPcap", "CSystem"],
            swiftSettings: moduleSettings, linkerSettings: pcapLink),
    .target(name: "LoadMeter", dependencies: ["Basics", "SIP", "Capture"], swiftSettings: moduleSettings),
    .target(name: "GatewayCore", dependencies: ["Basics", "SIP"], swiftSettings: moduleSettings),
    .executableTarget(name: "gatewayd", dependencies: ["Basics", "SIP", "Capture", "LoadMeter", "GatewayCore", "CSystem", "CInih", "CTLS"],
                      swiftSettings: executableSettings, linkerSettings: executableLink),
]

if !embedded {
    targets += [
        .testTarget(name: "SIPTests", dependencies: ["Basics", "SIP"]),
        .testTarget(name: "CaptureTests", dependencies: ["Basics", "Capture"]),
        .testTarget(name: "LoadMeterTests", dependencies: ["Basics", "SIP", "LoadMeter", "Capture"]),
        .testTarget(name: "GatewayCoreTests", dependencies: ["Basics", "SIP", "GatewayCore"]),
        .testTarget(name: "InteropTests", dependencies: ["gatewayd"]),
        // The benchmark lives outside Sources/: it is a measuring tool, not firmware.
        .target(name: "CBench", path: "Benchmarks/CBench", linkerSettings: [.linkedLibrary("pcap")]),
        .executableTarget(name: "meter-bench", dependencies: ["Basics", "Capture", "LoadMeter", "CBench"],
                          path: "Benchmarks/MeterBench", swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(name: "node-bench", dependencies: ["Basics", "SIP", "GatewayCore", "CBench"],
                          path: "Benchmarks/NodeBench", swiftSettings: [.unsafeFlags(["-parse-as-library"])],
                          linkerSettings: [.linkedLibrary("m")]),
    ]
}

let package = Package(
    name: "gatewayd",
    products: [.executable(name: "gatewayd", targets: ["gatewayd"])],
    targets: targets
)
