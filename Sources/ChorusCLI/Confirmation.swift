import ChorusCore
#if canImport(Glibc)
import Glibc
#endif

/// Asks before a step that cannot be undone (`chorus erase`): the person at the terminal types
/// the id of what goes, or the command line says `--yes`.
///
/// Why the id and not "y": an erasure is the one write no sync, backup of the log or admin can
/// take back, and the id typed is the last chance to see a wrong one (`p-ana` for `p-anna`).
/// Why `--yes` off a terminal: a script has no one to ask, and reading its standard input as the
/// answer would take whatever it pipes in; it says so, or nothing is erased (exit 2).
enum Confirmation {
    static let option = OptionSpec(name: "--yes", valueName: nil,
                                   help: "erase without asking (needed when standard input is not a terminal)")

    /// The longest answer read, in bytes: the rest of a longer line is left unread and the
    /// answer refused (it cannot be an id this long).
    static let answerBytesMax = 1_024

    /// Returns when the step may go ahead: `--yes` was given, or the answer typed at the terminal
    /// is `expected`. Otherwise throws: a usage error off a terminal, `refused` for another answer.
    /// `telling` is what goes, printed before the question (on standard error, so the standard
    /// output keeps only what was done).
    static func require(_ context: CommandContext, telling lines: [String], expected: String, step: String) throws {
        if context.arguments.flag(option.name) { return }
        // The question goes to standard error: redirected (`2>log`), no one would see it.
        guard isatty(STDIN_FILENO) == 1, isatty(STDERR_FILENO) == 1 else {
            throw context.usageError("\(step) cannot be undone, and there is no terminal to ask on (standard input and error): add --yes to go ahead")
        }
        for line in lines { context.output.error(line) }
        context.output.error("type \(expected) to go ahead, anything else to stop:")
        let answer = readAnswer(from: STDIN_FILENO)
        // What was typed past the answer (a pasted second line) is dropped, not left for the
        // shell to run once the command exits.
        _ = tcflush(STDIN_FILENO, TCIFLUSH)
        guard answer == expected else {
            throw ChorusError(.refused, "nothing done: the answer was not \(expected)",
                              hint: "run it again and type \(expected), or add --yes in a script")
        }
    }

    /// One line from `descriptor`, without its line end, at most `answerBytesMax` bytes (nil when
    /// longer, or when nothing could be read).
    static func readAnswer(from descriptor: Int32) -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(descriptor, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1, byte != UInt8(ascii: "\n") else { break }
            // Too long to be an id: the rest of the line is read and dropped, never answered.
            guard bytes.count < answerBytesMax else {
                while read(descriptor, &byte, 1) == 1 && byte != UInt8(ascii: "\n") {}
                return nil
            }
            bytes.append(byte)
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(validating: bytes, as: UTF8.self)
    }
}
