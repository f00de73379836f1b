import ChorusCore
import SQLiteKit

/// What applying a batch did.
public struct ApplyReport: Equatable, Sendable {
    /// Operations new to this replica, now in the log and merged.
    public var applied = 0
    /// Operations already in the log: ignored.
    public var duplicates = 0
    /// Operations for erased records: their ids are logged, their values never written.
    public var droppedForErasedRecords = 0
    /// Whether the merge applied an erasure, and the resolutions it wrote to: then a resolution
    /// of an erased record may have to go (`eraseResolutionsOfErasedRecords`: every resolution
    /// after an erasure, which is rare; else only those written). Asked of every merged
    /// operation, against a small string (`Replica.resolutionsCollection`): two words compared.
    var appliedErasure = false
    var resolutionsWritten: Set<String> = []
    /// Batches of a merge that marked their resolutions to be checked (`resolutionsToCheckKey`).
    var resolutionMarks = 0
    public init() {}

    public static func + (a: ApplyReport, b: ApplyReport) -> ApplyReport {
        var sum = a
        sum.applied += b.applied
        sum.duplicates += b.duplicates
        sum.droppedForErasedRecords += b.droppedForErasedRecords
        sum.appliedErasure = a.appliedErasure || b.appliedErasure
        sum.resolutionsWritten = a.resolutionsWritten.union(b.resolutionsWritten)
        sum.resolutionMarks = a.resolutionMarks + b.resolutionMarks
        return sum
    }
}

/// State gathered while applying one batch, flushed to the materialised tables before commit.
struct BatchState {
    var clock: HybridClock
    var counter: UInt64
    var report = ApplyReport()
    var dirtyCounters = Set<DirtyField>()
    var dirtyRecords = Set<Int64>()
    var erasedRecords = Set<Int64>()
    /// Where the operations of this batch came from (`log_blocks.source`).
    var source: String?
    /// A batch of `applyRemote`, after which `eraseResolutionsOfErasedRecords` runs (a local
    /// write erases what its own erasure takes as it is made: `resolutionsErased`).
    var isMerge = false
    /// When the batch arrived, Unix milliseconds (`log_blocks.received_wall`, for lag).
    var receivedWall: Int64 = 0
    /// The log block being filled (`Replica+Log.swift`), the sequence of its first operation, and
    /// the sequence the next logged operation gets.
    var logBlock = LogBlock.Encoder()
    var blockFirstSequence: Int64 = 0
    var nextSequence: Int64 = 1
    /// Records this batch has resolved: their row id, or nil once erased. Each is read once per batch.
    private var recordIDs: [RecordName: Int64?] = [:]
    /// The record resolved last. Operations arrive grouped by record (a pull page, a bundle, a
    /// local write), so most lookups are for the record before and need not hash its name (two
    /// names hashed per operation were 4% of a merge's instructions; callgrind).
    private var lastRecord: (name: RecordName, rid: Int64?)?
    /// What the batch knows of each record it touched, by row id.
    private(set) var records: [Int64: RecordInfo] = [:]
    /// The record the last operation touched (`touch`).
    private var lastTouched: (rid: Int64, info: RecordInfo?)?
    /// Records a batch that holds records created, inserted together once its operations are
    /// applied (`NewRecords`).
    var newRecords = NewRecords()
    /// The batch holds the entries of the records it touches in memory (`HeldRecord`): a batch of
    /// remote operations does; a local write keeps them in rows.
    var holdsRecords = false
    /// Whether `erased` has a row, asked once a batch, the first time it meets a record that is
    /// not in `records` (one to create, unless it was erased): most replicas never erase, and
    /// asking for each such record's hash was a lookup per record. An erase in the batch sets it.
    var anyErased: Bool?
    /// While a long remote merge into a replica that held no records runs, the records it
    /// created (`CreatedRecords`): a record it certainly does not hold is not looked up.
    var createdRecords: CreatedRecords?
    /// `PRAGMA data_version` as the batch began, inside its transaction.
    var dataVersion: Int64 = 0
    /// Bytes of the folded bodies the batch read into `held`, bounded by
    /// `HeldRecord.batchBodyBytesMax` (`Replica.heldBodyBytesMax`).
    var heldBodyBytes = 0
    /// The records whose entries the batch holds, by row id: changed through `hold`,
    /// `heldIndex` and `takeHeld`, so `lastHeld` stays true.
    private(set) var held: [Int64: HeldRecord] = [:]
    /// The record `heldIndex` found last, with its index in `held`. A batch's operations come
    /// grouped by record, so most ask for the record before, and hashing its row id again for
    /// each was 1% of a merged operation's instructions (callgrind, P1). Forgotten whenever
    /// `held` gains or loses a record, which may move the others; changing a held record in
    /// place (`changeHeld`) moves nothing.
    private var lastHeld: (rid: Int64, index: Dictionary<Int64, HeldRecord>.Index)?
    /// The numbers of each collection's declared register fields, as `RegisterColumns` reads
    /// them, once per batch (numbers are trusted within the batch's transaction).
    var registerFieldNumbers: [String: [Int64?]] = [:]
    /// Records that got delete or restore operations in this batch: their life must be recomputed.
    var lifeChanged = Set<Int64>()
    /// Records for which this batch recorded superseded operation ids.
    var supersededIn = Set<Int64>()
    /// The log sequence of the first operation this batch logged: entries with a lower `seq` are
    /// older than the batch.
    var firstSequence = Int64.max
    /// Every register, map key, set element and log entry the batch changed, with what it did to
    /// each. One table rather than one per fact: each operation hashes its key once, and
    /// materialising walks the table without looking anything up (three lookups per operation were
    /// 4% of a merge; callgrind).
    var dirtyKeys = DirtyKeyTable()

    /// The keys a batch changed, in the order it first changed them, each with its change.
    ///
    /// Why in order: materialising walks them record by record, in row-id order. A batch's
    /// operations come grouped by record, and the records it creates get rising row ids, so the
    /// order they came in is most often that order already, and checking it is one pass; sorting
    /// a dictionary's pairs by row id was 2% of a merged operation's instructions (callgrind, P1).
    struct DirtyKeyTable {
        /// An open-addressed table of positions in `keys` (plus one; zero is an empty slot), a
        /// power of two long and at most half full, probed linearly from a key's `tableHash`:
        /// a `Dictionary` hashed every key through SipHash's rounds, and the lookup was 3% of a
        /// merged operation's instructions (callgrind, P1).
        private var positions: [Int32] = []
        private var shift = 64
        private var keys: [DirtyKey] = []
        /// Each key's change, at the position `slot(_:)` returned for it.
        var changes: [KeyChange] = []
        /// The live entries the batch made, for every key (`KeyChange.madeFirst`).
        var made = MadeEntries()

        mutating func reserveCapacity(_ count: Int) {
            keys.reserveCapacity(count)
            changes.reserveCapacity(count)
            made.reserveCapacity(count)
            if count * 2 > positions.count { rebuild(slots: count * 2) }
        }

        /// Adds a live entry the batch made to the key at `slot`, after the ones it made before.
        mutating func addMade(_ entry: consuming LiveEntry, at slot: Int) {
            let added = made.append(consume entry, after: changes[slot].madeLast)
            if changes[slot].madeFirst < 0 { changes[slot].madeFirst = added }
            changes[slot].madeLast = added
        }

        /// Notes that an operation removed the key's entry of `id`, at `slot`: one from before the
        /// batch (`older`) or one the batch made.
        mutating func remove(_ id: OperationID, older: Bool, at slot: Int) {
            if older { changes[slot].olderRemoved += 1 }
            let (first, last) = made.remove(id, first: changes[slot].madeFirst)
            changes[slot].madeFirst = first
            changes[slot].madeLast = last
        }

