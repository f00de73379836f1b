import ChorusCore
import SQLiteKit

/// A record's live entries folded into one value (`folded_entries.body`), since
/// `0016_folded_entries` (Docs/performance-notes.md, seventeenth round).
///
/// Why: an entry row costs about 47 bytes, its row header, key and timestamps repeated in each
/// of a record's ten or so rows; folded, a record's entries share one row and are written as
/// deltas of each other, about 24 bytes an entry with its value (measured by
/// `Tests/Bench/fold-estimate.py`). Compaction folds the entries of records whose every entry is
/// compacted history (`Replica+Compaction.swift`); since the twenty-fifth round a batch of remote
/// operations holds the entries of each record it touches (`HeldRecord`) and writes them back
/// folded, while a local write unfolds a record back into `entry_rows` (`Replica.takeFolded`)
/// and reads and writes rows as before. Readers see both through the view `entries`, which reads folded
/// entries through the table function `chorus_folded_entries` (`tableFunction`), registered on
/// every connection that opens a replica.
///
/// Values kept once (format 2, eighteenth round): a register entry whose value is what the record's
/// typed row holds in that field's column, read back as canonical JSON (`RegisterColumns`), is
/// flagged and its value left out: the value is stored once, in the typed row, instead of twice
/// (24 bytes an entry with values, 6 without; `Tests/Bench/fold-estimate.py`). Folding checks the
/// round trip byte for byte, so a value the column cannot give back exactly (a boolean, an array,
/// a number stored as text) stays in the body. A folded record's typed row changes only in a
/// batch that holds or unfolds the record: it reads the values a column keeps before it rewrites
/// the column, and writes the body back (or the rows) with the flags the new column gives.
///
/// Body encoding: a format byte (1, or 2 when an entry's value is kept in its column); the entry
/// count, a varint; then per entry, in primary-key order (field, key, origin, counter):
/// - a flags byte: the kind code (bits 0-2), the key is empty (bit 3), the origin is the entry
///   before's (bit 4), the wall is the entry before's and the logical count one more (bit 5), the
///   value is the typed column's (bit 6, format 2 only; a register with an empty key), the
///   value is NULL (bit 7);
/// - the field number's delta from the entry before's, zigzag varint;
/// - unless the key is empty: its UTF-8 length, a varint, and its bytes;
/// - unless the origin is the one before: the origin number, a varint;
/// - the counter's delta from that origin's previous counter in this body, minus one, zigzag;
/// - unless flagged: the wall's delta from the entry before's, zigzag, and the logical count;
/// - unless NULL or kept in its column: the value's UTF-8 length, a varint, and its bytes;
/// - the log sequence's delta from the entry before's, minus one, zigzag.
/// Deltas are wrapping 64-bit arithmetic, so every stored value round-trips exactly.
///
/// Pure: no storage. A body that does not decode is refused with a storage error, never read past.
public enum FoldedEntries {
    /// The format byte of a body whose values are all in it.
    static let format: UInt8 = 1
    /// The format byte of a body with values kept in their typed columns (bit 6).
    static let formatValuesInColumns: UInt8 = 2

    /// Entries one body holds at most, as decoding accepts them: a bound on the memory one
    /// damaged or forged body can ask for (each entry takes at least 4 bytes, so the body's length
    /// bounds it first).
    static let entriesMax = 1_000_000

    /// Bodies written by one statement, at most (2 parameters each, within `Database.parametersMax`).
    static let bodiesPerStatement = 64
    /// The statements that write `bodiesPerStatement` bodies, and one.
    static let insertBodiesSQL = insertBodiesSQL(count: bodiesPerStatement)
    static let insertBodySQL = insertBodiesSQL(count: 1)
    private static func insertBodiesSQL(count: Int) -> String {
        "INSERT OR REPLACE INTO folded_entries(rid, body) VALUES " + Database.valuesList(rows: count, parametersPerRow: 2)
    }

    /// One live entry as `entry_rows` stores it: field and origin as numbers, kind as its code.
    public struct Entry: Equatable, Sendable {
        public var field: Int64
        public var key: String
        public var origin: Int64
        public var counter: Int64
        public var wall: Int64
        public var logical: Int64
        public var kind: Int64
        public var value: String?
        public var seq: Int64
        /// The value is the record's typed column's (bit 6): encoding leaves it out, decoding
        /// leaves `value` nil until `resolve` reads it from the column.
        public var valueInColumn: Bool

