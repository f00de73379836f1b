#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes whole lines to a file descriptor (the node's log on standard output): each line in one
/// `write` where the kernel takes it whole, under a lock so lines from concurrent requests never
/// interleave. Unbuffered, so a line is out before the request it logs is answered and a killed
/// node loses none; cheaper than `FileHandle.write(Data)`, which went through a Dispatch semaphore
/// and a `Data` copy for every request (`chorus-bench --only-noop`, perf).
public final class LineWriter: @unchecked Sendable {
    private let descriptor: Int32
    private let lock = NSLock()

    public init(descriptor: Int32) { self.descriptor = descriptor }

    /// The process's standard output.
    public static let standardOutput = LineWriter(descriptor: 1)

    /// How long a write waits for a full pipe or terminal (a non-blocking descriptor) to drain
    /// before the rest of the line is dropped.
    static let drainMilliseconds: Int32 = 100

    /// Writes `line` and a newline. A write the descriptor refuses (closed pipe, full disk, a
    /// reader that stopped reading) drops the line, ended by a newline if part of it went out, so
    /// the next line is still whole: the log must never stop the node.
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        lock.withLock {
            let written = writeAll(bytes)
            if written > 0 && written < bytes.count { _ = writeAll([0x0A]) }
        }
    }

    /// Writes what it can of `bytes`; returns how many went out.
    private func writeAll(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    guard poll(&ready, 1, LineWriter.drainMilliseconds) > 0 else { return offset }
                } else {
                    return offset
                }
            }
            return offset
        }
    }
}
