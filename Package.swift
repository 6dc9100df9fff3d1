// swift-tools-version:6.0
import PackageDescription

/// Release builds on Linux link the Swift runtime statically (mcpx uses the standard library and
/// Glibc only; the example server and the bench also Foundation), as `swift build --static-swift-stdlib` does: less
/// resident memory per mcpx and no PLT hops into the runtime, and a binary that runs on a machine
/// without the toolchain. The flag is needed when compiling (it picks the static modules'
/// link entries) and when linking.
let staticRuntime = SwiftSetting.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))

/// Every Swift target gets the same settings (language mode 6 comes from the tools version).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    staticRuntime,
]

/// The link half of `staticRuntime`, for the executables.
let staticLinking: [LinkerSetting] = [
    .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))
]

let package = Package(
    name: "mcpx",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mcpx", targets: ["mcpx"]),
        .executable(name: "mcpx-example-server", targets: ["mcpx-example-server"]),
        .executable(name: "mcpx-bench", targets: ["mcpx-bench"]),
        .library(name: "MCPXCore", targets: ["MCPXCore"]),
    ],
    targets: [
        // libcurl through pkg-config; the module map's header adds typed, non-variadic setopt wrappers.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // C library calls the Glibc module lacks (mallopt, memmem, malloc_trim).
        .target(name: "CSupport"),
        // The closed JSON value, a byte-level parser and serializer; shared by mcpx and the example server.
        .target(
            name: "MCPXJSON", swiftSettings: swiftSettings,
            linkerSettings: [.linkedLibrary("m", .when(platforms: [.linux]))]
        ),
        // All of mcpx's logic: wire model, stdio front end, HTTP backends, the multiplexer.
        .target(name: "MCPXCore", dependencies: ["CCurl", "CSupport", "MCPXJSON"], swiftSettings: swiftSettings),
        // Thin executable over MCPXCore.
        .executableTarget(
            name: "mcpx", dependencies: ["MCPXCore", "CSupport"], swiftSettings: swiftSettings, linkerSettings: staticLinking),
        // A small MCP server (Streamable HTTP on loopback) for the demo, tests and benchmarks.
        .executableTarget(
            name: "mcpx-example-server", dependencies: ["MCPXJSON"], swiftSettings: swiftSettings,
            linkerSettings: staticLinking),
        // Benchmark of issue 4: spawns mcpx and example backends, reports latency, throughput, RSS, scale.
        .executableTarget(
            name: "mcpx-bench", dependencies: ["MCPXJSON"], path: "Benchmarks/mcpx-bench", swiftSettings: swiftSettings,
            linkerSettings: staticLinking),
        .testTarget(name: "MCPXCoreTests", dependencies: ["MCPXCore", "MCPXJSON"], swiftSettings: swiftSettings),
    ]
)
