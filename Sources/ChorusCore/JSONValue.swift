#if canImport(Glibc)
import Glibc
#endif

/// A JSON value, as Chorus stores and sends field values.
///
/// Numbers keep their kind: text without a fraction or exponent that fits in 64 bits is an
/// `integer`; anything else is a `double`. Objects are unordered; the canonical encoding sorts keys
/// by their UTF-8 bytes, so the same value always encodes to the same bytes on every replica.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var integerValue: Int64? { if case .integer(let i) = self { return i }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { self == .null }

    /// A number as a double, whether stored as integer or double.
    public var numberValue: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    public subscript(key: String) -> JSONValue? { objectValue?[key] }

    /// The name of this value's JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
    public init(floatLiteral value: Double) { self = .double(value) }
}

// MARK: - Encoding

extension JSONValue {
    /// The canonical encoding: no whitespace, object keys sorted by UTF-8 bytes, strings escaped
    /// minimally (`"`, `\`, and control characters), doubles in shortest round-trip form.
    public var canonicalText: String {
        // A string with nothing to escape, the most common value, is its bytes quoted, written
        // straight into the string: through an array it cost two allocations and two copies (2%
        // of a merged operation's instructions; callgrind, P1).
        if case .string(let string) = self, let quoted = JSONValue.quotedUnescaped(string) { return quoted }
        var output: [UInt8] = []
        output.reserveCapacity(64)
        write(to: &output, pretty: false, indent: 0)
        return String(decoding: output, as: UTF8.self)
    }

    /// Canonical bytes (UTF-8 of `canonicalText`).
    public var canonicalBytes: [UInt8] {
        var output: [UInt8] = []
        write(to: &output, pretty: false, indent: 0)
        return output
    }

    /// An indented rendering for people to read; keys sorted as in the canonical form.
    public var prettyText: String {
        var output: [UInt8] = []
        write(to: &output, pretty: true, indent: 0)
        return String(decoding: output, as: UTF8.self)
    }

    /// Writes the value; `pretty` adds newlines and two-space indentation.
    public func write(to output: inout [UInt8], pretty: Bool, indent: Int) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let b): output.append(contentsOf: (b ? "true" : "false").utf8)
        case .integer(let i): DecimalText.append(i, to: &output)
        case .double(let d): output.append(contentsOf: JSONValue.canonicalDouble(d).utf8)
        case .string(let s): JSONValue.writeString(s, to: &output)
        case .array(let items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                if pretty { JSONValue.newline(&output, indent + 1) }
                item.write(to: &output, pretty: pretty, indent: indent + 1)
            }
            if pretty && !items.isEmpty { JSONValue.newline(&output, indent) }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            // The members themselves sorted, so no key is looked up again.
            JSONValue.writeObject(members.sorted(by: { JSONValue.utf8Less($0.key, $1.key) }), to: &output, pretty: pretty, indent: indent)
        }
    }

    /// The canonical text of an object given as members with distinct keys, in any order: what
    /// `JSONValue.object(...).canonicalText` gives, without building and hashing a dictionary
    /// first (the log's dropped-lines notice; the access-log line has a writer of its own, `AccessLogLine`).
    public static func canonicalObjectText(_ members: [(key: String, value: JSONValue)]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        writeObject(members.sorted(by: { utf8Less($0.key, $1.key) }), to: &output, pretty: false, indent: 0)
        return String(decoding: output, as: UTF8.self)
    }

    /// Writes an object whose members are already in canonical key order.
    private static func writeObject(_ members: [(key: String, value: JSONValue)], to output: inout [UInt8], pretty: Bool, indent: Int) {
        output.append(UInt8(ascii: "{"))
        for (index, member) in members.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            if pretty { newline(&output, indent + 1) }
            writeString(member.key, to: &output)
            output.append(UInt8(ascii: ":"))
            if pretty { output.append(UInt8(ascii: " ")) }
            member.value.write(to: &output, pretty: pretty, indent: indent + 1)
        }
        if pretty && !members.isEmpty { newline(&output, indent) }
        output.append(UInt8(ascii: "}"))
    }

    private static func newline(_ output: inout [UInt8], _ indent: Int) {
        output.append(UInt8(ascii: "\n"))
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * 2))
    }

    /// Orders strings by their UTF-8 bytes: the canonical key order, the same in every language.
    /// Compared in place with one `memcmp` (the generic `utf8` walk cost about 350 instructions a
    /// comparison; callgrind).
    public static func utf8Less(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = min(x.count, y.count)
                let order = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return order != 0 ? order < 0 : x.count < y.count
            }
        }
    }

    /// Shortest text that reads back as the same double. Finite values only (the parser refuses others).
    static func canonicalDouble(_ d: Double) -> String {
        precondition(d.isFinite, "JSON cannot hold \(d)")
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        return d.description
    }

    static func writeString(_ s: String, to output: inout [UInt8]) {
        // Most strings need no escape: copy them whole. Scanned as contiguous bytes (`withUTF8`, free
        // for a native string), a third of the generic `utf8.contains(where:)` walk (callgrind).
        var text = s
        text.withUTF8 { bytes in
            if !bytes.contains(where: needsEscape) {
                output.append(UInt8(ascii: "\""))
                output.append(contentsOf: bytes)
                output.append(UInt8(ascii: "\""))
                return
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 + 6 * bytes.count) { buffer in
                let end = writeQuoted(bytes, to: buffer.baseAddress!)
                output.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: end - buffer.baseAddress!))
            }
        }
    }

    /// `s` quoted, when none of its bytes needs an escape; nil otherwise.
    static func quotedUnescaped(_ s: String) -> String? {
        var text = s
        return text.withUTF8 { bytes -> String? in
            guard !bytes.contains(where: needsEscape) else { return nil }
            return String(unsafeUninitializedCapacity: bytes.count + 2) { buffer in
                buffer[0] = UInt8(ascii: "\"")
                if let base = bytes.baseAddress, !bytes.isEmpty { (buffer.baseAddress! + 1).update(from: base, count: bytes.count) }
                buffer[bytes.count + 1] = UInt8(ascii: "\"")
                return bytes.count + 2
            }
        }
    }

    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Writes `bytes` as a quoted JSON string, escaped as canonical JSON escapes, at `output`,
    /// which has room for `2 + 6 * bytes.count` bytes (the longest escape, `\u00XX`, is 6).
    /// Returns where the writing ended.
    static func writeQuoted(_ bytes: UnsafeBufferPointer<UInt8>, to output: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var next = output
        @inline(__always) func put(_ byte: UInt8) {
            next.pointee = byte
            next += 1
        }
        put(UInt8(ascii: "\""))
        if !bytes.contains(where: needsEscape) {
            if let base = bytes.baseAddress, !bytes.isEmpty {
                next.update(from: base, count: bytes.count)
                next += bytes.count
            }
            put(UInt8(ascii: "\""))
            return next
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): put(UInt8(ascii: "\\")); put(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): put(UInt8(ascii: "\\")); put(UInt8(ascii: "\\"))
            case 0x0A: put(UInt8(ascii: "\\")); put(UInt8(ascii: "n"))
            case 0x0D: put(UInt8(ascii: "\\")); put(UInt8(ascii: "r"))
            case 0x09: put(UInt8(ascii: "\\")); put(UInt8(ascii: "t"))
            case 0x08: put(UInt8(ascii: "\\")); put(UInt8(ascii: "b"))
            case 0x0C: put(UInt8(ascii: "\\")); put(UInt8(ascii: "f"))
            case 0x00..<0x20:
                put(UInt8(ascii: "\\")); put(UInt8(ascii: "u")); put(UInt8(ascii: "0")); put(UInt8(ascii: "0"))
                put(Hex.digit(byte >> 4)); put(Hex.digit(byte & 0xF))
            default: put(byte)
            }
        }
        put(UInt8(ascii: "\""))
        return next
    }
}

