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

    /// Creates the file at `path` (empty) and holds it. Between its creation and the lock, a
    /// sync beside it can find it held by no one and remove it: the lock then holds a file no
    /// longer at `path` (the writer would make a new one, unheld), so the file at `path` is
    /// checked to be the one locked, and made again if not. The lock waits, as a check holds it
    /// for an instant (a check's instant on a new file refused the hold).
    public init(_ path: String) throws {
        for _ in 0..<IncomingSnapshotHold.attemptsMax {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard descriptor >= 0 else {
                throw ChorusError(.storage, "cannot create \(path): \(String(cString: strerror(errno)))",
                                  hint: "check that the folder exists, is writable and has free space")
            }
            var locked = stat(), named = stat()
            if flock(descriptor, LOCK_EX) == 0, fstat(descriptor, &locked) == 0, stat(path, &named) == 0,
               locked.st_dev == named.st_dev, locked.st_ino == named.st_ino {
                self.descriptor = descriptor
                return
            }
            close(descriptor)
        }
        throw ChorusError(.storage, "cannot hold \(path): it was removed \(IncomingSnapshotHold.attemptsMax) times as it was made",
                          hint: "another process is cleaning the folder as this one writes to it; sync again")
    }

    /// Times the file is made again when removed between its creation and its lock.
    static let attemptsMax = 5

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
        for suffix in Replica.sqliteSideFileSuffixes where path.hasSuffix(suffix) { return String(path.dropLast(suffix.count)) }
        return path
    }
}
