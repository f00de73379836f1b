import CSQLite

extension Database {
    /// The most arguments a caller gives one call of a function registered here: SQLite's own
    /// limit (`SQLITE_MAX_FUNCTION_ARG`, 127 by default in the versions Chorus runs on) is higher,
    /// and a caller testing more values splits them into several calls.
    public static let argumentsPerCallMax = 64

    /// Makes `name(v1, ...)` callable in this connection's own statements, never from a schema's
    /// views or triggers: 1 when any of its arguments (at most `argumentsPerCallMax`) is a blob or
    /// a real that is not finite (an infinity: SQLite holds no NaN), else 0. JSON has neither, so
    /// a column meant to hold JSON values is unreadable where it gives one.
    ///
    /// Written in C (`CSQLite/shim.h`) and called once a row, where SQL compared each value three
    /// times (`+v >= x'' OR +v IN (9e999, -9e999)`): the check of a received snapshot's typed rows
    /// scanned 10,000 people that way in most of its time (P3 in `Docs/performance.md`).
    public func registerBlobOrInfiniteTest(named name: String) throws {
        let code = chorus_sqlite_register_any_blob_or_infinite(handle, name)
        guard code == SQLITE_OK else { throw error(code: code, sql: "sqlite3_create_function_v2(\(name))") }
    }
}
