import ChorusCore
import SQLiteKit

/// A record's declared register values as its typed row holds them, read back as canonical JSON
/// text, by field number: where folded entries keep their values once (`FoldedEntries.swift`,
/// format 2). One per connection: the table function of the views reads through it, within the
/// statement that reads the view, on the same connection.
///
/// Why a reading of the typed row and not of the entries: a folded record's values are already in
/// its typed row, which queries need; keeping them in the folded body too cost 18 bytes of every
/// value (eighteenth round, Docs/performance-notes.md).
///
/// The rendering (`canonicalJSON`) is the whole contract: folding flags a value only when this
/// rendering of the column equals it byte for byte, and reading gives this rendering back. It is
/// specified in Protocol/sync-v1.md section 4.6, since a snapshot carries folded bodies and typed rows.
public final class RegisterColumns: @unchecked Sendable {
    /// The connection read; weak, since the connection holds the table function that holds this.
    /// Used only on the connection's own thread (`Database` is not thread-safe).
    private weak var database: Database?
    /// Per declared collection with register fields: its fields' numbers and columns, by rid.
    private let rowSQL: [String: String]
    /// Per declared collection with register fields: their names, and their columns by rid.
    private let columnsSQL: [String: (fields: [String], sql: String)]

    private static let collectionSQL = "SELECT collection FROM records WHERE rid = ? /* register columns */"

    init(schema: Schema) {
        var rowSQL: [String: String] = [:]
        var columnsSQL: [String: (fields: [String], sql: String)] = [:]
        for collection in schema.collections {
            let fields = MaterialisedSQL(collection).registerFields
            guard !fields.isEmpty else { continue }
            columnsSQL[collection.name] = (fields, "SELECT \(fields.map { "t.\(StorageSchema.quote($0))" }.joined(separator: ", ")) FROM \(StorageSchema.quote(collection.name)) t WHERE t._rid = ?")
            // The field numbers are uncorrelated subqueries, which SQLite evaluates once per run.
            let columns = fields.map { "(SELECT no FROM fields WHERE name = '\($0.replacingOccurrences(of: "'", with: "''"))'), t.\(StorageSchema.quote($0))" }
            rowSQL[collection.name] = "SELECT \(columns.joined(separator: ", ")) FROM \(StorageSchema.quote(collection.name)) t WHERE t._rid = ?"
        }
        self.rowSQL = rowSQL
        self.columnsSQL = columnsSQL
    }

    /// Reads through `database` from now on.
    func attach(_ database: Database) { self.database = database }

    /// The record's register values that read back as canonical JSON, by field number; empty for a
    /// record of no declared collection, or with no typed row.
    func values(rid: Int64) throws -> [Int64: String] {
        guard let database else {
            throw ChorusError(.invalidState, "folded values were read after their connection closed", hint: "this is a bug in Chorus; report it")
        }
        return try RegisterColumns.values(rid: rid, in: database, rowSQL: rowSQL)
    }

    /// `values(rid:)` of a record whose collection the caller knows, with the fields' numbers the
    /// caller keeps (nil for a field not numbered): one lookup of the typed row, where
    /// `values(rid:)` makes two and looks every number up (each cost a held record as much as
    /// the rest of its read; callgrind, `HeldRecord`).
    /// `numbers` are the numbers of `registerFields(of: collection)`, in its order; only the
    /// fields `wanted` are rendered (rendering a text as JSON is most of the cost).
    func values(rid: Int64, collection: String, wanted: Set<Int64>, numbers: [Int64?]) throws -> [Int64: String] {
        guard let database else {
            throw ChorusError(.invalidState, "folded values were read after their connection closed", hint: "this is a bug in Chorus; report it")
        }
        guard let (fields, sql) = columnsSQL[collection], numbers.count == fields.count else { return [:] }
        var values: [Int64: String] = [:]
        try database.forEachColumns(sql, parameters: [rid]) { row in
            for (column, number) in numbers.enumerated() {
                guard let number, wanted.contains(number) else { continue }
                if let text = RegisterColumns.canonicalJSON(row.value(column)) { values[number] = text }
            }
        }
        return values
    }

    /// The declared register fields of `collection`, in the order `values(rid:collection:...)`
    /// reads their columns; empty for a collection with none.
    func registerFields(of collection: String) -> [String] { columnsSQL[collection]?.fields ?? [] }

    private static func values(rid: Int64, in database: Database, rowSQL: [String: String]) throws -> [Int64: String] {
        guard let collection = try database.queryScalarText(collectionSQL, rid), let sql = rowSQL[collection] else { return [:] }
        var values: [Int64: String] = [:]
        try database.forEachRow(sql, parameters: [rid]) { row in
            var column = 0
            while column + 1 < row.values.count {
                if let field = row.integer(column), let text = canonicalJSON(row[column + 1]) { values[field] = text }
                column += 2
            }
        }
        return values
    }

    /// What a declared register's column of type `type` reads back as (`canonicalJSON`) once
    /// `value` is written to it, when that is sure without reading it back; nil otherwise.
    /// SQLite converts a value to its column's affinity (an integer written to a TEXT column
    /// reads back as the text `"1"`, a numeric text in an INTEGER column as a number), so only
    /// NULL and a value of the storage class its column's affinity keeps are answered.
    /// `string` is the canonical text of the JSON string `value` was made from, when the caller
    /// has it: a text in a TEXT column reads back as that string, so it is the answer, not
    /// encoded again (2% of a merged operation's instructions; callgrind, P1).
    static func canonicalJSON(writing value: SQLiteValue, to type: ValueType?, string: String? = nil) -> String? {
        switch (value, type?.sqlType) {
        case (.real(let number), "REAL") where number == 0 && number.sign == .minus:
            return nil   // stored as the integer 0, read back as 0.0: the sign is lost
        case (.text, "TEXT"): return string ?? canonicalJSON(value)
        case (.null, _), (.integer, "INTEGER"), (.real, "REAL"): return canonicalJSON(value)
        default: return nil
        }
    }

    /// A column's value as the canonical JSON text a register entry holds: NULL as `null`, an
    /// integer, a real and a text as the JSON number and string; a blob has none.
    static func canonicalJSON(_ value: SQLiteValue) -> String? {
        switch value {
        case .null: return JSONValue.null.canonicalText
        case .integer(let number): return JSONValue.integer(number).canonicalText
        case .real(let number): return number.isFinite ? JSONValue.double(number).canonicalText : nil
        case .text(let text): return JSONValue.string(text).canonicalText
        case .blob: return nil
        }
    }
}