        /// Where `key`'s change is in `changes`, an empty change the first time.
        mutating func slot(_ key: DirtyKey) -> Int {
            if (keys.count + 1) * 2 > positions.count { rebuild(slots: (keys.count + 1) * 2) }
            let mask = positions.count - 1
            var at = home(key)
            while true {
                let position = Int(positions[at])
                if position == 0 {
                    positions[at] = Int32(truncatingIfNeeded: keys.count + 1)
                    keys.append(key)
                    changes.append(KeyChange())
                    return keys.count - 1
                }
                if keys[position - 1] == key { return position - 1 }
                at = (at + 1) & mask
            }
        }

        /// Makes the table at least `slots` long (rounded up to a power of two) and puts every key back.
        private mutating func rebuild(slots: Int) {
            var count = 16
            while count < slots { count *= 2 }
            precondition(count <= Int(Int32.max), "a batch's keys are bounded by operationsPerBatchMax")
            positions = Array(repeating: 0, count: count)
            shift = 64 - count.trailingZeroBitCount
            let mask = count - 1
            for (index, key) in keys.enumerated() {
                var at = home(key)
                while positions[at] != 0 { at = (at + 1) & mask }
                positions[at] = Int32(index + 1)
            }
        }

        /// The slot `key`'s probe starts at: its hash's top bits.
        private func home(_ key: DirtyKey) -> Int { Int(truncatingIfNeeded: key.tableHash >> UInt64(shift)) }

        /// Takes every key and its change out of the table, which is left empty, with their
        /// positions in row-id order (stable: a record's keys stay in the order the batch first
        /// changed them). Taken, not copied: materialising walks them by position, and copying
        /// each key with its change into pairs, then out of them, was 9% of a merge's instructions
        /// (callgrind, P1).
        mutating func takeInRecordOrder() -> (keys: [DirtyKey], changes: [KeyChange], made: MadeEntries, order: [Int]) {
            let keys = self.keys, changes = self.changes, made = self.made
            self = DirtyKeyTable()
            var order = Array(keys.indices)
            if !(keys.indices.dropFirst()).allSatisfy({ keys[$0 - 1].rid <= keys[$0].rid }) {
                order.sort { keys[$0].rid != keys[$1].rid ? keys[$0].rid < keys[$1].rid : $0 < $1 }
            }
            return (keys, changes, made, order)
        }
    }

    /// What a batch did to one key.
    struct KeyChange {
        /// The live entries this batch made, kept as they change (a later operation of the batch
        /// may supersede one), each with its value in hand: the first and last of the key's chain
        /// in `DirtyKeyTable.made`, -1 for none. Materialising reads only the entries older than
        /// the batch from the database (none for a record the batch created): reading and decoding
        /// the batch's own entries back was a fifth of a conflicting merge's instructions
        /// (callgrind, P1 into a replica holding concurrent edits).
        var madeFirst: Int32 = -1, madeLast: Int32 = -1
        /// How many entries from before the batch it removed (superseded). With the older entries
        /// still live, it tells how many live entries the key had before the batch, so whether it
        /// was in conflict is known without asking, and whether its displayed value can have changed.
        var olderRemoved = 0
    }

    /// The live entries a batch made, for all its keys, in one array, each key's chained in the
    /// order it made them.
    ///
    /// Why one array: an array of entries for each key was an allocation for every merged
    /// operation, and its release another when the batch ended (about 370 instructions an
    /// operation on the merging thread, and a share of the batch's release; callgrind, P1). A key
    /// most often gets one entry in a batch, which materialising reads in place.
    struct MadeEntries {
        private(set) var entries: [LiveEntry] = []
        /// The position of the key's next entry after each, -1 after its last.
        private var next: [Int32] = []

        mutating func reserveCapacity(_ count: Int) {
            entries.reserveCapacity(count)
            next.reserveCapacity(count)
        }

        /// Adds `entry` after position `last` of its key's chain (-1: it starts one); its position.
        mutating func append(_ entry: consuming LiveEntry, after last: Int32) -> Int32 {
            let position = Int32(entries.count)
            entries.append(consume entry)
            next.append(-1)
            if last >= 0 { next[Int(last)] = position }
            return position
        }

        /// Unlinks the entries of operation `id` from the chain that starts at `first`; the
        /// chain's first and last positions afterwards (-1 when it is empty).
        mutating func remove(_ id: OperationID, first: Int32) -> (first: Int32, last: Int32) {
            var first = first, last: Int32 = -1, at = first
            while at >= 0 {
                let following = next[Int(at)]
                let entry = entries[Int(at)]
                if entry.counter == Int64(id.counter) && entry.replica == id.replica.bytes {
                    if last >= 0 { next[Int(last)] = following } else { first = following }
                } else {
                    last = at
                }
                at = following
            }
            return (first, last)
        }

        /// The chain that starts at `first`, in order: read in place when it is one entry.
        func chain(from first: Int32) -> ArraySlice<LiveEntry> {
            guard first >= 0 else { return [] }
            let start = Int(first)
            if next[start] < 0 { return entries[start...start] }
            var chain: [LiveEntry] = []
            var at = first
            while at >= 0 {
                chain.append(entries[Int(at)])
                at = next[Int(at)]
            }
            return chain[...]
        }
    }
    /// The logged ids of the origin replicas this batch met (`log_ids`): as stored when the batch
    /// first met the origin, and as they are now. Each origin is read once per batch.
    var origins = ByOrigin<LoggedOrigin>()
    /// Origins' logged ids as the last committed batch left them (`Replica.loggedIDsCache`), when
    /// they can be trusted; empty otherwise.
    var committedOrigins = ByOrigin<CounterRanges>()

    struct LoggedOrigin {
        let stored: CounterRanges
        var now: CounterRanges
        /// The highest operation this batch logged, when it is above every one the log held
        /// before: its counter and canonical bytes, hashed when the batch writes `log_latest`
        /// with the ids (once an origin a batch, not once an operation).
        var latest: (counter: UInt64, payload: Payload)?

        init(stored: CounterRanges) {
            self.stored = stored
            now = stored
        }
    }

    /// Names compare by their bytes (`ExactText`), as storage compares them.
    struct DirtyKey: Equatable {
        let rid: Int64, field: String, key: String
        /// The field's number in `fields`, one to one with `field`'s bytes within the batch's
        /// transaction (`StoredNumbers`), so the key is compared and hashed by it, not by `field`
        /// (hashing the field's name was 1% of a merged operation's instructions; callgrind, P1).
        let fieldNo: Int64
        static func == (a: DirtyKey, b: DirtyKey) -> Bool {
            a.rid == b.rid && a.fieldNo == b.fieldNo && ExactText.equal(a.key, b.key)
        }
        /// The key's hash for `DirtyKeyTable`, whose top bits pick its slot: the row id and the
        /// field's number multiplied into one word (Fibonacci hashing, so a batch's rising row ids
        /// spread over the table), and the key's bytes through the process's seeded `Hasher` only
        /// when it has some (a register's is empty). Map keys and set elements are chosen by
        /// whoever wrote them; seeded, they cannot be chosen to collide. Equal keys hash alike.
        var tableHash: UInt64 {
            var word = (UInt64(bitPattern: rid) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(bitPattern: fieldNo)) &* 0xBF58_476D_1CE4_E5B9
            if !key.isEmpty {
                var hasher = Hasher()
                ExactText.hash(key, into: &hasher)
                word ^= UInt64(bitPattern: Int64(hasher.finalize()))
            }
            return word
        }
    }
    struct DirtyField: Hashable, Comparable {
        let rid: Int64, field: String
        static func == (a: DirtyField, b: DirtyField) -> Bool { a.rid == b.rid && ExactText.equal(a.field, b.field) }
        func hash(into hasher: inout Hasher) {
            hasher.combine(rid)
            ExactText.hash(field, into: &hasher)
        }
        static func < (a: DirtyField, b: DirtyField) -> Bool {
            a.rid != b.rid ? a.rid < b.rid : a.field.utf8.lexicographicallyPrecedes(b.field.utf8)
        }
    }
    /// One live entry of a register, map key, set element or log entry, as materialising reads it.
    struct LiveEntry {
        let replica: [UInt8], counter: Int64, wall: Int64, logical: Int64
        let kind: FieldKind?
        /// Canonical JSON of the value (nil for set elements, and when `valueRead` is false).
        let value: String?
        /// False for an entry read from the database without its value, which materialising needs
        /// only when an older entry becomes the displayed one (`Replica.storedValue`).
        var valueRead = true
        /// The value itself when this batch made the entry, so it need not be parsed back.
        let json: JSONValue?
        let seq: Int64

