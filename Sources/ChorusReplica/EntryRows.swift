import ChorusCore
import SQLiteKit

/// How live entries are stored since `0013_lean_entries` (Docs/performance-notes.md, thirteenth
/// round): `entry_rows` holds each entry with its origin replica as a small number into `origins`
/// and its kind as a small integer, instead of the 16-byte replica id and the kind's name that
/// every row repeated (a compacted replica's entries were 76 bytes a value, half its file). Since
/// `0015_field_numbers` (fifteenth round) its field is a number into `fields` too.
///
/// Readers see the entries as they always were through the view `entries` (replica id, field
/// name and kind name); only the merge's writes and its hot reads (`Replica+Apply.swift`,
/// `Replica+Materialise.swift`) use `entry_rows` itself, with `StoredNumbers`.
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
    /// what `chorus check` reports and a received snapshot may not hold. Folded entries are
    /// checked by `surveyFolded`, which decodes each body once.
    static let unknownOriginsSQL = "SELECT 1 FROM entry_rows e LEFT JOIN origins o ON o.no = e.origin WHERE o.no IS NULL"
    static let unknownKindsSQL = "SELECT 1 FROM entry_rows WHERE kind NOT BETWEEN 0 AND \(kindsByCode.count - 1)"
    /// Entry rows naming a field `fields` does not hold (since `0015_field_numbers`).
    static let unknownFieldsSQL = "SELECT 1 FROM entry_rows e LEFT JOIN fields f ON f.no = e.field WHERE f.no IS NULL"
    /// The three questions above in one scan of `entry_rows` (asked apart, each scans it: a third
    /// of a received snapshot's checks when its log is not compacted, P3 in `Docs/performance.md`).
    static let unknownReferencesSQL = """
        SELECT 1 FROM entry_rows WHERE origin NOT IN (SELECT no FROM origins) OR field NOT IN (SELECT no FROM fields)
            OR kind NOT BETWEEN 0 AND \(kindsByCode.count - 1)
        """
    /// The SQL function, registered on every replica connection (`Replica.registerFunctions`), that
    /// finds a value no JSON could have given: a blob, or a real that is not finite
    /// (`Database.registerBlobOrInfiniteTest`).
    static let blobOrInfiniteFunction = "chorus_blob_or_infinite"

    /// SQL true when any of `columns` of the row `table` holds a value no JSON could have given:
    /// one call of `blobOrInfiniteFunction` a row for every `Database.argumentsPerCallMax` columns,
    /// where three comparisons of each in SQL (`+c >= x'' OR +c IN (9e999, -9e999)`) were most of
    /// the check of a received snapshot (P3 in `Docs/performance.md`). False for no columns.
    static func unreadableSQL(_ columns: [String], of table: String) -> String {
        let calls = stride(from: 0, to: columns.count, by: Database.argumentsPerCallMax).map { start in
            let some = columns[start..<min(columns.count, start + Database.argumentsPerCallMax)]
            return "\(blobOrInfiniteFunction)(\(some.map { "\(table).\(StorageSchema.quote($0))" }.joined(separator: ", ")))"
        }
        return calls.isEmpty ? "0" : calls.joined(separator: " OR ")
    }

    /// Folded entries of records `records` does not hold.
    static let foldedOfUnknownRecordsSQL = "SELECT 1 FROM folded_entries d LEFT JOIN records r ON r.rid = d.rid WHERE r.rid IS NULL"

    /// What the folded entries hold that the checks of `chorus check` and of a received snapshot
    /// ask about, found in one pass that decodes each body once (through SQL, the table function
    /// would decode every body once per question).
    struct FoldedSurvey {
        var unknownOrigins = 0
        var unknownFields = 0
        var unknownKinds = 0
        /// Entries whose value is kept in a typed column (`FoldedEntries` format 2) their record's
        /// collection does not declare as a register: their value could not be read.
        var valuesInUnknownColumns = 0
        /// Records keeping values in typed columns (format 2) whose typed row is missing, or holds
        /// in a register column what cannot be read back as JSON (a blob, an infinite real): the
        /// views would fail on them. Found in SQL, one query per collection, not by reading values.
        var keptValuesUnreadable = 0
        /// The latest wall clock time of any folded entry (0 when none).
        var wallMax: Int64 = 0
        var isSound: Bool { unknownOrigins == 0 && unknownFields == 0 && unknownKinds == 0 && valuesInUnknownColumns == 0 && keptValuesUnreadable == 0 }
    }

    /// Decodes every folded body of `database`, whose typed tables follow `schema`; throws a
    /// storage error for one that does not decode. The values kept in typed columns are not read
    /// one by one (two lookups a record): their fields are checked to be the collection's
    /// registers, and their typed rows to exist and hold what reads back as JSON, in SQL.
    static func surveyFolded(_ database: Database, schema: Schema) throws -> FoldedSurvey {
        let origins = SmallIntegerSet(try database.query("SELECT no FROM origins").compactMap { $0.integer(0) })
        // By exact name: two canonically equivalent names are two fields (keyed by `String`, one
        // would hide the other's number).
        var fieldNumbers: [ExactName: Int64] = [:]
        try database.forEachColumns("SELECT no, name FROM fields") { row in fieldNumbers[ExactName(row.text(1) ?? "")] = row.integer(0) }
        let fields = SmallIntegerSet(fieldNumbers.values)
        var survey = FoldedSurvey()
        // Each record's collection as its place in `schema.collections` (-1 for one it lacks),
        // so the pass below compares numbers, not names.
        var registers: [SmallIntegerSet] = []
        var collectionCases = ""
        for (place, collection) in schema.collections.enumerated() {
            let names = MaterialisedSQL(collection).registerFields
            registers.append(SmallIntegerSet(names.compactMap { fieldNumbers[ExactName($0)] }))
            collectionCases += " WHEN '\(collection.name.replacingOccurrences(of: "'", with: "''"))' THEN \(place)"
            guard !names.isEmpty,
                  try database.queryScalarInteger("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", collection.name) == 1 else { continue }
            survey.keptValuesUnreadable += Int(try database.queryScalarInteger("""
                SELECT count(*) FROM folded_entries d JOIN records r ON r.rid = d.rid LEFT JOIN \(StorageSchema.quote(collection.name)) t ON t._rid = d.rid
                WHERE r.collection = ? AND substr(d.body, 1, 1) = x'02' AND (t._rid IS NULL OR \(unreadableSQL(names, of: "t")))
                """, collection.name) ?? 0)
        }
        let place = collectionCases.isEmpty ? "-1" : "CASE r.collection\(collectionCases) ELSE -1 END"
        try database.forEachColumns("SELECT d.rid, d.body, \(place) FROM folded_entries d LEFT JOIN records r ON r.rid = d.rid") { row in
            let rid = row.integer(0)
            guard let body = row.blob(1) else {
                throw ChorusError(.storage, "the folded entries of record \(rid) are not a blob", hint: "run `chorus check`")
            }
            let collection = Int(row.integer(2))
            let columns = registers.indices.contains(collection) ? registers[collection] : SmallIntegerSet()
            try FoldedEntries.scan(body, record: rid) { entry in
                if !origins.contains(entry.origin) { survey.unknownOrigins += 1 }
                if !fields.contains(entry.field) { survey.unknownFields += 1 }
                if entry.valueInColumn && !columns.contains(entry.field) { survey.valuesInUnknownColumns += 1 }
                if kind(code: entry.kind) == nil { survey.unknownKinds += 1 }
                survey.wallMax = max(survey.wallMax, entry.wall)
            }
        }
        return survey
    }
    /// Records with entries both folded and in rows of their own: a record is unfolded whole, the
    /// first time a batch touches it, and folded whole.
    static let foldedAndUnfoldedSQL = "SELECT 1 FROM folded_entries d WHERE EXISTS (SELECT 1 FROM entry_rows e WHERE e.rid = d.rid)"

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

    /// `0015_field_numbers`: `entry_rows` rebuilt with its field as a number into `fields`, and the
    /// view reading the name back. Fields are numbered in byte order of their names, so a migrated
    /// replica's numbers do not depend on the order it met them; `fields.no` is never reused while
    /// a row refers to it (fields are never deleted). The primary key keeps the entries of one
    /// record's field together, as the name did; only their order across fields changes, which no
    /// reader of the view relies on without an `ORDER BY`.
    static let fieldNumbersMigration = """
        DROP VIEW entries;
        ALTER TABLE entry_rows RENAME TO entry_rows_0014;
        CREATE TABLE fields(no INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE entry_rows(
            rid INTEGER NOT NULL,
            field INTEGER NOT NULL,
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
            SELECT e.rid, f.name, e.key, o.replica, e.counter, e.wall, e.logical, \(kindNameSQL("e.kind")), e.value, e.seq
            FROM entry_rows e LEFT JOIN fields f ON f.no = e.field LEFT JOIN origins o ON o.no = e.origin;
        INSERT INTO fields(name) SELECT DISTINCT field FROM entry_rows_0014 ORDER BY field;
        INSERT INTO entry_rows(rid, field, key, origin, counter, wall, logical, kind, value, seq)
            SELECT e.rid, f.no, e.key, e.origin, e.counter, e.wall, e.logical, e.kind, e.value, e.seq
            FROM entry_rows_0014 e JOIN fields f ON f.name = e.field;
        DROP TABLE entry_rows_0014;
        """

    /// `0016_folded_entries`: `folded_entries`, a record's entries in one value
    /// (`FoldedEntries.swift`), and the views over both kinds of storage: `live_entry_rows` (as
    /// `entry_rows`) and `entries` (names, as before). Frozen: a change is a new migration.
    /// `entries` joins the names in each arm of its union, not around it: SQLite flattens a union
    /// into a query that reads it with no join of its own, and pushes the query's terms into
    /// each arm's index search; around a union it could do neither, and a local write, which
    /// asks a key's live entries, cost twice its instructions (callgrind, seventeenth round).
    static let foldedEntriesMigration = """
        DROP VIEW entries;
        CREATE TABLE folded_entries(rid INTEGER PRIMARY KEY, body BLOB NOT NULL);
        CREATE VIEW live_entry_rows(rid, field, key, origin, counter, wall, logical, kind, value, seq) AS
            SELECT rid, field, key, origin, counter, wall, logical, kind, value, seq FROM entry_rows
            UNION ALL
            SELECT d.rid, x.field, x.key, x.origin, x.counter, x.wall, x.logical, x.kind, x.value, x.seq
            FROM folded_entries d, chorus_folded_entries(d.body) x;
        CREATE VIEW entries(rid, field, key, replica, counter, wall, logical, kind, value, seq) AS
            SELECT e.rid, f.name, e.key, o.replica, e.counter, e.wall, e.logical, \(kindNameSQL("e.kind")), e.value, e.seq
            FROM entry_rows e LEFT JOIN fields f ON f.no = e.field LEFT JOIN origins o ON o.no = e.origin
            UNION ALL
            SELECT d.rid, f.name, x.key, o.replica, x.counter, x.wall, x.logical, \(kindNameSQL("x.kind")), x.value, x.seq
            FROM folded_entries d JOIN chorus_folded_entries(d.body) x LEFT JOIN fields f ON f.no = x.field LEFT JOIN origins o ON o.no = x.origin;
        """

    /// `0017_folded_values`: the views of `0016_folded_entries` again, passing the table function
    /// each body's record as well, so it reads the values a body keeps in its record's typed
    /// columns (format 2, `RegisterColumns.swift`; eighteenth round). Frozen: a change is a new
    /// migration.
    static let foldedValuesMigration = """
        DROP VIEW entries;
        DROP VIEW live_entry_rows;
        CREATE VIEW live_entry_rows(rid, field, key, origin, counter, wall, logical, kind, value, seq) AS
            SELECT rid, field, key, origin, counter, wall, logical, kind, value, seq FROM entry_rows
            UNION ALL
            SELECT d.rid, x.field, x.key, x.origin, x.counter, x.wall, x.logical, x.kind, x.value, x.seq
            FROM folded_entries d, chorus_folded_entries(d.body, d.rid) x;
        CREATE VIEW entries(rid, field, key, replica, counter, wall, logical, kind, value, seq) AS
            SELECT e.rid, f.name, e.key, o.replica, e.counter, e.wall, e.logical, \(kindNameSQL("e.kind")), e.value, e.seq
            FROM entry_rows e LEFT JOIN fields f ON f.no = e.field LEFT JOIN origins o ON o.no = e.origin
            UNION ALL
            SELECT d.rid, f.name, x.key, o.replica, x.counter, x.wall, x.logical, \(kindNameSQL("x.kind")), x.value, x.seq
            FROM folded_entries d JOIN chorus_folded_entries(d.body, d.rid) x LEFT JOIN fields f ON f.no = x.field LEFT JOIN origins o ON o.no = x.origin;
        """
}
