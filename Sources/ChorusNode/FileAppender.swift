#if canImport(Glibc)
import Glibc
#endif
import ChorusCore

/// Writes a new file front to back through a buffer of its own and plain `write(2)`: what a
/// snapshot download (`HTTPTransport.snapshot`) and a bundle export write, a piece at a time.
///
/// Not `FileHandle.write(contentsOf:)`, which on Linux costs about 50 µs a call whatever the size
/// (a Dispatch round and a `Data` copy each time): URLSession hands a download over in pieces of
/// about 16 KB, so a 28 MB snapshot took 120-170 ms to receive through it and 56-61 ms through
/// `write(2)`, against 27-39 ms for curl (`Docs/performance-notes.md`, P3).
///
/// One writer at a time: the caller serialises `append`, `flush`, `synchronize` and `close`. A
/// failed write is final: every later call throws it again, and `close` writes nothing more (the
/// callers delete a file they could not finish).
public final class FileAppender {
    /// Pieces are gathered up to this many bytes before one `write`; a larger piece goes straight
    /// to the file.
    public static let bufferBytes = 1 << 20

    public let path: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    /// The write that failed, thrown again by every later call.
    private var failed: ChorusError?

    /// Creates the file at `path` (emptied when it exists), to be written from its start.
    ///
    /// - Throws: `storage` when it cannot be created.
    public init(creating path: String) throws {
        self.path = path
        // Not through a symbolic link: the file is one of ours (a snapshot, a bundle being written).
        descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw ChorusError(.storage, "cannot create \(path): \(String(cString: strerror(errno)))",
                              hint: "check that the folder exists, is writable and has free space, and that the path is not a symbolic link")
        }
        buffer.reserveCapacity(FileAppender.bufferBytes)
    }

    deinit {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
    }

    /// Appends `bytes`: into the buffer, written out once it is full.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        try requireOpen()
        guard !bytes.isEmpty else { return }
        if buffer.count + bytes.count > FileAppender.bufferBytes { try flush() }
        if bytes.count >= FileAppender.bufferBytes {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Writes out what the buffer holds.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes out the buffer, then waits until the file's bytes are on the disk (`fsync`).
    public func synchronize() throws {
        try flush()
        try requireOpen()
        guard Glibc.fsync(descriptor) == 0 else { throw fail("fsync", errno) }
    }

    /// Writes out the buffer and closes the file; later calls do nothing. The file is closed even
    /// when the last write fails, which is then thrown.
    public func close() throws {
        guard descriptor >= 0 else { return }
        var flushFailure: (any Error)?
        if failed == nil {
            do { try flush() } catch { flushFailure = error }
        }
        let closed = Glibc.close(descriptor)
        let closeErrno = errno
        descriptor = -1
        if let flushFailure { throw flushFailure }
        if closed != 0 { throw fail("close", closeErrno) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        try requireOpen()
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                throw fail("write", code)
            }
            // A regular file takes at least a byte or says why not; none and no error would loop.
            if written == 0 { throw fail("write", ENOSPC) }
            offset += written
        }
    }

    private func requireOpen() throws {
        if let failed { throw failed }
        guard descriptor >= 0 else {
            throw ChorusError(.invalidState, "\(path) was already closed", hint: "this is a bug in Chorus: please report it")
        }
    }

    /// Records the failure of `call` with `code` (an `errno` read right after it), final from now.
    private func fail(_ call: String, _ code: Int32) -> ChorusError {
        let failure = ChorusError(.storage, "writing \(path) failed (\(call): \(String(cString: strerror(code))))",
                                  hint: "check the folder's free space and permissions")
        failed = failure
        return failure
    }
}
