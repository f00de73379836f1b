import CSQLite

extension Database {
    /// `PRAGMA quick_check`: every page and record well formed (not every index against its
    /// table, which `integrityCheck` adds at several times the cost). Empty when sound.
    public func quickCheck() throws -> [String] {
        let messages = try query("PRAGMA quick_check").compactMap { $0.text(0) }
        return messages == ["ok"] ? [] : messages
    }

    /// How many pages of the file no table or index holds and the freelist does not list: 0 in a
    /// sound database, and what `integrity_check` reports as "never used", except when it takes
    /// itself for a check of some tables only. SQLite gives a view the root page 0 in the list of
    /// roots it checks, and a 0 first in that list is its own mark of such a partial check, which
    /// skips the page accounting and the freelist; whether a view comes first depends on where
    /// the schema's names hash (seen with SQLite 3.40.1: one table and one view, a page appended,
    /// and `integrity_check` answers "ok"). Counted here through `dbstat` (every page of every
    /// b-tree, overflow pages too) and the header's freelist count, whatever the schema holds.
    /// Negative when pages are counted more than once (a page in two b-trees, which
    /// `integrity_check` reports itself). One read transaction, so a writer on another connection
    /// cannot move the counts apart.
    ///
    /// Nil when it cannot count: this SQLite was built without `dbstat`, the database has an
    /// object of that name (which would be read instead), or it uses auto-vacuum (its pointer-map
    /// pages are in no b-tree and `dbstat` does not list them; Chorus never sets it).
    public func unaccountedPages() throws -> Int64? {
        try readTransaction {
            guard try queryScalarInteger("PRAGMA auto_vacuum") == 0,
                  try queryScalarInteger("SELECT count(*) FROM sqlite_schema WHERE lower(name) = 'dbstat'") == 0 else { return nil }
            let inTrees: Int64
            do {
                // One row a b-tree, its page count (overflow pages too) in `pageno`: a fifth less
                // work than a row a page (P3 in `Docs/performance.md`).
                inTrees = try queryScalarInteger("SELECT coalesce(sum(pageno), 0) FROM dbstat WHERE aggregate = 1") ?? 0
            } catch let error as SQLiteError where error.message.contains("no such table") {
                return nil
            }
            let pageCount = try queryScalarInteger("PRAGMA page_count") ?? 0
            let free = try queryScalarInteger("PRAGMA freelist_count") ?? 0
            let pageSize = try queryScalarInteger("PRAGMA page_size") ?? 4096
            // The page holding the lock bytes at 1 GiB is never used, in any database that large.
            let lockPage = Database.lockBytesOffset / max(pageSize, 512) + 1
            return pageCount - (pageCount >= lockPage ? 1 : 0) - inTrees - free
        }
    }

    /// Where SQLite keeps its file locks (`PENDING_BYTE`): the page holding it stores nothing.
    static let lockBytesOffset: Int64 = 0x4000_0000

    /// The schema as `(type, name, table, sql)` rows in name order: two databases with equal
    /// schemas have equal lists. `schemaName` is `main` or an attached database's name.
    public func schemaRows(_ schemaName: String = "main") throws -> [[String?]] {
        try query("SELECT type, name, tbl_name, sql FROM \(schemaName).sqlite_schema ORDER BY name, type").map { row in
            (0..<4).map { row.text($0) }
        }
    }
}
