import ChorusCore

/// Values by origin replica, with the origin used last kept apart: operations arrive grouped by
/// origin (a pull page follows the sender's log; a push or a local write has one), so most
/// lookups are for the origin before and need not hash its 16 bytes. Hashing them into a
/// dictionary twice per batch was most of what keeping logged ids cost a local write (callgrind,
/// P2). Holds a batch's logged ids (`BatchState.origins`) and what the last committed batch left
/// (`Replica.loggedIDsCache`).
struct ByOrigin<Value> {
    private var recent: (id: ReplicaID, value: Value)?
    private var others: [ReplicaID: Value] = [:]

    var count: Int { others.count + (recent == nil ? 0 : 1) }

    subscript(origin: ReplicaID) -> Value? {
        if let recent, recent.id == origin { return recent.value }
        return others.isEmpty ? nil : others[origin]
    }

    func isRecent(_ origin: ReplicaID) -> Bool { recent?.id == origin }

    /// Makes `origin` the recent one, with the value it has, or `make()`'s when it has none.
    mutating func makeRecent(_ origin: ReplicaID, orMake make: () throws -> Value) rethrows {
        guard recent?.id != origin else { return }
        let value = try (others.isEmpty ? nil : others.removeValue(forKey: origin)) ?? make()
        if let previous = recent { others[previous.id] = previous.value }
        recent = (origin, value)
    }

    /// Changes the recent origin's value in place (`makeRecent` first).
    mutating func updateRecent<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        precondition(recent != nil, "updateRecent before makeRecent")
        return try body(&recent!.value)
    }

    /// Sets `origin`'s value; it becomes the recent one.
    mutating func set(_ value: Value, for origin: ReplicaID) {
        makeRecent(origin) { value }
        updateRecent { $0 = value }
    }

    /// Every origin and its value: the others in replica id order, then the recent one.
    func forEach(_ body: (ReplicaID, Value) throws -> Void) rethrows {
        if !others.isEmpty { for (origin, value) in others.sorted(by: { $0.key < $1.key }) { try body(origin, value) } }
        if let recent { try body(recent.id, recent.value) }
    }

    mutating func removeAll() {
        recent = nil
        others = [:]
    }
}
