import ChorusCore

extension Replica {
    /// What this replica holds of the records operations touch, for `Authorship.refusal`: each
    /// record read once, however many of the operations checked touch it.
    /// `making`: `Authorship.making` of the operations checked together.
    public func authorshipFacts(making: Set<String>) -> Authorship.Facts {
        final class ReadRecords { var byKey: [String: RecordSnapshot?] = [:] }
        let read = ReadRecords()
        func record(_ collection: String, _ id: String) throws -> RecordSnapshot? {
            let key = collection + "\u{0}" + id
            if let known = read.byKey[key] { return known }
            let found = try get(collection: collection, record: id)
            read.byKey[key] = found
            return found
        }
        return Authorship.Facts(
            maker: { collection, id in
                guard let field = Authorship.madeByField[collection] else { return .notHeld }
                guard let found = try record(collection, id) else { return try self.isErased(collection: collection, record: id) ? .erased : .notHeld }
                if let maker = found.fields[field]?.stringValue { return .person(maker) }
                return .noOne(writtenOnlyBy: try self.soleWriter(collection: collection, record: id))
            },
            entry: { collection, id, field, entry in
                try Replica.wrapStorage {
                    try self.database.queryRow("""
                        SELECT e.key, e.value FROM records r JOIN entries e ON e.rid = r.rid
                        WHERE r.collection = ? AND r.record = ? AND e.field = ? AND e.replica = ? AND e.counter = ?
                        """, collection, id, field, entry.replica.bytes, Int64(entry.counter)).map { row in
                        Authorship.HeldEntry(key: row.text(0) ?? "", value: row.text(1).map(Replica.json))
                    }
                }
            },
            making: making)
    }

    /// The one replica whose entries a record holds, or nil when it holds entries of more than one.
    private func soleWriter(collection: String, record: String) throws -> ReplicaID? {
        try Replica.wrapStorage {
            let writers = try database.query("""
                SELECT DISTINCT e.replica FROM records r JOIN entries e ON e.rid = r.rid WHERE r.collection = ? AND r.record = ? LIMIT 2
                """, collection, record)
            return writers.count == 1 ? writers[0].blob(0).flatMap(ReplicaID.init(bytes:)) : nil
        }
    }
}
