import ChorusCore
import SQLiteKit

/// The SQL that writes one collection's typed row, built once per replica.
///
/// Building these strings (and hashing them for the statement cache) for every operation showed in
/// callgrind profiles of the merge; the schema is fixed for the replica's life, so the text is too.
struct MaterialisedSQL {
    /// The collection's register fields, in schema order: the typed row's value columns.
    let registerFields: [String]
    /// Each register field's position in `registerFields`.
    let registerPositions: [String: Int]
    /// `INSERT INTO t(id, _rid, r1, ..., rn) VALUES (?, ?, ?, ..., ?)`: a new record's row, whole.
    let insertRow: String
    /// `insertRow` for `rowsPerInsert` rows: new records' rows, many to a statement.
    let insertRows: String
    /// How many rows `insertRows` inserts: `rowsPerInsertMax`, fewer for a collection with so
    /// many fields that they would pass `Database.parametersMax`.
    let rowsPerInsert: Int
    /// `UPDATE t SET r1 = CASE WHEN ? THEN ? ELSE r1 END, ... WHERE _rid = ?`: several columns of
    /// an existing row in one statement, each with a flag saying whether it changes.
    let updateRow: String
    /// `UPDATE t SET f = ? WHERE _rid = ?` for each register field, by position: one column of an
    /// existing row.
    let updateColumn: [String]

    init(_ collection: CollectionSchema) {
        let table = StorageSchema.quote(collection.name)
        registerFields = collection.fields.filter { $0.kind == .register }.map(\.name)
        registerPositions = Dictionary(uniqueKeysWithValues: registerFields.enumerated().map { ($1, $0) })
        let columns = registerFields.map(StorageSchema.quote)
        let insert = "INSERT INTO \(table)(id, _rid\(columns.map { ", " + $0 }.joined())) VALUES "
        insertRow = insert + Database.valuesList(rows: 1, parametersPerRow: 2 + columns.count)
        rowsPerInsert = max(1, min(MaterialisedSQL.rowsPerInsertMax, Database.parametersMax / (2 + columns.count)))
        insertRows = insert + Database.valuesList(rows: rowsPerInsert, parametersPerRow: 2 + columns.count)
        updateRow = "UPDATE \(table) SET " + columns.map { "\($0) = CASE WHEN ? THEN ? ELSE \($0) END" }.joined(separator: ", ") + " WHERE _rid = ?"
        updateColumn = columns.map { "UPDATE \(table) SET \($0) = ? WHERE _rid = ?" }
    }

    /// New records' typed rows one `insertRows` statement inserts, at most (`Database.run(rows:)`).
    static let rowsPerInsertMax = 32

    /// The register values a batch writes into one typed row, by position in `registerFields`.
    ///
    /// Why by position: kept by field name, each changed key hashed its name into the record's
    /// table and each column hashed its name out of it again, 4% of a merge into an empty replica
    /// (callgrind, P1).
    struct RowValues {
        /// The new value of each column, nil for a column the batch leaves as it is.
        private(set) var values: [SQLiteValue?]
        /// How many columns the batch sets.
        private(set) var count = 0

        init(columns: Int) { values = Array(repeating: nil, count: columns) }

        mutating func set(_ position: Int, to value: SQLiteValue) {
            if values[position] == nil { count += 1 }
            values[position] = value
        }

        /// The position of the one column set, when only one is.
        var onlyPosition: Int? { count == 1 ? values.firstIndex { $0 != nil } : nil }
    }

    /// What materialising a key needs of its field, found by the field's number (`fields`), for
    /// the records of one collection.
    ///
    /// Why by number: found by name, each changed key hashed its field's name twice (the schema's
    /// table, the typed row's positions), 3% of a merge into an empty replica (callgrind, P1).
    /// Field numbers are small and dense, so an array indexed by them holds what was found.
    struct FieldsByNumber {
        struct Field {
            /// Nil for a field the schema does not declare (a newer replica's).
            let kind: FieldKind?
            let valueType: ValueType?
            /// The field's column among the typed row's values, nil when it has none.
            let position: Int?
        }
        /// The collection's name, as the records named it.
        let collection: String
        private let declared: CollectionSchema?
        private let positions: [String: Int]?
        private var found: [Field?] = []
        /// The typed row's value columns.
        let columns: Int
        /// Field numbers above this are found by name each time, not kept.
        static let numbersKeptMax = 4_096

        init(collection: String, declared: CollectionSchema?, sql: MaterialisedSQL?) {
            self.collection = collection
            self.declared = declared
            positions = sql?.registerPositions
            columns = sql?.registerFields.count ?? 0
        }

        /// The field numbered `number`, named `name`.
        mutating func field(_ number: Int64, name: String) -> Field {
            if number >= 0 && number < found.count, let known = found[Int(number)] { return known }
            let schema = declared?.field(name)
            let field = Field(kind: schema?.kind, valueType: schema?.valueType, position: positions?[name])
            if number >= 0 && number <= FieldsByNumber.numbersKeptMax {
                if number >= found.count { found += repeatElement(nil, count: Int(number) + 1 - found.count) }
                found[Int(number)] = field
            }
            return field
        }
    }

    /// One entry per collection of the schema, by name (`Replica.materialisedSQL(of:)` matches
    /// names by their bytes).
    static func all(_ schema: Schema) -> [String: MaterialisedSQL] {
        Dictionary(uniqueKeysWithValues: schema.collections.map { ($0.name, MaterialisedSQL($0)) })
    }
}
