import ChorusCore
import SQLiteKit

/// Setting aside what a laptop's upstream refuses (`chorus sync --set-aside-refused`).
///
/// An upstream refuses, whole, a push holding a write of a laptop registered for one person that
/// is not that person's (`Authorship`, protocol 8), and every later write of the laptop waits
/// behind it: pushes go in log order. The refused write is already in the laptop's state, and
/// taking one operation back out of a merged state is not something the merge can do (its
/// effects on entries, conflicts and typed rows are not kept apart). So the laptop starts again
/// from its upstream's snapshot, which holds everything it ever pushed, and makes again, with
/// their own ids and stamps, those of its waiting writes the upstream takes now; the others are
/// kept in `set_aside`, listed by `chorus set-aside`, and never synced.
///
/// In two steps, each one transaction, so a replica killed at any instant holds every write:
/// 1. `adoptSnapshot(settingAside: true)` copies the waiting writes into `set_aside` as
///    `pending` in the transaction that empties the replicated tables and takes the snapshot;
/// 2. `finishSettingAside()`, once the sync has pulled what came after the snapshot (so the
///    check reads what the upstream reads), checks each pending write as the upstream will, and
///    makes it again (its rows go) or sets it aside (`reason`). A sync finishes what a sync
///    killed between the two left pending.
extension Replica {
    /// One operation set aside, as `chorus set-aside` lists it.
    public struct SetAsideOperation: Sendable {
        /// Where it stood in the log before the replica started again.
        public let sequence: Int64
        public let operation: Operation
        /// Why it is not its person's, as the upstream would say; nil while it is pending (kept
        /// by a start killed before its writes were checked again: the next sync checks them).
        public let reason: String?
        /// When it was set aside, Unix milliseconds.
        public let wall: Int64
    }

    /// What `finishSettingAside` did with the pending writes.
    public struct SettingAsideOutcome: Equatable, Sendable {
        /// Operations made again, to go up with the next push.
        public var madeAgain = 0
        /// Operations set aside, and the writes they belong to.
        public var setAside = 0
        public var setAsideWrites = 0
        /// Operations this replica's log held already.
        public var alreadyHeld = 0
        /// Operations of records erased meanwhile, dropped as any operation of an erased record is.
        public var droppedErased = 0
        /// Operations made anew as the laptop's person, for writes that named no author.
        public var madeAsPerson = 0

        public init() {}
    }

    /// How many operations are set aside, and how many wait to be checked again (a sync finishes
    /// them; more than 0 only after one was killed between its two steps).
    public func setAsideCounts() throws -> (setAside: Int64, pending: Int64) {
        try Replica.wrapStorage {
            let row = try database.queryRow("SELECT coalesce(sum(pending = 0), 0), coalesce(sum(pending = 1), 0) FROM set_aside")
            return (row?.integer(0) ?? 0, row?.integer(1) ?? 0)
        }
    }

    /// The operations set aside, and those pending, in the order they were made: at most `limit`,
    /// after the first `offset`. One that cannot be read (a damaged row) is left out.
    public func setAsideOperations(offset: Int = 0, limit: Int) throws -> [SetAsideOperation] {
        try Replica.wrapStorage {
            try database.query("SELECT seq, operation, reason, wall, pending FROM set_aside ORDER BY id LIMIT ? OFFSET ?",
                               Int64(limit), Int64(offset)).compactMap { row in
                guard let operation = try? codec.decode(utf8: (row.blob(1) ?? [])[...]) else { return nil }
                return SetAsideOperation(sequence: row.integer(0) ?? 0, operation: operation,
                                         reason: row.integer(4) == 1 ? nil : row.text(2) ?? "", wall: row.integer(3) ?? 0)
            }
        }
    }

    /// Forgets the operations set aside (not those pending): the operator made again what was
    /// still wanted. Returns how many went.
    public func forgetSetAside() throws -> Int {
        try Replica.wrapStorage {
            try database.transaction {
                try database.execute("DELETE FROM set_aside WHERE pending = 0")
                return database.changes
            }
        }
    }

