import ChorusCore
import SQLiteKit

extension Replica {
    /// Of `operations`, the ids this log holds with other content: an id names one operation
    /// for good, so an id held here that arrives naming another was handed out twice by the
    /// replica that made it. That happens to a folder restored from a backup of itself, or
    /// copied, after it synced: its counters (in `chorus.counters` too) go back, and its next
    /// writes reuse the ids of writes the upstream already holds. Merged, they would be dropped
    /// as duplicates, unseen, and the replicas would differ for good.
    ///
    /// Asked of a push's own operations before it is merged, with the push's `source` (its
    /// peer's): the operations compared with are those that peer pushed here before, read from
    /// the newest of its blocks back until each held id is found. Costs one read of the origin's
    /// logged ids, and only when some are held (a push repeated after its answer was lost, or
    /// ids reused), one pass over the log's block keys and the decoding of that peer's blocks.
    /// Not compared by content: an operation whose content the log no longer keeps (compacted,
    /// or its record erased), one that reached this node another way (through a relay), and one
    /// in a block that cannot be read (`chorus check` reports that). Of those, the origin's
    /// highest is compared by the hash of its bytes (`log_latest`), and reported when it differs.
    public func idsHeldWithOtherContent(_ operations: [Operation], source: String) throws -> [OperationID] {
        try Replica.wrapStorage { try database.readTransaction {
            var ranges: [ReplicaID: CounterRanges] = [:]
            var held: [OperationID: [UInt8]] = [:]
            for operation in operations {
                let origin = operation.id.replica
                if ranges[origin] == nil { ranges[origin] = try storedLoggedIDs(of: origin) }
                if ranges[origin]!.contains(operation.id.counter) {
                    held[operation.id] = OperationCodec().canonicalBytes(operation, valueText: nil)
                }
            }
            guard !held.isEmpty else { return [] }
            var differing: [OperationID] = []
            var before = Int64.max
            // Newest block first, one block a query: a repeated push meets the log's tail.
            while !held.isEmpty {
                var found = false
                try database.forEachColumns("""
                    SELECT first_seq, last_seq, body FROM log_blocks WHERE source = ? AND last_seq < ? ORDER BY last_seq DESC LIMIT 1
                    """, parameters: [source, before]) { row in
                    found = true
                    let first = row.integer(0), last = row.integer(1)
                    before = last
                    row.withBlob(2) { body in
                        // A block that cannot be read compares nothing: refusing every push for it
                        // would be retried for ever.
                        guard (try? Replica.checkCount(of: body, first: first, last: last)) != nil else { return }
                        _ = try? LogBlock.forEach(in: body, block: last) { _, entry in
                            let id = OperationID(replica: entry.replicaID, counter: entry.counter)
                            // Its payload erased (its record erased), compared below, by hash.
                            guard let bytes = held[id], let payload = entry.payload else { return true }
                            held[id] = nil
                            if !bytes.elementsEqual(payload) { differing.append(id) }
                            return !held.isEmpty
                        }
                    }
                }
                if !found { break }
            }
            // Those whose bytes were not found (compacted, erased, or from another pusher): an
            // origin's highest keeps the hash of its bytes (`log_latest`), which tells a restored
            // folder's write under the id it lost apart. Read once an origin.
            var latest: [ReplicaID: LatestOperation?] = [:]
            for (id, bytes) in held {
                if latest[id.replica] == nil { latest[id.replica] = .some(try loggedLatest(of: id.replica)) }
                if let known = latest[id.replica] ?? nil, known.counter == id.counter, known.hash != LatestOperation.hash(bytes) { differing.append(id) }
            }
            return differing.sorted { ($0.replica.hex, $0.counter) < ($1.replica.hex, $1.counter) }
        } }
    }
}
