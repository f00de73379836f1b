#if canImport(Glibc)
import Glibc
#endif
import CSQLite

extension Database {
    /// Whether each commit syncs the write-ahead log, as `Options.synchronous` says (true), or
    /// only writes it (false: `synchronous=NORMAL`, until set back), for a caller that commits
    /// many transactions and reports none of them durable before it has synced the log.
    ///
    /// What makes such a run durable is a sync of the log file: it covers every frame in the
    /// file, those of the commits made without one too. A commit at FULL syncs the log only when
    /// it wrote to it (one that changed nothing writes no frame: `commitsLogged` does not move),
    /// so a run whose last commit wrote nothing ends with `syncLog()`. Until then a power cut can lose only commits nobody was told were kept; a
    /// process killed at any instant loses nothing (the frames are in the operating system's
    /// cache). Each commit stays atomic and the file consistent (SQLite: "WAL mode is always
    /// consistent with synchronous=NORMAL"); readers see each commit as before.
    ///
    /// Nothing changes unless the connection is write-ahead logged with `synchronous=FULL`. When
    /// setting it back fails, the connection's next transaction sets it back before it begins
    /// (`syncRestorePending`), so no later commit is left unsynced by it.
    public func syncsEachCommit(_ on: Bool) throws {
        guard defersSyncs else { return }
        do {
            try execute("PRAGMA synchronous=\(on ? Synchronous.full.rawValue : Synchronous.normal.rawValue)")
            syncRestorePending = false
        } catch {
            if on { syncRestorePending = true }
            throw error
        }
    }

    /// Whether `syncsEachCommit(false)` changes anything here: a write-ahead-logged connection
    /// opened with `synchronous=FULL`.
    public var defersSyncs: Bool { isWriteAheadLogged && synchronous == .full }

    /// Syncs this connection's write-ahead log file now, on the calling thread: whatever commits
    /// made without a sync wrote is durable when it returns. Nothing to do without a log file
    /// (a checkpoint that emptied it synced the database file).
    ///
    /// - Throws: `SQLiteError` (`SQLITE_IOERR_FSYNC`) when the file cannot be opened or synced.
    public func syncLog() throws {
        guard isWriteAheadLogged else { return }
        try Database.syncLogFile(ofDatabaseAt: path)
        logSyncs += 1
    }

    /// SQLite's `SQLITE_IOERR_FSYNC`, a macro Swift does not import.
    static let logSyncFailed: Int32 = SQLITE_IOERR | (4 << 8)

    /// Syncs the write-ahead log of the database file at `path` on a descriptor of its own:
    /// SQLite takes no POSIX locks on the log file (they are on the database file and the
    /// shared-memory file), so closing the descriptor releases none.
    public static func syncLogFile(ofDatabaseAt path: String) throws {
        let descriptor = open(path + "-wal", O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT { return }
            throw SQLiteError(code: Database.logSyncFailed, message: "could not open the write-ahead log of \(path) to sync it (errno \(code))")
        }
        defer { close(descriptor) }
        guard fdatasync(descriptor) == 0 else {
            throw SQLiteError(code: Database.logSyncFailed, message: "could not sync the write-ahead log of \(path) (errno \(errno))")
        }
    }
}
