import Foundation
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `chorus` binary as a child process, for end-to-end tests.
public enum ChorusProcess {
    public struct Result {
        public let status: Int32
        public let standardOutput: String
        public let standardError: String
    }

    /// The `chorus` executable beside the test bundle (`.build/<configuration>/chorus`), or
    /// `$CHORUS_EXECUTABLE` (e.g. a release build, for the browser test's render times).
    public static var executable: String {
        if let given = ProcessInfo.processInfo.environment["CHORUS_EXECUTABLE"], FileManager.default.isExecutableFile(atPath: given) { return given }
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("chorus").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("chorus").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/chorus").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// Runs `chorus ARGUMENTS` to completion, with `input` as its standard input (nothing when
    /// nil: never the test's own, which may be a terminal that a command would ask).
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:], input: Data? = nil) throws -> Result {
        // From a file, not a pipe: a child that reads none of it cannot make a write here fail.
        guard let input else { return try run(arguments, environment: environment, standardInput: FileHandle.nullDevice) }
        let path = NSTemporaryDirectory() + "chorus-input-\(UUID().uuidString)"
        try input.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try run(arguments, environment: environment, standardInput: try FileHandle(forReadingFrom: URL(fileURLWithPath: path)))
    }

    /// Runs `chorus ARGUMENTS` to completion as another user (`setpriv`, so only from root), with
    /// no groups: for what a folder made by one user does for another. Killed after
    /// `asUserSecondsMax`: a `serve` that should have refused, and listens, fails its test
    /// rather than holding it.
    @discardableResult
    public static func run(asUser user: UInt32, _ arguments: [String]) throws -> Result {
        try run(arguments, environment: [:], standardInput: FileHandle.nullDevice,
                through: ["/usr/bin/timeout", "--signal=KILL", "\(asUserSecondsMax)", "/usr/bin/setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups"])
    }

    /// How long a command run as another user may take.
    public static let asUserSecondsMax = 60

    /// Runs `chorus ARGUMENTS` to completion with a terminal (a pseudo-terminal) as its standard
    /// input and error, on which `typed` is typed: for the questions a command asks only there.
    /// The result's standard error is what the terminal showed (what was typed echoed among it).
    @discardableResult
    public static func runAtTerminal(_ arguments: [String], typing typed: String) throws -> Result {
        var number: Int32 = -1
        let terminal = chorus_open_pseudo_terminal(&number)
        guard terminal >= 0 else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no pseudo-terminal (/dev/ptmx): errno \(errno)"])
        }
        defer { close(terminal) }
        let name = "/dev/pts/\(number)"
        let side = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard side >= 0 else { throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "cannot open \(name): errno \(errno)"]) }
        let sideHandle = FileHandle(fileDescriptor: side, closeOnDealloc: true)
        // Typed ahead: the terminal keeps the line until the command reads it.
        let bytes = Array(typed.utf8)
        guard bytes.withUnsafeBytes({ write(terminal, $0.baseAddress, $0.count) }) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
        // What the terminal shows, read as it comes (a full terminal would stop the command), to
        // its end: once the command exits, no one holds the other side and the read fails.
        final class Box: @unchecked Sendable { var data = Data() }
        let shown = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(terminal, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                shown.data.append(contentsOf: buffer[0..<count])
            }
            done.signal()
        }
        let result = try run(arguments, environment: [:], standardInput: sideHandle, terminal: sideHandle)
        done.wait()
        return Result(status: result.status, standardOutput: result.standardOutput, standardError: String(decoding: shown.data, as: UTF8.self))
    }

    /// `terminal`: the standard error too, closed here once the child has it (nothing read from
    /// it here: the caller reads the terminal's other side).
    private static func run(_ arguments: [String], environment: [String: String], standardInput: FileHandle, terminal: FileHandle? = nil,
                            through launcher: [String] = []) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher.first ?? executable)
        process.arguments = launcher.isEmpty ? arguments : launcher.dropFirst() + [executable] + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "CHORUS_DATA")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = terminal ?? err
        process.standardInput = standardInput
        try process.run()
        if let terminal {
            try? terminal.close()
            try? err.fileHandleForWriting.close()
        }
        // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box()
        let group = DispatchGroup()
        group.enter()
        let reader = out.fileHandleForReading
        DispatchQueue.global().async { outBox.data = reader.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let outData = outBox.data
        process.waitUntilExit()
        return Result(status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
                      standardError: String(decoding: errData, as: UTF8.self))
    }

    /// Starts `chorus ARGUMENTS`, waits `milliseconds`, kills it with SIGKILL and returns what it
    /// printed before dying and whether it had already exited by itself.
    public static func runAndKill(_ arguments: [String], afterMilliseconds milliseconds: Int) throws -> (output: String, exitedByItself: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(useconds_t(milliseconds * 1000))
        let exitedByItself = !process.isRunning
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), exitedByItself)
    }
}
