/// A strict JSON parser (RFC 8259) with bounded depth and size.
///
/// Strict means: no trailing commas, no comments, no duplicate object keys, no lone surrogates, no
/// invalid UTF-8, no NaN or infinities, nothing after the value but whitespace. Errors carry the byte
/// offset so an operator can find the fault.
public struct JSONParser {
    /// Deepest nesting of arrays and objects accepted.
    public var depthMax: Int
    /// Largest input accepted, in bytes.
    public var bytesMax: Int

    public init(depthMax: Int = Limits.default.jsonDepthMax, bytesMax: Int = Limits.default.jsonDocumentBytesMax) {
        self.depthMax = depthMax
        self.bytesMax = bytesMax
    }

    /// Parses one JSON document.
    public func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try parseDocument(bytes[...]) { reader throws(JSONParseError) in try reader.parseValue(depth: 0) }
    }

    /// The frame every kind of document shares (`parse`, `parseEnvelope`, `parseOperation`): the
    /// size limit, whitespace before the value, `value` reading it, and nothing but whitespace after.
    func parseDocument<Value>(_ bytes: ArraySlice<UInt8>,
                              _ value: (inout Reader) throws(JSONParseError) -> Value) throws(JSONParseError) -> Value {
        guard bytes.count <= bytesMax else {
            throw JSONParseError(offset: 0, reason: "document is \(bytes.count) bytes, over the limit of \(bytesMax)")
        }
        return try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var reader = Reader(bytes: buffer, depthMax: depthMax)
            reader.skipWhitespace()
            let parsed = try value(&reader)
            reader.skipWhitespace()
            guard reader.position == buffer.count else {
                throw JSONParseError(offset: reader.position, reason: "unexpected text after the JSON value")
            }
            return parsed
        }
    }

    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let depthMax: Int
        /// Array elements and object members that may still be read, nested ones included
        /// (`parseEnvelope` gives all of a message but its operations `valuesMax` of them); no
        /// bound by default, the document's size aside.
        var valuesLeft = Int.max
        var valuesMax = Int.max

        /// Bounds the values read from here.
        mutating func limitValues(_ max: Int) { (valuesLeft, valuesMax) = (max, max) }

        /// One more array element or object member read.
        mutating func spendValue() throws(JSONParseError) {
            valuesLeft -= 1
            guard valuesLeft >= 0 else { throw fail("more than \(valuesMax) values outside the operations") }
        }
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>, depthMax: Int) {
            self.bytes = bytes
            self.depthMax = depthMax
        }

        func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: position, reason: reason) }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
        }

        mutating func expect(_ literal: String, _ value: JSONValue) throws(JSONParseError) -> JSONValue {
            for byte in literal.utf8 {
                guard current == byte else { throw fail("invalid literal, expected \(literal)") }
                position += 1
            }
            return value
        }

        mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
            guard let byte = current else { throw fail("unexpected end of input, expected a value") }
            switch byte {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw fail("unexpected character '\(Character(Unicode.Scalar(byte)))', expected a value")
            }
        }

        mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
            // Members are gathered first and hashed once into a dictionary of the right size:
            // growing it key by key rehashed every member several times (callgrind, pull decoding).
            var pairs: [(key: String, value: JSONValue, offset: Int)] = []
            try parseMembers(depth: depth) { key, keyOffset, reader throws(JSONParseError) -> Bool in
                pairs.append((key, try reader.parseValue(depth: depth), keyOffset))
                return true
            }
            var members = [String: JSONValue](minimumCapacity: pairs.count)
            for pair in pairs {
                guard members.updateValue(pair.value, forKey: pair.key) == nil else {
                    throw JSONParseError(offset: pair.offset, reason: "duplicate object key \"\(pair.key)\"")
                }
            }
            return .object(members)
        }

        mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
            var items: [JSONValue] = []
            try parseElements(depth: depth) { reader throws(JSONParseError) in items.append(try reader.parseValue(depth: depth)) }
            return .array(items)
        }

        /// The object grammar, member by member (the reader on its `{`): `member` gets each key, its
        /// offset and the reader on its value, parses the value, and returns false for a key it
        /// already had. A duplicate is reported once the whole object has parsed, at the offset of
        /// its first repeated key, as the dictionary of `parseObject` reports one.
        mutating func parseMembers(depth: Int,
                                   _ member: (String, Int, inout Reader) throws(JSONParseError) -> Bool) throws(JSONParseError) {
            try parseMembers(depth: depth, key: { reader throws(JSONParseError) in try reader.parseString() }, named: { $0 }, member)
        }

        /// The object grammar with each key read by `readKey` (the reader on its opening quote), so a
        /// caller that knows its keys can match them by their bytes instead of making a `String` of
        /// each (`parseOperationObject`); `named` spells a key for the duplicate error.
        mutating func parseMembers<Key>(depth: Int, key readKey: (inout Reader) throws(JSONParseError) -> Key, named: (Key) -> String,
                                        _ member: (Key, Int, inout Reader) throws(JSONParseError) -> Bool) throws(JSONParseError) {
            guard depth <= depthMax else { throw fail("nesting deeper than \(depthMax) levels") }
            position += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1; return }
            var duplicate: (key: Key, offset: Int)?
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                try spendValue()
                let keyOffset = position
                let key = try readKey(&self)
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
                position += 1
                skipWhitespace()
                if try !member(key, keyOffset, &self), duplicate == nil { duplicate = (key, keyOffset) }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    if let duplicate { throw JSONParseError(offset: duplicate.offset, reason: "duplicate object key \"\(named(duplicate.key))\"") }
                    return
                default: throw fail("expected ',' or '}' in an object")
                }
            }
        }

        /// The array grammar, element by element (the reader on its `[`): `element` parses each one.
        mutating func parseElements(depth: Int, _ element: (inout Reader) throws(JSONParseError) -> Void) throws(JSONParseError) {
            guard depth <= depthMax else { throw fail("nesting deeper than \(depthMax) levels") }
            position += 1
            skipWhitespace()
            if current == UInt8(ascii: "]") { position += 1; return }
            while true {
                skipWhitespace()
                try spendValue()
                try element(&self)
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return
                default: throw fail("expected ',' or ']' in an array")
                }
            }
        }

        mutating func parseHex4() throws(JSONParseError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = current else { throw fail("unexpected end of input in a \\u escape") }
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw fail("invalid hex digit in a \\u escape")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }

        mutating func parseString() throws(JSONParseError) -> String {
            position += 1 // opening quote
            // Most strings have no escape: validate and copy the bytes once.
            var end = position
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: bytes[position..<end])
                // ASCII is valid UTF-8 as it is; `String(validating:)` costs about a thousand
                // instructions a string in generic validation (callgrind, pull decoding).
                let string: String
                if run.allSatisfy({ $0 < 0x80 }) {
                    string = String(decoding: run, as: UTF8.self)
                } else {
                    guard let validated = String(validating: run, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                    string = validated
                }
                position = end + 1
                return string
            }
            var scalars: [UInt8] = []
            var runStart = position
            while true {
                guard let byte = current else { throw fail("unterminated string") }
                if byte == UInt8(ascii: "\"") {
                    scalars.append(contentsOf: bytes[runStart..<position])
                    position += 1
                    break
                }
                if byte < 0x20 { throw fail("control character in a string (must be escaped)") }
                if byte != UInt8(ascii: "\\") { position += 1; continue }
                scalars.append(contentsOf: bytes[runStart..<position])
                position += 1
                guard let escape = current else { throw fail("unterminated escape") }
                position += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append(0x22)
                case UInt8(ascii: "\\"): scalars.append(0x5C)
                case UInt8(ascii: "/"): scalars.append(0x2F)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                            throw fail("lone high surrogate in a \\u escape")
                        }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid low surrogate in a \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw fail("lone low surrogate in a \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid code point") }
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("invalid escape character")
                }
                runStart = position
            }
            guard let string = String(validating: scalars, as: UTF8.self) else {
                throw fail("string is not valid UTF-8")
            }
            return string
        }

        /// The integer the digits in `range` spell (an optional minus, then digits), or nil when it
        /// does not fit in 64 bits: what `Int64(String)` gives, without making the string.
        func integerValue(_ range: Range<Int>) -> Int64? {
            var index = range.lowerBound
            let negative = bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            var magnitude: UInt64 = 0
            while index < range.upperBound {
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return nil }
                magnitude = sum
                index += 1
            }
            if negative {
                guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
                return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            }
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return Int64(magnitude)
        }

        mutating func parseNumber() throws(JSONParseError) -> JSONValue {
            let start = position
            var isInteger = true
            if current == UInt8(ascii: "-") { position += 1 }
            guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
                throw fail("expected a digit")
            }
            if first == UInt8(ascii: "0") {
                position += 1
                if let next = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) {
                    throw fail("leading zeros are not allowed")
                }
            } else {
                while let d = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { position += 1 }
            }
            if current == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                guard let d = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { throw fail("expected a digit after '.'") }
                while let d = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                isInteger = false
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard let d = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else { throw fail("expected a digit in the exponent") }
                while let d = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { position += 1 }
            }
            if isInteger, let integer = integerValue(start..<position) { return .integer(integer) }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard let double = Double(text), double.isFinite else {
                throw JSONParseError(offset: start, reason: "number \(text) is out of range")
            }
            return .double(double)
        }
    }
}

/// Why a JSON document was refused, and where.
public struct JSONParseError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Byte offset of the fault from the start of the document.
    public let offset: Int
    public let reason: String
    /// The document is well formed as far as it was read, but holds more operations than the
    /// reader takes (`parseEnvelope`'s `operationsMax`): a page too large, not a malformed one.
    public var isOverOperationsMax = false
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}
