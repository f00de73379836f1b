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
/// kept in `set_aside`, listed by `chorus log --set-aside`, and never synced.
///
/// In two steps, each one transaction, so a replica killed at any instant holds every write:
/// 1. `adoptSnapshot(settingAside: true)` copies the waiting writes into `set_aside` as
///    `pending` in the transaction that empties the replicated tables and takes the snapshot;
/// 2. `finishSettingAside()`, once the sync has pulled what came after the snapshot (so the
///    check reads what the upstream reads), checks each pending write as the upstream will, and
///    makes it again (its rows go) or sets it aside (`reason`). A sync finishes what a sync
///    killed between the two left pending.
extension Replica {
    /// One write set aside, as `chorus log --set-aside` lists it.
    public struct SetAsideOperation: Sendable {
        /// Where it stood in the log before the replica started again.
        public let sequence: Int64
        public let operation: Operation
        /// Why it is not its person's, as the upstream would say.
        public let reason: String
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
        /// Operations the upstream held already (pushed before a push's answer was lost).
        public var alreadyHeld = 0

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

    /// The operations set aside, oldest first: at most `limit`, after the first `offset`.
    public func setAsideOperations(offset: Int = 0, limit: Int) throws -> [SetAsideOperation] {
        try Replica.wrapStorage {
            try database.query("SELECT seq, operation, reason, wall FROM set_aside WHERE pending = 0 ORDER BY id LIMIT ? OFFSET ?",
                               Int64(limit), Int64(offset)).map { row in
                let bytes = row.blob(1) ?? []
                return SetAsideOperation(sequence: row.integer(0) ?? 0, operation: try codec.decode(utf8: bytes[...]),
                                         reason: row.text(2) ?? "", wall: row.integer(3) ?? 0)
            }
        }
    }

    /// Step 1, inside the transaction that starts this replica again from a snapshot: copies its
    /// own operations waiting to go up (made here, after the push cursor, not erased here) into
    /// `set_aside` as pending, with the write each belongs to (its log block: one local write).
    /// Returns their counters, which the snapshot lacks by design (`checkReplaceable`).
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
            if logged.startsBlock { write = logged.sequence }
            guard logged.source != "upstream", logged.entry.replicaID == id, let payload = logged.entry.payload else { return true }
            guard kept.count < room else {
                throw ChorusError(.limitExceeded, "more operations wait to go up than set_aside keeps (setAsideOperationsMax, \(limits.setAsideOperationsMax), with what it holds already)",
                                  hint: "\(Replica.newFolderSteps), and make what is still wanted again there")
            }
            try database.run("INSERT INTO set_aside(seq, write_seq, operation, pending, wall) VALUES (?, ?, ?, 1, ?)",
                             logged.sequence, write, Array(payload), now)
            kept.insert(logged.entry.counter)
            return true
        }
        return kept
    }

    /// Step 2: checks each pending write, in the order it was made, against what this replica
    /// holds now (the upstream's state, once pulled), as its upstream checks a push from it
    /// (`Authorship`, with the person `upstream.person` names; none: every write is taken), and
    /// makes again those it takes, each write in one transaction with the removal of its rows, so
    /// a later write that needs an earlier one (a comment in a record it made) is checked after
    /// it. A write with one operation refused is set aside whole, as the upstream refuses a page.
    @discardableResult
    public func finishSettingAside() throws -> SettingAsideOutcome {
        var outcome = SettingAsideOutcome()
        let person = try Replica.wrapStorage { try upstreamPerson() }
        while let write = try Replica.wrapStorage({ try database.queryScalarInteger("SELECT min(write_seq) FROM set_aside WHERE pending = 1") }) {
            let rows = try Replica.wrapStorage {
                try database.query("SELECT seq, operation FROM set_aside WHERE pending = 1 AND write_seq = ? ORDER BY id", write).map { row in
                    (sequence: row.integer(0) ?? 0, operation: try codec.decode(utf8: (row.blob(1) ?? [])[...]))
                }
            }
            let operations = rows.map(\.operation)
            var refusal: (OperationID, String)?
            var held = 0
            _ = try inBatch(operations: operations.count) { state in
                let facts = person.map { _ in authorshipFacts(making: Authorship.making(operations)) }
                for operation in operations {
                    // Taken already (a push whose answer was lost): not asked again, as the upstream does not.
                    if try hasOperation(operation.id) { held += 1; continue }
                    if let person, let facts, let why = try Authorship.refusal(of: operation, boundTo: person, facts: facts) {
                        refusal = (operation.id, why)
                        break
                    }
                }
                if let (id, why) = refusal {
                    try database.run("UPDATE set_aside SET pending = 0, reason = ? WHERE write_seq = ? AND pending = 1", "operation \(id): \(why)", write)
                    return
                }
                for operation in operations { try apply(operation, state: &state) }
                try database.run("DELETE FROM set_aside WHERE write_seq = ? AND pending = 1", write)
            }
            if refusal != nil {
                outcome.setAside += operations.count
                outcome.setAsideWrites += 1
            } else {
                outcome.madeAgain += operations.count - held
                outcome.alreadyHeld += held
            }
        }
        return outcome
    }

    /// What the operator of a replica that can no longer send its writes does: a new folder.
    public static let newFolderSteps = "join a new, empty folder to the upstream (`chorus init`, then `chorus join` with a new token from the upstream's operator, then `chorus sync`)"
}
