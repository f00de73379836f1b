import CSQLite
#if canImport(Glibc)
import Glibc
#endif

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

    deinit {
        sqlite3_finalize(handle)
        arena?.deallocate()
    }

    /// Text and blob parameters are copied here and bound without SQLite copying them again
    /// (`SQLITE_STATIC`): one memcpy into memory reused by every execution, instead of an allocation
    /// and a copy per parameter. Valid while bound: `bind` resets the statement before rewriting it,
    /// and every execution resets after its last step.
    fileprivate var arena: UnsafeMutableRawPointer?
    fileprivate var arenaCapacity = 0

    /// An arena grown past this by one large value is given back at the next bind, so a cached
    /// statement that once bound a big blob does not hold its memory for the connection's life.
    static let arenaRetainedBytesMax = 64 * 1024

    /// Binds parameters by position (1-based in SQLite, 0-based here in the array), through the
    /// same writer as `bind(count:_:)`.
    func bind(_ values: [SQLiteBindable]) throws {
        try bind(count: values.count) { writer in
            for value in values { writer.value(value.sqliteValue) }
        }
    }

    /// Binds the parameters `body` writes, in order, through a `ParameterWriter`. Every parameter
    /// is bound each time (the count is checked), so no earlier binding survives and
    /// `sqlite3_clear_bindings` is not needed. With no array, no existential box and no
    /// `SQLiteValue` per parameter, it is the form for the statements a merged operation runs.
    ///
    /// One pass; when the arena is too small it grows and the pass starts again (pointers bound
    /// so far would point into the old memory), so `body` may run twice and must only write.
    /// After the first executions the arena never grows.
    func bind(count: Int, _ body: (inout ParameterWriter) -> Void) throws {
        sqlite3_reset(handle)
        let expected = Int(sqlite3_bind_parameter_count(handle))
        precondition(count == expected, "statement expects \(expected) parameters, got \(count): \(sql)")
        if arenaCapacity > Statement.arenaRetainedBytesMax {
            // Safe: the reset above ended any execution, and every parameter is bound again below.
            arena?.deallocate()
            arena = nil
            arenaCapacity = 0
        }
        while true {
            var writer = ParameterWriter(statement: self)
            body(&writer)
            guard writer.failure == SQLITE_OK else { throw database.error(code: writer.failure, sql: sql) }
            precondition(Int(writer.index) == count, "\(count) parameters declared, \(writer.index) written: \(sql)")
            guard writer.overflowed else { return }
            arena?.deallocate()
            arenaCapacity = max(writer.bytesNeeded, arenaCapacity * 2, 256)
            arena = UnsafeMutableRawPointer.allocate(byteCount: arenaCapacity, alignment: 8)
        }
    }

    /// Where a parameter copied at `offset` starts. Never NULL, even for an empty value before the
    /// arena exists: a NULL pointer would bind SQL NULL instead of an empty text or blob.
    fileprivate func arenaPointer(_ offset: Int) -> UnsafeRawPointer {
        guard let arena else { return Statement.emptyValue }
        return UnsafeRawPointer(arena + offset)
    }

    nonisolated(unsafe) private static let emptyValue = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1))

    /// Copies `count` bytes from `source` into the arena at `offset`; false when they do not fit.
    fileprivate func copyIntoArena(_ source: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        guard source.count <= arenaCapacity - offset else { return false }
        if source.count > 0, let arena { UnsafeMutableRawBufferPointer(start: arena + offset, count: source.count).copyMemory(from: source) }
        return true
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

    func value(at column: Int) -> SQLiteValue { Statement.value(of: handle, at: column) }

    /// The value of a column of the row `handle` is on, in its storage class.
    static func value(of handle: OpaquePointer, at column: Int) -> SQLiteValue {
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

/// Writes one execution's parameters in order (see `Database.run(_:count:_:)`). Texts and blobs
/// are copied into the statement's arena and bound without SQLite copying them again, as `bind`
/// does; when they do not fit, the writer keeps counting and the statement grows the arena and
/// has the parameters written again.
public struct ParameterWriter {
    fileprivate let statement: Statement
    fileprivate var index: Int32 = 0
    fileprivate var offset = 0
    fileprivate var bytesNeeded = 0
    fileprivate var overflowed = false
    fileprivate var failure = SQLITE_OK

    fileprivate init(statement: Statement) { self.statement = statement }

    private mutating func check(_ code: Int32) { if code != SQLITE_OK && failure == SQLITE_OK { failure = code } }

    public mutating func integer(_ value: Int64) {
        index += 1
        check(sqlite3_bind_int64(statement.handle, index, value))
    }

    /// An integer, or SQL NULL for nil.
    public mutating func integer(_ value: Int64?) {
        guard let value else { return null() }
        integer(value)
    }

    public mutating func null() {
        index += 1
        check(sqlite3_bind_null(statement.handle, index))
    }

    public mutating func text(_ value: String) {
        index += 1
        var value = value
        // Contiguous already for a native string, so `withUTF8` copies nothing.
        value.withUTF8 { bytes in
            guard let start = place(UnsafeRawBufferPointer(bytes)) else { return }
            check(sqlite3_bind_text(statement.handle, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), chorus_sqlite_static()))
        }
    }

    /// Text given as its UTF-8 bytes (the caller vouches they are valid UTF-8), or SQL NULL for nil.
    public mutating func text(utf8 value: [UInt8]?) {
        guard let value else { return null() }
        index += 1
        value.withUnsafeBytes { bytes in
            guard let start = place(bytes) else { return }
            check(sqlite3_bind_text(statement.handle, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count), chorus_sqlite_static()))
        }
    }

    /// A text, or SQL NULL for nil.
    public mutating func text(_ value: String?) {
        guard let value else { return null() }
        text(value)
    }

    /// A value of any storage class.
    public mutating func value(_ value: SQLiteValue) {
        switch value {
        case .null: null()
        case .integer(let v): integer(v)
        case .real(let v):
            index += 1
            check(sqlite3_bind_double(statement.handle, index, v))
        case .text(let v): text(v)
        case .blob(let v): blob(v)
        }
    }

    public mutating func blob(_ value: [UInt8]) {
        index += 1
        value.withUnsafeBytes { bytes in
            guard let start = place(bytes) else { return }
            check(sqlite3_bind_blob(statement.handle, index, start, Int32(bytes.count), chorus_sqlite_static()))
        }
    }

    /// Copies bytes into the arena; nil (and the writer marked overflowed) when they do not fit.
    private mutating func place(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawPointer? {
        bytesNeeded += bytes.count
        guard !overflowed, statement.copyIntoArena(bytes, at: offset) else {
            overflowed = true
            return nil
        }
        let start = statement.arenaPointer(offset)
        offset += bytes.count
        return start
    }
}

/// The columns of the row a statement is on, read in place (see `Database.forEachColumns`).
/// A NULL text or blob reads as nil and a NULL integer as 0 (ask `isNull` to tell them apart);
/// other storage classes convert as SQLite converts them.
public struct ColumnReader {
    @usableFromInline let handle: OpaquePointer

    public func isNull(_ column: Int) -> Bool { sqlite3_column_type(handle, Int32(column)) == SQLITE_NULL }

    public func integer(_ column: Int) -> Int64 { sqlite3_column_int64(handle, Int32(column)) }

    /// The column's value in its storage class (a text or blob copied out).
    public func value(_ column: Int) -> SQLiteValue { Statement.value(of: handle, at: column) }

    public func text(_ column: Int) -> String? {
        guard let pointer = sqlite3_column_text(handle, Int32(column)) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, Int32(column)))), as: UTF8.self)
    }

    public func blob(_ column: Int) -> [UInt8]? {
        guard !isNull(column) else { return nil }
        // The pointer first, then the size (SQLite's documented order).
        let pointer = sqlite3_column_blob(handle, Int32(column))
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        guard count > 0, let pointer else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Runs `body` over a blob's bytes in place, valid only during the call (empty for NULL).
    /// Inlinable, so it is specialised in the caller: as a generic call across the module boundary
    /// it cost 500 to 700 instructions per row (callgrind, the merge's whole-record read).
    @inlinable @discardableResult
    public func withBlob<T>(_ column: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        // The pointer first, then the size (SQLite's documented order).
        let pointer = sqlite3_column_blob(handle, Int32(column))
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        guard count > 0, let pointer else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// How the column's text orders against `string` under SQLite's BINARY collation (bytes by
    /// `memcmp`, then the shorter first): negative, zero or positive. Compared in place; NULL is
    /// taken as empty text.
    public func compareText(_ column: Int, _ string: String) -> Int {
        let pointer = sqlite3_column_text(handle, Int32(column))
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        var string = string
        return string.withUTF8 { utf8 in
            let common = min(count, utf8.count)
            let order = common == 0 ? 0 : memcmp(pointer!, utf8.baseAddress!, common)
            return order != 0 ? Int(order) : count - utf8.count
        }
    }

    /// Whether the column holds text equal to `string`, compared in place, without making a String.
    public func textEquals(_ column: Int, _ string: String) -> Bool {
        guard let pointer = sqlite3_column_text(handle, Int32(column)) else { return false }
        let stored = UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, Int32(column))))
        // One length check and one memcmp (profiled: the generic element-by-element walk cost ~350
        // instructions per call on the merge's hot path). `withUTF8` needs a mutable copy, which is
        // free for a native string (already contiguous).
        var string = string
        return string.withUTF8 { utf8 in
            utf8.count == stored.count && (utf8.isEmpty || memcmp(utf8.baseAddress!, stored.baseAddress!, utf8.count) == 0)
        }
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
