// swift-tools-version:6.0
// Chorus: an offline-first people-data sync engine. No package dependencies, by design:
// Foundation, Dispatch, Glibc, XCTest and the system SQLite only.
import PackageDescription

let package = Package(
    name: "Chorus",
    products: [
        .executable(name: "chorus", targets: ["chorus"]),
        .executable(name: "chorus-bench", targets: ["chorus-bench"]),
    ],
    dependencies: [],
    targets: [
        // System SQLite (libsqlite3-dev).
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // Thin SQLite wrapper: connections, cached statements, transactions, migrations.
        .target(name: "SQLiteKit", dependencies: ["CSQLite"]),
        // Pure vocabulary and merge rules: no I/O.
        .target(name: "ChorusCore"),
        // The replica: operation log, merge state and materialised tables in SQLite.
        .target(name: "ChorusReplica", dependencies: ["ChorusCore", "SQLiteKit", "CLinux"]),
        // HTTP/1.1 parser and messages: pure, no sockets.
        .target(name: "HTTP1"),
        // Linux's epoll, for the HTTP server's event loops (system headers only).
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
        // POSIX listener and connections on epoll event loops, blocking handlers on Dispatch:
        // timeouts, limits, graceful shutdown.
        .target(name: "HTTPServer", dependencies: ["HTTP1", "CLinux"]),
        // A small HTTP/1.1 client on POSIX sockets, every read bounded before it is made (plain http:// upstreams).
        .target(name: "HTTPClient"),
        // Sync protocol v1: messages, the upstream's service, the client session, the transport protocol.
        .target(name: "ChorusSync", dependencies: ["ChorusCore", "ChorusReplica", "SQLiteKit"]),
        // A running node: HTTP routes, the sync transport (HTTPClient, URLSession for https), the background sync loop.
        .target(name: "ChorusNode", dependencies: ["ChorusCore", "ChorusReplica", "ChorusSync", "HTTP1", "HTTPServer", "HTTPClient", "ChorusPeople", "ChorusWeb"]),
        // The web page every node serves at `/`: HTML, CSS and JavaScript we write, no build step.
        .target(name: "ChorusWeb", dependencies: ["ChorusCore", "HTTP1"], resources: [.copy("Page")]),
        // The people platform's pure logic: the ESCO skills taxonomy, matching with explanations, the bias audit.
        .target(name: "ChorusPeople", dependencies: ["ChorusCore", "ChorusReplica", "SQLiteKit"],
                exclude: ["Taxonomy/extract-esco.py", "Taxonomy/NOTICE"],
                resources: [.copy("Taxonomy/esco-skills.tsv"), .copy("Taxonomy/esco-groups.tsv")]),
        // Command-line commands; `chorus` is only its entry point.
        .target(name: "ChorusCLI", dependencies: ["ChorusCore", "ChorusReplica", "SQLiteKit", "ChorusSync", "ChorusNode", "HTTPServer", "ChorusPeople"]),
        .executableTarget(name: "chorus", dependencies: ["ChorusCLI"]),
        // Benchmarks against the machine's ceiling (raw SQLite) and the peers: `swift run -c release chorus-bench`.
        .executableTarget(name: "chorus-bench", dependencies: ["ChorusCore", "ChorusReplica", "ChorusSync", "ChorusNode", "SQLiteKit", "ChorusTesting"],
                          path: "Sources/ChorusBench"),
        // Test helpers shared by every test target: clocks, seeded randomness, the simulator.
        .target(name: "ChorusTesting", dependencies: ["ChorusCore", "ChorusReplica", "SQLiteKit", "ChorusSync", "ChorusNode", "HTTP1", "CLinux"]),

        .testTarget(name: "ChorusCoreTests", dependencies: ["ChorusCore", "ChorusTesting"]),
        .testTarget(name: "SQLiteKitTests", dependencies: ["SQLiteKit"]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1"]),
        .testTarget(name: "ChorusPeopleTests", dependencies: ["ChorusPeople", "ChorusCore", "ChorusReplica", "ChorusTesting"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient", "HTTP1", "HTTPServer", "ChorusTesting"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTP1", "HTTPServer", "ChorusTesting"]),
        .testTarget(name: "ChorusSyncTests", dependencies: ["ChorusCore", "ChorusReplica", "ChorusSync", "ChorusNode", "ChorusTesting", "HTTP1", "HTTPServer"]),
        .testTarget(name: "ChorusReplicaTests", dependencies: ["ChorusReplica", "ChorusCore", "ChorusTesting", "SQLiteKit"]),
        .testTarget(name: "SimulationTests", dependencies: ["ChorusReplica", "ChorusCore", "ChorusTesting"]),
        .testTarget(name: "ChorusCLITests", dependencies: ["ChorusCore", "ChorusTesting", "SQLiteKit", "ChorusCLI"]),
        .testTarget(name: "ChorusNodeTests", dependencies: ["ChorusNode", "ChorusCore", "ChorusSync", "HTTP1", "HTTPServer", "ChorusTesting"]),
        // The benchmark's parsing of wrk's report (the executable's own code, imported @testable).
        .testTarget(name: "ChorusBenchTests", dependencies: ["chorus-bench"]),
    ]
)
