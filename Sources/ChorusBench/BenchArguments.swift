/// What `chorus-bench` was asked to do, read from its arguments before any work starts: a full
/// run is minutes of work, so an argument it would not use, a value missing or malformed, is
/// refused at once (exit 2) rather than found after the run, or never.
struct BenchArguments: Equatable {
    /// Which benchmark runs: the full set, or one of them alone.
    enum Mode: String, Equatable, CaseIterable {
        case full = ""
        case merge = "--only-merge"
        case write = "--only-write"
        case bootstrap = "--only-bootstrap"
        case noop = "--only-noop"
        case scale = "--only-scale"
    }

    var mode = Mode.full
    var quick = false
    /// The file `--write-docs` rewrites, nil when the run writes none.
    var docs: String?
    /// The numbers given (`--people`, `--writes`, `--repetitions`, `--seconds`, `--history`), by option.
    var numbers: [String: Int] = [:]

    /// The number given for `option`, or `fallback`.
    func number(_ option: String, default fallback: Int) -> Int { numbers[option] ?? fallback }

    /// A refusal of the arguments: what is wrong, for standard error.
    struct Refusal: Error, Equatable {
        let message: String
    }

    /// The largest number any numeric option takes (`--history` reaches the full run's 1,000,000).
    static let numberMax = 1_000_000

    /// The numeric options, and the modes each applies to.
    static let numericOptions: [String: Set<Mode>] = [
        "--people": [.merge, .bootstrap],
        "--writes": [.write],
        "--repetitions": [.merge, .write, .bootstrap, .noop, .scale],
        "--seconds": [.noop, .scale],
        "--history": [.scale],
    ]

    static func parse(_ arguments: [String]) -> Result<BenchArguments, Refusal> {
        var parsed = BenchArguments()
        var writesDocs = false
        var index = 0
        func refuse(_ message: String) -> Result<BenchArguments, Refusal> { .failure(Refusal(message: message)) }
        while index < arguments.count {
            let argument = arguments[index]
            let value = index + 1 < arguments.count && !arguments[index + 1].hasPrefix("--") ? arguments[index + 1] : nil
            if let mode = Mode(rawValue: argument), mode != .full {
                guard parsed.mode == .full else { return refuse("\(parsed.mode.rawValue) and \(argument) cannot run together") }
                parsed.mode = mode
                index += 1
            } else if argument == "--quick" {
                parsed.quick = true
                index += 1
            } else if argument == "--write-docs" {
                writesDocs = true
                index += 1
            } else if argument == "--docs" {
                guard let value else { return refuse("--docs needs a file") }
                parsed.docs = value
                index += 2
            } else if numericOptions[argument] != nil {
                guard let value, let number = Int(value), (1...numberMax).contains(number) else {
                    return refuse("\(argument) needs a whole number from 1 to \(numberMax)")
                }
                parsed.numbers[argument] = number
                index += 2
            } else {
                return refuse("unknown argument \(argument)")
            }
        }
        if parsed.mode == .full {
            if let given = parsed.numbers.keys.sorted().first {
                return refuse("\(given) sizes one benchmark alone (with \(numericOptions[given]!.map(\.rawValue).sorted().joined(separator: " or "))); the full run has its own sizes")
            }
        } else {
            if parsed.quick || writesDocs || parsed.docs != nil {
                return refuse("\(parsed.mode.rawValue) runs one benchmark alone; --quick, --write-docs and --docs go with the full run")
            }
            if let stray = parsed.numbers.keys.sorted().first(where: { !numericOptions[$0]!.contains(parsed.mode) }) {
                return refuse("\(stray) does not size \(parsed.mode.rawValue)")
            }
        }
        if parsed.docs != nil && !writesDocs { return refuse("--docs names the file --write-docs rewrites; give both") }
        if writesDocs && parsed.docs == nil { parsed.docs = "Docs/performance.md" }
        return .success(parsed)
    }
}
