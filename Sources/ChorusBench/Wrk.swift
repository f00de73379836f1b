import ChorusCore
import Foundation

/// `wrk` (Debian's package; `Tests/Bench/run-benchmarks.sh` installs it), the load generator P4
/// uses when it is installed: written in C on epoll, it costs the shared 2 cores far less per
/// request than a generator of ours, so the figures say more about the servers than about it.
struct Wrk {
    /// Threads wrk runs: one per core of this machine.
    static let threads = 2

    let binary: String

    /// wrk runs for whole seconds, at least one.
    static func wholeSeconds(_ seconds: Double) -> Int { max(1, Int(seconds.rounded())) }

    /// Nil when wrk is not installed.
    static func find() -> Wrk? {
        ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }).map(Wrk.init)
    }

    /// One measurement: `connections` keep-alive connections for `seconds`, every request `GET url`
    /// with `headers`. Throws when any response was not 2xx or 3xx, or a socket failed: a failing
    /// server answers fast, and its rate would not be the rate of the thing measured.
    func run(url: String, headers: [String] = [], connections: Int, seconds: Double) throws -> WrkResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        var arguments = ["-t\(Wrk.threads)", "-c\(connections)", "-d\(Wrk.wholeSeconds(seconds))s", "--latency"]
        for header in headers { arguments += ["-H", header] }
        process.arguments = arguments + [url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw ChorusError(.invalidState, "wrk exited with status \(process.terminationStatus): \(text)")
        }
        return try WrkResult(parsing: text)
    }
}

/// What one wrk run printed: its rate and latency percentiles (seconds).
struct WrkResult {
    let rate: Double
    let p50: Double
    let p99: Double

    init(parsing text: String) throws {
        var rate: Double?, p50: Double?, p99: Double?
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            switch first {
            case "Requests/sec:": rate = words.count > 1 ? Double(words[1]) : nil
            case "50%": p50 = words.count > 1 ? WrkResult.seconds(words[1]) : nil
            case "99%": p99 = words.count > 1 ? WrkResult.seconds(words[1]) : nil
            case "Non-2xx": throw ChorusError(.invalidState, "wrk saw failed responses (\(line.trimmingCharacters(in: .whitespaces))): the figure is not reported")
            case "Socket": throw ChorusError(.invalidState, "wrk saw socket errors (\(line.trimmingCharacters(in: .whitespaces))): the figure is not reported")
            default: continue
            }
        }
        guard let rate, let p50, let p99 else { throw ChorusError(.invalidState, "could not read wrk's output:\n\(text)") }
        (self.rate, self.p50, self.p99) = (rate, p50, p99)
    }

    /// A wrk duration ("812.00us", "1.25ms", "2.01s") in seconds.
    static func seconds(_ text: Substring) -> Double? {
        for (suffix, scale) in [("us", 1e-6), ("ms", 1e-3), ("s", 1.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return nil
    }
}
