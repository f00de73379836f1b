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
    public func digest() throws -> SHA256.Digest {
        try Replica.wrapStorage {
            var hasher = DigestWriter()
            hasher.frame("chorus-digest-v1")
            let records = try database.query("SELECT rid, collection, record FROM records ORDER BY collection, record")
            for record in records {
                let rid = record.integer(0)!
                hasher.frame("R", record.text(1)!, record.text(2)!)
                try database.forEachRow("SELECT replica, counter FROM deletes WHERE rid = ? ORDER BY replica, counter", parameters: [rid]) { row in
                    hasher.frame("D", Replica.operationID(row).description)
                }
                // A key's entries are adjacent; whether each displays is known once the key is complete.
                var key: [DigestEntry] = []
                func flushKey() {
                    var choice = displayChoice(of: Int.self)
                    if let kind = key.first?.kind, kind == .register || kind == .map {
                        for (index, entry) in key.enumerated() { choice.offer(entry.order, seq: entry.seq, index) }
                    }
                    for (index, entry) in key.enumerated() {
                        hasher.frame("E", entry.field, entry.key, entry.id, String(entry.order.wall), String(entry.order.logical),
                                     entry.value, index == choice.chosen ? "1" : "0")
                    }
                    key.removeAll(keepingCapacity: true)
                }
                try database.forEachRow("""
                    SELECT replica, counter, wall, logical, field, key, value, kind, seq FROM entries
                    WHERE rid = ? ORDER BY field, key, replica, counter
                    """, parameters: [rid]) { row in
                    let field = row.text(4)!, name = row.text(5)!
                    if let last = key.last, last.field != field || last.key != name { flushKey() }
                    key.append(DigestEntry(field: field, key: name, id: Replica.operationID(row).description,
                                           order: Replica.displayOrder(row), value: row.text(6) ?? "",
                                           kind: FieldKind(rawValue: row.text(7) ?? ""), seq: row.integer(8) ?? 0))
                }
                flushKey()
                try database.forEachRow("SELECT field, total FROM counters WHERE rid = ? ORDER BY field", parameters: [rid]) { row in
                    hasher.frame("C", row.text(0)!, String(row.integer(1) ?? 0))
                }
            }
            try database.forEachRow("SELECT hash FROM erased ORDER BY hash") { row in
                hasher.frame("X", Hex.encode(row.blob(0)!))
            }
            return hasher.finalize()
        }
    }
}

/// One live entry as the digest frames it.
private struct DigestEntry {
    let field: String, key: String, id: String
    let order: Replica.DisplayKey
    let value: String
    let kind: FieldKind?
    let seq: Int64
}

/// Feeds length-prefixed strings to SHA-256, so no two different states frame to the same bytes.
struct DigestWriter {
    private var hasher = SHA256()
    private var buffer: [UInt8] = []

    mutating func frame(_ parts: String...) {
        for part in parts {
            buffer.append(contentsOf: String(part.utf8.count).utf8)
            buffer.append(UInt8(ascii: ":"))
            buffer.append(contentsOf: part.utf8)
        }
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
