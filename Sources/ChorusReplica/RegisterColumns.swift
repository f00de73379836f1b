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

    private static let collectionSQL = "SELECT collection FROM records WHERE rid = ? /* register columns */"

    init(schema: Schema) {
        var rowSQL: [String: String] = [:]
        for collection in schema.collections {
            let fields = MaterialisedSQL(collection).registerFields
            guard !fields.isEmpty else { continue }
            // The field numbers are uncorrelated subqueries, which SQLite evaluates once per run.
            let columns = fields.map { "(SELECT no FROM fields WHERE name = '\($0.replacingOccurrences(of: "'", with: "''"))'), t.\(StorageSchema.quote($0))" }
            rowSQL[collection.name] = "SELECT \(columns.joined(separator: ", ")) FROM \(StorageSchema.quote(collection.name)) t WHERE t._rid = ?"
        }
        self.rowSQL = rowSQL
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
