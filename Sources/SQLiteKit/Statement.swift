import CSQLite

/// A prepared statement. Owned by one `Database`; not thread-safe, like the connection it belongs to.
public final class Statement {
    let handle: OpaquePointer
    public let sql: String
    unowned let database: Database

    init(database: Database, sql: String) throws {
        var raw: OpaquePointer?
        let code = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard code == SQLITE_OK, let raw else {
            throw database.error(code: code, sql: sql)
        }
        self.handle = raw
        self.sql = sql
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    /// Binds parameters by position (1-based in SQLite, 0-based here in the array).
    /// Every parameter is bound each time (the count is checked), so no earlier binding survives
    /// and `sqlite3_clear_bindings` is not needed.
    func bind(_ values: [SQLiteBindable]) throws {
        sqlite3_reset(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        precondition(values.count == expected, "statement expects \(expected) parameters, got \(values.count): \(sql)")
        for (offset, bindable) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch bindable.sqliteValue {
            case .null: code = sqlite3_bind_null(handle, index)
            case .integer(let v): code = sqlite3_bind_int64(handle, index, v)
            case .real(let v): code = sqlite3_bind_double(handle, index, v)
            case .text(let v):
                // With its length, so SQLite need not scan for the terminator.
                var text = v
                code = text.withUTF8 { utf8 in
                    utf8.withMemoryRebound(to: CChar.self) { chars in
                        guard let base = chars.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, chorus_sqlite_transient()) }
                        return sqlite3_bind_text(handle, index, base, Int32(chars.count), chorus_sqlite_transient())
                    }
                }
            case .blob(let v):
                code = v.withUnsafeBytes { raw in
                    sqlite3_bind_blob(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), chorus_sqlite_transient())
                }
            }
            guard code == SQLITE_OK else { throw database.error(code: code, sql: sql) }
        }
    }

    /// Steps once; returns true when a row is available.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(code: code, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    func reset() { sqlite3_reset(handle) }

    var columnCount: Int { Int(sqlite3_column_count(handle)) }

    func value(at column: Int) -> SQLiteValue {
        let index = Int32(column)
        switch sqlite3_column_type(handle, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, index))
        case SQLITE_TEXT:
            guard let pointer = sqlite3_column_text(handle, index) else { return .text("") }
            let count = Int(sqlite3_column_bytes(handle, index))
            return .text(String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, index))
            guard count > 0, let pointer = sqlite3_column_blob(handle, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default: return .null
        }
    }

    func columnName(at column: Int) -> String {
        String(cString: sqlite3_column_name(handle, Int32(column)))
    }
}

/// One result row, read by column position.
public struct Row: Sendable {
    public let values: [SQLiteValue]
    public subscript(_ column: Int) -> SQLiteValue { values[column] }
    public func text(_ column: Int) -> String? { values[column].text }
    public func integer(_ column: Int) -> Int64? { values[column].integer }
    public func real(_ column: Int) -> Double? { values[column].real }
    public func blob(_ column: Int) -> [UInt8]? { values[column].blob }
}
