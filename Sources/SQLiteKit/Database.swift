import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// One SQLite connection with a statement cache, transactions and savepoints.
///
/// A `Database` is not thread-safe: use it from one thread (or serial queue) at a time. Chorus gives
/// each replica one connection and serialises access to it.
public final class Database {
    let handle: OpaquePointer
    /// The file this connection opened, or `:memory:`.
    public let path: String
    /// Whether this connection was opened writable in WAL mode (`Options.journalModeWAL`); Chorus
    /// never changes a connection's journal mode afterwards.
    public let isWriteAheadLogged: Bool
    /// `Options.autoCheckpointPages`, set without a statement so it can be set back so.
    let autoCheckpointPages: Int32
    /// `Options.synchronous`, which `syncsEachCommit(true)` sets back.
    let synchronous: Synchronous
    /// How long a statement waits for another connection's lock (`Options.busyTimeoutMilliseconds`).
    let busyTimeoutMilliseconds: Int32
    /// Setting `synchronous` back failed (`syncsEachCommit(true)`): the next transaction does it first.
    var syncRestorePending = false
    /// Syncs of the log made by `syncLog()`, for tests.
    public internal(set) var logSyncs = 0
    /// The log's length SQLite reports after each commit while automatic checkpoints are off
    /// (`automaticCheckpoints(false)`).
    let logLength = LogLength()
    private var statementCache: [String: Statement] = [:]
    private var recentStatements: [Statement] = []
    private var recentStatementNext = 0
    private var transactionDepth = 0

    /// How a connection is opened.
    public struct Options: Sendable {
        /// Open read-only; writes fail.
        public var isReadOnly: Bool = false
        /// Create the file if it does not exist.
        public var createIfMissing: Bool = true
        /// How long a writer waits for another connection's lock before failing with SQLITE_BUSY.
        public var busyTimeoutMilliseconds: Int32 = 5_000
        /// `synchronous=FULL` (durable at every commit) unless told otherwise; simulations use OFF.
        public var synchronous: Synchronous = .full
        /// Write-ahead log, so readers never block the writer.
        public var journalModeWAL: Bool = true
        /// In WAL mode, a commit that leaves the log this many pages long or more is followed by a
        /// passive checkpoint on the committing connection, when the committing statement ends
        /// (for a commit made outside a statement, SQLite's backup, when the connection's next
        /// statement ends): SQLite's own default, set explicitly.
        public var autoCheckpointPages: Int32 = 1_000
        /// In WAL mode, the log file's size kept once a checkpoint has copied it all and the next
        /// commit starts it again from the beginning (`journal_size_limit`): past it the file is
        /// truncated to it. A long merge's log grows to up to 64 MiB before its checkpoint
        /// (`Replica.mergeLogPagesMax`); without a limit the file kept that size until the last
        /// connection closed. 4 MiB is above the `autoCheckpointPages` log of everyday commits,
        /// whose file is never truncated and grown again.
        public var logBytesKept: Int64 = 4 * 1024 * 1024
        /// Overwrite deleted content with zeros, so erased data leaves the file.
        public var secureDelete: Bool = true
        /// The file came from elsewhere and may be crafted: open it hardened (defensive mode, no
        /// triggers or views, untrusted schema, cell size checks, no memory map) and never create it.
        public var isUntrusted: Bool = false
        /// The page cache's size in KiB (`cache_size`); nil for SQLite's default, 2,000. A
        /// connection that reads a whole file once through, checking it, is given room for all of
        /// it (`integrity_check` seeks each index once for every row of its table).
        public var cacheKibibytes: Int?

        public init() {}
    }

    /// SQLite's `synchronous` pragma values that Chorus uses.
    public enum Synchronous: String, Sendable {
        case off = "OFF", normal = "NORMAL", full = "FULL"
    }

    /// Process-wide SQLite settings, applied once before the first connection of the process.
    /// If SQLite was already initialised by someone else, the call fails harmlessly.
    private static let processConfigured: Bool = chorus_sqlite_configure_process() == SQLITE_OK

