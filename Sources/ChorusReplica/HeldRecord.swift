import ChorusCore

/// A record whose live entries a batch of remote operations holds in memory, since the
/// twenty-fifth round (Docs/performance-notes.md): read once from its folded body (nothing, for
/// a record the batch creates), changed by the batch's operations in place, and written back
/// folded (`FoldedEntries`), one row, when the batch materialises its keys (`Replica.materialise`).
///
/// Why: with an entry row per live entry, every merged operation inserted a row into a B-tree
/// keyed by record, field, key and id, deleted another when it superseded one, and the batch read
/// a record's older rows back to choose what to display; those rows were about a quarter of a
/// merged operation's instructions (twenty-second round). Held, a record costs one read and one
/// write per batch, however many of its fields the batch changes.
///
/// Only batches of remote operations hold records (`BatchState.holdsRecords`): a local write
/// asks the database for a key's live entries while it builds its operation, so it keeps the
/// rows (and unfolds a folded record, `Replica.takeFolded`). A record with more than `entriesMax`
/// entries, or a body past `bodyBytesMax`, is not held: decoding and encoding it whole on every
/// batch would cost more than its rows, and memory in proportion to its values (up to 64 KiB
/// each); it is unfolded, and a held record that grows past either is written back as rows.
/// A batch holds at most `batchBodyBytesMax` of bodies read from the database; the records it
/// meets past that are merged in rows.
struct HeldRecord {
    /// Entries a held record may have; past it the record's entries live in rows of their own.
    static let entriesMax = 1_024
    /// Bytes of a held record's body, about (`bytes`); past it the record's entries live in rows
    /// of their own. Ten people's worth of fields fit hundreds of times over.
    static let bodyBytesMax = 256 * 1024
    /// Bytes of folded bodies one batch reads and holds at once (`BatchState.heldBodyBytes`).
    static let batchBodyBytesMax = 32 * 1024 * 1024
    /// What an entry costs in a body besides its key and value, about (`FoldedEntries.encode`
    /// writes 6 to 12 bytes of flags, numbers and lengths), for `bytes`.
    static let entryBytesOverhead = 16
    /// Room made for a record's first entries of a batch.
    static let madeCapacityFirst = 16

    /// The entries the record had before the batch, in primary-key order (field, key bytes,
    /// origin, counter). A value kept in its typed column is nil until `resolve` fills it in.
    private var older: [FoldedEntries.Entry]
    /// Which of `older` are still live (false: the batch superseded it).
    private var olderLive: [Bool]
    /// How many of `older` and of `madeEntries` are still live: kept as they change, so
    /// `isPastBound` counts nothing (counting was 1% of a merged operation's instructions).
    private var olderLiveCount: Int
    private var madeLiveCount = 0
    /// The entries the batch made, in the order it made them, and which are still live (false:
    /// superseded since).
    private var madeEntries: [FoldedEntries.Entry] = []
    private var madeLive: [Bool] = []
    /// Where each operation's entry is in `madeEntries[..<madeIndexed]` (an operation makes one
    /// entry at most in a record), so superseding one is a lookup, never a walk over all the
    /// batch made. Built when an operation first supersedes in the record, not as entries are
    /// made: most batches supersede nothing they made themselves, and indexing every entry was 3%
    /// of a merged operation's instructions (callgrind, P1).
    private var madeByOperation: [OperationKey: Int] = [:]
    private var madeIndexed = 0
    /// The live entries the batch made, in the order it made them.
    var made: [FoldedEntries.Entry] {
        // Most often all are: then the array itself, not a copy.
        madeLiveCount == madeEntries.count ? madeEntries : madeEntries.indices.filter { madeLive[$0] }.map { madeEntries[$0] }
    }

    private struct OperationKey: Hashable {
        let origin: Int64, counter: Int64
    }
    /// The record had a folded body before the batch.
    let hadBody: Bool
    /// Declared registers whose typed column the batch rewrote, by field number: the column's
    /// canonical JSON (`RegisterColumns.canonicalJSON`), or nil when it has none (a blob, an
    /// infinite real). Decides which values are kept in their column when written back.
    /// A few pairs, searched in order: a record's fields are few, and a dictionary per record,
    /// grown as it filled, cost more than the searches (callgrind, P1).
    private var rewrittenColumns: [(field: Int64, text: String?)] = []
    /// The batch added or removed an entry: the record must be written back.
    private(set) var changed = false
    /// The record's body as read, in bytes, plus what each entry the batch made adds to it
    /// (`entryBytesOverhead` and its texts): an upper bound, since superseded entries are not
    /// taken off, so a record that shrinks in a batch is never held past `bodyBytesMax`.
    private var bytes = 0

    /// A record the batch creates.
    init() {
        older = []
        olderLive = []
        olderLiveCount = 0
        hadBody = false
    }