        /// The display rule: the greatest (wall, logical, replica bytes, counter) wins.
        var displayKey: Replica.DisplayKey { .init(wall: wall, logical: logical, replica: replica, counter: counter) }
    }
    struct RecordName: Hashable {
        let collection: String, record: String
        static func == (a: RecordName, b: RecordName) -> Bool {
            ExactText.equal(a.collection, b.collection) && ExactText.equal(a.record, b.record)
        }
        func hash(into hasher: inout Hasher) {
            ExactText.hash(collection, into: &hasher)
            ExactText.hash(record, into: &hasher)
        }
    }
    struct RecordInfo {
        let collection: String, record: String
        /// Created by this batch: nothing of it existed before (no entries, superseded ids, conflicts
        /// or typed row), so lookups that could only find older rows are skipped, and its typed row is
        /// inserted whole when the batch materialises.
        let isNew: Bool
        /// Neither deleted nor hidden when the batch began: its life cannot change without a delete.
        let wasLive: Bool
        /// The superseded table held rows for it when the batch began (always false for new records).
        let hadSuperseded: Bool
    }

    init(clock: HybridClock, counter: UInt64) {
        self.clock = clock
        self.counter = counter
    }

    /// Sizes the per-key and per-record tables for a batch of `count` operations, so they are not
    /// rehashed as they grow (resizing them was 2.5% of a merged operation's instructions; callgrind).
    /// At most one key, record and value per operation, so this never over-reserves by more than
    /// the batch's own size.
    mutating func reserve(operations count: Int) {
        dirtyKeys.reserveCapacity(count)
        dirtyRecords.reserveCapacity(count)
        recordIDs.reserveCapacity(count)
        records.reserveCapacity(count)
    }

    /// Holds `record`'s entries for the batch (nil: no longer).
    mutating func hold(_ record: HeldRecord?, rid: Int64) {
        lastHeld = nil
        held[rid] = record
    }

    /// Where the record `rid` is in `held`, nil when the batch does not hold it.
    mutating func heldIndex(_ rid: Int64) -> Dictionary<Int64, HeldRecord>.Index? {
        if let last = lastHeld, last.rid == rid { return last.index }
        guard let index = held.index(forKey: rid) else { return nil }
        lastHeld = (rid, index)
        return index
    }

    /// Changes the held record at `index` (from `heldIndex`) in place.
    mutating func changeHeld<T>(at index: Dictionary<Int64, HeldRecord>.Index, _ change: (inout HeldRecord) throws -> T) rethrows -> T {
        try change(&held.values[index])
    }

    /// Takes the record `rid` out of `held`.
    mutating func takeHeld(_ rid: Int64) -> HeldRecord? {
        lastHeld = nil
        return held.removeValue(forKey: rid)
    }

    /// What the batch knows of a record's row id: nil if not resolved yet, `.some(nil)` if erased.
    mutating func knownRecordID(_ name: RecordName) -> Int64?? {
        if let last = lastRecord, last.name == name { return .some(last.rid) }
        guard let known = recordIDs[name] else { return nil }
        lastRecord = (name, known)
        return .some(known)
    }

    /// Notes what the batch knows of record `rid`.
    mutating func setRecord(_ rid: Int64, _ info: RecordInfo) {
        records[rid] = info
        if lastTouched?.rid == rid { lastTouched = nil }
    }

    /// Notes that an operation touched record `rid` (it is to be materialised), and what the
    /// batch knows of it. Operations come grouped by record, so most touch the record the one
    /// before did, and neither hash its row id into `dirtyRecords` nor look it up in `records`
    /// (the two were 1.5% of a merge into an empty replica; callgrind, P1).
    mutating func touch(_ rid: Int64) -> RecordInfo? {
        if let lastTouched, lastTouched.rid == rid { return lastTouched.info }
        dirtyRecords.insert(rid)
        let info = records[rid]
        lastTouched = (rid, info)
        return info
    }

    /// Remembers a record's row id, or nil when it is erased.
    mutating func remember(_ name: RecordName, rid: Int64?) {
        recordIDs[name] = .some(rid)
        lastRecord = (name, rid)
    }

    /// Whether the superseded table may hold rows for this record. Many records have none (each
    /// field written once, or only concurrently), so the check before each new entry is skipped
    /// until the batch records some.
    /// `record` is what the batch knows of it (`records[rid]`), which the caller has looked up.
    func maySupersede(_ rid: Int64, _ record: RecordInfo?) -> Bool {
        (record?.hadSuperseded ?? true) || (!supersededIn.isEmpty && supersededIn.contains(rid))
    }
}

extension Replica {
    /// Applies operations received from another replica (a bundle, a sync pull).
    ///
    /// Every operation is checked (shape, schema kinds, clock drift) before it is applied, and all
    /// of them before anything commits (a long call is checked while it merges: `ChecksAhead`); if
    /// any fails, nothing is applied and the error names the first. The operations are applied in SQLite transactions of at
    /// most `operationsPerBatchMax`, each moving the log, the merge state and the materialised tables
    /// together. Operations already in the log are ignored, so applying twice changes nothing.
    ///
    /// - Parameter source: where the operations came from (`upstream`, `peer:NAME`), recorded so they
    ///   are never sent back there; nil for bundles.
    @discardableResult
    public func applyRemote(_ operations: [Operation], source: String? = nil) throws -> ApplyReport {
        try applyRemote(operations, source: source, inLastBatch: nil)
    }

    /// `applyRemote` of operations encoded ahead (`PreparedOperation`), off this replica's thread.
    @discardableResult
    public func applyRemote(_ operations: [PreparedOperation], source: String? = nil) throws -> ApplyReport {
        try applyRemote(operations, source: source, inLastBatch: nil)
    }

    /// `applyRemote`, running `afterChecks` once every operation has passed the checks and before
    /// any is applied: what a caller records beside the merge (a relay's list of replicas below
    /// it) is recorded only for operations that will be applied.
    @discardableResult
    public func applyRemote(_ operations: [PreparedOperation], source: String?, afterChecks: () throws -> Void) throws -> ApplyReport {
        try withoutActuallyEscaping(afterChecks) { try applyRemote(operations, source: source, inLastBatch: nil, afterChecks: $0) }
    }