    /// Opens (and by default creates) a database file and sets every pragma explicitly.
    public init(path: String, options: Options = Options()) throws {
        _ = Database.processConfigured
        var raw: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX
        flags |= options.isReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if options.createIfMissing && !options.isReadOnly && !options.isUntrusted { flags |= SQLITE_OPEN_CREATE }
        let code = sqlite3_open_v2(path, &raw, flags, nil)
        guard code == SQLITE_OK, let raw else {
            let message = raw.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let raw { sqlite3_close_v2(raw) }
            throw SQLiteError(code: code, message: "\(message): \(path)")
        }
        self.handle = raw
        self.path = path
        isWriteAheadLogged = options.journalModeWAL && !options.isReadOnly && path != ":memory:"
        autoCheckpointPages = options.autoCheckpointPages
        synchronous = options.synchronous
        busyTimeoutMilliseconds = options.busyTimeoutMilliseconds
        sqlite3_wal_autocheckpoint(raw, options.autoCheckpointPages)
        sqlite3_extended_result_codes(raw, 1)
        sqlite3_busy_timeout(raw, options.busyTimeoutMilliseconds)
        do {
            if options.isUntrusted {
                let code = chorus_sqlite_harden(raw)
                guard code == SQLITE_OK else { throw error(code: code, sql: "sqlite3_db_config (hardening)") }
                try execute("PRAGMA cell_size_check=ON; PRAGMA mmap_size=0")
            }
            if let cacheKibibytes = options.cacheKibibytes { try execute("PRAGMA cache_size=-\(max(0, cacheKibibytes))") }
            // Reading the schema first turns "file is not a database" into an error here, not later.
            try execute("SELECT count(*) FROM sqlite_master")
            // Asked for read and write, SQLite opens a file this user may only read read-only,
            // and says nothing until the first write: a node started so (`init` run with sudo,
            // `serve` as a service user) answered ready and failed every write.
            if !options.isReadOnly && path != ":memory:" && sqlite3_db_readonly(raw, "main") == 1 {
                throw SQLiteError(code: SQLITE_READONLY, message: "\(path) is not writable by this user\(Database.ownerNote(of: path))")
            }
            if !options.isReadOnly {
                if options.journalModeWAL && path != ":memory:" {
                    let mode = try queryScalarText("PRAGMA journal_mode=WAL")
                    guard mode?.lowercased() == "wal" else {
                        throw SQLiteError(code: SQLITE_ERROR, message: "could not switch to WAL journal mode (got \(mode ?? "nothing"))")
                    }
                }
                if isWriteAheadLogged { try execute("PRAGMA journal_size_limit=\(options.logBytesKept)") }
                try execute("PRAGMA synchronous=\(options.synchronous.rawValue)")
                try execute("PRAGMA secure_delete=\(options.secureDelete ? "ON" : "OFF")")
            }
            try execute("PRAGMA foreign_keys=ON")
        } catch {
            statementCache.removeAll()
            recentStatements.removeAll()
            sqlite3_close_v2(raw)
            throw error
        }
    }

