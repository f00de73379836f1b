import CSQLite

extension Database {
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
