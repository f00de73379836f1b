import ChorusCore
import SQLiteKit
#if canImport(Glibc)
import Glibc
#endif

/// The authors of live values whose operations compaction takes out of the log (`kept_authors`).
///
/// Why: a conflict names who wrote each of its values (`Replica.author(of:)`), read from the
/// operation in the log. Compaction keeps the operations of open conflicts, but a conflict that
/// forms after a value's operation was compacted (a laptop offline past the hub's compaction,
/// then writing the same field) showed that value `by unknown` at the node the admins ask. The
/// author is the operation's `author` field, which the merge state does not hold: kept here, for
/// the operations that have one and whose value is live as they leave, one row each. What the
/// people API writes names its author; a replica written without `--as` keeps no row at all.
///
/// A row goes when its value does: compaction looks again at the records its removed
/// operations touched (a value's superseding operation is compacted later, and its record then
/// with it), and an erasure takes its record's rows. A snapshot carries the table, as it carries
/// the merge state, and the copy keeps the authors of the history it leaves out (`writeSnapshot`)
/// as compaction would. Not in the digest: two replicas agree on their state whether or not one
/// of them compacted.
enum KeptAuthors {
    /// The bytes that open an operation's author in its canonical JSON: an operation without
    /// them has no author, and is not decoded.
    static let authorKey: [UInt8] = Array("\"author\":".utf8)

    /// Keeps the author of each operation of the blocks `lasts` (by `last_seq`) of `logBlocks`
    /// whose value is still live in `database`'s state; returns the records the blocks' operations
    /// touched, when `database` kept authors before (else there is nothing to forget). Run before
    /// the blocks leave, and before their records are folded: a record's live operations are read
    /// once a block, from its rows. A block that names no author, and then any at all, is only
    /// searched for the bytes: compaction reads every block it removes, and most are of writes
    /// made without one.
    static func keep(in database: Database, logBlocks: String, lasts: [Int64], codec: OperationCodec) throws -> Set<Int64> {
        var touched = Set<Int64>()
        let forgets = try database.queryScalarInteger("SELECT 1 FROM kept_authors LIMIT 1") != nil
        var origins: [[UInt8]: Int64?] = [:]
        for last in lasts {
            // One block at a time: its attributed operations, by record.
            var authored: [Int64: [String]] = [:]
            try database.forEachColumns("SELECT body FROM \(logBlocks) WHERE last_seq = ?", parameters: [last]) { row in
                try row.withBlob(0) { body in
                    guard forgets || contains(body, authorKey) else { return }
                    _ = try LogBlock.forEach(in: body, block: last) { _, entry in
                        guard let rid = entry.rid else { return true }
                        if forgets { touched.insert(rid) }
                        if let payload = entry.payload, contains(payload, authorKey) {
                            authored[rid, default: []].append(String(decoding: payload, as: UTF8.self))
                        }
                        return true
                    }
                }
            }
            for rid in authored.keys.sorted() {
                // What of the record is live: its entries' and deletes' ids, read once.
                var live = Set<LiveID>()
                try database.forEachColumns("SELECT origin, counter FROM live_entry_rows WHERE rid = ?", parameters: [rid]) { row in
                    live.insert(LiveID(origin: row.integer(0), counter: row.integer(1)))
                }
                var deleted = Set<DeleteID>()
                try database.forEachColumns("SELECT replica, counter FROM deletes WHERE rid = ?", parameters: [rid]) { row in
                    deleted.insert(DeleteID(replica: row.blob(0) ?? [], counter: row.integer(1)))
                }
                for text in authored[rid] ?? [] {
                    guard let operation = try? codec.decode(text: text), let author = operation.author else { continue }
                    let replica = operation.id.replica.bytes, counter = Int64(operation.id.counter)
                    var isDelete = false
                    if case .delete = operation.action {
                        guard deleted.contains(DeleteID(replica: replica, counter: counter)) else { continue }
                        isDelete = true
                    }
                    let origin: Int64?
                    if let known = origins[replica] {
                        origin = known
                    } else {
                        origin = try database.queryScalarInteger("SELECT no FROM origins WHERE replica = ?", replica)
                        origins[replica] = origin
                    }
                    // An origin with no number has no live entry (a replica that only deleted): not kept.
                    guard let origin, isDelete || live.contains(LiveID(origin: origin, counter: counter)) else { continue }
                    try database.run("INSERT OR REPLACE INTO kept_authors(origin, counter, rid, author) VALUES (?, ?, ?, ?)", origin, counter, rid, author)
                }
            }
        }
        return touched
    }

    /// An operation's id as the merge state numbers its origin; a delete's as `deletes` keeps it.
    private struct LiveID: Hashable { let origin: Int64?, counter: Int64? }
    private struct DeleteID: Hashable { let replica: [UInt8], counter: Int64? }

    /// Forgets the kept authors of `records` whose values are no longer live (superseded, the
    /// delete restored).
    static func forgetSuperseded(in database: Database, records: Set<Int64>) throws {
        guard !records.isEmpty else { return }
        for rid in records.sorted() {
            try database.run("""
                DELETE FROM kept_authors WHERE rid = ?1
                AND NOT EXISTS (SELECT 1 FROM live_entry_rows e WHERE e.rid = ?1 AND e.origin = kept_authors.origin AND e.counter = kept_authors.counter)
                AND NOT EXISTS (SELECT 1 FROM deletes d JOIN origins o ON o.replica = d.replica
                                WHERE d.rid = ?1 AND o.no = kept_authors.origin AND d.counter = kept_authors.counter)
                """, rid)
        }
    }

    /// The kept author of `operation`, if compaction kept one.
    static func author(in database: Database, of operation: OperationID) throws -> String? {
        try database.queryRow("""
            SELECT k.author FROM kept_authors k JOIN origins o ON o.no = k.origin WHERE o.replica = ? AND k.counter = ?
            """, operation.replica.bytes, Int64(operation.counter))?.text(0)
    }

    /// Whether `bytes` holds `needle`, found by `memchr` on its byte at `pivot`: for `authorKey`,
    /// its `h`, which no other key of an operation's canonical JSON holds (nor a replica id's hex
    /// or a number), so a body without an author is passed over at `memchr`'s pace, not a byte
    /// at a time.
    static func contains(_ bytes: UnsafeRawBufferPointer, _ needle: [UInt8], pivot: Int = 4) -> Bool {
        guard needle.indices.contains(pivot), bytes.count >= needle.count, let base = bytes.baseAddress else { return false }
        var from = pivot
        let last = bytes.count - needle.count + pivot   // the last place the pivot byte can stand
        while from <= last {
            guard let found = memchr(base + from, Int32(needle[pivot]), last - from + 1) else { return false }
            let at = base.distance(to: UnsafeRawPointer(found))
            let start = at - pivot
            if memcmp(base + start, needle, needle.count) == 0 { return true }
            from = at + 1
        }
        return false
    }
}
