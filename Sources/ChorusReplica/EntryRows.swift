import ChorusCore
import SQLiteKit

/// How live entries are stored since `0013_lean_entries` (Docs/performance-notes.md, thirteenth
/// round): `entry_rows` holds each entry with its origin replica as a small number into `origins`
/// and its kind as a small integer, instead of the 16-byte replica id and the kind's name that
/// every row repeated (a compacted replica's entries were 76 bytes a value, half its file).
///
/// Readers see the entries as they always were through the view `entries` (replica id and kind
/// name); only the merge's writes and its hot reads (`Replica+Apply.swift`,
/// `Replica+Materialise.swift`) use `entry_rows` itself, with `OriginNumbers`.
enum EntryRows {
    /// The kinds by stored code, the one place the codes are defined. Register and map are 0 and 1,
    /// which SQLite stores in the row header alone (no content byte): most entries are register
    /// values. Codes are stored: append, never reorder.
    static let kindsByCode: [FieldKind] = [.register, .map, .set, .log, .counter]

    /// A kind's stored code.
    static func code(_ kind: FieldKind) -> Int64 { Int64(kindsByCode.firstIndex(of: kind)!) }

    /// The kind of a stored code; nil for a code this build does not know.
    static func kind(code: Int64) -> FieldKind? { kindsByCode.indices.contains(Int(code)) ? kindsByCode[Int(code)] : nil }

    /// The codes of the kinds whose entries are values that can conflict (register and map keys).
    static let valueKindCodesSQL = "(\(code(.register)), \(code(.map)))"

    /// The kind name of a code column, in SQL (as `kind(code:)`).
    static func kindNameSQL(_ column: String) -> String {
        "CASE \(column) " + kindsByCode.enumerated().map { "WHEN \($0.offset) THEN '\($0.element.rawValue)'" }.joined(separator: " ") + " END"
    }

    /// The code of a kind-name column, in SQL (as `code(_:)`; NULL for a name no kind has).
    static func kindCodeSQL(_ column: String) -> String {
        "CASE \(column) " + kindsByCode.enumerated().map { "WHEN '\($0.element.rawValue)' THEN \($0.offset)" }.joined(separator: " ") + " END"
    }

    /// Entry rows naming an origin `origins` does not hold, and entry rows of a code no kind has:
    /// what `chorus check` reports and a received snapshot may not hold.
    static let unknownOriginsSQL = "SELECT 1 FROM entry_rows e LEFT JOIN origins o ON o.no = e.origin WHERE o.no IS NULL"
    static let unknownKindsSQL = "SELECT 1 FROM entry_rows WHERE kind NOT BETWEEN 0 AND \(kindsByCode.count - 1)"

    /// The tables and the view, as `0013_lean_entries` makes them (a change is a new migration).
    /// `origins.no` is never reused while a row refers to it (origins are never deleted), so a
    /// number means one replica for the life of the database; the view's LEFT JOIN lets SQLite
    /// leave `origins` out of a query that reads no replica id.
    static let ddl = """
        CREATE TABLE origins(no INTEGER PRIMARY KEY, replica BLOB NOT NULL UNIQUE);
        CREATE TABLE entry_rows(
            rid INTEGER NOT NULL,
            field TEXT NOT NULL,
            key TEXT NOT NULL,
            origin INTEGER NOT NULL,
            counter INTEGER NOT NULL,
            wall INTEGER NOT NULL,
            logical INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            value TEXT,
            seq INTEGER NOT NULL,
            PRIMARY KEY(rid, field, key, origin, counter)
        ) WITHOUT ROWID;
        CREATE VIEW entries(rid, field, key, replica, counter, wall, logical, kind, value, seq) AS
            SELECT e.rid, e.field, e.key, o.replica, e.counter, e.wall, e.logical, \(kindNameSQL("e.kind")), e.value, e.seq
            FROM entry_rows e LEFT JOIN origins o ON o.no = e.origin;
        """
}

/// Origin replicas' numbers in `origins`, as one batch has met them. Lives for one transaction
/// only (`Replica.inBatch` starts it empty): a number inserted by a batch that is then rolled back
/// may be given to another replica later, so no number is trusted past the transaction that read
/// or made it. The origin used last is kept apart: most lookups are for the one before.
struct OriginNumbers {
    private var recent: (replica: [UInt8], no: Int64)?
    private var numbers: [[UInt8]: Int64] = [:]
    private var replicas: [Int64: [UInt8]] = [:]

    /// The number of `replica`, made when `create` and it has none; nil when it has none.
    mutating func number(of replica: [UInt8], in database: Database, create: Bool) throws -> Int64? {
        if let recent, recent.replica == replica { return recent.no }
        var found = numbers[replica]
        if found == nil {
            found = try database.queryScalarInteger("SELECT no FROM origins WHERE replica = ?", replica)
            if found == nil, create {
                try database.run("INSERT INTO origins(replica) VALUES (?)", replica)
                found = database.lastInsertRowID
            }
            if let no = found { remember(replica, no) }
        }
        if let no = found { recent = (replica, no) }
        return found
    }

    /// The replica id of number `no`.
    mutating func replica(_ no: Int64, in database: Database) throws -> [UInt8] {
        if let recent, recent.no == no { return recent.replica }
        if let known = replicas[no] { return known }
        guard let bytes = try database.queryRow("SELECT replica FROM origins WHERE no = ?", no)?.blob(0) else {
            throw ChorusError(.storage, "an entry names origin number \(no), which is not in the table of origins",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        remember(bytes, no)
        return bytes
    }

    private mutating func remember(_ replica: [UInt8], _ no: Int64) {
        numbers[replica] = no
        replicas[no] = replica
    }
}