    /// Step 1, inside the transaction that starts this replica again from a snapshot: copies its
    /// own operations waiting to go up (made here, after the push cursor, not erased here) into
    /// `set_aside` as pending, with the write each belongs to (its log block: one local write, or
    /// where the waiting part of a block starts). Returns their counters, which the snapshot
    /// lacks by design (`checkReplaceable`).
    func keepWaitingWrites(now: Int64) throws -> Set<UInt64> {
        // Pending rows of an earlier start are finished first (`SyncSession`): their writes'
        // sequences count another log than these.
        guard try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE pending = 1") == 0 else {
            throw ChorusError(.invalidState, "writes of an earlier start wait in set_aside to be checked again", hint: "run `chorus sync` (without --set-aside-refused) first")
        }
        var kept = Set<UInt64>()
        var write: Int64 = 0
        let room = limits.setAsideOperationsMax - Int(try database.queryScalarInteger("SELECT count(*) FROM set_aside") ?? 0)
        try forEachLogged(after: try pushCursor()) { logged in
            if logged.startsBlock || write == 0 { write = logged.sequence }
            guard logged.source != "upstream", logged.entry.replicaID == id, let payload = logged.entry.payload else { return true }
            guard kept.count < room else {
                throw ChorusError(.limitExceeded, "more operations wait to go up than set_aside keeps (setAsideOperationsMax, \(limits.setAsideOperationsMax), with the \(limits.setAsideOperationsMax - room) it holds already); nothing changed",
                                  hint: "`chorus set-aside --forget` drops what was set aside before, once what is still wanted of it was made again")
            }
            let operation = try codec.decode(utf8: Array(payload)[...])
            kept.insert(logged.entry.counter)
            // Set aside before, and back (a bundle of this folder taken before, imported): its row
            // is checked again with this start's writes, so it is listed once.
            try database.run("UPDATE set_aside SET pending = 1, reason = NULL, seq = ?, write_seq = ?, wall = ? WHERE record_hash = ? AND operation = ?",
                             logged.sequence, write, now, operation.recordHash, Array(payload))
            if database.changes > 0 { return true }
            try database.run("INSERT INTO set_aside(seq, write_seq, operation, pending, wall, record_hash) VALUES (?, ?, ?, 1, ?, ?)",
                             logged.sequence, write, Array(payload), now, operation.recordHash)
            return true
        }
        return kept
    }

    /// A pending write: the old sequence of its first operation, its rows and its operations.
    private struct PendingWrite {
        let write: Int64
        var rows: [Int64] = []
        var operations: [Operation] = []
        /// Why its rows cannot be made again, read before they are checked (a damaged row).
        var unreadable: String?

        /// Its rows as an SQL list.
        var rowList: String { rows.map(String.init).joined(separator: ", ") }
    }

    /// Step 2: checks the pending writes against what this replica holds (the upstream's state,
    /// from a copy reaching what this replica had pulled), as its upstream checks one push of them
    /// (`Authorship`, with the person `upstream.person` names; none: every write is taken): all
    /// against the state before any is made, a record counting as being made when a write that is
    /// not refused makes it, again until no more are refused (so a comment in an item whose
    /// making is refused is refused with it). In one transaction, it makes again the writes taken,
    /// each operation with its own id and stamp, and sets the others aside, whole (`reason`).
    ///
    /// A write refused that names no author at all (made before the laptop learnt whose it is,
    /// without `--as`) is the person's, on the person's laptop: it is made anew as theirs (new
    /// ids and stamps, checked as any write here, `writeMany`), and set aside only if that is
    /// refused too; the writes refused beside it are then checked again (one may need it).
    ///
    /// `upstreamHolds`: this replica's own operations its upstream holds (`info?own=1`): taken
    /// without a check, as the upstream does not check what it holds, even when the copy lacked
    /// them. A write that cannot be made again for another reason than storage is set aside with
    /// why, in a transaction of its own, so one damaged row does not stop every sync.
    @discardableResult
    public func finishSettingAside(upstreamHolds: CounterRanges? = nil) throws -> SettingAsideOutcome {
        var total = SettingAsideOutcome()
        while true {
            var (outcome, refused) = try settlePending(upstreamHolds: upstreamHolds)
            total.madeAgain += outcome.madeAgain
            total.alreadyHeld += outcome.alreadyHeld
            total.droppedErased += outcome.droppedErased
            total.madeAsPerson += outcome.madeAsPerson
            let remade = try makeUnattributedAsPerson(&refused, outcome: &total)
            guard remade > 0 else {
                total.setAside += outcome.setAside
                total.setAsideWrites += outcome.setAsideWrites
                return total
            }
            // The others refused beside them are checked again, with what was made.
            let others = refused.filter { !$0.rows.isEmpty }
            try Replica.wrapStorage {
                try database.transaction {
                    for write in others { try database.execute("UPDATE set_aside SET pending = 1, reason = NULL WHERE id IN (\(write.rowList))") }
                }
            }
        }
    }

    /// One pass of `finishSettingAside` over the pending writes: what it did, and the writes it
    /// set aside as refused by `Authorship` (not those unreadable or failing to apply).
    private func settlePending(upstreamHolds: CounterRanges?) throws -> (SettingAsideOutcome, [PendingWrite]) {
        guard try Replica.wrapStorage({ try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside WHERE pending = 1)") }) == 1 else {
            return (SettingAsideOutcome(), [])
        }
        // Read in the transaction that settles them: another process opening the folder at the
        // same moment settles them first, or finds none left.
        var writes: [PendingWrite] = []
        func readPending() throws {
            writes = []
            try database.forEachRow("SELECT write_seq, operation, id FROM set_aside WHERE pending = 1 ORDER BY write_seq, id") { row in
                let write = row.integer(0) ?? 0
                if writes.last?.write != write { writes.append(PendingWrite(write: write)) }
                writes[writes.count - 1].rows.append(row.integer(2) ?? 0)
                do {
                    writes[writes.count - 1].operations.append(try codec.decode(utf8: (row.blob(1) ?? [])[...]))
                } catch {
                    writes[writes.count - 1].unreadable = "it could not be read: \((error as? ChorusError)?.message ?? "\(error)")"
                }
            }
        }
        func isHeld(_ operation: Operation) throws -> Bool {
            try hasOperation(operation.id) || (operation.id.replica == id && upstreamHolds?.contains(operation.id.counter) == true)
        }
        // Why each write is refused, by its first operation's old sequence: `Authorship`'s, or
        // (`unreadable`) a row's that cannot be read.
        func decide() throws -> [Int64: (why: String, byAuthorship: Bool)] {
            var refused: [Int64: (why: String, byAuthorship: Bool)] = [:]
            for write in writes { if let why = write.unreadable { refused[write.write] = (why, false) } }
            guard let person = try Replica.wrapStorage({ try upstreamPerson() }) else { return refused }
            var changed = true
            while changed {
                changed = false
                let taken = writes.filter { refused[$0.write] == nil }
                let facts = authorshipFacts(making: Authorship.making(taken.flatMap(\.operations)))
                for write in taken {
                    for operation in write.operations where try !isHeld(operation) {
                        guard let why = try Authorship.refusal(of: operation, boundTo: person, facts: facts) else { continue }
                        refused[write.write] = ("operation \(operation.id): \(why)", true)
                        changed = true
                        break
                    }
                }
            }
            return refused
        }
        var outcome = SettingAsideOutcome()
        var refusedByAuthorship: [PendingWrite] = []
        func settle(_ write: PendingWrite, refused: (why: String, byAuthorship: Bool)?, state: inout BatchState) throws {
            if let refused {
                try database.run("UPDATE set_aside SET pending = 0, reason = ? WHERE id IN (\(write.rowList))", refused.why)
                outcome.setAside += write.operations.count
                outcome.setAsideWrites += 1
                if refused.byAuthorship { refusedByAuthorship.append(write) }
                return
            }
            for operation in write.operations {
                let held = try hasOperation(operation.id), dropped = state.report.droppedForErasedRecords
                try apply(operation, state: &state)
                if held {
                    outcome.alreadyHeld += 1
                } else if state.report.droppedForErasedRecords > dropped {
                    outcome.droppedErased += 1
                } else {
                    outcome.madeAgain += 1
                }
            }
            try database.execute("DELETE FROM set_aside WHERE id IN (\(write.rowList))")
        }
        // Whether a write's rows are all still pending (not settled meanwhile by another process).
        func isPending(_ write: PendingWrite) throws -> Bool {
            try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE pending = 1 AND id IN (\(write.rowList))") == Int64(write.rows.count)
        }
        do {
            // Its own operations come back under the ids they had: no counter is taken.
            _ = try inBatch(operations: 0) { state in
                try readPending()
                let refused = try decide()
                for write in writes { try settle(write, refused: refused[write.write], state: &state) }
            }
            return (outcome, refusedByAuthorship)
        } catch let error as ChorusError where error.code != .storage {
            outcome = SettingAsideOutcome()
            refusedByAuthorship = []
        }
        // One write that cannot be made again (an operation that does not apply here) would stop
        // every sync and every open: each is settled in a transaction of its own, and one that
        // fails is set aside with why.
        let refused = try Replica.wrapStorage { try database.readTransaction { try readPending(); return try decide() } }
        for write in writes {
            let before = (outcome, refusedByAuthorship)
            do {
                _ = try inBatch(operations: 0) { state in
                    if try isPending(write) { try settle(write, refused: refused[write.write], state: &state) }
                }
            } catch let error as ChorusError where error.code != .storage {
                (outcome, refusedByAuthorship) = before
                _ = try inBatch { state in
                    if try isPending(write) { try settle(write, refused: ("it could not be made again: \(error.message)", false), state: &state) }
                }
            }
        }
        return (outcome, refusedByAuthorship)
    }

    /// Of `refused`, the writes none of whose operations names an author, made anew as the
    /// laptop's person (`writeMany`, which checks them as theirs), each in one transaction with
    /// the removal of its rows; a write refused again keeps its rows, with both reasons. Returns
    /// how many were made; their rows are emptied from `refused`.
    private func makeUnattributedAsPerson(_ refused: inout [PendingWrite], outcome: inout SettingAsideOutcome) throws -> Int {
        guard let person = try Replica.wrapStorage({ try upstreamPerson() }) else { return 0 }
        var made = 0
        for index in refused.indices where refused[index].operations.allSatisfy({ $0.author == nil }) {
            let write = refused[index]
            guard let changes = Replica.changes(remaking: write.operations) else { continue }
            do {
                let operations = try Replica.wrapStorage {
                    try database.transaction { () throws -> [Operation] in
                        // Made anew by another process opening the folder at the same moment.
                        guard try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE pending = 0 AND id IN (\(write.rowList))") == Int64(write.rows.count) else {
                            return []
                        }
                        let operations = try writeMany(changes, by: person)
                        try database.execute("DELETE FROM set_aside WHERE id IN (\(write.rowList))")
                        return operations
                    }
                }
                outcome.madeAsPerson += operations.count
                refused[index].rows = []
                if !operations.isEmpty { made += 1 }
            } catch let error as ChorusError where error.code != .storage {
                try Replica.wrapStorage {
                    try database.run("UPDATE set_aside SET reason = reason || ? WHERE id IN (\(write.rowList))",
                                     "; made anew as \(person): \(error.message)")
                }
            }
        }
        return made
    }

    /// The changes that make `operations` anew, record by record in their order: what their
    /// values, elements, keys and entries were, for `writeMany` to supersede what is held now.
    /// Nil when one cannot be said as a change (an erase names its record by hash only).
    static func changes(remaking operations: [Operation]) -> [(collection: String, record: String, changes: [Change])]? {
        var writes: [(collection: String, record: String, changes: [Change])] = []
        for operation in operations {
            let field = operation.field ?? ""
            let made: [Change]
            switch operation.action {
            case .set(let value, _): made = [.put(field: field, value: value)]
            case .add(let element): made = [.add(field: field, element: element)]
            case .remove(let element, _): made = [.remove(field: field, element: element)]
            case .mapSet(let key, let value, _): made = [.mapSet(field: field, key: key, value: value)]
            case .mapRemove(let key, _): made = [.mapRemove(field: field, key: key)]
            case .increment(let by): made = [.increment(field: field, by: by)]
            case .append(let value): made = [.append(field: field, value: value)]
            case .retract(let entries): made = entries.map { .retract(field: field, entry: $0) }
            case .delete: made = [.delete]
            case .restore: made = [.restore]
            case .erase: return nil
            }
            if let last = writes.last, last.collection == operation.collection, last.record == operation.record {
                writes[writes.count - 1].changes += made
            } else {
                writes.append((operation.collection, operation.record, made))
            }
        }
        return writes
    }

    /// What the operator of a replica that can no longer send its writes does: a new folder.
    public static let newFolderSteps = "join a new, empty folder to the upstream (`chorus init`, then `chorus join` with a new token from the upstream's operator, then `chorus sync`)"
}
