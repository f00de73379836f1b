import ChorusCore
import ChorusNode
import ChorusReplica
import Foundation
import SQLiteKit
#if canImport(Glibc)
import Glibc
#endif

/// Where a command writes a file of its own (`export --output`, `replicas add --token-file`): a
/// new name, or a plain file it replaces; never a folder, a device or a pipe, nor one of the
/// replica's own files. The bounds sweep had `export --output DIR` replace a folder and all it
/// held, `--token-file /dev/null` turn the machine's /dev/null into a file, and either one
/// overwrite the replica's database.
enum OutputFile {
    /// The files of a replica folder that nothing else may be written over.
    static let replicaFiles: Set<String> = [Replica.databaseFileName, Replica.databaseFileName + "-wal", Replica.databaseFileName + "-shm",
                                            "chorus.counters", ServeLock.fileName]

    /// Throws a usage error when `path` (given as `option`) names something other than a file to
    /// write, or a file of the replica in `replicaFolder`.
    static func check(_ path: String, option: String, replicaFolder: String, _ context: CommandContext) throws {
        if let kind = PlainFile.notPlain(path) {
            throw context.usageError("\(option) \(path) is \(kind), which this would replace: name a file, new or one to overwrite")
        }
        // The replica's own files, by name in the folder itself (compared as devices and inodes,
        // so another spelling of the folder or a link to it is the folder too).
        // Split by hand: Foundation's `deletingLastPathComponent` traps on a one-letter name.
        var folder = stat(), parent = stat()
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard stat(replicaFolder, &folder) == 0, stat(directory, &parent) == 0 else { return }
        if folder.st_dev == parent.st_dev, folder.st_ino == parent.st_ino, replicaFiles.contains(name) {
            throw context.usageError("\(option) \(path) is one of the replica's own files: name another file")
        }
    }
}

extension OutputFile {
    /// A file written beside its final path (`PATH.PID.RANDOM.new`, made exclusively, never
    /// through a link) and renamed over it once complete and synced: the final path holds the old
    /// file or the whole new one, never a part, and is untouched when the write is abandoned.
    /// The random part: named by the process id alone, the file a killed run left blocked every
    /// later run of the same id ("File exists"), as in a container, where chorus is often pid 1
    /// each time (a read-only audit). A killed run's file holds nothing that counts: it was
    /// renamed over the path only once complete, and a token in it was registered nowhere.
    ///
    /// What the path held before is kept beside it (`PATH.PID.RANDOM.old`, a second link to the
    /// same file) until `forgetOld` or `putBack`: a `replicas add` whose registration failed after
    /// its token file was put in place (a commit refused for a full disk) removed the file that
    /// was there before, though nothing was registered (a read-only audit).
    struct Replacement {
        let path: String
        let temporary: String
        let old: String
        private let descriptor: Int32

        init(_ path: String, mode: mode_t, hint: String) throws {
            self.path = path
            let stem = "\(path).\(getpid()).\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
            temporary = stem + ".new"
            old = stem + ".old"
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            guard descriptor >= 0 else {
                throw ChorusError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))", hint: hint)
            }
        }

        /// Writes `bytes`, syncs them, renames the file over `path` and syncs the folder (without
        /// it, a power cut could lose the rename: a token the operator was shown, gone).
        func commit(_ bytes: [UInt8], hint: String) throws {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            let synced = written == bytes.count && fsync(descriptor) == 0
            let closed = close(descriptor) == 0
            // The old file, kept by a second name when the file system allows one (none when the
            // path is new; a file system without hard links, or a file of another user's under
            // `protected_hardlinks`, keeps none, and the write goes on as a plain replacement).
            _ = link(path, old)
            guard synced, closed, rename(temporary, path) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                unlink(old)
                throw ChorusError(.storage, "cannot write \(path): \(reason)", hint: hint)
            }
            guard FolderSync.syncFolder(of: path) else {
                let reason = String(cString: strerror(errno))
                // Not known to be durable: what the path held before is put back, as for a write
                // that failed before the rename (a review: the token left in place was valid nowhere).
                putBack()
                throw ChorusError(.storage, "cannot sync the folder of \(path): \(reason)", hint: hint)
            }
        }

        /// Removes the new file; the final path stays as it was.
        func abandon() {
            close(descriptor)
            unlink(temporary)
        }

        /// After `commit`: lets the old file go (its second name removed).
        func forgetOld() { unlink(old) }

        /// After `commit`, when what it wrote must not stand: the path holds what it held
        /// before, or nothing when it was new. Whether the old file is back.
        @discardableResult
        func putBack() -> Bool {
            if rename(old, path) == 0 {
                _ = FolderSync.syncFolder(of: path)
                return true
            }
            unlink(path)
            _ = FolderSync.syncFolder(of: path)
            return false
        }
    }
}
