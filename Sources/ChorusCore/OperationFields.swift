/// The members of one operation object as parsed, before any validation: one slot per key the
/// protocol defines, and the keys it does not, in the order they came.
///
/// Pulled and pushed pages are parsed straight into these (`JSONParser.parseEnvelope`), so an
/// operation costs no dictionary and no hashing of its keys; `OperationCodec.decode(_:)` of a
/// `JSONValue` fills the same slots from its dictionary. Both then go through one validation
/// (`OperationCodec.decode(fields:)`), so the two paths accept and refuse exactly the same
/// operations, with the same messages (a test holds them to it on random and damaged input).
public struct OperationFields: Sendable {
    /// The keys of an operation object, in canonical (UTF-8) order.
    public enum Key: Int, CaseIterable, Sendable {
        case action, author, by, collection, element, field, id, key, logical, observed, record, recordHash, supersedes, value, wall

        /// The key as it appears in JSON.
        public var name: String { Key.names[rawValue] }

        /// The key named `name`, by `String` equality, as a dictionary lookup finds it. (No other
        /// text is canonically equivalent to these ASCII names, so this is byte equality too.)
        /// A `switch`, not a search of `names`: this runs for every member of every pulled operation,
        /// and the search cost 1.5% more instructions per decoded operation (callgrind, P3).
        public init?(name: String) {
            switch name {
            case "action": self = .action
            case "author": self = .author
            case "by": self = .by
            case "collection": self = .collection
            case "element": self = .element
            case "field": self = .field
            case "id": self = .id
            case "key": self = .key
            case "logical": self = .logical
            case "observed": self = .observed
            case "record": self = .record
            case "recordHash": self = .recordHash
            case "supersedes": self = .supersedes
            case "value": self = .value
            case "wall": self = .wall
            default: return nil
            }
        }

        /// The key whose name is exactly these UTF-8 bytes: what `init?(name:)` finds for them,
        /// without making a `String`. Making one per key and comparing it was an eighth of a pulled
        /// operation's decoding (callgrind, P3). The length and first byte pick the one candidate.
        init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
            guard let first = bytes.first else { return nil }
            let candidate: Key
            switch (bytes.count, first) {
            case (2, UInt8(ascii: "b")): candidate = .by
            case (2, UInt8(ascii: "i")): candidate = .id
            case (3, UInt8(ascii: "k")): candidate = .key
            case (4, UInt8(ascii: "w")): candidate = .wall
            case (5, UInt8(ascii: "f")): candidate = .field
            case (5, UInt8(ascii: "v")): candidate = .value
            case (6, UInt8(ascii: "a")): candidate = bytes[1] == UInt8(ascii: "c") ? .action : .author
            case (6, UInt8(ascii: "r")): candidate = .record
            case (7, UInt8(ascii: "e")): candidate = .element
            case (7, UInt8(ascii: "l")): candidate = .logical
            case (8, UInt8(ascii: "o")): candidate = .observed
            case (10, UInt8(ascii: "c")): candidate = .collection
            case (10, UInt8(ascii: "r")): candidate = .recordHash
            case (10, UInt8(ascii: "s")): candidate = .supersedes
            default: return nil
            }
            let name = Key.staticNames[candidate.rawValue]
            guard name.utf8CodeUnitCount == bytes.count else { return nil }
            var index = 1  // the first byte picked the candidate
            while index < bytes.count {
                guard name.utf8Start[index] == bytes[index] else { return nil }
                index += 1
            }
            self = candidate
        }

        /// The names, in case order, as static text: compared byte by byte by `init?(utf8:)`.
        private static let staticNames: [StaticString] = ["action", "author", "by", "collection", "element", "field", "id", "key",
                                                          "logical", "observed", "record", "recordHash", "supersedes", "value", "wall"]

        /// The longest name's length in bytes (`recordHash`, `collection`, `supersedes`).
        static let nameBytesMax = 10

        /// The names as strings, in case order (a test holds `init?(name:)` to them).
        private static let names = staticNames.map { "\($0)" }
    }

    private var slots: [JSONValue?] = Array(repeating: nil, count: Key.allCases.count)
    /// Keys the protocol does not define, in the order they came.
    public private(set) var unknownKeys: [String] = []

    public init() {}

    /// The slots of a parsed object. Keys are distinct, as a dictionary's are.
    public init(object: [String: JSONValue]) {
        for (name, value) in object {
            if let key = Key(name: name) { slots[key.rawValue] = value } else { unknownKeys.append(name) }
        }
    }

    public subscript(key: Key) -> JSONValue? { slots[key.rawValue] }

    /// Stores a member; false when the key was already present (a duplicate).
    mutating func set(_ key: Key, _ value: JSONValue) -> Bool {
        guard slots[key.rawValue] == nil else { return false }
        slots[key.rawValue] = value
        return true
    }

    /// The unknown keys as a set, for the duplicate check: a body can hold an operation with a
    /// million keys, and scanning the array for each would be quadratic.
    private var unknownSet: Set<String> = []

    /// Notes a key the protocol does not define; false when it came before.
    mutating func addUnknown(_ name: String) -> Bool {
        guard unknownSet.insert(name).inserted else { return false }
        unknownKeys.append(name)
        return true
    }
}

/// One element of an `operations` array as parsed: an object's fields, or anything else (which
/// validation refuses with the same message as before).
public enum ParsedOperation: Sendable {
    case fields(OperationFields)
    case other(JSONValue)
}

