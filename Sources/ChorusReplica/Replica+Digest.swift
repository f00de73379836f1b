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
                try database.forEachRow("""
                    SELECT field, key, replica, counter, wall, logical, value, displayed FROM entries
                    WHERE rid = ? ORDER BY field, key, replica, counter
                    """, parameters: [rid]) { row in
                    hasher.frame("E", row.text(0)!, row.text(1)!,
                                 OperationID(replica: ReplicaID(bytes: row.blob(2)!)!, counter: UInt64(row.integer(3)!)).description,
                                 String(row.integer(4)!), String(row.integer(5)!), row.text(6) ?? "", String(row.integer(7)!))
                }
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
