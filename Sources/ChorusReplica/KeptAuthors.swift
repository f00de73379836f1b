import ChorusCore
import SQLiteKit

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
/// the merge state; the operations of its copy's left-out history (`writeSnapshot`) keep theirs in
/// the copy only when the source compacted them. Not in the digest: two replicas agree on their
/// state whether or not one of them compacted.
enum KeptAuthors {
    /// The bytes that open an operation's author in its canonical JSON: an operation without
    /// them has no author, and is not decoded.
    static let authorKey: [UInt8] = Array("\"author\":".utf8)

    /// Keeps the author of each operation of the blocks `lasts` (by `last_seq`) of `logBlocks`
    /// whose value is still live in `database`'s state; returns the records the blocks' operations
    /// touched, when `database` kept authors before (else there is nothing to forget). Run before
    /// the blocks leave. A block that names no author, and then any at all, is only searched for
    /// the bytes: compaction reads every block it removes, and most are of writes made without one.
    static func keep(in database: Database, logBlocks: String, lasts: [Int64], codec: OperationCodec) throws -> Set<Int64> {
        var touched = Set<Int64>()
        var authored: [(text: String, rid: Int64)] = []
        let forgets = try database.queryScalarInteger("SELECT 1 FROM kept_authors LIMIT 1") != nil
        for last in lasts {
            try database.forEachColumns("SELECT body FROM \(logBlocks) WHERE last_seq = ?", parameters: [last]) { row in
                try row.withBlob(0) { body in
                    guard forgets || contains(body, authorKey) else { return }
                    _ = try LogBlock.forEach(in: body, block: last) { _, entry in
                        guard let rid = entry.rid else { return true }
                        if forgets { touched.insert(rid) }
                        if let payload = entry.payload, contains(payload, authorKey) {
                            authored.append((String(decoding: payload, as: UTF8.self), rid))
                        }
                        return true
                    }
                }
            }
        }
        for (text, rid) in authored {
            guard let operation = try? codec.decode(text: text), let author = operation.author else { continue }
            let replica = operation.id.replica.bytes, counter = Int64(operation.id.counter)
            let live: Int64?
            if case .delete = operation.action {
                live = try database.queryScalarInteger("SELECT 1 FROM deletes WHERE rid = ? AND replica = ? AND counter = ?", rid, replica, counter)
            } else {
                live = try database.queryScalarInteger("SELECT 1 FROM entries WHERE rid = ? AND replica = ? AND counter = ? LIMIT 1", rid, replica, counter)
            }
            guard live != nil else { continue }
            try database.run("INSERT OR REPLACE INTO kept_authors(replica, counter, rid, author) VALUES (?, ?, ?, ?)", replica, counter, rid, author)
        }
        return touched
    }

    /// Forgets the kept authors of `records` whose values are no longer live (superseded, the
    /// delete restored).
    static func forgetSuperseded(in database: Database, records: Set<Int64>) throws {
        guard !records.isEmpty else { return }
        for rid in records.sorted() {
            try database.run("""
                DELETE FROM kept_authors WHERE rid = ?1
                AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.rid = ?1 AND e.replica = kept_authors.replica AND e.counter = kept_authors.counter)
                AND NOT EXISTS (SELECT 1 FROM deletes d WHERE d.rid = ?1 AND d.replica = kept_authors.replica AND d.counter = kept_authors.counter)
                """, rid)
        }
    }

    /// The kept author of `operation`, if compaction kept one.
    static func author(in database: Database, of operation: OperationID) throws -> String? {
        try database.queryRow("SELECT author FROM kept_authors WHERE replica = ? AND counter = ?", operation.replica.bytes, Int64(operation.counter))?.text(0)
    }

    /// Whether `bytes` holds `needle`.
    static func contains(_ bytes: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, bytes.count >= needle.count else { return false }
        var start = 0
        let end = bytes.count - needle.count
        while start <= end {
            if bytes[start] == first {
                var index = 1
                while index < needle.count && bytes[start + index] == needle[index] { index += 1 }
                if index == needle.count { return true }
            }
            start += 1
        }
        return false
    }
}
