#if canImport(Glibc)
import Glibc
#endif
import HTTP1

/// A response body read from an open file (a sync snapshot) with positional reads, from its start,
/// so several bodies may read one descriptor at once, each at its own offset. The owner of the
/// descriptor is kept alive as long as the body (`keeping`), so the file stays open until the
/// last response reading it is released (after the server sent it, or gave up).
public final class FileBody: HTTPBodySource, @unchecked Sendable {
    private let fd: Int32
    public let length: Int64
    private var offset: Int64 = 0
    private let kept: AnyObject

    /// - Parameters:
    ///   - descriptor: an open file of at least `length` bytes, owned by `keeping`.
    ///   - keeping: the descriptor's owner, kept alive with the body.
    public init(descriptor: Int32, length: Int64, keeping: AnyObject) {
        self.fd = descriptor
        self.length = length
        self.kept = keeping
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let wanted = Int(min(Int64(buffer.count), length - offset))
        guard wanted > 0 else { return 0 }
        while true {
            let count = pread(fd, buffer.baseAddress, wanted, off_t(offset))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return 0 }
            offset += Int64(count)
            return count
        }
    }
}
