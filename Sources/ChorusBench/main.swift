// chorus-bench: Chorus measured against the machine's ceiling (raw SQLite) and its peers.
// Build with -c release: `swift run -c release chorus-bench [--quick] [--write-docs]`.
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print("""
    chorus-bench: measures Chorus against raw SQLite and its peers, in one run.

    usage: chorus-bench [--quick] [--write-docs] [--docs FILE]

      --quick        small sizes, one minute at most: a smoke test for CI (no figures asserted)
      --write-docs   rewrite Docs/performance.md (or --docs FILE) with the machine, commands, figures and ratios
      --help         show this help

    Each figure is the median of at least 5 repetitions, with min and max. Build it with -c release.
    """)
    exit(0)
}
let quick = arguments.contains("--quick")
if arguments.contains("--only-merge") {
    // For profiling (valgrind --tool=callgrind): just P1 at quick sizes, once.
    try EngineBenchmarks.merge(Results(), people: 200, repetitions: 1)
    exit(0)
}
let sizes = quick ? BenchSizes.quick : BenchSizes.full
do {
    let results = try BenchRun(sizes: sizes).run()
    if arguments.contains("--write-docs") {
        let index = arguments.firstIndex(of: "--docs")
        let path = index.map { arguments[$0 + 1] } ?? "Docs/performance.md"
        try PerformanceReport(results: results, sizes: sizes).write(to: path)
        print("wrote \(path)")
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
