/// How a field merges. See `Docs/merge.md` for the rules and worked examples.
public enum FieldKind: String, CaseIterable, Sendable, Codable {
    /// A multi-value register of one JSON value.
    case register
    /// An add-wins observed-remove set of strings.
    case set
    /// String keys, each a multi-value register.
    case map
    /// A sum of unique increments.
    case counter
    /// Append-only entries ordered by (timestamp, replica); entries can be retracted.
    case log
}

/// The JSON type a register (or map value) holds, and the SQL column type it materialises to.
public enum ValueType: String, Sendable {
    case text, integer, number, boolean, json

    /// Whether a JSON value fits this type. `null` always fits (a cleared field).
    public func accepts(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (_, .null), (.json, _): return true
        case (.text, .string), (.integer, .integer), (.number, .integer), (.number, .double), (.boolean, .bool): return true
        default: return false
        }
    }

    /// Why `value` does not fit this type, in words ("people.title takes a text value, got
    /// integer"), or nil when it does: one message for the replica's check and the command line's.
    public func mismatch(_ value: JSONValue, in context: String) -> String? {
        accepts(value) ? nil : "\(context) takes \(self == .integer ? "an" : "a") \(rawValue) value, got \(value.typeName)"
    }

    /// How a value of this type is written in JSON, for a hint: one example.
    public var jsonExample: String {
        switch self {
        case .text: return "a string in double quotes, \"Engineer\""
        case .integer: return "a whole number, 4"
        case .number: return "a number, 4.5"
        case .boolean: return "true or false"
        case .json: return "any JSON value"
        }
    }

    /// The SQLite column affinity used in the materialised tables.
    public var sqlType: String {
        switch self {
        case .text, .json: return "TEXT"
        case .integer, .boolean: return "INTEGER"
        case .number: return "REAL"
        }
    }
}

/// What happens when a record is edited concurrently with its deletion.
public enum DeletePolicy: String, Sendable {
    /// The delete wins: the record stays deleted; the concurrent edit is kept and listed as a conflict.
    case deleteWins
    /// The edit wins: the record stays visible; the delete is kept and listed as a conflict.
    case updateWins
}

/// One declared field.
public struct FieldSchema: Sendable {
    public let name: String
    public let kind: FieldKind
    /// For registers and map values: the JSON type accepted locally.
    public let valueType: ValueType
    /// One line for `chorus schema` and the docs.
    public let summary: String

    public init(_ name: String, _ kind: FieldKind, _ valueType: ValueType = .json, _ summary: String = "") {
        self.name = name
        self.kind = kind
        self.valueType = valueType
        self.summary = summary
    }
}

/// One declared collection: its fields and delete policy.
public struct CollectionSchema: Sendable {
    public let name: String
    public let deletePolicy: DeletePolicy
    /// Why this policy, for `Docs/merge.md`.
    public let deletePolicyReason: String
    public let fields: [FieldSchema]
    private let fieldsByName: [String: FieldSchema]

    public init(_ name: String, deletePolicy: DeletePolicy, because reason: String, fields: [FieldSchema]) {
        for declared in [name] + fields.map(\.name) {
            precondition(declared.utf8.allSatisfy { $0 < 0x80 }, "schema names are ASCII (see `isSameName`): \(declared)")
        }
        self.name = name
        self.deletePolicy = deletePolicy
        self.deletePolicyReason = reason
        self.fields = fields
        self.fieldsByName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in
            preconditionFailure("duplicate field \(first.name) in collection \(name)")
        })
    }

    /// The field of this name, matched by its bytes (`isSameName`).
    public func field(_ name: String) -> FieldSchema? {
        guard let field = fieldsByName[name], isSameName(field.name, name) else { return nil }
        return field
    }
}

/// Whether a schema name found by a `String` lookup is the name asked for, byte for byte, as
/// storage compares names. `String` equality is canonical equivalence: `owner\u{212A}ind`, with a
/// Kelvin sign, equals `ownerKind`, yet storage keeps it apart as another, undeclared field, and
/// treating it as the declared one would materialise it into that field's column. Schema names are
/// ASCII (`CollectionSchema.init` requires it), and every non-ASCII spelling equivalent to an ASCII
/// name is longer in UTF-8, so equal lengths mean equal bytes.
func isSameName(_ declared: String, _ asked: String) -> Bool { declared.utf8.count == asked.utf8.count }

/// The set of collections a replica knows. Operations for collections or fields not in it (written
/// by a newer Chorus) are still merged generically, stored and passed on; they are just not
/// materialised into typed tables.
public struct Schema: Sendable {
    public let version: Int
    public let collections: [CollectionSchema]
    private let collectionsByName: [String: CollectionSchema]
    /// Every declared field's kind in one table: the merge asks for a kind per operation and per
    /// changed key, and two lookups (copying the collection's schema out between them) were 3% of
    /// a merged operation's instructions (callgrind).
    /// With each kind, the byte lengths of the names it was declared with (see `fieldKind`).
    private let kindsByPath: [FieldPath: (kind: FieldKind, collectionBytes: Int, fieldBytes: Int)]

    private struct FieldPath: Hashable {
        let collection: String, field: String
    }

    public init(version: Int, collections: [CollectionSchema]) {
        self.version = version
        self.collections = collections
        self.collectionsByName = Dictionary(collections.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in
            preconditionFailure("duplicate collection \(first.name)")
        })
        self.kindsByPath = Dictionary(uniqueKeysWithValues: collections.flatMap { collection in
            collection.fields.map {
                (FieldPath(collection: collection.name, field: $0.name), ($0.kind, collection.name.utf8.count, $0.name.utf8.count))
            }
        })
    }

    /// The collection of this name, matched by its bytes (`isSameName`).
    public func collection(_ name: String) -> CollectionSchema? {
        guard let collection = collectionsByName[name], isSameName(collection.name, name) else { return nil }
        return collection
    }

    /// The collection of this name, or the error for a name this schema lacks, naming those it
    /// has: one wording wherever a collection is named (a write, a list, a filter, the admin API).
    public func requireCollection(_ name: String) throws(ChorusError) -> CollectionSchema {
        guard let collection = collection(name) else {
            throw ChorusError(.unknownCollection, "unknown collection \"\(name.prefix(80))\"",
                              hint: "collections: \(collections.map(\.name).joined(separator: ", ")) (see `chorus schema`)")
        }
        return collection
    }

    /// The field's kind, if both collection and field are known, matched by their bytes
    /// (`isSameName`; the table keeps the declared names' lengths, so a lookup holds no strings).
    public func fieldKind(collection: String, field: String) -> FieldKind? {
        guard let found = kindsByPath[FieldPath(collection: collection, field: field)],
              found.collectionBytes == collection.utf8.count, found.fieldBytes == field.utf8.count else { return nil }
        return found.kind
    }

    /// `chorus schema --json`: `{"collections":[{"name","deletePolicy","fields":[{"name","kind"}]}]}`.
    public var jsonDescription: JSONValue {
        .object(["collections": .array(collections.map { collection in
            .object([
                "name": .string(collection.name),
                "deletePolicy": .string(collection.deletePolicy.rawValue),
                "fields": .array(collection.fields.map { field in
                    .object(["name": .string(field.name), "kind": .string(field.kind.rawValue),
                             "valueType": .string(field.valueType.rawValue), "summary": .string(field.summary)])
                }),
            ])
        })])
    }
}
