import ChorusCore

extension Replica {
    /// What this replica holds of the records operations touch, for `Authorship.refusal`: each
    /// record read once, however many of the operations checked touch it.
    public func authorshipFacts() -> Authorship.Facts {
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
            madeBy: { collection, id in
                guard let field = Authorship.madeByField[collection] else { return nil }
                return try record(collection, id)?.fields[field]?.stringValue
            },
            entryAuthor: { collection, id, field, entry in
                let entries = try record(collection, id)?.fields[field]?.arrayValue ?? []
                return entries.first { $0["entry"]?.stringValue == entry.description }?["value"]?["author"]?.stringValue
            })
    }

    /// The person a replica registered here is bound to (`chorus replicas add --person`), whoever
    /// pushes its operations: a relay passing them on is held to the same.
    public func boundPerson(of origin: ReplicaID) throws -> String? {
        try Replica.wrapStorage { try database.queryScalarText("SELECT person FROM peers WHERE replica = ?", origin.bytes) }
    }
}
