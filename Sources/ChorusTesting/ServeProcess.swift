import ChorusCore
import Foundation

/// A `chorus serve` child process on 127.0.0.1 with a port picked by the system.
public final class ServeProcess: @unchecked Sendable {
    public let data: String
    public let arguments: [String]
    private var process: Process?
    private let lock = NSLock()
    private var lines: [String] = []
    /// Bytes read from the output after its last newline, kept for the next read.
    private var partialLine = ""
    private var output: Pipe?
    /// What the node wrote to standard error, kept for a test to show when the node stopped on
    /// its own (its last words: "can no longer serve", a crash).
    private var errors = ""
    public private(set) var port: UInt16 = 0

    /// Starts `chorus serve --data DATA --listen 127.0.0.1:PORT EXTRA...` and waits until it listens.
    public init(data: String, port: UInt16 = 0, extra: [String] = [], environment: [String: String] = [:]) throws {
        self.data = data
        self.arguments = ["serve", "--data", data, "--listen", "127.0.0.1:\(port)"] + extra
        try start(port: port, environment: environment)
    }

    public func start(port: UInt16? = nil, environment: [String: String] = [:]) throws {
        var arguments = self.arguments
        if let port, let index = arguments.firstIndex(of: "--listen") { arguments[index + 1] = "127.0.0.1:\(port)" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChorusProcess.executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        let errorPipe = Pipe()
        process.standardError = errorPipe
        errorPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock {
                // The last 8 KiB: the node's last words, not everything it ever warned of.
                self.errors = String((self.errors + String(decoding: data, as: UTF8.self)).suffix(8 * 1024))
            }
        }
        output = out
        lock.withLock {
            partialLine = ""
            errors = ""
        }
        resumeReadingLog()
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let line = lock.withLock({ lines.first { $0.contains("\"event\":\"listening\"") } }),
               let json = try? JSONParser().parse(line), let url = json["url"]?.stringValue,
               let bound = url.split(separator: ":").last.flatMap({ UInt16($0) }) {
                self.port = bound
                lock.withLock { lines.removeAll { $0 == line } }
                return
            }
            if !process.isRunning { throw ChorusError(.storage, "chorus serve exited at start (status \(process.terminationStatus))") }
            usleep(20_000)
        }
        throw ChorusError(.storage, "chorus serve did not start listening within 15 s")
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// The child's process id while it runs.
    public var pid: Int32? { process.map(\.processIdentifier) }

    /// Stops reading the node's standard output: the pipe fills, as with a paused `chorus serve | less`.
    public func pauseReadingLog() {
        output?.fileHandleForReading.readabilityHandler = nil
    }

    /// Reads the node's standard output again (and from the start, `start`), line by line.
    public func resumeReadingLog() {
        output?.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            let text = String(decoding: data, as: UTF8.self)
            self.lock.withLock {
                var parts = (self.partialLine + text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                self.partialLine = parts.removeLast()
                self.lines.append(contentsOf: parts.filter { !$0.isEmpty })
            }
        }
    }

    /// Log lines printed so far.
    public var log: [String] { lock.withLock { lines } }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// Why the node is not running, for a test's failure message: its exit status and the end of
    /// what it wrote to standard error; nil while it runs.
    public var exitReport: String? {
        guard let process, !process.isRunning else { return nil }
        return "chorus serve exited (status \(process.terminationStatus)); standard error: \(lock.withLock { errors })"
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        guard let process, process.isRunning else { return process?.terminationStatus ?? 0 }
        process.terminate()
        process.waitUntilExit()
        process.standardOutput.flatMap { ($0 as? Pipe)?.fileHandleForReading.readabilityHandler = nil }
        return process.terminationStatus
    }

    /// SIGKILL: no chance to clean up.
    public func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        process.standardOutput.flatMap { ($0 as? Pipe)?.fileHandleForReading.readabilityHandler = nil }
    }

    deinit { kill() }
}
