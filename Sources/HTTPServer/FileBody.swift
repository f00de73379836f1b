#if canImport(Glibc)
import Glibc
#endif
import HTTP1

/// A response body read from a file (a sync snapshot): opened at once and, when asked, unlinked at
/// once, so the file is gone from its folder whatever happens to the process; the descriptor is
/// closed, and `keeping` released, when the last response holding it is released (after the
/// server sent it, or gave up).
public final class FileBody: HTTPBodySource, @unchecked Sendable {
    private let fd: Int32
    public let length: Int64
    private let kept: AnyObject?

    /// - Parameter keeping: an object to keep alive as long as the body (a lease on the file).
    /// - Throws: `FileBodyError` when the file cannot be opened or measured.
    public init(path: String, unlinkingIt: Bool, keeping: AnyObject? = nil) throws {
        kept = keeping
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileBodyError(path: path, errno: errno) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            close(fd)
            throw FileBodyError(path: path, errno: code)
        }
        if unlinkingIt { unlink(path) }
        self.fd = fd
        self.length = Int64(status.st_size)
    }

    deinit { close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            return max(0, count)
        }
    }
}

/// A file that could not be opened as a response body.
public struct FileBodyError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "cannot open \(path) to send it: \(String(cString: strerror(errno)))" }
}