    /// A record with a folded body: `entries` decoded, the values kept in typed columns not yet
    /// read. Sorted here if the body was not in order (it always is as `encode` writes it).
    init(folded entries: [FoldedEntries.Entry], bodyBytes: Int) {
        older = HeldRecord.inOrder(entries)
        olderLive = Array(repeating: true, count: entries.count)
        olderLiveCount = entries.count
        bytes = bodyBytes
        hadBody = true
    }

    /// The entries still live that the record had before the batch.
    private var olderStillLive: [FoldedEntries.Entry] {
        olderLiveCount == older.count ? older : older.indices.filter { olderLive[$0] }.map { older[$0] }
    }

    mutating func add(_ entry: FoldedEntries.Entry) {
        if madeEntries.isEmpty {
            // A record's batch most often writes several fields: grown from one, the arrays were
            // reallocated four times a record.
            madeEntries.reserveCapacity(HeldRecord.madeCapacityFirst)
            madeLive.reserveCapacity(HeldRecord.madeCapacityFirst)
        }
        madeEntries.append(entry)
        madeLive.append(true)
        madeLiveCount += 1
        bytes += HeldRecord.entryBytesOverhead + entry.key.utf8.count + (entry.value?.utf8.count ?? 0)
        changed = true
    }

    /// Makes room for `count` rewritten columns at once: grown from empty, the pairs were
    /// reallocated five times for a person's ten fields (callgrind, P1).
    mutating func reserveRewrittenColumns(_ count: Int) {
        rewrittenColumns.reserveCapacity(count)
    }

    /// Notes that the batch rewrote a declared register's typed column: `text` is what it reads
    /// back as (`RegisterColumns.canonicalJSON`), nil when it reads back as no JSON.
    mutating func rewroteColumn(field: Int64, as text: String?) {
        if let index = rewrittenColumns.firstIndex(where: { $0.field == field }) {
            rewrittenColumns[index].text = text
        } else {
            rewrittenColumns.append((field, text))
        }
    }

    /// Removes the live entries of field `field` written by operation (`origin`, `counter`), and
    /// returns each one's key, with whether it was older than the batch.
    mutating func remove(field: Int64, origin: Int64, counter: Int64) -> [(key: String, older: Bool)] {
        var removed: [(key: String, older: Bool)] = []
        for index in fieldRange(field) {
            let entry = older[index]
            guard olderLive[index], entry.origin == origin, entry.counter == counter else { continue }
            removed.append((entry.key, true))
            olderLive[index] = false
            olderLiveCount -= 1
        }
        while madeIndexed < madeEntries.count {
            let entry = madeEntries[madeIndexed]
            madeByOperation[OperationKey(origin: entry.origin, counter: entry.counter)] = madeIndexed
            madeIndexed += 1
        }
        if let index = madeByOperation[OperationKey(origin: origin, counter: counter)], madeLive[index], madeEntries[index].field == field {
            removed.append((madeEntries[index].key, false))
            madeLive[index] = false
            madeLiveCount -= 1
        }
        if !removed.isEmpty { changed = true }
        return removed
    }

    /// Whether a live entry older than the batch in field `field`'s register keeps its value in
    /// the typed column, not yet read: materialising it may need the value (to display it again,
    /// or to keep it in the body once the column changes).
    func needsColumn(field: Int64) -> Bool {
        fieldRange(field).contains { olderLive[$0] && older[$0].valueInColumn && older[$0].value == nil }
    }

    /// The fields whose live older entries keep their values in typed columns, not yet read.
    var unresolvedFields: Set<Int64> {
        Set(older.indices.filter { olderLive[$0] && older[$0].valueInColumn && older[$0].value == nil }.map { older[$0].field })
    }

    /// Whether the live entries, older and made, are more than `entriesMax`, or their body past
    /// `bodyBytesMax`: the record is then written in rows of their own, so every value kept in a
    /// column must be read first.
    var isPastBound: Bool { olderLiveCount + madeLiveCount > HeldRecord.entriesMax || bytes > HeldRecord.bodyBytesMax }

    /// Notes that the typed row the batch meant to rewrite is not there (a record of a collection
    /// declared after it was written): no value is kept in a column it has not got.
    mutating func typedRowMissing() {
        for index in rewrittenColumns.indices { rewrittenColumns[index].text = nil }
    }

    /// Fills in the values kept in typed columns from `columns`, as the typed row holds them
    /// before the batch writes it (`RegisterColumns`), by field number.
    mutating func resolve(_ columns: [Int64: String], record: Int64) throws {
        for index in older.indices where olderLive[index] && older[index].valueInColumn && older[index].value == nil {
            guard let value = columns[older[index].field] else { throw FoldedEntries.missingColumn(record: record, field: older[index].field) }
            older[index].value = value
        }
    }

    /// The live entries of one key that are older than the batch.
    func olderEntries(field: Int64, key: String) -> [FoldedEntries.Entry] {
        // The key's first entry, by a binary search: `older` is in (field, key bytes) order.
        var low = 0, high = older.count
        while low < high {
            let middle = (low + high) / 2
            let entry = older[middle]
            if entry.field < field || (entry.field == field && ExactText.less(entry.key, key)) { low = middle + 1 } else { high = middle }
        }
        var found: [FoldedEntries.Entry] = []
        while low < older.count && older[low].field == field && ExactText.equal(older[low].key, key) {
            if olderLive[low] { found.append(older[low]) }
            low += 1
        }
        return found
    }