    /// `applyRemote`, running `inLastBatch` inside the transaction of the last batch (or of an empty
    /// one when there are no operations), so what it writes commits with the operations or not at all.
    /// `afterBatch` hears how many of `operations` are merged, after each batch commits.
    ///
    /// A long call without `afterChecks` is checked while it merges (`ChecksAhead`): no operation
    /// is applied before it passed, and no batch commits before all of them have.
    func applyRemote<Input: MergeInput>(_ operations: [Input], source: String?, inLastBatch: (() throws -> Void)?,
                                        afterChecks: (() throws -> Void)? = nil, afterBatch: ((Int) -> Void)? = nil) throws -> ApplyReport {
        // This replica's own writes it set aside, made anew or forgot (`Replica+SetAside`) are
        // never taken again: counted as held. Only a bundle (no source) brings a replica its own:
        // an upstream never sends them, and a push is the pusher's and those below it.
        let setAside = source != nil ? [] : try Replica.wrapStorage { try idsSetAside(among: operations) }
        if !setAside.isEmpty {
            var report = try applyRemote(operations.filter { !setAside.contains($0.operation.id) }, source: source, inLastBatch: inLastBatch,
                                         afterChecks: afterChecks, afterBatch: afterBatch)
            report.duplicates += setAside.count
            return report
        }
        var checks: ChecksAhead?
        if afterChecks == nil && operations.count >= Replica.checksSplitMin {
            checks = ChecksAhead(count: operations.count, check: remoteCheck(operations))
        } else {
            try checkRemote(operations)
            try afterChecks?()
        }
        defer { checks?.finish() }
        var total = ApplyReport()
        var ahead = EncodingAhead(operations)
        defer { ahead.finish() }
        let created = operations.count >= CreatedRecords.callOperationsMin ? CreatedRecords() : nil
        // A merge of many batches leaves the log to grow while it runs, and checkpoints it on
        // another thread (`checkpointInBackground`) when it ends, or when the log passes
        // `mergeLogPagesMax`: not on this thread whenever the log is 1,000 pages long.
        let checkpointsAside = operations.count > limits.operationsPerBatchMax && database.isWriteAheadLogged
        if checkpointsAside { database.automaticCheckpoints(false) }
        defer { if checkpointsAside { database.automaticCheckpoints(true) } }
        // Its batches before the last commit without syncing the log (`Database.syncsEachCommit`),
        // and the log is synced before the call returns or throws, which makes them all durable:
        // the call reports nothing merged before it returns (`afterBatch` is progress, not a
        // promise), and a sync of the log was 3 to 4 ms of each batch's commit, whatever its size.
        let defersSyncs = checkpointsAside && database.defersSyncs
        // Batches committed since the log was last synced.
        var unsynced = false
        // Meanwhile the log's pages go to the disk on another thread (`BackgroundLogSync`), so the
        // sync at the end waits only for what came after.
        var logSync: BackgroundLogSync?
        defer { logSync?.wait() }
        var start = 0
        do {
            repeat {
                let end = min(start + limits.operationsPerBatchMax, operations.count)
                let chunk = operations[start..<end]
                if chunk.isEmpty && inLastBatch == nil { break }
                if defersSyncs { try database.syncsEachCommit(end == operations.count) }
                let commitsLogged = database.commitsLogged
                total = total + (try inBatch(operations: chunk.count, beforeCommit: { try checks?.allPassed() }) { state in
                    state.source = source
                    state.isMerge = true
                    state.holdsRecords = true
                    if let created, try created.stillHolds(in: database, dataVersion: state.dataVersion, snapshotsAdopted: snapshotsAdopted) { state.createdRecords = created }
                    for index in chunk.indices {
                        try checks?.passed(index)
                        try ahead.merge(at: index, { try apply($0, state: &state) }, asItCame: { try apply($0, state: &state) })
                    }
                    if end == operations.count { try inLastBatch?() }
                })
                if defersSyncs && end < operations.count {
                    unsynced = true
                    if logSync?.isFinished != false { logSync = BackgroundLogSync(databasePath: database.path) }
                } else if unsynced {
                    // The last commit, at FULL, synced the log only if it wrote to it: one that
                    // changed nothing (its operations all here already) writes no frame and
                    // syncs nothing. Synced here, before the merge's checkpoint starts, whose own
                    // syncs it would wait behind.
                    if database.commitsLogged == commitsLogged { try database.syncLog() }
                    unsynced = false
                }
                afterBatch?(end)
                if checkpointsAside && (end == operations.count || database.logPagesAfterCommit >= Replica.mergeLogPagesMax) {
                    checkpointInBackground()
                }
                start = end
            } while start < operations.count
        } catch {
            // The batches a failed call committed stay, and other connections may read them:
            // synced too, so nothing anyone read can go in a power cut. Syncs each commit again
            // (or the connection's next transaction sets it back first, `Database.syncsEachCommit`).
            if defersSyncs { try? database.syncsEachCommit(true) }
            if unsynced { try? database.syncLog() }
            // As when every operation was checked first: a bad operation's error wins.
            throw checks?.failureWhenDone() ?? error
        }
        if total.resolutionMarks > 0 && !database.isInTransaction {
            try eraseResolutionsOfErasedRecords(only: total.appliedErasure ? nil : total.resolutionsWritten, marks: total.resolutionMarks)
        }
        return total
    }

    /// Starts a passive checkpoint on a connection and a thread of its own, unless the one started
    /// last is still running: it copies what a merge committed to the log into the database file
    /// while the replica goes on. Durability does not wait for it: each commit is in the log,
    /// synced.
    ///
    /// Why: SQLite's automatic checkpoint ran on the merging thread after every batch or two, the
    /// database file's sync included. Checkpointing on another thread after every batch saved
    /// nothing (the two threads' syncs took turns at the disk); leaving the log to grow while the
    /// merge runs, and checkpointing it once after, made a merge of 100,000 operations 8% faster
    /// (P1 in `Docs/performance.md`, alternating runs; performance-notes, thirtieth round).
    func checkpointInBackground() {
        if let running = mergeCheckpoint, !running.isFinished { return }
        mergeCheckpoint = BackgroundCheckpoint(path: database.path)
    }

    /// Checkpoints the whole write-ahead log into the file and truncates it, so deleted bytes (an
    /// erasure's, a replica starting again) leave the files; when a reader holds part of it back,
    /// `needsCheckpoint` stays set and the next batch tries again, without waiting for readers:
    /// with one that stays (a backup tool's, a `sqlite3` shell left open), each batch waited the
    /// whole busy timeout (5 s) on the executor, every request behind it. A merge's checkpoint
    /// still running is waited for first: it holds the checkpoint lock, and this one would do
    /// nothing.
    /// Returns nil when the database file holds every write of the log (emptied, or kept only
    /// by a reader of the latest state); else why not, in words: another connection held part of
    /// it back, or the copy failed (a full disk). `waiting`: for other connections' readers, as
    /// long as a statement waits for a lock (by default, unless the last attempt failed).
    @discardableResult
    func truncateLog(waiting: Bool? = nil) -> String? {
        _ = try? mergeCheckpoint?.wait()
        do {
            let outcome = try database.checkpointTruncateOutcome(waiting: waiting ?? !needsCheckpoint)
            needsCheckpoint = !outcome.reset
            guard outcome.framesLeft != 0 else { return nil }
            return "another connection to the database (a reader, a backup) held \(outcome.framesLeft.map { "\($0) of its pages" } ?? "part of it") back"
        } catch {
            needsCheckpoint = true
            guard let error = error as? SQLiteError else { return "\(error)" }
            return error.isDiskFull ? "\(error.message): free disk space" : error.message
        }
    }

    /// Waits for the checkpoints left running on threads of their own (a snapshot's pages, a long
    /// merge's log): a command about to exit lets them finish, so the folder is left with its log
    /// copied into the file (and removed as the last connection closes), not to be read again at
    /// the next open. Their outcome changes nothing committed.
    public func finishBackgroundCheckpoints() {
        _ = try? snapshotCheckpoint?.wait()
        _ = try? mergeCheckpoint?.wait()
    }

    /// Before a node stops: the background checkpoints finished, then the whole write-ahead log
    /// copied into the database file and emptied, so a stopped node's `chorus.sqlite` holds all it
    /// acknowledged. A cold copy of that file alone once lacked its last writes, left in
    /// `chorus.sqlite-wal` by a process that exits without closing its connections. A reader
    /// holding part of the log back (another process), or a full disk, leaves it as it was:
    /// nothing is lost, it stays in the log, and the next open copies it in. Returns why, then, in
    /// words (nil when the file holds all): a stopped node says so, since a copy of the file alone
    /// would lack those writes (a day-2 review: a node stopped on a full disk said only "stopped").
    @discardableResult
    public func checkpointForStop() -> String? {
        finishBackgroundCheckpoints()
        return truncateLog(waiting: true)
    }

