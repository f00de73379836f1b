import ChorusCore

/// The SQL that writes one collection's typed row, built once per replica.
///
/// Building these strings (and hashing them for the statement cache) for every operation showed in
/// callgrind profiles of the merge; the schema is fixed for the replica's life, so the text is too.
struct MaterialisedSQL {
    /// The collection's register fields, in schema order: the typed row's value columns.
    let registerFields: [String]
    /// `INSERT INTO t(id, _rid, r1, ..., rn) VALUES (?, ?, ?, ..., ?)`: a new record's row, whole.
    let insertRow: String
    /// `UPDATE t SET r1 = CASE WHEN ? THEN ? ELSE r1 END, ... WHERE _rid = ?`: several columns of
    /// an existing row in one statement, each with a flag saying whether it changes.
    let updateRow: String
    /// `UPDATE t SET f = ? WHERE _rid = ?` for each register field: one column of an existing row.
    let updateColumn: [String: String]

    init(_ collection: CollectionSchema) {
        let table = StorageSchema.quote(collection.name)
        registerFields = collection.fields.filter { $0.kind == .register }.map(\.name)
        let columns = registerFields.map(StorageSchema.quote)
        insertRow = "INSERT INTO \(table)(id, _rid\(columns.map { ", " + $0 }.joined())) VALUES (?, ?\(String(repeating: ", ?", count: columns.count)))"
        updateRow = "UPDATE \(table) SET " + columns.map { "\($0) = CASE WHEN ? THEN ? ELSE \($0) END" }.joined(separator: ", ") + " WHERE _rid = ?"
        updateColumn = Dictionary(uniqueKeysWithValues: zip(registerFields, columns).map { ($0, "UPDATE \(table) SET \($1) = ? WHERE _rid = ?") })
    }

    /// One entry per collection of the schema.
    static func all(_ schema: Schema) -> [String: MaterialisedSQL] {
        Dictionary(uniqueKeysWithValues: schema.collections.map { ($0.name, MaterialisedSQL($0)) })
    }
}