        public init(field: Int64, key: String, origin: Int64, counter: Int64, wall: Int64, logical: Int64, kind: Int64, value: String?, seq: Int64,
                    valueInColumn: Bool = false) {
            (self.field, self.key, self.origin, self.counter, self.wall, self.logical, self.kind, self.value, self.seq, self.valueInColumn) =
                (field, key, origin, counter, wall, logical, kind, value, seq, valueInColumn)
        }

        /// Primary-key order of `entry_rows`: field, key (bytes, as SQLite's BINARY collation),
        /// origin, counter.
        static func < (a: Entry, b: Entry) -> Bool {
            if a.field != b.field { return a.field < b.field }
            if !ExactText.equal(a.key, b.key) { return a.key.utf8.lexicographicallyPrecedes(b.key.utf8) }
            if a.origin != b.origin { return a.origin < b.origin }
            return a.counter < b.counter
        }
    }

    private static let kindBits: UInt8 = 0x07, emptyKey: UInt8 = 0x08, sameOrigin: UInt8 = 0x10, nextStamp: UInt8 = 0x20,
                       inColumn: UInt8 = 0x40, nullValue: UInt8 = 0x80
    private static let registerCode = EntryRows.code(.register)

    /// Encodes entries (sorted here into primary-key order). Kind codes must fit three bits; an
    /// entry flagged `valueInColumn` must be a register with an empty key.
    /// `inOrder`: the caller has them in that order already (`HeldRecord.takeEntriesToWrite`), so
    /// they are not sorted again (sorting a record's entries was a third of writing it back).
    public static func encode(_ entries: [Entry], inOrder: Bool = false) -> [UInt8] {
        let sorted = inOrder ? entries : entries.sorted(by: <)
        var bytes: [UInt8] = [sorted.contains(where: \.valueInColumn) ? formatValuesInColumns : format]
        // About 8 bytes an entry besides its texts: one allocation for most bodies.
        bytes.reserveCapacity(16 + sorted.count * 12 + sorted.reduce(0) { $0 + $1.key.utf8.count + ($1.valueInColumn ? 0 : $1.value?.utf8.count ?? 0) })
        LogBlock.appendVarint(UInt64(sorted.count), to: &bytes)
        var previous = (field: Int64(0), origin: Int64(-1), wall: Int64(0), logical: Int64(-1), seq: Int64(0))
        var counters = OriginCounters()
        for entry in sorted {
            precondition(entry.kind >= 0 && entry.kind <= Int64(kindBits), "a kind code fits three bits")
            var flags = UInt8(entry.kind)
            if entry.key.isEmpty { flags |= emptyKey }
            if entry.origin == previous.origin { flags |= sameOrigin }
            let stampFollows = entry.wall == previous.wall && entry.logical == previous.logical &+ 1
            if stampFollows { flags |= nextStamp }
            if entry.valueInColumn {
                precondition(entry.kind == registerCode && entry.key.isEmpty, "only a register's value is kept in its column")
                flags |= inColumn
            } else if entry.value == nil {
                flags |= nullValue
            }
            bytes.append(flags)
            appendSigned(entry.field &- previous.field, to: &bytes)
            if !entry.key.isEmpty { appendText(entry.key, to: &bytes) }
            if entry.origin != previous.origin { LogBlock.appendVarint(UInt64(bitPattern: entry.origin), to: &bytes) }
            appendSigned(entry.counter &- counters[entry.origin] &- 1, to: &bytes)
            if !stampFollows {
                appendSigned(entry.wall &- previous.wall, to: &bytes)
                LogBlock.appendVarint(UInt64(bitPattern: entry.logical), to: &bytes)
            }
            if !entry.valueInColumn, let value = entry.value { appendText(value, to: &bytes) }
            appendSigned(entry.seq &- previous.seq &- 1, to: &bytes)
            counters[entry.origin] = entry.counter
            previous = (entry.field, entry.origin, entry.wall, entry.logical, entry.seq)
        }
        return bytes
    }

    /// Decodes a body; `record` names it in errors.
    public static func decode(_ body: [UInt8], record: Int64?) throws -> [Entry] {
        var entries: [Entry] = []
        try scan(body, record: record, expecting: { entries.reserveCapacity($0) }) { entry in
            // `scan` checked the texts are UTF-8: decoding repairs nothing.
            entries.append(Entry(field: entry.field, key: entry.key.map { String(decoding: body[$0], as: UTF8.self) } ?? "",
                                 origin: entry.origin, counter: entry.counter, wall: entry.wall, logical: entry.logical, kind: entry.kind,
                                 value: entry.value.map { String(decoding: body[$0], as: UTF8.self) }, seq: entry.seq,
                                 valueInColumn: entry.valueInColumn))
        }
        return entries
    }