    /// Checks every operation of a call before any is applied: its clock against ours, its action
    /// against the schema. What fails first in their order is thrown. A long call is checked on two
    /// threads, a half each (`ChecksAhead`): the checks are pure functions of the operation, the
    /// schema and the clock as the call found it.
    func checkRemote<Input: MergeInput>(_ operations: [Input]) throws {
        let check = remoteCheck(operations)
        guard operations.count < Replica.checksSplitMin else {
            let checks = ChecksAhead(count: operations.count, check: check)
            defer { checks.finish() }
            return try checks.allPassed()
        }
        if let failed = check(operations.indices) { throw failed.error }
    }

    /// The checks of the operations at a range of indexes of `operations`, for any thread: the
    /// first failure's index and error, if any. They run as one `RemoteChecks`, each operation
    /// read in place.
    private func remoteCheck<Input: MergeInput>(_ operations: [Input]) -> @Sendable (Range<Int>) -> (index: Int, error: ChorusError)? {
        let clock = self.clock, schema = self.schema, pause = checkPause
        let own = OwnCounterBound(replica: id, known: max(counter, reservedCounter), reservation: counterReservation)
        return { range in
            var checks = RemoteChecks(clock: clock, schema: schema, own: own)
            return operations.withUnsafeBufferPointer { operations in
                for index in range {
                    pause?(index)
                    do throws(ChorusError) { try Input.checkRemote(operations, at: index, &checks) } catch { return (index, error) }
                }
                return nil
            }
        }
    }

    /// Calls with this many operations or more check them on two threads: a thread costs tens of
    /// microseconds to start, checking a thousand operations about a quarter of a millisecond.
    static let checksSplitMin = 4_096

    /// A merge's log, in pages, past which it is checkpointed while the merge runs
    /// (`checkpointInBackground`): 64 MiB of 4 KiB pages. P1's merge of 100,000 operations makes a
    /// database of about 30 MB; a bundle of millions of operations would otherwise grow the log
    /// by gigabytes before its end.
    static let mergeLogPagesMax = 16_384

    /// Runs `body` in one SQLite transaction, then materialises what it touched and persists the
    /// clock and counter before committing. In-memory clock and counter change only after commit.
    /// `beforeCommit` runs last inside the transaction: what it throws rolls the batch back.
    func inBatch(operations: Int = 1, beforeCommit: () throws -> Void = {}, _ body: (inout BatchState) throws -> Void) throws -> ApplyReport {
        var state = BatchState(clock: clock, counter: counter)
        state.reserve(operations: operations)
        state.receivedWall = Int64(configuration.wallClock.nowMilliseconds())
        var dataVersion: Int64?
        // A batch inside another transaction can be rolled back after it returns: it neither uses
        // nor fills the cache of logged ids, and empties it, since what it commits is not in it.
        let isOwnTransaction = !database.isInTransaction
        if !isOwnTransaction { forgetCommittedLog() }
        var reservedInBatch: UInt64?
        try Replica.wrapStorage {
            try database.transaction {
                // Numbers of origins and fields are trusted only within the transaction that read or made them.
                originNumbers = .origins()
                fieldNumbers = .fields()
                // Another process (a CLI command beside `chorus serve`) may have written since we last
                // looked: under the write lock, never fall behind the counter and clock it stored.
                // Only another connection's commit changes `data_version`, so while it stands still
                // the clock and counter in memory are what `meta` holds, and reading it (7% of a
                // local write, callgrind) is skipped.
                dataVersion = try database.dataVersion()
                state.dataVersion = dataVersion ?? 0
                if dataVersion != metaCurrentAtDataVersion {
                    // The whole (six-row) table: a `key IN (...)` list makes SQLite build a temporary
                    // B-tree on every execution, a page zeroed per batch (callgrind, P2).
                    var values: [String: Int64] = [:]
                    try database.forEachColumns("SELECT key, value FROM meta") { values[$0.text(0) ?? ""] = $0.integer(1) }
                    let (counter, last) = try Replica.storedCounterAndClock(counter: values["counter"], wall: values["clock_wall"], logical: values["clock_logical"])
                    state.counter = max(state.counter, counter)
                    state.clock.observe(last)
                    forgetCommittedLog()
                }
                state.committedOrigins = loggedIDsCache
                state.nextSequence = try (latestSequenceCache ?? latestLoggedSequence()) + 1
                try body(&state)
                try insertNewRecords(&state)
                try writeLogBlock(&state)
                try writeLoggedIDs(state)
                try eraseLoggedValues(of: state.erasedRecords)
                try materialise(&state)
                // What `eraseResolutionsOfErasedRecords` runs after this commit, marked in it: a
                // process killed in between (or a merge inside a caller's transaction) leaves the
                // mark, and the next open erases what the erasure was to take.
                // Counted, so the step clears only the marks it saw and knows whether another
                // merge's are among them (a process killed after its commit, another beside it).
                if state.isMerge && (state.report.appliedErasure || !state.report.resolutionsWritten.isEmpty) {
                    try database.run("INSERT INTO meta(key, value) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET value = value + 1", Replica.resolutionsToCheckKey)
                    state.report.resolutionMarks += 1
                }
                // Operations made here past the reserved counters are reserved for before they
                // commit, so a database restored from a backup never hands their ids out again
                // (before `meta` takes the batch's counter: the reservation names the committed one).
                reservedInBatch = try reserveCounters(through: state.counter, isInCallersTransaction: !isOwnTransaction)
                try database.run("""
                    INSERT INTO meta(key, value) VALUES ('counter', ?), ('clock_wall', ?), ('clock_logical', ?)
                    ON CONFLICT(key) DO UPDATE SET value = excluded.value
                    """, Int64(state.counter), Int64(state.clock.last.wall), Int64(state.clock.last.logical))
                try beforeCommit()
            }
        }
        clock = state.clock
        counter = state.counter
        // Inside a caller's transaction the batch is not committed yet: the file keeps naming the
        // counter committed before it.
        if isOwnTransaction, let reservedInBatch { confirmReservation(reservedInBatch, committed: state.counter) }
        if isOwnTransaction {
            if loggedIDsCache.count + state.origins.count > Replica.loggedOriginsCachedMax { loggedIDsCache.removeAll() }
            state.origins.forEach { origin, ids in loggedIDsCache.set(ids.now, for: origin) }
            latestSequenceCache = state.nextSequence - 1
        }
        // Committed: `meta` now holds the clock and counter in memory (our own commit leaves the
        // data version as it was).
        metaCurrentAtDataVersion = dataVersion
        if !state.erasedRecords.isEmpty || needsCheckpoint { truncateLog() }
        return state.report
    }

    /// Applies one operation inside an open transaction, its encodings made now (an `Operation`)
    /// or made ahead (`PreparedOperation`).
    func apply<Input: MergeInput>(_ input: Input, state: inout BatchState) throws {
        try apply(input.operation, input.mergeEncodings(), state: &state)
    }

