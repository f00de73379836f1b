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
      --only-merge   just P1 (for profiling with valgrind --tool=callgrind); --people N (default 200)
                     and --repetitions N (default 1) size it
      --only-write   just P2, alternating with raw durable commits, --writes N each (default 300)
      --only-bootstrap  just P3 (with the hub's digest request, computed and cached), sized the same way
      --only-noop    just P4, 64 connections for --seconds N (default 5), --repetitions N times
      --only-scale   just P5: no-op syncs with --history N operations (default 1000000) against 10000,
                     one at a time and under load (64 connections, --seconds N each, default 2),
                     the database's size per live value, whole and compacted, and compaction's time
      --help         show this help

    Each figure is the median of at least 5 repetitions, with min and max. Build it with -c release.
    """)
    exit(0)
}
// Every argument must be one this tool knows: a misspelt option (`--histroy`) would otherwise run
// the default sizes, minutes of work measuring something other than what was asked.
let flags: Set<String> = ["--quick", "--write-docs", "--only-merge", "--only-write", "--only-bootstrap", "--only-noop", "--only-scale"]
let valued: Set<String> = ["--docs", "--people", "--writes", "--repetitions", "--seconds", "--history"]
var argumentIndex = 0
while argumentIndex < arguments.count {
    let argument = arguments[argumentIndex]
    if valued.contains(argument) {
        argumentIndex += 2
    } else if flags.contains(argument) {
        argumentIndex += 1
    } else {
        FileHandle.standardError.write(Data("error: unknown argument \(argument)\nhint: run `chorus-bench --help` for the options\n".utf8))
        exit(2)
    }
}
let quick = arguments.contains("--quick")
/// The integer after `flag`, or `fallback` when the flag is absent; exits with a message when malformed.
func integerOption(_ flag: String, default fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: flag) else { return fallback }
    guard index + 1 < arguments.count, let value = Int(arguments[index + 1]), (1...1_000_000).contains(value) else {
        FileHandle.standardError.write(Data("error: \(flag) needs a whole number from 1 to 1000000\n".utf8))
        exit(2)
    }
    return value
}
if arguments.contains("--only-merge") {
    // For profiling (valgrind --tool=callgrind) and for measuring P1 alone.
    try EngineBenchmarks.merge(Results(), people: integerOption("--people", default: 200),
                               repetitions: integerOption("--repetitions", default: 1))
    exit(0)
}
if arguments.contains("--only-write") {
    // P2 beside the raw durable commit it is compared with.
    let results = Results()
    let writes = integerOption("--writes", default: 300), repetitions = integerOption("--repetitions", default: 1)
    try EngineBenchmarks.localWrite(results, writes: writes, repetitions: repetitions)
    exit(0)
}
if arguments.contains("--only-bootstrap") {
    try NetworkBenchmarks.bootstrap(Results(), people: integerOption("--people", default: 200),
                                    repetitions: integerOption("--repetitions", default: 1))
    exit(0)
}
if arguments.contains("--only-noop") {
    try NetworkBenchmarks.noopSync(Results(), connections: 64, seconds: Double(integerOption("--seconds", default: 5)),
                                   repetitions: integerOption("--repetitions", default: 1))
    exit(0)
}
if arguments.contains("--only-scale") {
    try NetworkBenchmarks.scale(Results(), large: integerOption("--history", default: BenchSizes.full.historyLarge),
                                small: BenchSizes.full.historySmall, repetitions: integerOption("--repetitions", default: 1),
                                connections: BenchSizes.full.connections, loadSeconds: Double(integerOption("--seconds", default: Int(BenchSizes.full.scaleLoadSeconds))))
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
