import ChorusCore

/// Values by origin replica, with the origin used last kept apart: operations arrive grouped by
/// origin (a pull page follows the sender's log; a push or a local write has one), so most
/// lookups are for the origin before and need not hash its 16 bytes. Hashing them into a
/// dictionary twice per batch was most of what keeping logged ids cost a local write (callgrind,
/// P2). Holds a batch's logged ids (`BatchState.origins`) and what the last committed batch left
/// (`Replica.loggedIDsCache`).
struct ByOrigin<Value> {
    /// The recent origin, apart from its value: asking whether an origin is the recent one, once
    /// an operation, copied the pair out, value and all (a batch's logged ids hold arrays and a
    /// payload), about 460 instructions a merged operation (callgrind, P1).
    private var recentID: ReplicaID?
    private var recentValue: Value?
    private var others: [ReplicaID: Value] = [:]

    var count: Int { others.count + (recentID == nil ? 0 : 1) }

    subscript(origin: ReplicaID) -> Value? {
        if isRecent(origin) { return recentValue }
        return others.isEmpty ? nil : others[origin]
    }

    func isRecent(_ origin: ReplicaID) -> Bool {
        guard let recentID else { return false }
        return recentID == origin
    }

    /// Makes `origin` the recent one, with the value it has, or `make()`'s when it has none.
    mutating func makeRecent(_ origin: ReplicaID, orMake make: () throws -> Value) rethrows {
        guard !isRecent(origin) else { return }
        let value = try (others.isEmpty ? nil : others.removeValue(forKey: origin)) ?? make()
        if let previous = recentID, let previousValue = recentValue.take() { others[previous] = previousValue }
        recentID = origin
        recentValue = value
    }

    /// Changes the recent origin's value in place (`makeRecent` first).
    mutating func updateRecent<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        precondition(recentID != nil, "updateRecent before makeRecent")
        return try body(&recentValue!)
    }

    /// Sets `origin`'s value; it becomes the recent one.
    mutating func set(_ value: Value, for origin: ReplicaID) {
        makeRecent(origin) { value }
        updateRecent { $0 = value }
    }

    /// Every origin and its value: the others in replica id order, then the recent one.
    func forEach(_ body: (ReplicaID, Value) throws -> Void) rethrows {
        if !others.isEmpty { for (origin, value) in others.sorted(by: { $0.key < $1.key }) { try body(origin, value) } }
        if let recentID, let recentValue { try body(recentID, recentValue) }
    }

    mutating func removeAll() {
        recentID = nil
        recentValue = nil
        others = [:]
    }
}
