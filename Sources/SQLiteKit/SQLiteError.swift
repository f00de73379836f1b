import CSQLite

/// An error reported by SQLite, with the statement that caused it and a hint for the operator.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The primary SQLite result code (`SQLITE_BUSY`, `SQLITE_CORRUPT`, ...).
    public let code: Int32
    /// SQLite's own message for the failure.
    public let message: String
    /// The SQL text being run, if any.
    public let sql: String?

    public init(code: Int32, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// Whether the same call may succeed if retried later (the database was locked or busy).
    public var isRetryable: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }

    /// Whether the disk was full: the same call succeeds once space is freed, so a node answers
    /// it 503 (try again later), not 500 (a fault of its own).
    public var isDiskFull: Bool { code & 0xff == SQLITE_FULL }

    /// Whether the database file itself is damaged or not a database at all.
    public var isCorruption: Bool { code & 0xff == SQLITE_CORRUPT || code & 0xff == SQLITE_NOTADB }

    /// The hint of a damaged file, by which layers that see only the hint know the damage.
    public static let corruptionHint = "the database file is damaged; restore it from a backup or re-create the replica and sync it again"

    /// What an operator can do about it.
    public var hint: String {
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED: return "another process holds the database; retry, or stop the other chorus process"
        case SQLITE_CORRUPT, SQLITE_NOTADB: return SQLiteError.corruptionHint
        case SQLITE_FULL: return "the disk is full; free space and retry"
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN: return "check that the data folder exists, and that it and its files are writable by this user (run chorus as the user that ran `chorus init`, or chown the folder to this one); to only read a copy, copy the folder somewhere writable (cp -a)"
        case SQLITE_IOERR: return "the file system failed a read or write: check that chorus.sqlite is a plain file, and the disk's health and free space (dmesg)"
        case SQLITE_CONSTRAINT: return "the write broke a database constraint; this is a bug in Chorus, please report it"
        default: return "see the SQLite message above"
        }
    }

    public var description: String {
        var text = "SQLite error \(code): \(message)"
        if let sql { text += " (in: \(sql.prefix(200)))" }
        return text
    }
}