    /// One entry as `scan` reads it: its texts as ranges of the body's bytes, checked to be UTF-8.
    struct ScannedEntry {
        var field: Int64
        /// nil for the empty key.
        var key: Range<Int>?
        var origin: Int64
        var counter: Int64
        var wall: Int64
        var logical: Int64
        var kind: Int64
        /// nil for NULL, or a value kept in its typed column.
        var value: Range<Int>?
        var seq: Int64
        var valueInColumn: Bool
    }

    /// Reads a body entry by entry, in its order, refusing what `decode` refuses, without making
    /// a string or an entry of it: what a survey of every body asks about (origins, fields, kinds,
    /// clocks) costs no allocation per entry. `expecting` is told the count the body claims,
    /// once it is found plausible.
    @inline(__always)
    static func scan(_ body: [UInt8], record: Int64?, expecting: (Int) -> Void = { _ in }, _ visit: (ScannedEntry) throws -> Void) throws {
        var reader = Reader(body: body, record: record)
        guard let bodyFormat = body.first, bodyFormat == format || bodyFormat == formatValuesInColumns else {
            throw reader.corrupt("its format byte is \(body.first.map(String.init) ?? "missing"), not \(format) or \(formatValuesInColumns)")
        }
        let allowed: UInt8 = bodyFormat == formatValuesInColumns ? ~0 : ~inColumn
        reader.offset = 1
        let count = try reader.varint()
        guard count <= UInt64(min(entriesMax, body.count / 4)) else { throw reader.corrupt("it claims \(count) entries") }
        expecting(Int(count))
        var previous = (field: Int64(0), origin: Int64(-1), wall: Int64(0), logical: Int64(-1), seq: Int64(0))
        var counters = OriginCounters()
        for _ in 0..<count {
            let flags = try reader.byte()
            guard flags & ~allowed == 0 else { throw reader.corrupt("an entry's flags are unknown") }
            let valueInColumn = flags & inColumn != 0
            guard !valueInColumn || (flags & nullValue == 0 && Int64(flags & kindBits) == registerCode && flags & emptyKey != 0) else {
                throw reader.corrupt("an entry that is not a register's value is flagged as kept in its column")
            }
            let field = previous.field &+ (try reader.signed())
            let key = flags & emptyKey != 0 ? nil : try reader.text()
            let origin = flags & sameOrigin != 0 ? previous.origin : Int64(bitPattern: try reader.varint())
            let counter = counters[origin] &+ (try reader.signed()) &+ 1
            var wall = previous.wall, logical = previous.logical &+ 1
            if flags & nextStamp == 0 {
                wall = previous.wall &+ (try reader.signed())
                logical = Int64(bitPattern: try reader.varint())
            }
            let value = flags & (nullValue | inColumn) != 0 ? nil : try reader.text()
            let seq = previous.seq &+ (try reader.signed()) &+ 1
            try visit(ScannedEntry(field: field, key: key, origin: origin, counter: counter, wall: wall, logical: logical,
                                   kind: Int64(flags & kindBits), value: value, seq: seq, valueInColumn: valueInColumn))
            counters[origin] = counter
            previous = (field, origin, wall, logical, seq)
        }
        guard reader.offset == body.count else { throw reader.corrupt("\(body.count - reader.offset) bytes follow its last entry") }
    }

    /// Fills in the values of entries kept in their typed columns (`valueInColumn`) from
    /// `columns`, a record's register values by field number (`RegisterColumns.values`); throws a
    /// storage error for a flagged field the typed row does not give.
    static func resolve(_ entries: inout [Entry], columns: [Int64: String], record: Int64) throws {
        for index in entries.indices where entries[index].valueInColumn {
            guard let value = columns[entries[index].field] else { throw missingColumn(record: record, field: entries[index].field) }
            entries[index].value = value
        }
    }

