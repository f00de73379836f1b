import ChorusCore
import SQLiteKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The lock `chorus serve` holds on its replica folder for as long as it runs (`chorus.serve.lock`,
/// an advisory `flock` the kernel drops when the process ends, however it ends). A second
/// `serve` of the folder is refused (two nodes of one replica would answer for it twice), and a
/// `join` beside it (the node syncs with the upstream it read when it started). Reads, writes and
/// a `sync` beside a served folder are fine: SQLite orders their transactions, and a sync's
/// cursors only move forward.
enum ServeLock {
    static let fileName = "chorus.serve.lock"

    /// Descriptors of the locks this process holds, kept open until it exits.
    nonisolated(unsafe) private static var held: [Int32] = []

    /// Takes the folder's lock for this process, or throws naming the process that holds it.
    static func take(folder: String) throws {
        do { try FolderSync.makeFolder(atPath: folder) } catch {
            throw ChorusError(.storage, "cannot create the replica folder \(folder): \(error.localizedDescription)", hint: "check that its parent exists and is writable by this user")
        }
        let path = (folder as NSString).appendingPathComponent(fileName)
        // A lock file this user cannot write (left by another user) still locks, read-only.
        var descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        // Why it failed first: the read-only retry of a file that is not there says only that.
        var failure = errno
        if descriptor < 0 && failure == EACCES {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            if descriptor < 0 && errno != ENOENT { failure = errno }
        }
        guard descriptor >= 0 else {
            throw ChorusError(.storage, "cannot open \(path): \(String(cString: strerror(failure)))",
                              hint: "check that the folder and its files are writable by this user (run chorus as the user that ran `chorus init`, or chown the folder to this one)")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = holderDescription(descriptor)
            close(descriptor)
            throw ChorusError(.invalidState, "another chorus process\(holder) holds \(folder): a `chorus serve` of it, or a `chorus sync --set-aside-refused` starting it again",
                              hint: "wait for it or stop it first; a node needs a folder of its own (--data): one folder is one replica")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        held.append(descriptor)
    }

    /// Throws when a `chorus serve` holds the folder: `command` would change under the node what
    /// it read when it started.
    static func refuseWhileServed(folder: String, command: String) throws {
        let path = (folder as NSString).appendingPathComponent(fileName)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }   // never served
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_SH | LOCK_NB) != 0 else {
            _ = flock(descriptor, LOCK_UN)
            return
        }
        throw ChorusError(.invalidState, "chorus serve\(holderDescription(descriptor)) is serving \(folder), so `chorus \(command)` does not run beside it",
                          hint: "stop the node, run `chorus \(command)`, then start it again")
    }

    /// " (pid N)" from the lock file, or "" when it holds none.
    private static func holderDescription(_ descriptor: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0, let pid = Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else { return "" }
        return " (pid \(pid))"
    }
}