/// Decimal digits of integers, written straight into a byte buffer.
public enum DecimalText {
    /// Appends `value` as `String(value)` spells it, without making a String: that was 3% of a
    /// merged operation's instructions (the canonical text) and 8% of the state digest's (callgrind).
    public static func append(_ value: Int64, to output: inout [UInt8]) {
        // 24 bytes hold any Int64 (UInt64.max has 20 digits, and the sign).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { buffer in
            let end = write(value, to: buffer.baseAddress!)
            output.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: end - buffer.baseAddress!))
        }
    }

    /// Writes `value` as `String(value)` spells it at `output`, which has room for `count(value)`
    /// bytes; returns where the writing ended.
    static func write(_ value: Int64, to output: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var next = output
        if value < 0 {
            next.pointee = UInt8(ascii: "-")
            next += 1
        }
        return write(magnitude: value.magnitude, to: next)
    }

    /// Writes `magnitude`'s digits at `output`, which has room for `count(magnitude:)` bytes;
    /// returns where the writing ended. For unsigned values past `Int64.max`, which converting to
    /// `Int64` would stop the process on.
    ///
    /// Two digits at a time, from a table: a digit at a time, the three numbers of each operation
    /// (its wall time alone has 13 digits) were 330 instructions of the 3,000 that encoding it
    /// took (callgrind, P1, thirty-seventh round).
    static func write(magnitude: UInt64, to output: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var magnitude = magnitude
        let end = output + digits(magnitude)
        var at = end
        let pairs = digitPairs.utf8Start
        while magnitude >= 100 {
            let pair = Int(magnitude % 100) * 2
            magnitude /= 100
            at -= 2
            at[0] = pairs[pair]
            at[1] = pairs[pair + 1]
        }
        if magnitude >= 10 {
            at -= 2
            at[0] = pairs[Int(magnitude) * 2]
            at[1] = pairs[Int(magnitude) * 2 + 1]
        } else {
            at -= 1
            at.pointee = UInt8(ascii: "0") + UInt8(magnitude)
        }
        return end
    }

    /// "00", "01", ... "99", one after another.
    private static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    public static func append(_ value: Int, to output: inout [UInt8]) { append(Int64(value), to: &output) }

    /// How many bytes `append` writes for `value` (its digits and sign).
    public static func count(_ value: Int64) -> Int {
        digits(value.magnitude) + (value < 0 ? 1 : 0)
    }

    /// How many bytes `write(magnitude:to:)` writes.
    static func count(magnitude: UInt64) -> Int { digits(magnitude) }

    private static func digits(_ magnitude: UInt64) -> Int {
        var magnitude = magnitude
        var digits = 1
        while magnitude >= 10 {
            magnitude /= 10
            digits += 1
        }
        return digits
    }
}
