import ChorusCore

/// Origins' logged ids (`CounterRanges`) by replica id, with the origin used last kept apart so
/// the common case, a batch meeting the same origin as the batch before (every local write meets
/// this replica's own), hashes no replica id: hashing its 16 bytes and rehashing a dictionary
/// was most of what the cache cost a local write (callgrind, P2).
struct LoggedIDsCache {
    private var recent: (id: ReplicaID, ids: CounterRanges)?
    private var others: [ReplicaID: CounterRanges] = [:]

    var count: Int { others.count + (recent == nil ? 0 : 1) }

    subscript(origin: ReplicaID) -> CounterRanges? {
        if let recent, recent.id == origin { return recent.ids }
        return others.isEmpty ? nil : others[origin]
    }

    /// Keeps `ids` for `origin`, which becomes the recent one.
    mutating func set(_ ids: CounterRanges, for origin: ReplicaID) {
        if recent?.id == origin {
            recent!.ids = ids
            return
        }
        if let previous = recent { others[previous.id] = previous.ids }
        if !others.isEmpty { others[origin] = nil }
        recent = (origin, ids)
    }

    mutating func removeAll() {
        recent = nil
        others = [:]
    }
}