    /// The error for a value kept in a typed column the record's typed row does not give.
    static func missingColumn(record: Int64, field: Int64) -> ChorusError {
        ChorusError(.storage, "the folded entries of record \(record) keep field \(field)'s value in a typed column the record has not got",
                    hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
    }

    /// Decodes a body and fills in the values kept in typed columns, read through `columns`.
    static func decode(_ body: [UInt8], record: Int64, columns: RegisterColumns) throws -> [Entry] {
        var entries = try decode(body, record: record)
        if entries.contains(where: \.valueInColumn) {
            try resolve(&entries, columns: try columns.values(rid: record), record: record)
        }
        return entries
    }

    /// The table function the views read folded entries through: the rows of one body, columns as
    /// `entry_rows` (but `rid`). Its arguments are the body and its record's rid, which reads the
    /// values kept in typed columns through `columns` (a view of `0016_folded_entries` passes the
    /// body alone, and reads only bodies without such values: format 1).
    static func tableFunction(columns: RegisterColumns) -> TableFunction {
        TableFunction(name: "chorus_folded_entries", columns: ["field", "key", "origin", "counter", "wall", "logical", "kind", "value", "seq"],
                      argumentsMax: 2) { arguments in
            guard case .blob(let body) = arguments[0] else {
                throw ChorusError(.storage, "a folded entries body is not a blob", hint: "run `chorus check`")
            }
            let entries: [Entry]
            if case .integer(let rid) = arguments[1] {
                entries = try decode(body, record: rid, columns: columns)
            } else {
                entries = try decode(body, record: nil)
                guard !entries.contains(where: \.valueInColumn) else {
                    throw ChorusError(.storage, "folded entries with values kept in typed columns were read without their record",
                                      hint: "this build's views pass the record; run `chorus check`")
                }
            }
            return entries.map { entry in
                [.integer(entry.field), .text(entry.key), .integer(entry.origin), .integer(entry.counter), .integer(entry.wall),
                 .integer(entry.logical), .integer(entry.kind), entry.value.map { .text($0) } ?? .null, .integer(entry.seq)]
            }
        }
    }

    private static func appendSigned(_ value: Int64, to bytes: inout [UInt8]) {
        LogBlock.appendVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)), to: &bytes)
    }

    private static func appendText(_ text: String, to bytes: inout [UInt8]) {
        LogBlock.appendVarint(UInt64(text.utf8.count), to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }

    /// Each origin's last counter while a body is encoded or decoded (counters are stored as the difference
    /// from it). A body holds few origins, so a short list searched from its newest end beats a
    /// dictionary, which cost a hash per entry and an allocation per body; past `listedMax`
    /// origins (a body may hold up to `entriesMax` entries, each of its own origin) a dictionary
    /// takes over, so no body costs quadratic time.
    private struct OriginCounters {
        static let listedMax = 16
        private var listed: [(origin: Int64, counter: Int64)] = []
        private var many: [Int64: Int64]?

        subscript(origin: Int64) -> Int64 {
            get {
                if let many { return many[origin] ?? 0 }
                return listed.last { $0.origin == origin }?.counter ?? 0
            }
            set {
                if many != nil { many![origin] = newValue; return }
                if let index = listed.lastIndex(where: { $0.origin == origin }) { listed[index].counter = newValue; return }
                guard listed.count < Self.listedMax else {
                    many = Dictionary(uniqueKeysWithValues: listed.map { ($0.origin, $0.counter) })
                    many![origin] = newValue
                    return
                }
                listed.append((origin, newValue))
            }
        }
    }

    /// Reads a body, refusing what runs past its end.
    private struct Reader {
        let body: [UInt8]
        let record: Int64?
        var offset = 0

        init(body: [UInt8], record: Int64?) {
            self.body = body
            self.record = record
        }

        func corrupt(_ what: String) -> ChorusError {
            ChorusError(.storage, "the folded entries of record \(record.map(String.init) ?? "?") are damaged: \(what) (byte \(offset))",
                        hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }

        mutating func byte() throws -> UInt8 {
            guard offset < body.count else { throw corrupt("an entry runs past the end") }
            defer { offset += 1 }
            return body[offset]
        }

        mutating func varint() throws -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                let byte = try byte()
                guard shift < 63 || (shift == 63 && byte <= 1) else { throw corrupt("a number is over 64 bits") }
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
        }

        mutating func signed() throws -> Int64 {
            let raw = try varint()
            return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        }

        /// A text's bytes, checked to be UTF-8 (ASCII at once, anything else by the standard
        /// library's validation).
        mutating func text() throws -> Range<Int> {
            let length = try varint()
            guard length <= UInt64(body.count - offset) else { throw corrupt("a text runs past the end") }
            let range = offset..<(offset + Int(length))
            guard body[range].allSatisfy({ $0 < 0x80 }) || String(validating: body[range], as: UTF8.self) != nil else {
                throw corrupt("a text is not UTF-8")
            }
            offset = range.upperBound
            return range
        }
    }
}
