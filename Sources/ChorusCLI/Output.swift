import ChorusCore
import Foundation

/// Where a command prints. Injected so tests can capture output in-process.
final class Output: @unchecked Sendable {
    private let standardOutput: FileHandle
    private let standardError: FileHandle

    init(standardOutput: FileHandle = .standardOutput, standardError: FileHandle = .standardError) {
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    func print(_ text: String = "") { write(Output.printable(text) + "\n", to: standardOutput, named: "standard output") }
    func error(_ text: String) { write(Output.printable(text) + "\n", to: standardError, named: "standard error") }

    /// Why writing to standard output failed first (a full disk under a redirect, a closed
    /// descriptor, a pipe set non-blocking by the reader), or nil: the command line then exits
    /// 1, as a command whose output was lost did not do what was asked. Standard error failing
    /// (`2>&-`) changes nothing: what a script reads is whole.
    var writeFailure: String? { lock.withLock { firstFailure } }
    private let lock = NSLock()
    private var firstFailure: String?

    /// `FileHandle.write(_: Data)` traps on any error but EINTR (swift-corelibs-foundation
    /// writes with `try!`): a `chorus sync >> log` on a full disk exited on SIGILL after its
    /// work was done. The throwing form says why instead, and the rest of the output is tried.
    private func write(_ text: String, to handle: FileHandle, named name: String) {
        do {
            try handle.write(contentsOf: Data(text.utf8))
        } catch where handle === standardOutput {
            lock.withLock { if firstFailure == nil { firstFailure = "cannot write to \(name): \(error.localizedDescription)" } }
        } catch {
            // Standard error lost: nothing left to say it on, and stdout is what scripts read.
        }
    }

    /// `text` with every control character but line feed and tab written as `\u{1b}`: what
    /// commands print holds what people wrote (names, feedback, titles), and an escape sequence
    /// among it would be run by the terminal (clear the screen, retitle the window, hide text).
    static func printable(_ text: String) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
        }
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
    /// JSON for scripts: pretty, keys sorted, one document. JSON escapes the C0 controls itself;
    /// DEL and the C1 controls, which it may leave raw inside strings, are escaped here too, so
    /// the document stays the same value and holds no byte a terminal would act on.
    func json(_ value: JSONValue) {
        var out = String.UnicodeScalarView()
        for scalar in value.prettyText.unicodeScalars {
            if (0x7F...0x9F).contains(scalar.value) {
                out.append(contentsOf: "\\u00\(String(scalar.value, radix: 16))".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        write(String(out) + "\n", to: standardOutput, named: "standard output")
    }
}

/// Formatting helpers shared by commands.
enum Format {
    /// "1 tribe", "3 tribes".
    static func counted(_ count: Int, _ word: String) -> String { "\(count) \(word)\(count == 1 ? "" : "s")" }

    /// `2026-11-22T01:59:02.156Z` for a hybrid timestamp's wall time.
    static func time(_ timestamp: HybridTimestamp) -> String {
        let date = Date(timeIntervalSince1970: Double(timestamp.wall) / 1000)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// A time in Unix milliseconds as data or a remote node gives it: "?" when negative (a record
    /// edited so, or a forged answer), where converting it trapped.
    static func time(unixMilliseconds: Int64) -> String {
        guard unixMilliseconds >= 0 else { return "?" }
        return time(HybridTimestamp(wall: UInt64(unixMilliseconds), logical: 0))
    }

    /// A percentage as stored (a number any replica may have synced): whole when it is one an
    /// `Int` holds, as written otherwise (converting 1e19 or NaN trapped).
    static func percent(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return "\(value)%" }
        return "\(Int(value))%"
    }

    /// A short form of a replica id for tables (the first 8 hex digits).
    static func short(_ replica: ReplicaID) -> String { String(replica.hex.prefix(8)) }

    /// A JSON value on one line, cut to `width` terminal columns (with "…", whole characters).
    static func value(_ value: JSONValue, width: Int = 60) -> String {
        let text: String
        if case .string(let s) = value { text = s } else { text = value.canonicalText }
        return TerminalText.cut(text, toColumns: width)
    }

    /// Left-aligned table columns, measured as a terminal draws them (`TerminalText`): a cell
    /// is padded, never cut.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], TerminalText.columns(cell)) } }
        return rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : TerminalText.padded(cell, to: widths[i]) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
