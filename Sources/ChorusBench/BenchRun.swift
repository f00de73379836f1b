import Foundation

/// Sizes of one run.
struct BenchSizes {
    var rawRows: Int
    var rawUpdates: Int
    var commits: Int
    var people: Int
    var repetitions: Int
    var historyLarge: Int
    var historySmall: Int
    var loadSeconds: Double
    var connections: Int
    var replicasForMemory: Int
    var isQuick: Bool

    static let full = BenchSizes(rawRows: 100_000, rawUpdates: 1_000_000, commits: 300, people: 10_000, repetitions: 5,
                                 historyLarge: 1_000_000, historySmall: 10_000, loadSeconds: 5, connections: 64,
                                 replicasForMemory: 1000, isQuick: false)
    static let quick = BenchSizes(rawRows: 2_000, rawUpdates: 10_000, commits: 20, people: 200, repetitions: 5,
                                  historyLarge: 20_000, historySmall: 2_000, loadSeconds: 0.5, connections: 8,
                                  replicasForMemory: 20, isQuick: true)
}

struct BenchRun {
    let sizes: BenchSizes

    func run() throws -> Results {
        let results = Results()
        print("chorus-bench \(sizes.isQuick ? "--quick" : "(full)"): medians of \(sizes.repetitions) repetitions\n")
        try RawBenchmarks.run(results, rows: sizes.rawRows, updates: sizes.rawUpdates, commits: sizes.commits, repetitions: sizes.repetitions)
        try EngineBenchmarks.merge(results, people: sizes.people, repetitions: sizes.repetitions)
        try EngineBenchmarks.localWrite(results, writes: sizes.commits)
        try NetworkBenchmarks.bootstrap(results, people: sizes.people, repetitions: sizes.repetitions)
        try NetworkBenchmarks.noopSync(results, connections: sizes.connections, seconds: sizes.loadSeconds)
        try NetworkBenchmarks.scale(results, large: sizes.historyLarge, small: sizes.historySmall, repetitions: sizes.repetitions)
        let chorus = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chorus").path
        try NetworkBenchmarks.memory(results, replicas: sizes.replicasForMemory, people: sizes.people, chorus: chorus)
        return results
    }
}

/// Writes Docs/performance.md.
struct PerformanceReport {
    let results: Results
    let sizes: BenchSizes

    func write(to path: String) throws {
        var text = "# Performance\n\n"
        for figure in results.figures { text += "| \(figure.label) | \(figure.value) | \(figure.detail) |\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