    /// Who owns `path`, when it is not the user running: said beside a file this user cannot write.
    static func ownerNote(of path: String) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { return "" }
        let user = geteuid()
        return status.st_uid == user ? " (it is this user's: check its mode, and whether its file system is mounted read-only)"
                                     : " (it belongs to user \(status.st_uid), this is user \(user))"
    }

    deinit {
        statementCache.removeAll()
        recentStatements.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(code: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    // MARK: Running SQL

    /// Runs one or more statements with no parameters and no results (DDL, pragmas).
    public func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if code != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? "unknown"
            sqlite3_free(errorMessage)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: message, sql: sql)
        }
    }

    /// A cached prepared statement for `sql`. Statements are prepared once per connection.
    ///
    /// The statements used last are checked first, by string equality, which is immediate when the
    /// caller passes the same string storage (a literal, or SQL text it built once): hashing long
    /// SQL text for the dictionary was about 5% of the merge's instructions (callgrind).
    func statement(_ sql: String) throws -> Statement {
        let length = sql.utf8.count
        for statement in recentStatements where statement.sql.utf8.count == length && statement.sql == sql { return statement }
        let statement: Statement
        if let cached = statementCache[sql] {
            statement = cached
        } else {
            statement = try Statement(database: self, sql: sql)
            statementCache[sql] = statement
        }
        if recentStatements.count < Database.recentStatementsMax {
            recentStatements.append(statement)
        } else {
            recentStatements[recentStatementNext] = statement
            recentStatementNext = (recentStatementNext + 1) % Database.recentStatementsMax
        }
        return statement
    }

    /// How many recently used statements `statement(_:)` checks before hashing: enough for the
    /// statements one merged operation runs.
    static let recentStatementsMax = 14

    /// Runs a statement that returns no rows, with positional parameters.
    public func run(_ sql: String, _ parameters: SQLiteBindable...) throws {
        try run(sql, parameters: parameters)
    }

    public func run(_ sql: String, parameters: [SQLiteBindable]) throws {
        let statement = try statement(sql)
        try statement.bind(parameters)
        defer { statement.reset() }
        while try statement.step() {}
    }

    /// Runs a statement that returns no rows, its `count` parameters written by `parameters` in
    /// order: the form for statements run once per merged operation, where an array of boxed
    /// parameters cost about a tenth of the merge's instructions (callgrind). `parameters` may be
    /// called more than once, so it must only write.
    public func run(_ sql: String, count: Int, _ parameters: (inout ParameterWriter) -> Void) throws {
        let statement = try statement(sql)
        try statement.bind(count: count, parameters)
        defer { statement.reset() }
        while try statement.step() {}
    }

    /// The `VALUES` list of a statement for `run(rows:)`: `rows` groups of `parametersPerRow`
    /// placeholders, `(?, ?), (?, ?)`.
    public static func valuesList(rows: Int, parametersPerRow: Int) -> String {
        let row = "(" + Array(repeating: "?", count: parametersPerRow).joined(separator: ", ") + ")"
        return Array(repeating: row, count: rows).joined(separator: ", ")
    }

    /// Runs one statement for each row of `rows` that takes several rows at once: `manySQL` takes
    /// `perStatement` rows, as often as they fill it, and `oneSQL` one row, for the rest (one
    /// statement text per count would crowd the statement cache). `row` writes one row's
    /// `parametersPerRow` parameters; it may be called more than once for a row, so it must only
    /// write. More than one row a statement must fit `parametersMax`.
    /// Inlinable so the caller's row type and closure are specialized, not reached through the
    /// runtime for every row.
    @inlinable
    public func run<Rows: Collection>(rows: Rows, perStatement: Int, manySQL: String, oneSQL: String, parametersPerRow: Int,
                                      _ row: (inout ParameterWriter, Rows.Element) -> Void) throws {
        precondition(perStatement == 1 || (perStatement > 1 && perStatement * parametersPerRow <= Database.parametersMax),
                     "rows per statement past SQLite's parameters")
        var start = rows.startIndex
        while start != rows.endIndex {
            let whole = rows.distance(from: start, to: rows.endIndex) >= perStatement
            let end = rows.index(start, offsetBy: whole ? perStatement : 1)
            try run(whole ? manySQL : oneSQL, count: (whole ? perStatement : 1) * parametersPerRow) { writer in
                for element in rows[start..<end] { row(&writer, element) }
            }
            start = end
        }
    }

    /// Parameters one statement may take on any SQLite: `SQLITE_MAX_VARIABLE_NUMBER`'s default
    /// before 3.32 (32,766 since), which a system's library may still be built with.
    public static let parametersMax = 999

    /// Calls `body` for each row; rows are valid only during the call.
    public func forEachRow(_ sql: String, parameters: [SQLiteBindable] = [], _ body: (Row) throws -> Void) throws {
        let statement = try statement(sql)
        try statement.bind(parameters)
        defer { statement.reset() }
        let columns = statement.columnCount
        while try statement.step() {
            var values: [SQLiteValue] = []
            values.reserveCapacity(columns)
            for column in 0..<columns { values.append(statement.value(at: column)) }
            try body(Row(values: values))
        }
    }

    /// Calls `body` for each row with a reader of the current row's columns, which builds no `Row`:
    /// for hot loops that turn rows straight into their own values (no array, no enum per column).
    /// The reader is valid only during the call.
    public func forEachColumns(_ sql: String, parameters: [SQLiteBindable] = [], _ body: (ColumnReader) throws -> Void) throws {
        let statement = try statement(sql)
        try statement.bind(parameters)
        defer { statement.reset() }
        let reader = ColumnReader(handle: statement.handle)
        while try statement.step() { try body(reader) }
    }

    /// All rows of a query.
    public func query(_ sql: String, _ parameters: SQLiteBindable...) throws -> [Row] {
        try query(sql, parameters: parameters)
    }

    public func query(_ sql: String, parameters: [SQLiteBindable]) throws -> [Row] {
        var rows: [Row] = []
        try forEachRow(sql, parameters: parameters) { rows.append($0) }
        return rows
    }

    /// The first row of a query, if any.
    public func queryRow(_ sql: String, _ parameters: SQLiteBindable...) throws -> Row? {
        let statement = try statement(sql)
        try statement.bind(parameters)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return Row(values: (0..<statement.columnCount).map { statement.value(at: $0) })
    }

    /// The first column of the first row as an integer.
    public func queryScalarInteger(_ sql: String, _ parameters: SQLiteBindable...) throws -> Int64? {
        let statement = try statement(sql)
        try statement.bind(parameters)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.value(at: 0).integer
    }

    /// The first column of the first row as text.
    public func queryScalarText(_ sql: String, _ parameters: SQLiteBindable...) throws -> String? {
        let statement = try statement(sql)
        try statement.bind(parameters)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.value(at: 0).text
    }

    /// The row id of the last successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Column names of a query, in order (for generic printing).
    public func columnNames(_ sql: String) throws -> [String] {
        let statement = try statement(sql)
        return (0..<statement.columnCount).map { statement.columnName(at: $0) }
    }

    // MARK: Transactions

    /// Runs `body` in a transaction that commits if it returns and rolls back if it throws.
    ///
    /// The outermost call takes the write lock at once (`BEGIN IMMEDIATE`), so a writer never fails
    /// half-way with SQLITE_BUSY on lock upgrade; nested calls become savepoints.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if transactionDepth > 0 {
            let name = "sp\(transactionDepth)"
            try execute("SAVEPOINT \(name)")
            transactionDepth += 1
            do {
                let result = try body()
                transactionDepth -= 1
                try execute("RELEASE \(name)")
                return result
            } catch {
                transactionDepth -= 1
                try? execute("ROLLBACK TO \(name); RELEASE \(name)")
                throw error
            }
        }
        if syncRestorePending {
            try execute("PRAGMA synchronous=\(synchronous.rawValue)")
            syncRestorePending = false
        }
        // Prepared once, like any statement: `execute` parses its SQL every time, 3% of a local write.
        try run("BEGIN IMMEDIATE")
        transactionDepth = 1
        do {
            let result = try body()
            try run("COMMIT")
            transactionDepth = 0
            return result
        } catch {
            transactionDepth = 0
            if sqlite3_get_autocommit(handle) == 0 { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a read transaction (`BEGIN DEFERRED`), so every query in it sees one snapshot
    /// even while another connection commits. Inside an open transaction it just runs `body`.
    /// `body` must not write: a deferred transaction that later wants the write lock can fail busy.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        if isInTransaction { return try body() }
        try run("BEGIN DEFERRED")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    // MARK: Change detection

    /// Changes this connection itself made since it opened: every row an INSERT, UPDATE or DELETE
    /// touched, triggers included (`sqlite3_total_changes64`). It moves on rollback too, which only
    /// ever makes a cache keyed on it miss, never hit wrongly.
    public var totalChanges: Int64 { sqlite3_total_changes64(handle) }

    /// `PRAGMA data_version`: moves when another connection commits, never for this one's own
    /// commits. With `totalChanges` it keys caches of anything derived from the content.
    public func dataVersion() throws -> Int64 {
        try queryScalarInteger("PRAGMA data_version") ?? 0
    }

    /// A value that differs whenever the committed content may have changed since it was taken, by
    /// this connection or another. Take it outside a transaction: inside one, uncommitted changes
    /// may yet roll back.
    public func contentVersion() throws -> ContentVersion {
        ContentVersion(dataVersion: try dataVersion(), totalChanges: totalChanges)
    }

    // MARK: Maintenance

    /// `PRAGMA integrity_check`, and that every page of the file is in a table, an index or the
    /// freelist (`unaccountedPages`, which SQLite's own check may skip): returns the problems
    /// found, empty when the database is sound.
    public func integrityCheck() throws -> [String] {
        let rows = try query("PRAGMA integrity_check")
        let messages = rows.compactMap { $0.text(0) }
        guard messages == ["ok"] else { return messages }
        if let unaccounted = try unaccountedPages(), unaccounted != 0 {
            let pages = try queryScalarInteger("PRAGMA page_count") ?? 0
            return [unaccounted > 0 ? "\(unaccounted) pages of the file are in no table, index or freelist (page count \(pages))"
                                    : "the tables, indexes and freelist hold \(-unaccounted) pages more than the file has (page count \(pages))"]
        }
        return []
    }

    /// Copies the write-ahead log into the database file and truncates the log to zero bytes.
    /// `waiting`: whether to wait for other connections' readers as long as any statement waits
    /// for a lock (`busyTimeoutMilliseconds`), or not at all.
    ///
    /// Returns false when another connection's reader prevented a complete checkpoint.
    @discardableResult
    public func checkpointTruncate(waiting: Bool = true) throws -> Bool {
        try checkpointTruncateOutcome(waiting: waiting).reset
    }

    /// `checkpointTruncate`, saying what it did: whether the log was emptied (`reset`), and how
    /// many of its frames are still not in the database file (`framesLeft`; nil when SQLite did
    /// not say). A reader of the latest state keeps the log from being emptied though every
    /// frame is in the file (0 left); one of an older state keeps the frames after it out.
    public func checkpointTruncateOutcome(waiting: Bool = true) throws -> (reset: Bool, framesLeft: Int?) {
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        if !waiting { sqlite3_busy_timeout(handle, 0) }
        defer { if !waiting { sqlite3_busy_timeout(handle, busyTimeoutMilliseconds) } }
        let code = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &checkpointed)
        guard code == SQLITE_OK || code == SQLITE_BUSY else { throw error(code: code, sql: "wal_checkpoint(TRUNCATE)") }
        if code == SQLITE_OK { return (true, 0) }
        return (false, logFrames >= 0 && checkpointed >= 0 ? Int(max(0, logFrames - checkpointed)) : nil)
    }

    /// Copies what it can of the write-ahead log into the database file without waiting for any
    /// reader or writer (`SQLITE_CHECKPOINT_PASSIVE`).
    ///
    /// Returns true when the whole log is now in the file; false when a reader on an older state
    /// or another connection's checkpoint left part of it for later.
    public func checkpointPassive() throws -> Bool {
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed)
        guard code == SQLITE_OK || code == SQLITE_BUSY else { throw error(code: code, sql: "wal_checkpoint(PASSIVE)") }
        return code == SQLITE_OK && logFrames >= 0 && checkpointed == logFrames
    }

    /// The SQLite library version, for status output.
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }
}

/// See `Database.contentVersion()`.
public struct ContentVersion: Equatable, Sendable {
    public let dataVersion: Int64
    public let totalChanges: Int64

    public init(dataVersion: Int64, totalChanges: Int64) {
        self.dataVersion = dataVersion
        self.totalChanges = totalChanges
    }
}