/// A sync message body (`{"operations":[...], ...}`) parsed with its operations left as fields.
public struct OperationEnvelope: Sendable {
    /// Whether the document is a JSON object at all.
    public internal(set) var isObject = false
    /// Every member except `operations`.
    public internal(set) var members: [String: JSONValue] = [:]
    /// The `operations` member when it is an array.
    public internal(set) var operations: [ParsedOperation]?
    /// Whether an `operations` member is present (an array or not).
    public internal(set) var hasOperations = false

    /// Every member's key, `operations` included.
    public var keys: Set<String> {
        var keys = Set(members.keys)
        if hasOperations { keys.insert("operations") }
        return keys
    }
}

extension JSONParser {
    /// Parses a sync message body as `parse(_:)` does (same limits, the same errors at the same
    /// offsets), but leaves each element of its `operations` array as `ParsedOperation`, so
    /// decoding a page builds no dictionary per operation.
    ///
    /// Counts are bounded while reading, not after: an element of `{}` (3 bytes) became an
    /// operation's fields (about 400 bytes), so a push of 16 MiB holding 5.5 million of them took
    /// some 2 GB before its count was refused (a read-only audit). Past `operationsMax` operations
    /// the error says so (`isOverOperationsMax`); more than `membersValuesMax` array elements and
    /// object members outside the operations array (the top level's keys, other members, an
    /// `operations` given twice or not as an array, nested ones included) is refused as malformed.
    public func parseEnvelope(_ bytes: [UInt8], operationsMax: Int = .max, membersValuesMax: Int = .max) throws(JSONParseError) -> OperationEnvelope {
        try parseDocument(bytes[...]) { reader throws(JSONParseError) in
            var envelope = OperationEnvelope()
            if reader.current == UInt8(ascii: "{") {
                envelope.isObject = true
                // One budget for everything but the operations array, the top level's own keys
                // included: per member, any number of members of that many values passed.
                reader.limitValues(membersValuesMax)
                try reader.parseMembers(depth: 1) { name, _, reader throws(JSONParseError) -> Bool in
                    if name == "operations" && !envelope.hasOperations && reader.current == UInt8(ascii: "[") {
                        envelope.hasOperations = true
                        let left = reader.valuesLeft
                        reader.valuesLeft = .max
                        defer { reader.valuesLeft = left }
                        envelope.operations = try reader.parseOperations(depth: 2, max: operationsMax)
                        return true
                    }
                    let value = try reader.parseValue(depth: 1)
                    if name == "operations" {
                        defer { envelope.hasOperations = true }
                        return !envelope.hasOperations
                    }
                    return envelope.members.updateValue(value, forKey: name) == nil
                }
            } else {
                _ = try reader.parseValue(depth: 0)
            }
            return envelope
        }
    }
}

extension JSONParser {
    /// Parses one operation document (a log payload, a bundle line) as `parse(_:)` does (same
    /// limits, the same errors at the same offsets), with an object parsed straight into its
    /// fields, as `parseEnvelope` does for each operation of a page.
    public func parseOperation(_ bytes: ArraySlice<UInt8>) throws(JSONParseError) -> ParsedOperation {
        try parseDocument(bytes) { reader throws(JSONParseError) in
            reader.current == UInt8(ascii: "{") ? .fields(try reader.parseOperationObject(depth: 1)) : .other(try reader.parseValue(depth: 0))
        }
    }
}

extension JSONParser.Reader {
    /// An array of operations (the reader on its `[`), each object parsed into its fields with the
    /// parser's own object and array grammar, so offsets and errors are the general parser's.
    mutating func parseOperations(depth: Int, max: Int) throws(JSONParseError) -> [ParsedOperation] {
        var items: [ParsedOperation] = []
        try parseElements(depth: depth) { reader throws(JSONParseError) in
            guard items.count < max else {
                var error = reader.fail("more than \(max) operations")
                error.isOverOperationsMax = true
                throw error
            }
            guard reader.current == UInt8(ascii: "{") else { return items.append(.other(try reader.parseValue(depth: depth))) }
            items.append(.fields(try reader.parseOperationObject(depth: depth + 1)))
        }
        return items
    }

    /// One operation object (the reader on its `{`, at nesting `depth`) into its fields, with the
    /// object grammar of `parseObject` and its keys matched by their bytes.
    mutating func parseOperationObject(depth: Int) throws(JSONParseError) -> OperationFields {
        var fields = OperationFields()
        try parseMembers(depth: depth, key: { reader throws(JSONParseError) in try reader.parseOperationKey() },
                         named: \.name) { key, _, reader throws(JSONParseError) -> Bool in
            let value = try reader.parseValue(depth: depth)
            switch key {
            case .defined(let key): return fields.set(key, value)
            case .other(let name): return fields.addUnknown(name)
            }
        }
        return fields
    }

    /// A key of an operation object (the reader on its opening quote). A key written without
    /// escapes is matched by its bytes; any other is read as a string and matched by name, so an
    /// escaped spelling of a defined key is that key, as in a dictionary.
    mutating func parseOperationKey() throws(JSONParseError) -> OperationMemberKey {
        let start = position + 1
        var end = start
        while end < bytes.count, end - start <= OperationFields.Key.nameBytesMax,
              bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\""),
           let key = OperationFields.Key(utf8: UnsafeBufferPointer(rebasing: bytes[start..<end])) {
            position = end + 1
            return .defined(key)
        }
        let name = try parseString()
        if let key = OperationFields.Key(name: name) { return .defined(key) }
        return .other(name)
    }
}

/// A member key of an operation object as parsed: a key the protocol defines, or another.
enum OperationMemberKey {
    case defined(OperationFields.Key)
    case other(String)

    var name: String {
        switch self {
        case .defined(let key): return key.name
        case .other(let name): return name
        }
    }
}
