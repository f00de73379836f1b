import CSQLite

extension Database {
    /// Copies this connection's database, as one consistent snapshot, into a new file at `path`
    /// with SQLite's online backup (page by page, no rows decoded). Other connections may go on
    /// writing meanwhile: the copy is what was committed when it started.
    ///
    /// - Throws: `SQLiteError` if `path` exists already or cannot be written.
    public func backup(into path: String) throws {
        var options = Options()
        options.journalModeWAL = false
        options.synchronous = .off   // a scratch copy: whoever keeps it syncs it
        let destination = try Database(path: path, options: options)
        guard let backup = sqlite3_backup_init(destination.handle, "main", handle, "main") else {
            throw destination.error(code: sqlite3_errcode(destination.handle), sql: "sqlite3_backup_init")
        }
        let code = sqlite3_backup_step(backup, -1)
        let finished = sqlite3_backup_finish(backup)
        guard code == SQLITE_DONE else { throw error(code: code, sql: "sqlite3_backup_step") }
        guard finished == SQLITE_OK else { throw destination.error(code: finished, sql: "sqlite3_backup_finish") }
    }

    /// `PRAGMA quick_check`: every page and record well formed (not every index against its
    /// table, which `integrityCheck` adds at several times the cost). Empty when sound.
    public func quickCheck() throws -> [String] {
        let messages = try query("PRAGMA quick_check").compactMap { $0.text(0) }
        return messages == ["ok"] ? [] : messages
    }

    /// The schema as `(type, name, table, sql)` rows in name order: two databases with equal
    /// schemas have equal lists. `schemaName` is `main` or an attached database's name.
    public func schemaRows(_ schemaName: String = "main") throws -> [[String?]] {
        try query("SELECT type, name, tbl_name, sql FROM \(schemaName).sqlite_schema ORDER BY name, type").map { row in
            (0..<4).map { row.text($0) }
        }
    }
}
