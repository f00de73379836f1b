/// The JSON encoding of operations, shared by bundles and the sync protocol.
///
/// Layout (see `Protocol/sync-v1.md`, "Operation"):
///
///     {"id":"<32 hex>:<counter>","wall":1732200000000,"logical":0,
///      "collection":"people","record":"p-1","field":"title",
///      "action":"set","value":"Engineer","supersedes":["<32 hex>:3"]}
///
/// Decoding is strict: unknown keys, missing keys, wrong types and values over `Limits` are refused.
/// Encoding is canonical (sorted keys, sorted and deduplicated id lists), so an operation always
/// encodes to the same bytes.
public struct OperationCodec: Sendable {
    public let limits: Limits

    public init(limits: Limits = .default) { self.limits = limits }

    // MARK: Encoding

    /// The operation as a JSON value (for CLI output). Derived from `canonicalText(_:)`, which is
    /// the one place that knows the layout.
    public func encode(_ op: Operation) -> JSONValue {
        // Our own canonical text always parses: the operation's value is within the depth limit
        // (checked on decode and on local writes), and the operation adds one level around it.
        try! JSONParser(depthMax: limits.jsonDepthMax + 2, bytesMax: Int.max).parse(canonicalText(op))
    }

    /// The canonical text of an operation: what the log stores and the wire carries.
    ///
    /// Written directly, keys in their canonical (UTF-8) order, rather than by building and sorting
    /// a dictionary per operation, which was about a quarter of the merge's instructions
    /// (callgrind). Tests hold it to the protocol's vectors and to canonical JSON for every action.
    public func canonicalText(_ op: Operation) -> String {
        String(decoding: canonicalBytes(op, valueText: nil), as: UTF8.self)
    }

    /// The UTF-8 bytes of `canonicalText(_:)`, for a caller that stores them as they are (the log),
    /// without the validation and copy a `String` costs. `valueText` is the canonical text of the
    /// action's value when the caller already has it (the merge stores it in the entry too), so it
    /// is copied rather than written again.
    ///
    /// Written through a pointer into an array sized beforehand (`CanonicalObjectWriter`): appended
    /// piece by piece, each append checking the array's capacity and uniqueness, the encoding was
    /// 12% of a merged operation's instructions (callgrind, P1).
    public func canonicalBytes(_ op: Operation, valueText: String?) -> [UInt8] {
        // Made once, for the bound and the bytes.
        let valueText = op.action.value.map { valueText ?? $0.canonicalText }
        let capacity = canonicalBytesBound(op, valueText: valueText)
        return [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            count = writeCanonicalBytes(op, valueText: valueText, to: buffer.baseAddress!, capacity: capacity)
        }
    }

    /// Bytes enough for `canonicalBytes(op, valueText:)` (more, usually).
    public func canonicalBytesBound(_ op: Operation, valueText: String?) -> Int {
        guard let value = op.action.value else { return CanonicalObjectWriter.capacity(op, valueBytes: 0) }
        return CanonicalObjectWriter.capacity(op, valueBytes: valueText?.utf8.count ?? value.canonicalText.utf8.count)
    }

