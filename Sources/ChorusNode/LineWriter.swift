#if canImport(Glibc)
import Glibc
#endif
import ChorusCore
import Dispatch
import Foundation

/// Writes whole lines to a file descriptor (the node's log on standard output): each line in one
/// `write` where the kernel takes it whole, under a lock so lines from concurrent requests never
/// interleave. Unbuffered, so a line is out before the request it logs is answered and a killed
/// node loses none; cheaper than `FileHandle.write(Data)`, which went through a Dispatch semaphore
/// and a `Data` copy for every request (`chorus-bench --only-noop`, perf).
///
/// The log must never stop the node. The event loops write the access log's lines themselves
/// (`HTTPServer`), so a write that blocked on a reader who stopped reading (`chorus serve | less`,
/// paused) would stop every loop: no request answered, no connection accepted. So no write ever
/// blocks: a pipe or terminal is written through a non-blocking description of its own (reopened
/// through `/proc/self/fd`, so the flag never changes the one the node shares with its parent), a
/// socket with `MSG_DONTWAIT`. A line the descriptor does not take within `drainMilliseconds` is
/// dropped, and so is every line after it, without waiting, until the descriptor takes one again;
/// the first line it takes is then a notice of how many were dropped (`droppedNotice`).
public final class LineWriter: @unchecked Sendable {
    /// How the descriptor is written without blocking.
    private enum Mode {
        /// A regular file (or anything whose write cannot wait on a reader): plain `write`.
        case file
        /// A descriptor of our own with `O_NONBLOCK` set, closed with the writer.
        case nonBlocking(owned: Bool)
        /// A socket: `send` with `MSG_DONTWAIT`.
        case socket
        /// Nothing better was possible: `poll` before each `write` of at most `PIPE_BUF` bytes.
        case pollFirst
    }

    private let descriptor: Int32
    private let mode: Mode
    /// The most a `.pollFirst` write puts out after `poll` says the descriptor is writable: a
    /// pipe then has room for `PIPE_BUF` bytes, a terminal only for fewer than 256 queued.
    private let pollFirstChunk: Int
    private let droppedNotice: @Sendable (Int) -> String
    private let lock = NSLock()
    /// Lines dropped since the descriptor last took one; while above zero, lines are dropped
    /// without waiting.
    private var dropped = 0
    /// A line went out in part: the next write starts with a newline, so it starts a line.
    private var lineOpen = false

    /// The process's standard output.
    public static let standardOutput = LineWriter(descriptor: 1)

    /// How long a line may wait for a full pipe or terminal to drain, in all, before it is dropped.
    static let drainMilliseconds: Int32 = 100

    /// The notice written before the first line after some were dropped: one JSON line, as the
    /// node's log is.
    public static let jsonDroppedNotice: @Sendable (Int) -> String = { count in
        JSONValue.canonicalObjectText([
            ("event", "log_lines_dropped"), ("time", .integer(Int64(Date().timeIntervalSince1970 * 1000))),
            ("count", .integer(Int64(count))),
            ("hint", "the log's reader did not keep up; lines were dropped so the node kept serving: read its output, or send it to a file"),
        ])
    }

    public init(descriptor: Int32, droppedNotice: @escaping @Sendable (Int) -> String = LineWriter.jsonDroppedNotice) {
        self.droppedNotice = droppedNotice
        var status = stat()
        let kind = fstat(descriptor, &status) == 0 ? status.st_mode & S_IFMT : 0
        let flags = fcntl(descriptor, F_GETFL)
        pollFirstChunk = kind == S_IFCHR ? 128 : Int(PIPE_BUF)
        if kind == S_IFREG {
            (self.descriptor, mode) = (descriptor, .file)
        } else if kind == S_IFSOCK {
            (self.descriptor, mode) = (descriptor, .socket)
        } else if flags >= 0 && flags & O_NONBLOCK != 0 {
            (self.descriptor, mode) = (descriptor, .nonBlocking(owned: false))
        } else {
            let own = open("/proc/self/fd/\(descriptor)", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
            (self.descriptor, mode) = own >= 0 ? (own, .nonBlocking(owned: true)) : (descriptor, .pollFirst)
        }
    }

    deinit {
        if case .nonBlocking(owned: true) = mode { close(descriptor) }
    }

    /// Writes `line` and a newline, or drops it (see the type's comment). A line cut short by a
    /// failed write counts as dropped, and the next write starts with a newline, so a reader
    /// still gets whole lines (the cut one aside).
    public func write(_ line: String) {
        lock.withLock {
            if dropped > 0 {
                guard put(droppedNotice(dropped), waitMilliseconds: 0) else { dropped += 1; return }
                dropped = 0
            }
            if !put(line, waitMilliseconds: LineWriter.drainMilliseconds) { dropped += 1 }
        }
    }

    /// Puts out `text` as one line (after a newline if the last one was cut); true when all of it
    /// went out. Under `lock`.
    private func put(_ text: String, waitMilliseconds: Int32) -> Bool {
        var bytes: [UInt8] = lineOpen ? [0x0A] : []
        bytes += text.utf8
        bytes.append(0x0A)
        let written = writeLine(bytes, waitMilliseconds: waitMilliseconds)
        if written == bytes.count {
            lineOpen = false
        } else if written > (lineOpen ? 1 : 0) {
            lineOpen = true
        } else if written == 1 {
            lineOpen = false  // only the newline went out: the cut line is ended
        }
        return written == bytes.count
    }

    /// Writes what it can of `bytes`, waiting for the descriptor at most `waitMilliseconds` in
    /// all (one deadline for the whole line, however many writes it takes); returns how many
    /// bytes went out.
    private func writeLine(_ bytes: [UInt8], waitMilliseconds: Int32) -> Int {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(waitMilliseconds) * 1_000_000
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                switch writeNow(buffer.baseAddress! + offset, buffer.count - offset) {
                case .wrote(let count):
                    offset += count
                case .wouldBlock:
                    let now = DispatchTime.now().uptimeNanoseconds
                    guard now < deadline else { return offset }
                    var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    let left = Int32((deadline - now + 999_999) / 1_000_000)
                    guard poll(&ready, 1, left) > 0 else { return offset }
                case .failed:
                    return offset
                }
            }
            return offset
        }
    }

    private enum Attempt { case wrote(Int), wouldBlock, failed }

    /// One write that never blocks.
    private func writeNow(_ base: UnsafeRawPointer, _ count: Int) -> Attempt {
        while true {
            let written: Int
            switch mode {
            case .file, .nonBlocking:
                written = Glibc.write(descriptor, base, count)
            case .socket:
                written = send(descriptor, base, count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            case .pollFirst:
                var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                guard poll(&ready, 1, 0) > 0 else { return .wouldBlock }
                // Writable means room for `pollFirstChunk` bytes at least: no more cannot block
                // (unless another writer fills the room first, which this mode cannot prevent).
                written = Glibc.write(descriptor, base, min(count, pollFirstChunk))
            }
            if written > 0 { return .wrote(written) }
            if written < 0 && errno == EINTR { continue }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .wouldBlock }
            return .failed
        }
    }
}