    /// Applies one operation inside an open transaction. The heart of the merge: every action
    /// reduces to inserting live entries and recording superseded ids (see `Docs/merge.md`).
    /// The value's canonical text goes both into the operation's payload and into its entry: made
    /// once, in `encodings`.
    func apply(_ op: Operation, _ encodings: MergeEncodings, state: inout BatchState) throws {
        let payload = encodings.payload, valueText = encodings.valueText
        // A duplicate is known by its id alone, before anything of it is looked at: an id the log
        // holds with other content (a replica restored with its counters, or a forged bundle)
        // once made its record's row first, an empty record the other replicas never had.
        guard try logID(op.id, payload: payload, state: &state) else {
            state.report.duplicates += 1
            return
        }
        if case .erase(let hash) = op.action {
            _ = try appendToLog(op, rid: nil, payload: payload, state: &state)
            state.report.applied += 1
            try erase(hash: hash, by: op, state: &state)
            return
        }
        guard let rid = try recordID(collection: op.collection, record: op.record, hash: encodings.recordHash, state: &state) else {
            // The record was erased: keep the id so the operation is never applied, drop its value.
            _ = try appendToLog(op, rid: nil, payload: nil, state: &state)
            state.report.droppedForErasedRecords += 1
            return
        }
        let seq = try appendToLog(op, rid: rid, payload: payload, state: &state)
        state.firstSequence = min(state.firstSequence, seq)
        state.report.applied += 1
        if op.collection == Replica.resolutionsCollection { state.report.resolutionsWritten.insert(op.record) }
        let record = state.touch(rid)

        let field = op.field ?? StorageSchema.recordField
        switch op.action {
        case .set(let value, let supersedes):
            try supersede(supersedes, rid: rid, field: field, state: &state)
            try insertEntry(op, rid: rid, field: field, key: "", kind: .register, value: value, valueText: valueText, seq: seq, record: record, state: &state)
        case .add(let element):
            try insertEntry(op, rid: rid, field: field, key: element, kind: .set, value: nil, valueText: nil, seq: seq, record: record, state: &state)
        case .remove(_, let supersedes), .mapRemove(_, let supersedes), .retract(let supersedes):
            try supersede(supersedes, rid: rid, field: field, state: &state)
        case .mapSet(let key, let value, let supersedes):
            try supersede(supersedes, rid: rid, field: field, state: &state)
            try insertEntry(op, rid: rid, field: field, key: key, kind: .map, value: value, valueText: valueText, seq: seq, record: record, state: &state)
        case .increment(let by):
            try database.run("""
                INSERT INTO counters(rid, field, total) VALUES (?, ?, ?)
                ON CONFLICT(rid, field) DO UPDATE SET total = total + excluded.total
                """, rid, field, by)
            state.dirtyCounters.insert(.init(rid: rid, field: field))
        case .append(let value):
            try insertEntry(op, rid: rid, field: field, key: op.id.description, kind: .log, value: value, valueText: valueText, seq: seq, record: record, state: &state)
        case .delete(let observed):
            state.lifeChanged.insert(rid)
            if state.maySupersede(rid, record), try isSuperseded(op.id, rid: rid, field: StorageSchema.recordField) { break }
            try database.run("INSERT INTO deletes(rid, replica, counter, wall, logical, seq) VALUES (?, ?, ?, ?, ?, ?)",
                             rid, op.id.replica.bytes, Int64(op.id.counter), Int64(op.timestamp.wall), Int64(op.timestamp.logical), seq)
            for seen in observed {
                try database.run("INSERT OR IGNORE INTO delete_observed(rid, replica, counter, delete_replica, delete_counter) VALUES (?, ?, ?, ?, ?)",
                                 rid, seen.replica.bytes, Int64(seen.counter), op.id.replica.bytes, Int64(op.id.counter))
            }
        case .restore(let supersedes):
            state.lifeChanged.insert(rid)
            if !supersedes.isEmpty { state.supersededIn.insert(rid) }
            for deleteID in supersedes {
                try database.run("INSERT OR IGNORE INTO superseded(rid, field, replica, counter) VALUES (?, ?, ?, ?)",
                                 rid, StorageSchema.recordField, deleteID.replica.bytes, Int64(deleteID.counter))
                try database.run("DELETE FROM deletes WHERE rid = ? AND replica = ? AND counter = ?", rid, deleteID.replica.bytes, Int64(deleteID.counter))
                try database.run("DELETE FROM delete_observed WHERE rid = ? AND delete_replica = ? AND delete_counter = ?",
                                 rid, deleteID.replica.bytes, Int64(deleteID.counter))
            }
        case .erase:
            preconditionFailure("handled above")
        }
    }

    /// How far past the counters it knows of (its database's, `chorus.counters`) an operation in
    /// this replica's own name may come back: 2^40, more than any replica makes in its life.
    /// Its own operations come back legitimately past both when the folder was restored with a
    /// stale counters file or none (a cold copy, a disk replaced), and taking them is what moves
    /// the counter past the ids it handed out.
    static let ownCounterLeapMax: UInt64 = 1 << 40

    /// Refuses an operation in this replica's own name, new to its log, further past every counter
    /// it knows of than `ownCounterLeapMax`: it was not made here. A forged bundle holding one at
    /// 2^63-1 was applied, and the replica could never write again ("counter exhausted"). The
    /// batch holding it is applied in none of its parts; the checks before any batch commits
    /// (`OwnCounterBound` in `RemoteChecks`) refuse the whole call first.
    func refuseOwnCounterNeverHandedOut(_ operation: OperationID, known counter: UInt64) throws {
        try OwnCounterBound(replica: id, known: max(counter, reservedCounter), reservation: counterReservation).check(operation)
    }

    /// Appends an operation whose id the log did not hold (`logID` said so) to the log.
    /// Returns its log sequence.
    func appendToLog(_ op: Operation, rid: Int64?, payload: Payload?, state: inout BatchState) throws -> Int64 {
        // Our own operation coming back (after a restore from backup): never reuse its counter.
        if op.id.replica == id && op.id.counter > state.counter {
            try refuseOwnCounterNeverHandedOut(op.id, known: state.counter)
            state.counter = op.id.counter
        }
        let sequence = try appendToBlock(op, rid: rid, payload: payload, state: &state)
        state.clock.observe(op.timestamp)
        return sequence
    }

    /// Drops what the replica keeps of the log between batches (`loggedIDsCache`,
    /// `latestSequenceCache`): another connection committed, or a batch runs inside a transaction
    /// that may yet roll back.
    func forgetCommittedLog() {
        loggedIDsCache.removeAll()
        latestSequenceCache = nil
    }

    /// Adds an operation's id to the batch's view of the logged ids; false when the log already
    /// holds it. The batch writes what changed to `log_ids` before it commits (`writeLoggedIDs`).
    /// The highest one's bytes are kept too (`log_latest`).
    func logID(_ id: OperationID, payload: Payload, state: inout BatchState) throws -> Bool {
        if !state.origins.isRecent(id.replica) {
            let committed = state.committedOrigins[id.replica]
            try state.origins.makeRecent(id.replica) { .init(stored: try committed ?? storedLoggedIDs(of: id.replica)) }
        }
        return state.origins.updateRecent { origin in
            guard origin.now.insert(id.counter) else { return false }
            if id.counter > origin.latest?.counter ?? origin.stored.intervals.last?.last ?? 0 { origin.latest = (id.counter, payload) }
            return true
        }
    }

