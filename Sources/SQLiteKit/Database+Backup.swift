import CSQLite

extension Database {
    /// Replaces this database's whole content with `source`'s, page for page, in one write
    /// transaction (SQLite's online backup run to its end in one step): atomic, and durable when it
    /// returns under `synchronous=FULL`. A new replica takes its upstream's snapshot this way (P3
    /// in `Docs/performance.md`: about a third of the cost of inserting every row again).
    ///
    /// Nothing is decoded or checked on the way: the caller checks `source` first, with
    /// `integrityCheck` (every index against its table, UNIQUE, NOT NULL and CHECK), since the
    /// copy takes the source's indexes as they are. Other connections to this file see the new
    /// content, schema included, from their next transaction; this connection's prepared
    /// statements are prepared again when next used.
    ///
    /// - Throws: `SQLiteError` when the copy cannot run (this connection inside a transaction or
    ///   with a statement still reading, or page sizes that differ while this database is in WAL
    ///   mode); this database is unchanged then.
    public func replaceContents(with source: Database) throws {
        guard let backup = sqlite3_backup_init(handle, "main", source.handle, "main") else {
            throw error(code: sqlite3_errcode(handle), sql: "sqlite3_backup_init")
        }
        let step = sqlite3_backup_step(backup, -1)
        let finish = sqlite3_backup_finish(backup)
        guard step == SQLITE_DONE else {
            throw SQLiteError(code: step, message: "the copy of \(source.path) stopped: \(String(cString: sqlite3_errstr(step)))", sql: "sqlite3_backup_step")
        }
        guard finish == SQLITE_OK else { throw error(code: finish, sql: "sqlite3_backup_finish") }
    }
}