    /// Writes `canonicalBytes(op, valueText:)` at `start`, where `capacity` bytes are free, at
    /// least `canonicalBytesBound(op, valueText:)`; returns how many it wrote. For a caller that
    /// writes many operations' bytes into one buffer (`MergeEncodings`): an array each was an
    /// allocation and a free an operation.
    public func writeCanonicalBytes(_ op: Operation, valueText: String?, to start: UnsafeMutablePointer<UInt8>, capacity: Int) -> Int {
        assert(valueText == nil || valueText == op.action.value?.canonicalText, "valueText must be the value's canonical text")
        // Only an action with a value writes one, whatever the caller passed.
        var value = op.action.value.map { valueText ?? $0.canonicalText }
        var out = CanonicalObjectWriter(UnsafeMutableBufferPointer(start: start, count: capacity))
        // Keys in UTF-8 order: action, author, by, collection, element, field, id, key, logical,
        // observed, record, recordHash, supersedes, value, wall.
        out.string(#""action":"#, op.action.name)
        if let author = op.author { out.string(#""author":"#, author) }
        if case .increment(let by) = op.action { out.integer(#""by":"#, by) }
        out.string(#""collection":"#, op.collection)
        switch op.action {
        case .add(let element), .remove(let element, _): out.string(#""element":"#, element)
        default: break
        }
        if let field = op.field { out.string(#""field":"#, field) }
        out.key(#""id":"#)
        out.operationID(op.id)
        switch op.action {
        case .mapSet(let name, _, _), .mapRemove(let name, _): out.string(#""key":"#, name)
        default: break
        }
        out.integer(#""logical":"#, Int64(op.timestamp.logical))
        if case .delete(let observed) = op.action { out.ids(#""observed":"#, observed) }
        if case .erase(let hash) = op.action {
            out.hexString(#""recordHash":"#, hash)
        } else {
            out.string(#""record":"#, op.record)
        }
        switch op.action {
        case .set(_, let list), .remove(_, let list), .mapSet(_, _, let list), .mapRemove(_, let list),
             .retract(let list), .restore(let list):
            out.ids(#""supersedes":"#, list)
        default: break
        }
        if value != nil {
            out.key(#""value":"#)
            value!.withUTF8 { out.copy($0) }
        }
        // Unsigned: encoding must not stop the process on an operation no check has seen yet
        // (a long merge encodes ahead of its checks; a wall past `Int64.max` is refused there).
        out.unsigned(#""wall":"#, op.timestamp.wall)
        return out.finish()
    }

    // MARK: Decoding

    /// Parses and validates one operation from its JSON text.
    public func decode(text: String) throws(ChorusError) -> Operation {
        try decode(utf8: Array(text.utf8)[...])
    }

    /// Parses and validates one operation from its JSON text's UTF-8 bytes (a bundle's line, a log
    /// payload). The object goes straight into its fields (`JSONParser.parseOperation`): through
    /// a `JSONValue` dictionary it was a third of a bundle import's instructions (callgrind).
    public func decode(utf8 bytes: ArraySlice<UInt8>) throws(ChorusError) -> Operation {
        guard bytes.count <= limits.operationBytesMax else {
            throw ChorusError(.limitExceeded, "operation is \(bytes.count) bytes, over operationBytesMax (\(limits.operationBytesMax))")
        }
        let parsed: ParsedOperation
        do {
            parsed = try JSONParser(depthMax: limits.jsonDepthMax + 2, bytesMax: limits.operationBytesMax).parseOperation(bytes)
        } catch {
            throw ChorusError(.malformedInput, "operation: \(error)")
        }
        return try decode(parsed)
    }

    /// Validates and converts a parsed JSON object into an operation.
    public func decode(_ json: JSONValue) throws(ChorusError) -> Operation {
        guard case .object(let object) = json else {
            throw ChorusError(.malformedInput, "an operation must be a JSON object, got \(json.typeName)")
        }
        return try decode(fields: OperationFields(object: object))
    }

    /// Validates one element of a parsed `operations` array (`JSONParser.parseEnvelope`).
    public func decode(_ parsed: ParsedOperation) throws(ChorusError) -> Operation {
        switch parsed {
        case .fields(let fields): return try decode(fields: fields)
        case .other(let json): return try decode(json)
        }
    }

    /// Validates an operation object's members and converts them into an operation: the one
    /// validation both parsing paths share.
    public func decode(fields: OperationFields) throws(ChorusError) -> Operation {
        var reader = Reader(fields: fields)
        let idText = try reader.string(.id)
        guard let id = OperationID(idText) else {
            throw ChorusError(.malformedInput, "operation id \"\(idText.prefix(80))\" is not REPLICAHEX:COUNTER")
        }
        // Built only when an error message needs it.
        var context: String { "operation \(id)" }
        let wall = try reader.integer(.wall, context: context)
        let logical = try reader.integer(.logical, context: context)
        guard wall >= 0, UInt64(wall) <= HybridTimestamp.wallMax, logical >= 0, logical <= Int64(UInt32.max) else {
            throw ChorusError(.malformedInput, "\(context): wall \(wall) and logical \(logical) are out of range (wall 0 to \(HybridTimestamp.wallMax) Unix milliseconds, logical 0 to \(UInt32.max))")
        }
        let collection = try reader.string(.collection, context: context)
        try checkName(collection, max: limits.collectionNameBytesMax, what: "collection name", context: context)
        let actionName = try reader.string(.action, context: context)
        let isErase = actionName == "erase"
        let record = isErase ? "" : try reader.string(.record, context: context)
        if !isErase { try checkName(record, max: limits.recordIDBytesMax, what: "record id", context: context) }
        let isRecordLevel = actionName == "delete" || actionName == "restore" || isErase
        let field: String? = isRecordLevel ? nil : try reader.string(.field, context: context)
        if let field {
            try checkName(field, max: limits.fieldNameBytesMax, what: "field name", context: context)
            // A replica keeps record-level bookkeeping (what a restore supersedes) under field
            // names no operation may carry: a field named `#record` shared it, and a record
            // stayed deleted on replicas that met its delete first and showed on the others
            // (a read-only audit).
            guard field.utf8.first != OperationCodec.reservedFieldPrefix else {
                throw ChorusError(.malformedInput, "\(context): field name \(field.prefix(64)) starts with #, which is reserved for a replica's own bookkeeping",
                                  hint: "name the field without a leading #")
            }
        }

        let action: Action
        switch actionName {
        case "set":
            action = .set(value: try value(&reader, context), supersedes: try ids(&reader, .supersedes, context))
        case "add":
            action = .add(element: try element(&reader, context))
        case "remove":
            action = .remove(element: try element(&reader, context), supersedes: try ids(&reader, .supersedes, context))
        case "mapSet":
            action = .mapSet(key: try key(&reader, context), value: try value(&reader, context), supersedes: try ids(&reader, .supersedes, context))
        case "mapRemove":
            action = .mapRemove(key: try key(&reader, context), supersedes: try ids(&reader, .supersedes, context))
        case "increment":
            let by = try reader.integer(.by, context: context)
            guard by != 0, by.magnitude <= limits.counterIncrementMagnitudeMax.magnitude else {
                throw ChorusError(.limitExceeded, "\(context): increment \(by) must be non-zero and at most \(limits.counterIncrementMagnitudeMax) in magnitude")
            }
            action = .increment(by: by)
        case "append":
            action = .append(value: try value(&reader, context))
        case "retract":
            action = .retract(supersedes: try ids(&reader, .supersedes, context))
        case "delete":
            action = .delete(observed: try ids(&reader, .observed, context))
        case "restore":
            action = .restore(supersedes: try ids(&reader, .supersedes, context))
        case "erase":
            let hex = try reader.string(.recordHash, context: context)
            guard hex.utf8.count == 64, let hash = Hex.decode(hex) else {
                throw ChorusError(.malformedInput, "\(context): recordHash must be 64 hex digits")
            }
            action = .erase(recordHash: hash)
        default:
            throw ChorusError(.malformedInput, "\(context): unknown action \"\(actionName.prefix(40))\"",
                              hint: "the sender may be a newer Chorus; upgrade this replica")
        }
        var author: String?
        if fields[.author] != nil {
            let person = try reader.string(.author, context: context)
            try checkName(person, max: limits.recordIDBytesMax, what: "author", context: context)
            author = person
        }
        if let unknown = reader.unreadKeys.first {
            throw ChorusError(.malformedInput, "\(context): unknown key \"\(unknown.prefix(40))\" for action \(actionName)")
        }
        return Operation(id: id, timestamp: HybridTimestamp(wall: UInt64(wall), logical: UInt32(logical)),
                         collection: collection, record: record, field: field, action: action, author: author)
    }

    private func checkName(_ name: String, max: Int, what: String, context: @autoclosure () -> String) throws(ChorusError) {
        try OperationCodec.checkName(name, max: max, what: "\(context()): \(what)")
    }

    /// The first byte no field name may start with (Protocol/README.md): a replica's own
    /// bookkeeping names begin with it (`#record`).
    public static let reservedFieldPrefix = UInt8(ascii: "#")

    /// Checks a name (collection, record id, field, key, element): non-empty, at most `max` UTF-8
    /// bytes, no control characters. `what` starts the error message.
    ///
    /// `what` is built only for an error: interpolating the operation id into it for every name
    /// was a third of decoding an operation (callgrind, P3).
    public static func checkName(_ name: String, max: Int, what: @autoclosure () -> String) throws(ChorusError) {
        guard !name.isEmpty else { throw ChorusError(.malformedInput, "\(what()) is empty") }
        guard name.utf8.count <= max else {
            throw ChorusError(.limitExceeded, "\(what()) is \(name.utf8.count) bytes, over the limit of \(max)")
        }
        // Control characters are single bytes in UTF-8 (no multi-byte sequence has a byte below 0x80).
        // Scanned as contiguous bytes (`withUTF8`, free for a native string): the generic `utf8`
        // walk was 2.5% of a pulled operation's decoding (callgrind, P3).
        var text = name
        guard !text.withUTF8({ $0.contains(where: { $0 < 0x20 || $0 == 0x7F }) }) else {
            throw ChorusError(.malformedInput, "\(what()) contains control characters")
        }
    }

    private func value(_ reader: inout Reader, _ context: @autoclosure () -> String) throws(ChorusError) -> JSONValue {
        let value = try reader.any(.value, context: context())
        try checkValue(value, context: context())
        return value
    }

    /// Checks a field value's size and depth against the limits.
    ///
    /// The size is the canonical encoding's. Encoding every value to count it was a tenth of a
    /// pulled operation's decoding (callgrind, P3), so a bound is taken first, in the walk that
    /// finds the depth, without allocating; only a value the bound does not clear is encoded.
    public func checkValue(_ value: JSONValue, context: @autoclosure () -> String) throws(ChorusError) {
        let (bound, depth) = JSONValue.canonicalSizeBoundAndDepth(of: value)
        if bound > limits.valueBytesMax {
            let size = value.canonicalBytes.count
            guard size <= limits.valueBytesMax else {
                throw ChorusError(.limitExceeded, "\(context()): value is \(size) bytes, over valueBytesMax (\(limits.valueBytesMax))")
            }
        }
        guard depth <= limits.jsonDepthMax else {
            throw ChorusError(.limitExceeded, "\(context()): value nests deeper than \(limits.jsonDepthMax) levels")
        }
    }

    private func key(_ reader: inout Reader, _ context: @autoclosure () -> String) throws(ChorusError) -> String {
        let key = try reader.string(.key, context: context())
        guard key.utf8.count <= limits.mapKeyBytesMax, !key.isEmpty else {
            throw ChorusError(.limitExceeded, "\(context()): map key must be 1 to \(limits.mapKeyBytesMax) bytes")
        }
        return key
    }

    private func element(_ reader: inout Reader, _ context: @autoclosure () -> String) throws(ChorusError) -> String {
        let element = try reader.string(.element, context: context())
        guard element.utf8.count <= limits.setElementBytesMax, !element.isEmpty else {
            throw ChorusError(.limitExceeded, "\(context()): set element must be 1 to \(limits.setElementBytesMax) bytes")
        }
        return element
    }

    /// Id lists up to this long are checked for repeats by a scan, longer ones through a set.
    static let idsScannedMax = 8

    private func ids(_ reader: inout Reader, _ key: OperationFields.Key, _ context: @autoclosure () -> String) throws(ChorusError) -> [OperationID] {
        let name = key.name
        guard case .array(let items) = try reader.any(key, context: context()) else {
            throw ChorusError(.malformedInput, "\(context()): \(name) must be an array of operation ids")
        }
        guard items.count <= limits.supersedesCountMax else {
            throw ChorusError(.limitExceeded, "\(context()): \(name) lists \(items.count) operations, over supersedesCountMax (\(limits.supersedesCountMax))")
        }
        var result: [OperationID] = []
        result.reserveCapacity(items.count)
        // Most lists hold one id or a few: they are searched rather than hashed (a set per operation
        // cost an allocation each); a long list gets a set. Either way the first fault in the
        // list's order is the one reported.
        var seen: Set<OperationID>? = items.count > Self.idsScannedMax ? Set(minimumCapacity: items.count) : nil
        for item in items {
            guard case .string(let text) = item, let id = OperationID(text) else {
                throw ChorusError(.malformedInput, "\(context()): \(name) holds something that is not an operation id")
            }
            let isNew = seen?.insert(id).inserted ?? !result.contains(id)
            guard isNew else { throw ChorusError(.malformedInput, "\(context()): \(name) lists \(id) twice") }
            result.append(id)
        }
        return result.sorted()
    }

    /// Reads an operation's members and remembers which were read, to refuse unknown ones.
    struct Reader {
        let fields: OperationFields
        /// Keys read so far, one bit per key; each is read at most once.
        var read: UInt32 = 0

        mutating func any(_ key: OperationFields.Key, context: @autoclosure () -> String = "operation") throws(ChorusError) -> JSONValue {
            guard let value = fields[key] else { throw ChorusError(.malformedInput, "\(context()): missing \"\(key.name)\"") }
            read |= 1 << UInt32(key.rawValue)
            return value
        }

        mutating func string(_ key: OperationFields.Key, context: @autoclosure () -> String = "operation") throws(ChorusError) -> String {
            guard case .string(let s) = try any(key, context: context()) else {
                throw ChorusError(.malformedInput, "\(context()): \"\(key.name)\" must be a string")
            }
            return s
        }

        mutating func integer(_ key: OperationFields.Key, context: @autoclosure () -> String = "operation") throws(ChorusError) -> Int64 {
            guard case .integer(let i) = try any(key, context: context()) else {
                throw ChorusError(.malformedInput, "\(context()): \"\(key.name)\" must be an integer")
            }
            return i
        }

        /// Keys present but not read (defined ones the action does not take, and undefined ones), sorted.
        var unreadKeys: [String] {
            let unreadDefined = OperationFields.Key.allCases.filter { fields[$0] != nil && read & (1 << UInt32($0.rawValue)) == 0 }
            guard !unreadDefined.isEmpty || !fields.unknownKeys.isEmpty else { return [] }
            return (unreadDefined.map(\.name) + fields.unknownKeys).sorted()
        }
    }
}

extension JSONValue {
    /// Longest text a `Double` takes in canonical form: its shortest round-trip digits (at most 17),
    /// sign, point and exponent (`-2.2250738585072014e-308` is 24 bytes).
    static let canonicalDoubleBytesMax = 32

    /// A number at least the canonical encoding's byte count, and the nesting depth, in one walk
    /// that allocates nothing. A string counts 6 bytes per byte (the longest escape, `\u00XX`), a
    /// double `canonicalDoubleBytesMax`; the rest count exactly.
    static func canonicalSizeBoundAndDepth(of value: JSONValue) -> (bound: Int, depth: Int) {
        switch value {
        case .null: return (4, 0)
        case .bool(let b): return (b ? 4 : 5, 0)
        case .integer(let i): return (DecimalText.count(i), 0)
        case .double: return (canonicalDoubleBytesMax, 0)
        case .string(let s): return (2 + 6 * s.utf8.count, 0)
        case .array(let items):
            var bound = 2 + max(0, items.count - 1), depth = 0
            for item in items {
                let inner = canonicalSizeBoundAndDepth(of: item)
                bound += inner.bound
                depth = max(depth, inner.depth)
            }
            return (bound, depth + 1)
        case .object(let members):
            var bound = 2 + max(0, members.count - 1), depth = 0
            for (key, member) in members {
                let inner = canonicalSizeBoundAndDepth(of: member)
                bound += 2 + 6 * key.utf8.count + 1 + inner.bound
                depth = max(depth, inner.depth)
            }
            return (bound, depth + 1)
        }
    }
}

/// Writes one canonical JSON object whose keys the caller gives in canonical order, through a
/// pointer into storage `capacity` sized for the operation. Every write checks that it fits
/// (a bound wrong by a byte stops the process rather than writing past the storage).
private struct CanonicalObjectWriter {
    private let start: UnsafeMutablePointer<UInt8>
    private let end: UnsafeMutablePointer<UInt8>
    private var next: UnsafeMutablePointer<UInt8>
    private var empty = true

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        start = buffer.baseAddress!
        end = start + buffer.count
        next = start
    }

    /// Bytes enough for `op`'s canonical form whose value's text is `valueBytes` long: every key
    /// and punctuation, 20 bytes per integer, 6 per byte of a string (the longest escape,
    /// `\u00XX`), and each operation id's hex, colon, digits and quotes.
    static func capacity(_ op: Operation, valueBytes: Int) -> Int {
        func string(_ s: String?) -> Int { s.map { 2 + 6 * $0.utf8.count } ?? 0 }
        func ids(_ list: [OperationID]) -> Int { 2 + list.reduce(0) { $0 + id($1) + 1 } }
        func id(_ id: OperationID) -> Int { 2 * id.replica.bytes.count + 24 }
        var total = keysAndPunctuationMax + 3 * 20 + string(op.action.name) + string(op.author) + string(op.collection) + string(op.field)
            + id(op.id) + string(op.record) + valueBytes
        switch op.action {
        case .add(let element), .remove(let element, _): total += string(element)
        case .mapSet(let name, _, _), .mapRemove(let name, _): total += string(name)
        case .delete(let observed): total += ids(observed)
        case .erase(let hash): total += 2 + 2 * hash.count
        default: break
        }
        switch op.action {
        case .set(_, let list), .remove(_, let list), .mapSet(_, _, let list), .mapRemove(_, let list),
             .retract(let list), .restore(let list):
            total += ids(list)
        default: break
        }
        return total
    }

    /// The fifteen keys quoted with their colons (136 bytes), a comma or brace before each, and the
    /// closing brace (152 in all), rounded up.
    static let keysAndPunctuationMax = 192

    private mutating func room(_ count: Int) {
        precondition(end - next >= count, "an operation's canonical form outgrew its bound")
    }

    mutating func byte(_ value: UInt8) {
        room(1)
        next.pointee = value
        next += 1
    }

    mutating func copy(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        room(bytes.count)
        next.update(from: base, count: bytes.count)
        next += bytes.count
    }

    /// `name` is the key as it is written, quoted and with its colon (`#""id":"#`).
    mutating func key(_ name: StaticString) {
        byte(empty ? UInt8(ascii: "{") : UInt8(ascii: ","))
        empty = false
        copy(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        var value = value
        value.withUTF8 { bytes in
            room(2 + 6 * bytes.count)
            next = JSONValue.writeQuoted(bytes, to: next)
        }
    }

    mutating func hexString(_ name: StaticString, _ bytes: [UInt8]) {
        key(name)
        byte(UInt8(ascii: "\""))
        hex(bytes)
        byte(UInt8(ascii: "\""))
    }

    private mutating func hex(_ bytes: [UInt8]) {
        room(2 * bytes.count)
        next = Hex.write(bytes, to: next)
    }

    mutating func integer(_ name: StaticString, _ value: Int64) {
        key(name)
        decimal(value)
    }

    mutating func unsigned(_ name: StaticString, _ value: UInt64) {
        key(name)
        unsigned(value)
    }

    private mutating func decimal(_ value: Int64) {
        room(DecimalText.count(value))
        next = DecimalText.write(value, to: next)
    }

    private mutating func unsigned(_ value: UInt64) {
        room(DecimalText.count(magnitude: value))
        next = DecimalText.write(magnitude: value, to: next)
    }

    /// `"REPLICAHEX:COUNTER"`, written without building the string.
    mutating func operationID(_ id: OperationID) {
        byte(UInt8(ascii: "\""))
        hex(id.replica.bytes)
        byte(UInt8(ascii: ":"))
        unsigned(id.counter)
        byte(UInt8(ascii: "\""))
    }

    /// A sorted, duplicate-free list of operation ids.
    mutating func ids(_ name: StaticString, _ list: [OperationID]) {
        key(name)
        byte(UInt8(ascii: "["))
        let sorted = list.count < 2 ? list : Set(list).sorted()
        for (index, id) in sorted.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            operationID(id)
        }
        byte(UInt8(ascii: "]"))
    }

    /// Closes the object; the number of bytes written.
    mutating func finish() -> Int {
        byte(UInt8(ascii: "}"))
        return next - start
    }
}