    /// An origin's logged ids as `log_ids` holds them.
    func storedLoggedIDs(of origin: ReplicaID) throws -> CounterRanges {
        let rows = try database.query("SELECT first, last FROM log_ids WHERE replica = ? ORDER BY first", origin.bytes).map { row in
            guard let first = row.integer(0).flatMap(UInt64.init(exactly:)), let last = row.integer(1).flatMap(UInt64.init(exactly:)) else {
                throw ChorusError(.storage, "log_ids holds a damaged interval for replica \(origin)",
                                  hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
            }
            return (first: first, last: last)
        }
        return CounterRanges(sortedRows: rows)
    }

    /// Writes the intervals of logged ids this batch changed: an interval that grew is rewritten
    /// in place, one that a gap's filling joined to the one before it is deleted. Intervals only
    /// ever grow or join, so nothing else can change.
    func writeLoggedIDs(_ state: BatchState) throws {
        let receivedWall = state.receivedWall
        try state.origins.forEach { origin, ids in
            let change = ids.now.difference(from: ids.stored)
            for first in change.removed {
                try database.run("DELETE FROM log_ids WHERE replica = ? AND first = ?", origin.bytes, Int64(first))
            }
            for interval in change.written {
                if interval.isNew {
                    try database.run("INSERT INTO log_ids(replica, first, last, received_wall) VALUES (?, ?, ?, ?)",
                                     origin.bytes, Int64(interval.first), Int64(interval.last), receivedWall)
                } else {
                    try database.run("UPDATE log_ids SET last = ?, received_wall = ? WHERE replica = ? AND first = ?",
                                     Int64(interval.last), receivedWall, origin.bytes, Int64(interval.first))
                }
            }
            // Not this replica's own: nobody asks it about them (`forgetOwnLatestSQL`), and a local
            // write is spared the statement.
            if let latest = ids.latest, origin != id {
                let hash = latest.payload.withUnsafeBufferPointer { Replica.LatestOperation.hash(UnsafeRawBufferPointer($0)) }
                try database.run("""
                    INSERT INTO log_latest(replica, counter, hash) VALUES (?, ?, ?)
                    ON CONFLICT(replica) DO UPDATE SET counter = excluded.counter, hash = excluded.hash
                    """, origin.bytes, Int64(latest.counter), Int64(bitPattern: hash))
            }
        }
    }

    /// The record's row id, creating the record on its first operation. Nil if it was erased.
    /// A remote batch inserts the records it creates, and their typed rows, many to a statement
    /// once its operations are applied (`NewRecords`, `Replica.materialise`).
    /// `hash` is the record's hash when it was computed ahead (`PreparedOperation`).
    func recordID(collection: String, record: String, hash: [UInt8]? = nil, state: inout BatchState) throws -> Int64? {
        let name = BatchState.RecordName(collection: collection, record: record)
        if let known = state.knownRecordID(name) { return known }
        let rid: Int64
        var hash = hash
        // Not looked up when it certainly is not there (`CreatedRecords`).
        var certainlyAbsent = false
        if let created = state.createdRecords {
            let known = hash ?? Operation.recordHash(collection: collection, record: record)
            hash = known
            certainlyAbsent = created.certainlyAbsent(hash: known)
            if certainlyAbsent { recordLookupsSkipped += 1 }
        }
        // One statement for what the batch needs of an existing record: its row, its folded body
        // and whether it has superseded ids (three statements were 4% of a merged operation's
        // instructions into a replica holding the records; callgrind, P1).
        if !certainlyAbsent, let row = try database.queryRow("""
            SELECT r.rid, r.deleted, r.visible, f.body, EXISTS (SELECT 1 FROM superseded s WHERE s.rid = r.rid)
            FROM records r LEFT JOIN folded_entries f ON f.rid = r.rid WHERE r.collection = ? AND r.record = ?
            """, collection, record),
           let existing = row.integer(0) {
            rid = existing
            try takeFolded(rid, body: row.blob(3), collection: collection, state: &state)
            state.setRecord(rid, .init(collection: collection, record: record, isNew: false,
                                       wasLive: row.integer(1) == 0 && row.integer(2) == 1, hadSuperseded: row.integer(4) == 1))
        } else {
            let hash = hash ?? Operation.recordHash(collection: collection, record: record)
            if state.anyErased == nil { state.anyErased = try database.queryScalarInteger("SELECT 1 FROM erased LIMIT 1") != nil }
            if state.anyErased == true, try isErased(hash: hash) {
                state.remember(name, rid: nil)
                return nil
            }
            if state.holdsRecords {
                rid = try state.newRecords.add(collection: collection, record: record, hashPrefix: Replica.hashPrefix(hash), in: database)
                state.hold(HeldRecord(), rid: rid)
                state.createdRecords?.created(rid: rid, hash: hash)
            } else {
                try database.run("INSERT INTO records(collection, record, hash_prefix) VALUES (?, ?, ?)", collection, record, Replica.hashPrefix(hash))
                rid = database.lastInsertRowID
            }
            state.setRecord(rid, .init(collection: collection, record: record, isNew: true, wasLive: true, hadSuperseded: false))
        }
        state.remember(name, rid: rid)
        return rid
    }

    /// Takes a folded record's entries (`FoldedEntries.swift`) for the batch, once, the first time
    /// it touches the record (`recordID`): a batch that holds records holds it (`HeldRecord`), up
    /// to `HeldRecord.entriesMax` entries and `HeldRecord.bodyBytesMax` bytes, while the batch holds
    /// less than `HeldRecord.batchBodyBytesMax`; otherwise its entries move back into rows of their own,
    /// which the merge reads and writes as rows, and a later compaction folds again.
    /// `body` is its folded body, nil when it has none.
    func takeFolded(_ rid: Int64, body: [UInt8]?, collection: String, state: inout BatchState) throws {
        guard let body else {
            // No body: its entries are in rows, or it has none (all superseded, or only deletes
            // and counters), and then a batch that holds records holds it too.
            if state.holdsRecords, try database.queryScalarInteger("SELECT 1 FROM entry_rows WHERE rid = ? LIMIT 1", rid) == nil {
                state.hold(HeldRecord(), rid: rid)
            }
            return
        }
        var entries = try FoldedEntries.decode(body, record: rid)
        if state.holdsRecords && state.heldBodyBytes + body.count <= heldBodyBytesMax,
           case let held = HeldRecord(folded: entries, bodyBytes: body.count), !held.isPastBound {
            // The values kept in typed columns are read when the batch needs them, if it does
            // (`HeldRecord.needsColumn`, in `Replica.materialise`).
            state.hold(held, rid: rid)
            state.heldBodyBytes += body.count
            return
        }
        if entries.contains(where: \.valueInColumn) {
            try FoldedEntries.resolve(&entries, columns: try columnValues(rid: rid, collection: collection, of: Set(entries.map(\.field)), state: &state), record: rid)
        }
        for entry in entries {
            try insertEntryRow(rid: rid, entry)
        }
        try database.run("DELETE FROM folded_entries WHERE rid = ?", rid)
        recordsUnfolded += 1
    }

    /// The register values the typed row of record `rid`, of `collection`, holds in the fields
    /// `fields`, as canonical JSON by field number (`RegisterColumns`).
    func columnValues(rid: Int64, collection: String, of fields: Set<Int64>, state: inout BatchState) throws -> [Int64: String] {
        let numbers: [Int64?]
        if let known = state.registerFieldNumbers[collection] {
            numbers = known
        } else {
            // A field numbered later in the batch has no value kept in its column: no body that
            // keeps one was written before the field had its number.
            numbers = try registerColumns.registerFields(of: collection).map { try fieldNumbers.number(of: ExactName($0), in: database, create: false) }
            state.registerFieldNumbers[collection] = numbers
        }
        return try registerColumns.values(rid: rid, collection: collection, wanted: fields, numbers: numbers)
    }

    /// One `entry_rows` row.
    func insertEntryRow(rid: Int64, _ entry: FoldedEntries.Entry) throws {
        try database.run("""
            INSERT INTO entry_rows(rid, field, key, origin, counter, wall, logical, kind, value, seq)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, count: 10) { row in
            row.integer(rid)
            row.integer(entry.field)
            row.text(entry.key)
            row.integer(entry.origin)
            row.integer(entry.counter)
            row.integer(entry.wall)
            row.integer(entry.logical)
            row.integer(entry.kind)
            row.text(entry.value)
            row.integer(entry.seq)
        }
    }

    func isSuperseded(_ id: OperationID, rid: Int64, field: String) throws -> Bool {
        try database.queryScalarInteger("SELECT 1 FROM superseded WHERE rid = ? AND field = ? AND replica = ? AND counter = ?",
                                        rid, field, id.replica.bytes, Int64(id.counter)) != nil
    }

    /// Removes the live entries of `ids` in this field, and remembers the ids that may still arrive.
    ///
    /// An id whose live entry is removed here is in the log (its entry came from it), so it can never
    /// apply again and needs no `superseded` row: the common case, an edit of what the writer saw,
    /// writes one B-tree fewer (a page fewer in each local write's commit). Only an id with no live
    /// entry, which may not have arrived yet, is recorded, so it is never applied when it does.
    func supersede(_ ids: [OperationID], rid: Int64, field: String, state: inout BatchState) throws {
        for superseded in ids {
            // Found, then deleted by its whole primary key: `DELETE ... RETURNING` would collect its
            // rows in a temporary B-tree first, a zeroed page per superseding write (callgrind, P2).
            // No number for the origin or the field: no entry of it.
            var removed: [Row] = []
            let origin = try originNumbers.number(of: superseded.replica.bytes, in: database, create: false)
            let fieldNo = try origin == nil ? nil : fieldNumbers.number(of: ExactName(field), in: database, create: false)
            if let held = state.heldIndex(rid) {
                var removedHeld: [(key: String, older: Bool)] = []
                if let origin, let fieldNo { removedHeld = state.changeHeld(at: held) { $0.remove(field: fieldNo, origin: origin, counter: Int64(superseded.counter)) } }
                if removedHeld.isEmpty { try recordSuperseded(superseded, rid: rid, field: field, state: &state) }
                for (key, isOlder) in removedHeld {
                    let slot = state.dirtyKeys.slot(BatchState.DirtyKey(rid: rid, field: field, key: key, fieldNo: fieldNo!))
                    state.dirtyKeys.remove(superseded, older: isOlder, at: slot)
                }
                continue
            }
            if let origin, let fieldNo {
                removed = try database.query("SELECT key, seq FROM entry_rows WHERE rid = ? AND field = ? AND origin = ? AND counter = ?",
                                             rid, fieldNo, origin, Int64(superseded.counter))
            }
            if removed.isEmpty { try recordSuperseded(superseded, rid: rid, field: field, state: &state) }
            guard let origin, let fieldNo else { continue }
            for row in removed {
                try database.run("DELETE FROM entry_rows WHERE rid = ? AND field = ? AND key = ? AND origin = ? AND counter = ?",
                                 rid, fieldNo, row.text(0) ?? "", origin, Int64(superseded.counter))
                let key = BatchState.DirtyKey(rid: rid, field: field, key: row.text(0) ?? "", fieldNo: fieldNo)
                let isOlder = (row.integer(1) ?? 0) < state.firstSequence
                state.dirtyKeys.remove(superseded, older: isOlder, at: state.dirtyKeys.slot(key))
            }
        }
    }

    /// Records an id superseded before its operation arrived, so it never applies when it does.
    private func recordSuperseded(_ id: OperationID, rid: Int64, field: String, state: inout BatchState) throws {
        try database.run("INSERT OR IGNORE INTO superseded(rid, field, replica, counter) VALUES (?, ?, ?, ?)",
                         rid, field, id.replica.bytes, Int64(id.counter))
        state.supersededIn.insert(rid)
    }

    /// Adds a live entry unless an operation that arrived earlier already superseded it.
    /// `record` is what the batch knows of the record (`state.records[rid]`), looked up once by the caller.
    /// `valueText` is `value`'s canonical text.
    func insertEntry(_ op: Operation, rid: Int64, field: String, key: String, kind: FieldKind, value: JSONValue?, valueText: String?,
                     seq: Int64, record: BatchState.RecordInfo?, state: inout BatchState) throws {
        if state.maySupersede(rid, record), try isSuperseded(op.id, rid: rid, field: field) { return }
        let entry = BatchState.LiveEntry(replica: op.id.replica.bytes, counter: Int64(op.id.counter), wall: Int64(op.timestamp.wall),
                                         logical: Int64(op.timestamp.logical), kind: kind, value: valueText, json: value, seq: seq)
        let origin = try originNumbers.number(of: entry.replica, in: database, create: true)!
        let fieldNo = try fieldNumbers.number(of: ExactName(field), in: database, create: true)!
        let stored = FoldedEntries.Entry(field: fieldNo, key: key, origin: origin, counter: entry.counter, wall: entry.wall,
                                         logical: entry.logical, kind: EntryRows.code(kind), value: entry.value, seq: seq)
        // Changed in place through the index: the optional `held[rid]?` moved the record out and
        // back, 2% of a merged operation's instructions (callgrind, P1).
        if let held = state.heldIndex(rid) {
            state.changeHeld(at: held) { $0.add(stored) }
        } else {
            try insertEntryRow(rid: rid, stored)
        }
        let slot = state.dirtyKeys.slot(BatchState.DirtyKey(rid: rid, field: field, key: key, fieldNo: fieldNo))
        state.dirtyKeys.addMade(consume entry, at: slot)
    }

    /// The first bytes of a record's hash that `records` keeps (`0014_records_hash_prefix`, 4 of
    /// them since `0019_records_hash_prefix_4`): the whole hash is known from the record's name,
    /// so the prefix only has to find candidates.
    static func hashPrefix(_ hash: [UInt8]) -> [UInt8] { Array(hash.prefix(hashPrefixBytes)) }
    static let hashPrefixBytes = 4

    /// The record whose hash is `hash`: among the records whose kept prefix matches, the one whose
    /// name hashes to it (others sharing the prefix, about one in 4 billion records each, are
    /// passed over).
    func recordNamed(byHash hash: [UInt8]) throws -> (rid: Int64, collection: String, record: String)? {
        for row in try database.query("SELECT rid, collection, record FROM records WHERE hash_prefix = ?", Replica.hashPrefix(hash)) {
            guard let rid = row.integer(0), let collection = row.text(1), let record = row.text(2) else { continue }
            if Operation.recordHash(collection: collection, record: record) == hash { return (rid, collection, record) }
        }
        return nil
    }

    /// Forgets a record for good: every stored value goes in this transaction; what remains is
    /// operation ids and the record's hash. The log is checkpointed after commit.
    func erase(hash: [UInt8], by op: Operation, state: inout BatchState) throws {
        // The record may be one the batch created.
        try insertNewRecords(&state)
        if let (rid, collection, record) = try recordNamed(byHash: hash) {
            if let declared = schema.collection(collection) {
                try database.run("DELETE FROM \(StorageSchema.quote(collection)) WHERE _rid = ?", rid)
                for field in declared.fields where [.set, .map, .log].contains(field.kind) {
                    try database.run("DELETE FROM \(StorageSchema.sideTable(collection, field.name)) WHERE id = ?", record)
                }
            }
            for table in ["entry_rows", "folded_entries", "superseded", "counters", "deletes", "delete_observed", "conflicts", "conflicted_records", "kept_authors"] {
                try database.run("DELETE FROM \(table) WHERE rid = ?", rid)
            }
            // The log's payloads go at the end of the batch, in one scan for all its erasures.
            try database.run("DELETE FROM records WHERE rid = ?", rid)
            state.erasedRecords.insert(rid)
            state.hold(nil, rid: rid)
            state.remember(BatchState.RecordName(collection: collection, record: record), rid: nil)
        }
        // Writes of the record set aside (`Replica+SetAside`) go too: an erasure leaves nothing.
        try database.run("DELETE FROM set_aside WHERE record_hash = ?", hash)
        state.anyErased = true
        state.report.appliedErasure = true
        try database.run("INSERT OR IGNORE INTO erased(hash, replica, counter) VALUES (?, ?, ?)",
                         hash, op.id.replica.bytes, Int64(op.id.counter))
    }
}
