import ChorusCore
import SQLiteKit

extension Replica {
    /// SHA-256 over the canonical merge state: every record (by collection, then id, in byte order)
    /// with its live deletes, its live entries (registers, map keys, set elements, log entries, each
    /// with value and whether it displays) and its counters; then the hashes of erased records.
    ///
    /// It depends only on the set of operations received, so two replicas that have the same
    /// operations have the same digest, whatever order they arrived in. Unknown fields count too,
    /// so replicas of different versions agree. Format: `Docs/merge.md`, "State digest".
    ///
    /// The last digest is kept with the content version it was taken at, so asking again while
    /// nothing has committed (a hub answering the verifying `chorus sync` of every idle node, or a
    /// node's own periodic sync) costs two pragma reads instead of a pass over every row: at
    /// 10,000 people, 0.4 ms per request instead of 340 ms (`chorus-bench --only-bootstrap`).
    /// Inside a transaction it is always computed, since what it would see may yet roll back.
    public func digest() throws -> SHA256.Digest {
        try digestSnapshot().digest
    }

    /// The state digest with the log sequence it describes, both read from one snapshot, so a
    /// commit by another process between them cannot pair a digest with a later sequence.
    public func digestSnapshot() throws -> DigestSnapshot {
        try Replica.wrapStorage {
            let take = { DigestSnapshot(digest: try self.computeDigest(), through: try self.latestSequence()) }
            if database.isInTransaction { return try take() }
            let version = try mergeStateVersion()
            if let cached = digestCache, cached.version == version { return cached.snapshot }
            // Kept only if no commit of any connection came between the version read and the end
            // of the snapshot.
            let snapshot = try database.readTransaction(take)
            if try mergeStateVersion() == version { digestCache = (version, snapshot) }
            return snapshot
        }
    }

    /// The digest from the rows, each time. Counted, so tests can see when the cache answered.
    func computeDigest() throws -> SHA256.Digest {
        digestsComputed += 1
        return try Replica.wrapStorage {
            var hasher = DigestWriter()
            hasher.frame("chorus-digest-v1")
            let records = try database.query("SELECT rid, collection, record FROM records ORDER BY collection, record")
            // A key's entries are adjacent; whether each displays is known once the key is complete.
            var key: [DigestEntry] = []
            func flushKey() {
                var choice = displayChoice(of: Int.self)
                if let kind = key.first?.kind, kind == .register || kind == .map {
                    for (index, entry) in key.enumerated() { choice.offer(entry.order, seq: entry.seq, index) }
                }
                for (index, entry) in key.enumerated() {
                    hasher.part("E")
                    hasher.part(entry.field)
                    hasher.part(entry.key)
                    hasher.part(id: entry.order.replica, entry.order.counter)
                    hasher.part(entry.order.wall)
                    hasher.part(entry.order.logical)
                    hasher.part(entry.value)
                    hasher.part(index == choice.chosen ? "1" : "0")
                    hasher.endFrame()
                }
                key.removeAll(keepingCapacity: true)
            }
            for record in records {
                let rid = record.integer(0)!
                hasher.frame("R", record.text(1)!, record.text(2)!)
                try database.forEachColumns("SELECT replica, counter FROM deletes WHERE rid = ? ORDER BY replica, counter", parameters: [rid]) { row in
                    hasher.part("D")
                    hasher.part(id: row.blob(0) ?? [], row.integer(1))
                    hasher.endFrame()
                }
                try database.forEachColumns("""
                    SELECT replica, counter, wall, logical, field, key, value, kind, seq FROM entries
                    WHERE rid = ? ORDER BY field, key, replica, counter
                    """, parameters: [rid]) { row in
                    if let last = key.last, !row.textEquals(4, last.field) || !row.textEquals(5, last.key) { flushKey() }
                    // Names are read once per key: the rows before in this key hold the same ones.
                    let field = key.last?.field ?? row.text(4) ?? ""
                    let name = key.last?.key ?? row.text(5) ?? ""
                    key.append(DigestEntry(field: field, key: name, order: Replica.displayOrder(row), value: row.text(6) ?? "",
                                           kind: Replica.storedKind(row, column: 7), seq: row.integer(8)))
                }
                flushKey()
                try database.forEachColumns("SELECT field, total FROM counters WHERE rid = ? ORDER BY field", parameters: [rid]) { row in
                    hasher.part("C")
                    hasher.part(row.text(0) ?? "")
                    hasher.part(row.integer(1))
                    hasher.endFrame()
                }
            }
            try database.forEachColumns("SELECT hash FROM erased ORDER BY hash") { row in
                hasher.frame("X", Hex.encode(row.blob(0) ?? []))
            }
            return hasher.finalize()
        }
    }
}

/// One live entry as the digest frames it.
private struct DigestEntry {
    let field: String, key: String
    let order: Replica.DisplayKey
    let value: String
    let kind: FieldKind?
    let seq: Int64
}

/// Feeds length-prefixed strings to SHA-256, so no two different states frame to the same bytes.
///
/// A frame is its parts, each `<byte length>:<bytes>`, then a newline. Parts are written straight
/// into the buffer (operation ids and integers without making a String first: building them was a
/// sixth of the digest's instructions, callgrind over `chorus digest`).
struct DigestWriter {
    private var hasher = SHA256()
    private var buffer: [UInt8] = []

    /// A whole frame of text parts.
    mutating func frame(_ parts: String...) {
        for part in parts { self.part(part) }
        endFrame()
    }

    mutating func part(_ text: String) {
        DecimalText.append(text.utf8.count, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(contentsOf: text.utf8)
    }

    /// An integer as its decimal text.
    mutating func part(_ value: Int64) {
        DecimalText.append(DecimalText.count(value), to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        DecimalText.append(value, to: &buffer)
    }

    /// An operation id as `REPLICAHEX:COUNTER`, its text form.
    mutating func part(id replica: [UInt8], _ counter: Int64) {
        DecimalText.append(replica.count * 2 + 1 + DecimalText.count(counter), to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        Hex.append(replica, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        DecimalText.append(counter, to: &buffer)
    }

    /// Ends the frame; hashes the buffer when it has grown large.
    mutating func endFrame() {
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 64 * 1024 { flush() }
    }

    private mutating func flush() {
        hasher.update(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func finalize() -> SHA256.Digest {
        flush()
        return hasher.finalize()
    }
}

/// A state digest and the log sequence it was taken at (`Replica.digestSnapshot()`).
public struct DigestSnapshot: Equatable, Sendable {
    public let digest: SHA256.Digest
    /// The local sequence of the latest operation in the log when the digest was taken.
    public let through: Int64
}
