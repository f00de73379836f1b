import CSQLite

extension Database {
    /// SQLite's version as a number (3.40.1 is 3040001).
    public static var libraryVersionNumber: Int32 { sqlite3_libversion_number() }

    /// Replaces this database's whole content with `source`'s, page for page, in one write
    /// transaction (SQLite's online backup): atomic, and durable when it returns under
    /// `synchronous=FULL`. A new replica takes its upstream's snapshot this way (P3 in
    /// `Docs/performance.md`: a fraction of the cost of inserting every row again).
    ///
    /// `whileLocked` runs once this database's write lock is taken, before any page is copied
    /// (with `copyingAhead`, once every page but the last is copied, uncommitted): from then to
    /// the copy's commit no connection, in this process or another, commits to this
    /// database, so what the closure reads of it (through another connection: this one is the
    /// copy's until it returns) is what the copy replaces. It may write `source` through `source`'s
    /// own connection; the copy takes those writes too.
    ///
    /// Nothing is decoded or checked on the way: the caller checks `source` first, with
    /// `integrityCheck` (every index against its table, UNIQUE, NOT NULL and CHECK) and its file
    /// header, since the copy takes the source's pages and header fields as they are. Other
    /// connections to this file see the new content, schema included, from their next
    /// transaction; this connection's prepared statements are prepared again when next used.
    ///
    /// In WAL mode the copied pages are committed to the write-ahead log; with
    /// `checkpointInBackground`, the checkpoint that copies them into the file, which SQLite would
    /// run at the end of this connection's next statement, runs on a `BackgroundCheckpoint`
    /// instead (returned), so this connection's caller goes on at once.
    ///
    /// With `copyingAhead`, every page but the last is copied before `whileLocked` runs, so the
    /// closure may wait for something (a check of `source` on another core) while the copying is
    /// done, and only the commit is left after it. Nothing is committed before the closure
    /// returns: should it throw, the pages copied are rolled back with the rest (in WAL mode those
    /// that did not fit in the cache went to the log uncommitted, where no reader and no recovery
    /// sees them). What the closure writes to `source` through `source`'s own connection reaches
    /// the pages already copied too: SQLite's online backup brings a copied page up to date when
    /// the connection it reads from changes it.
    ///
    /// - Throws: `SQLiteError` when the copy cannot run (this connection inside a transaction or
    ///   with a statement still reading, another connection writing past the busy timeout, page
    ///   sizes that differ while this database is in WAL mode), or what `whileLocked` throws; this
    ///   database is unchanged then.
    @discardableResult
    public func replaceContents(with source: Database, checkpointInBackground: Bool = false, copyingAhead: Bool = false,
                                whileLocked: () throws -> Void = {}) throws -> BackgroundCheckpoint? {
        guard let backup = sqlite3_backup_init(handle, "main", source.handle, "main") else {
            throw error(code: sqlite3_errcode(handle), sql: "sqlite3_backup_init")
        }
        var finished = false
        defer { if !finished { sqlite3_backup_finish(backup) } }
        // No page yet: this takes the destination's write lock, held until the backup finishes.
        let locked = sqlite3_backup_step(backup, 0)
        guard locked == SQLITE_OK || locked == SQLITE_DONE else { throw stopped(locked, copying: source) }
        if copyingAhead, locked == SQLITE_OK, sqlite3_backup_pagecount(backup) > 1 {
            let ahead = sqlite3_backup_step(backup, sqlite3_backup_pagecount(backup) - 1)
            guard ahead == SQLITE_OK else { throw stopped(ahead, copying: source) }
        }
        try whileLocked()
        let step = sqlite3_backup_step(backup, -1)
        finished = true
        let finish = sqlite3_backup_finish(backup)
        guard step == SQLITE_DONE else { throw stopped(step, copying: source) }
        guard finish == SQLITE_OK else { throw error(code: finish, sql: "sqlite3_backup_finish") }
        guard checkpointInBackground, isWriteAheadLogged else { return nil }
        // Before any other statement here, which would end by running the checkpoint.
        passDueCheckpoint()
        return BackgroundCheckpoint(path: path)
    }

    /// Turns this connection's automatic checkpoints off, or back on (`Options.autoCheckpointPages`).
    /// While they are off, the caller checkpoints (`BackgroundCheckpoint`), guided by
    /// `logPagesAfterCommit`; until it does, the log keeps the pages, readable and durable, and grows.
    public func automaticCheckpoints(_ on: Bool) {
        if on {
            // Replaces the hook below with SQLite's own, which checkpoints past the pages given.
            sqlite3_wal_autocheckpoint(handle, autoCheckpointPages)
            return
        }
        logLength.pages = 0
        sqlite3_wal_hook(handle, { context, _, _, pages in
            let length = Unmanaged<LogLength>.fromOpaque(context!).takeUnretainedValue()
            length.pages = Int(pages)
            length.commits += 1
            return SQLITE_OK
        }, Unmanaged.passUnretained(logLength).toOpaque())
    }

    /// Pages in the write-ahead log after this connection's last commit since its automatic
    /// checkpoints were turned off (0 before the first).
    public var logPagesAfterCommit: Int { logLength.pages }

    /// Commits of this connection that wrote to the write-ahead log while its automatic
    /// checkpoints were off: SQLite's hook runs only after a commit that wrote frames (one that
    /// changed no page writes none, and syncs nothing).
    public var commitsLogged: Int { logLength.commits }

    /// Lets pass the checkpoint this connection's last commit left due (`wal_autocheckpoint`
    /// pages in the log): SQLite runs it when the connection's next statement ends, so the next
    /// statement here ends with automatic checkpoints off. Whoever calls this checkpoints
    /// otherwise (`BackgroundCheckpoint`); until then the log keeps the pages, readable and durable.
    /// Never throws: it follows a commit, which must not be reported as failed; should the
    /// statement fail, the checkpoint stays due and runs here after all.
    func passDueCheckpoint() {
        automaticCheckpoints(false)
        defer { automaticCheckpoints(true) }
        // Ending (`SQLITE_DONE`, outside a transaction), a statement takes the due checkpoint's
        // count, with nothing set to act on it.
        _ = sqlite3_exec(handle, "SELECT 1", nil, nil, nil)
    }

    private func stopped(_ code: Int32, copying source: Database) -> SQLiteError {
        SQLiteError(code: code, message: "the copy of \(source.path) stopped: \(String(cString: sqlite3_errstr(code)))", sql: "sqlite3_backup_step")
    }
}

/// The write-ahead log's length in pages, as SQLite's commit hook reports it (`sqlite3_wal_hook`),
/// held apart from `Database` so the hook's context pointer is to it alone; only the connection's
/// thread writes and reads it.
final class LogLength {
    var pages = 0
    var commits = 0
}
