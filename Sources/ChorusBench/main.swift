// chorus-bench: Chorus measured against the machine's ceiling (raw SQLite) and its peers.
// Build with -c release: `swift run -c release chorus-bench [--quick] [--write-docs]`.
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print("""
    chorus-bench: measures Chorus against raw SQLite and its peers, in one run.

    usage: chorus-bench [--quick] [--write-docs] [--docs FILE]
           chorus-bench --only-merge | --only-write | --only-bootstrap | --only-noop | --only-scale [--people N] [--writes N] [--repetitions N] [--seconds N] [--history N]

      --quick        small sizes, one minute at most: a smoke test for CI (no figures asserted)
      --write-docs   rewrite Docs/performance.md (or --docs FILE) with the machine, commands, figures and ratios
      --only-merge   just P1 (for profiling with valgrind --tool=callgrind), alternating with the raw
                     updates it is judged against; --people N (default 200) and --repetitions N
                     (default 1) size it
      --only-write   just P2, alternating with raw durable commits, --writes N each (default 300)
      --only-bootstrap  just P3 (with the hub's digest request, computed and cached), sized the same way
      --only-noop    just P4, 64 connections for --seconds N (default 5), --repetitions N times
      --only-scale   just P5: no-op syncs with --history N operations (default 1000000) against 10000,
                     one at a time and under load (64 connections, --seconds N each, default 2),
                     the database's size per live value, whole and compacted, and compaction's time
      --help         show this help

    Every argument is read before any work: an unknown one, a missing or malformed value, or a size
    the chosen run does not use (--people with the full run, --writes with --only-merge) exits 2.

    Each figure is the median of at least 5 repetitions, with min and max. Build it with -c release.
    """)
    exit(0)
}
// Every argument read before any work: a misspelt option (`--histroy`), a missing value, or an
// option the chosen run would not use would otherwise run minutes of something else than was asked.
let options: BenchArguments
switch BenchArguments.parse(arguments) {
case .success(let parsed): options = parsed
case .failure(let refusal):
    FileHandle.standardError.write(Data("error: \(refusal.message)\nhint: run `chorus-bench --help` for the options\n".utf8))
    exit(2)
}
let repetitions = options.number("--repetitions", default: 1)
switch options.mode {
case .merge:
    // For profiling (valgrind --tool=callgrind) and for measuring P1 alone, beside the raw
    // updates it is judged against, sized as the full run sizes them (10 rows a person, 10
    // updates a row).
    let people = options.number("--people", default: 200)
    try EngineBenchmarks.merge(Results(), people: people, repetitions: repetitions, raw: (people * 10, people * 100))
    exit(0)
case .write:
    // P2 beside the raw durable commit it is compared with.
    try EngineBenchmarks.localWrite(Results(), writes: options.number("--writes", default: 300), repetitions: repetitions)
    exit(0)
case .bootstrap:
    try NetworkBenchmarks.bootstrap(Results(), people: options.number("--people", default: 200), repetitions: repetitions)
    exit(0)
case .noop:
    try NetworkBenchmarks.noopSync(Results(), connections: 64, seconds: Double(options.number("--seconds", default: 5)), repetitions: repetitions)
    exit(0)
case .scale:
    try NetworkBenchmarks.scale(Results(), large: options.number("--history", default: BenchSizes.full.historyLarge),
                                small: BenchSizes.full.historySmall, repetitions: repetitions,
                                connections: BenchSizes.full.connections,
                                loadSeconds: Double(options.number("--seconds", default: Int(BenchSizes.full.scaleLoadSeconds))))
    exit(0)
case .full:
    break
}
let sizes = options.quick ? BenchSizes.quick : BenchSizes.full
do {
    let results = try BenchRun(sizes: sizes).run()
    if let path = options.docs {
        try PerformanceReport(results: results, sizes: sizes).write(to: path)
        print("wrote \(path)")
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