    /// Whether one of the record's register or map keys has two live entries or more.
    var hasValueConflict: Bool {
        let register = EntryRows.code(.register), map = EntryRows.code(.map)
        let values = (olderStillLive + made).filter { $0.kind == register || $0.kind == map }.sorted(by: <)
        return zip(values, values.dropFirst()).contains { $0.field == $1.field && ExactText.equal($0.key, $1.key) }
    }

    /// The live entries as they are written back, in primary-key order: a register value equal, byte for byte, to what
    /// its typed column reads back as is kept there alone (as compaction folds, `Replica.fold`).
    /// A column the batch did not rewrite still holds what it did, so its flags stand.
    /// Materialising reads a rewritten column's old values first (`resolve`), so every value it
    /// moves out of its column is in hand; one that is not is refused, never written as NULL.
    /// Takes the entries the batch made out of the record (it is written back once, then dropped),
    /// so flagging them changes the array in place rather than a copy of it. The record is
    /// dropped afterwards: ask what else is needed of it (`isPastBound`) before.
    mutating func takeEntriesToWrite(record: Int64) throws -> [FoldedEntries.Entry] {
        let register = EntryRows.code(.register)
        var entries: [FoldedEntries.Entry]
        if older.isEmpty && madeLiveCount == madeEntries.count {
            entries = []
            swap(&entries, &madeEntries)
            if !HeldRecord.isInOrder(entries) { entries.sort(by: <) }
        } else {
            entries = HeldRecord.merged(olderStillLive, made)
        }
        guard !rewrittenColumns.isEmpty else { return entries }
        for index in entries.indices {
            let field = entries[index].field
            // Not rewritten: its flags stand. Rewritten with no JSON (`text` nil): no value is kept there.
            guard let rewritten = rewrittenColumns.first(where: { $0.field == field }).map(\.text) else { continue }
            guard entries[index].value != nil else {
                if entries[index].valueInColumn {
                    throw ChorusError(.invalidState, "record \(record)'s value in field \(field) was to leave its typed column unread",
                                      hint: "this is a bug in Chorus; nothing of the batch was written; report it")
                }
                continue
            }
            entries[index].valueInColumn = entries[index].kind == register && entries[index].key.isEmpty
                && rewritten.map { ExactText.equal($0, entries[index].value!) } == true
        }
        return entries
    }

    /// The record's `entries` (`takeEntriesToWrite`) folded into one body, or nil when they go
    /// into rows of their own instead: the record grew past its bounds (`isPastBound`, asked
    /// before taking them), or has no entries left.
    static func foldedBody(_ entries: [FoldedEntries.Entry], isPastBound: Bool) -> [UInt8]? {
        entries.isEmpty || isPastBound ? nil : FoldedEntries.encode(entries, inOrder: true)
    }

    /// `older` (in order) and `made` (in the order the batch made them, most often in order
    /// too: a record's operations come by field) as one list in primary-key order.
    private static func merged(_ older: [FoldedEntries.Entry], _ made: [FoldedEntries.Entry]) -> [FoldedEntries.Entry] {
        let made = inOrder(made)
        guard !older.isEmpty else { return made }
        var entries: [FoldedEntries.Entry] = []
        entries.reserveCapacity(older.count + made.count)
        var o = 0, m = 0
        while o < older.count && m < made.count {
            if made[m] < older[o] {
                entries.append(made[m])
                m += 1
            } else {
                entries.append(older[o])
                o += 1
            }
        }
        entries.append(contentsOf: older[o...])
        entries.append(contentsOf: made[m...])
        return entries
    }

    /// `entries` in primary-key order: as they are when already so (checking is one pass; they
    /// most often are), sorted otherwise.
    private static func inOrder(_ entries: [FoldedEntries.Entry]) -> [FoldedEntries.Entry] {
        isInOrder(entries) ? entries : entries.sorted(by: <)
    }

    /// Whether `entries` are in primary-key order, read in place (walking pairs of copies
    /// retained and released each entry's strings twice).
    private static func isInOrder(_ entries: [FoldedEntries.Entry]) -> Bool {
        entries.withUnsafeBufferPointer { buffer in
            var index = 1
            while index < buffer.count {
                if !(buffer[index - 1] < buffer[index]) { return false }
                index += 1
            }
            return true
        }
    }

    /// The indices of `older` in field `field`: a binary search, as `older` is in field order.
    private func fieldRange(_ field: Int64) -> Range<Int> {
        var low = 0, high = older.count
        while low < high {
            let middle = (low + high) / 2
            if older[middle].field < field { low = middle + 1 } else { high = middle }
        }
        var end = low
        while end < older.count && older[end].field == field { end += 1 }
        return low..<end
    }
}
