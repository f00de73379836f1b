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

    init(clock: HybridClock, schema: Schema) {
        self.clock = clock
        self.schema = schema
        now = clock.wallClock.nowMilliseconds()
    }

    /// Checks `operation`. Unknown collections and fields pass (a newer replica wrote them); they
    /// are kept and relayed.
    mutating func check(_ operation: Operation) throws(ChorusError) {
        try check(timestamp: operation.timestamp, collection: operation.collection, field: operation.field,
                  actionKind: operation.action.fieldKind, operation)
    }

    /// `check(_:)` of the operation at `operation`, its parts read in place: an operation read
    /// out of its array to be checked was copied, each of its strings and arrays retained, and
    /// released after, 450 instructions of the 900 that checking one took (callgrind, P1,
    /// thirty-seventh round).
    mutating func check(_ operation: UnsafePointer<Operation>) throws(ChorusError) {
        try check(timestamp: operation.pointee.timestamp, collection: operation.pointee.collection, field: operation.pointee.field,
                  actionKind: operation.pointee.action.fieldKind, operation.pointee)
    }

    /// The checks of an operation's parts; `operation` is read only for an error.
    private mutating func check(timestamp: HybridTimestamp, collection: String, field: String?, actionKind: FieldKind?,
                                _ operation: @autoclosure () -> Operation) throws(ChorusError) {
        try clock.checkDrift(timestamp, against: now, operation: operation().id)
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
