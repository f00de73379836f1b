import ChorusCore

/// The checks of remote operations before any is applied (`Replica.checkRemote`), for one thread
/// checking a run of them: the clock's drift, and a known field's kind against the action.
///
/// Why a value that lasts for a run: checked one by one, each operation read the wall clock and
/// hashed its collection and field names into the schema's table, and the checks came to 1,240
/// instructions an operation on the threads beside a long merge (callgrind, P1, thirty-seventh
/// round), a sixth of those threads' work. A run reads the clock once, when it starts (an earlier
/// reading refuses a drifting operation sooner, never later). And as a remote call's operations
/// come a record at a time, a few fields repeating, it keeps the kinds of the fields it looked up.
struct RemoteChecks {
    private let clock: HybridClock
    private let schema: Schema
    /// The wall clock when the run started.
    private let now: UInt64
    /// Fields looked up in this run, at most `fieldsKnownMax`, compared by bytes: names equal in
    /// bytes get the same answer from `Schema.fieldKind`, and other names are looked up there.
    private var known: [(collection: String, field: String, kind: FieldKind?)] = []
    /// Where the next field looked up goes once `known` is full.
    private var nextReplaced = 0
    /// Where the last field looked up was found, or put.
    private var lastFound = 0

    /// Fields a run remembers: a record's operations touch a few fields (P1 writes ten a person).
    static let fieldsKnownMax = 16

    /// This replica's own operations may not come back past every counter it handed out.
    private let own: OwnCounterBound

    init(clock: HybridClock, schema: Schema, own: OwnCounterBound) {
        self.clock = clock
        self.schema = schema
        self.own = own
        now = clock.wallClock.nowMilliseconds()
    }

    /// Checks `operation`. Unknown collections and fields pass (a newer replica wrote them); they
    /// are kept and relayed.
    mutating func check(_ operation: Operation) throws(ChorusError) {
        try check(id: operation.id, timestamp: operation.timestamp, collection: operation.collection, field: operation.field,
                  actionKind: operation.action.fieldKind, operation)
    }

    /// `check(_:)` of the operation at `operation`, its parts read in place: an operation read
    /// out of its array to be checked was copied, each of its strings and arrays retained, and
    /// released after, 450 instructions of the 900 that checking one took (callgrind, P1,
    /// thirty-seventh round).
    mutating func check(_ operation: UnsafePointer<Operation>) throws(ChorusError) {
        try check(id: operation.pointee.id, timestamp: operation.pointee.timestamp, collection: operation.pointee.collection, field: operation.pointee.field,
                  actionKind: operation.pointee.action.fieldKind, operation.pointee)
    }

    /// The checks of an operation's parts; `operation` is read only for an error.
    private mutating func check(id: OperationID, timestamp: HybridTimestamp, collection: String, field: String?, actionKind: FieldKind?,
                                _ operation: @autoclosure () -> Operation) throws(ChorusError) {
        try clock.checkDrift(timestamp, against: now, operation: id)
        try own.check(id)
        guard let field, let kind = kind(collection: collection, field: field) else { return }
        guard actionKind == kind else {
            let operation = operation()
            throw ChorusError(.wrongFieldKind,
                "operation \(operation.id): \(operation.action.name) cannot apply to \(collection).\(field), which is a \(kind.rawValue)",
                hint: "the sender's schema disagrees with this replica's; nothing of the batch was applied")
        }
    }

    private mutating func kind(collection: String, field: String) -> FieldKind? {
        // Names decoded from one page are each their own string; short ones (up to 15 bytes) are
        // held inline, so equal names are mostly equal representations, told without reading
        // bytes. A record's fields mostly come in the same order, so the field after the one
        // found last is tried first.
        if !known.isEmpty {
            let next = known[lastFound + 1 < known.count ? lastFound + 1 : 0]
            if ExactText.sameRepresentation(next.field, field) && ExactText.sameRepresentation(next.collection, collection) {
                lastFound = lastFound + 1 < known.count ? lastFound + 1 : 0
                return next.kind
            }
        }
        for (index, entry) in known.enumerated() where ExactText.equal(entry.field, field) && ExactText.equal(entry.collection, collection) {
            lastFound = index
            return entry.kind
        }
        let kind = schema.fieldKind(collection: collection, field: field)
        if known.count < Self.fieldsKnownMax {
            known.append((collection, field, kind))
            lastFound = known.count - 1
        } else {
            known[nextReplaced] = (collection, field, kind)
            lastFound = nextReplaced
            nextReplaced = (nextReplaced + 1) % Self.fieldsKnownMax
        }
        return kind
    }
}

/// The most this replica's own operations may come back past every counter it knows it handed out
/// (`Replica.ownCounterLeapMax`): its own, from before a restore, come back within it; one past it
/// was not made here, and taking it would leave the replica too few ids to write with.
///
/// Why among the checks before any batch commits: checked only as each operation merged, a
/// bundle holding one past its first batch (25,000 operations) had those batches committed, and
/// `chorus import` said "nothing of its batch was applied" over a replica that had taken part of
/// the bundle (a read-only audit).
struct OwnCounterBound: Sendable {
    let replica: ReplicaID
    /// The highest counter this connection knows it handed out (its counter, its reservation).
    let known: UInt64
    /// Read only for an operation past `known`'s bound: another process may have reserved more.
    let reservation: CounterReservation?

    func check(_ operation: OperationID) throws(ChorusError) {
        guard operation.replica == replica, operation.counter > Self.bound(known) else { return }
        var handedOut = known
        do {
            handedOut = max(known, try reservation?.read().counter ?? 0)
        } catch let error as ChorusError {
            throw error
        } catch {
            throw ChorusError(.storage, "\(error)")
        }
        guard operation.counter > Self.bound(handedOut) else { return }
        throw ChorusError(.malformedInput, "operation \(operation) is in this replica's own name, with a counter more than 2^40 past every one it knows of (\(handedOut)): it was not made here, and taking it would leave the replica too few ids to write with; nothing of its batch was applied",
                          hint: "a forged or damaged bundle or upstream, or another replica given this one's id; take bundles and upstreams you trust")
    }

    static func bound(_ known: UInt64) -> UInt64 {
        known > UInt64(Int64.max) - Replica.ownCounterLeapMax ? UInt64(Int64.max) : known + Replica.ownCounterLeapMax
    }
}
