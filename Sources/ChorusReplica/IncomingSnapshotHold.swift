import ChorusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A download's hold on the file it receives a snapshot into: an exclusive `flock` on it, which
/// the kernel lets go when the process ends, however it ends. A file no process holds is what a
/// stopped download left, and goes at the next sync, whatever its age; one a live download holds
/// (a `chorus sync` beside a node on the same folder) stays. The writer opens the same file again
/// with `O_TRUNC` (the same inode), so the hold covers what it writes.
public final class IncomingSnapshotHold: @unchecked Sendable {
    private let descriptor: Int32

    /// Creates the file at `path` (empty) and holds it.
    public init(_ path: String) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw ChorusError(.storage, "cannot create \(path): \(String(cString: strerror(errno)))",
                              hint: "check that the folder exists, is writable and has free space")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            throw ChorusError(.storage, "cannot lock \(path): \(String(cString: strerror(code)))", hint: "another process holds it; sync again")
        }
    }

    deinit { close(descriptor) }

    /// Whether a live process holds the file at `path` (false when it cannot be opened).
    static func isHeld(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return flock(descriptor, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// The snapshot file that a file SQLite keeps beside it (`-wal`, `-shm`, `-journal`) belongs to.
    static func mainFile(of path: String) -> String {
        for suffix in ["-wal", "-shm", "-journal"] where path.hasSuffix(suffix) { return String(path.dropLast(suffix.count)) }
        return path
    }
}
