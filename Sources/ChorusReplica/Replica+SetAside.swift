import ChorusCore
import SQLiteKit

/// Setting aside what a laptop's upstream refuses (`chorus sync --set-aside-refused`).
///
/// An upstream refuses, whole, a push holding a write of a laptop registered for one person that
/// is not that person's (`Authorship`, protocol 8), and every later write of the laptop waits
/// behind it: pushes go in log order. The refused write is already in the laptop's state, and
/// taking one operation back out of a merged state is not something the merge can do (its
/// effects on entries, conflicts and typed rows are not kept apart). So the laptop starts again
/// from a copy of its upstream's state reaching all it pulled (which holds everything it ever
/// pushed), and makes again, with their own ids and stamps, those of its waiting writes the
/// upstream takes; the others are kept in `set_aside`, listed by `chorus set-aside`, never synced.
///
/// Each step is one transaction, so a replica killed at any instant holds every write:
/// 1. `adoptSnapshot(settingAside: true)` copies the waiting writes into `set_aside` as pending
///    in the transaction that empties the replicated tables and takes the snapshot;
/// 2. `finishSettingAside` checks the pending writes as the upstream checks a push, makes again
///    those it takes (their rows go) and marks the others refused;
/// 3. a refused write that names no author (made before the laptop learnt whose it is) is made
///    anew as its person's, each in one transaction with its rows' change of state;
/// 4. the writes still refused are set aside for good, or, when one was made anew, checked again
///    (one may need it).
/// Whatever a killed process left between them, the next one to open the folder finishes
/// (`Replica.open`), before anything reads or writes the replica.
extension Replica {
    /// The states of a row of `set_aside` (migration `0024_set_aside`).
    enum SetAsideState: Int64 {
        case setAside = 0, pending = 1, refused = 2, madeAnew = 3, forgotten = 4, madeAgain = 5
    }

    /// What a row made again says of its operation, when it was not made again here: its log
    /// held it already, or its record was erased meanwhile (dropped, as any operation of an
    /// erased record is). Nil for one made again.
    enum SetAsideReason {
        static let alreadyHeld = "this replica's log held it already"
        static let recordErased = "its record was erased meanwhile"
        /// Of a write made anew: left out, a later write of the person's deciding.
        static let leftOut = "left out: a later write of the person's decides it"
    }

    /// One operation set aside, as `chorus set-aside` lists it.
    public struct SetAsideOperation: Sendable {
        /// Where it stood in the log before the replica started again.
        public let sequence: Int64
        public let operation: Operation
        /// Why it is not its person's, as the upstream would say; nil while it is still to be
        /// checked (a process killed half-way: the next one to open the folder checks it).
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
        /// Operations of writes that named no author, made anew as the laptop's person.
        public var madeAsPerson = 0
        /// Operations of those writes left out, a later write of the person's deciding (the
        /// same field written again, or the record deleted after).
        public var leftOut = 0

        public init() {}

        /// Adds what `other` counted.
        public mutating func add(_ other: SettingAsideOutcome) {
            madeAgain += other.madeAgain
            setAside += other.setAside
            setAsideWrites += other.setAsideWrites
            alreadyHeld += other.alreadyHeld
            droppedErased += other.droppedErased
            madeAsPerson += other.madeAsPerson
            leftOut += other.leftOut
        }
    }

    /// How many operations are set aside, and how many are still to be checked (more than 0
    /// only while a start runs, or after one was killed and before the folder is opened again).
    public func setAsideCounts() throws -> (setAside: Int64, pending: Int64) {
        try Replica.wrapStorage {
            let row = try database.queryRow("SELECT coalesce(sum(state = 0), 0), coalesce(sum(state IN (1, 2)), 0) FROM set_aside")
            return (row?.integer(0) ?? 0, row?.integer(1) ?? 0)
        }
    }

    /// What the latest start to set writes aside did, read from `set_aside` (whichever process
    /// finished it: one that opened the folder meanwhile may have): operations set aside and
    /// their writes, made again under their own ids, and made anew as the person.
    public func latestSetAsideStart() throws -> SettingAsideOutcome {
        try Replica.wrapStorage {
            var outcome = SettingAsideOutcome()
            // The latest start's rows are those stamped as the last row kept was (by its id, not
            // the largest stamp: the clock may have gone back between two starts).
            guard let row = try database.queryRow("""
                SELECT coalesce(sum(state = 0), 0), count(DISTINCT CASE WHEN state = 0 THEN write_seq END),
                       coalesce(sum(state = 5 AND reason IS NULL), 0), coalesce(sum(state = 3 AND reason IS NULL), 0),
                       coalesce(sum(state IN (3, 5) AND reason = ?1), 0), coalesce(sum(state = 5 AND reason = ?2), 0),
                       coalesce(sum(state = 3 AND reason = ?3), 0)
                FROM set_aside WHERE wall = (SELECT wall FROM set_aside ORDER BY id DESC LIMIT 1)
                """, SetAsideReason.alreadyHeld, SetAsideReason.recordErased, SetAsideReason.leftOut) else { return outcome }
            outcome.setAside = Int(row.integer(0) ?? 0)
            outcome.setAsideWrites = Int(row.integer(1) ?? 0)
            outcome.madeAgain = Int(row.integer(2) ?? 0)
            outcome.madeAsPerson = Int(row.integer(3) ?? 0)
            outcome.alreadyHeld = Int(row.integer(4) ?? 0)
            outcome.droppedErased = Int(row.integer(5) ?? 0)
            outcome.leftOut = Int(row.integer(6) ?? 0)
            return outcome
        }
    }

    /// The operations set aside, and those still to be checked, in the order they were made: at
    /// most `limit`, after the first `offset`. One that cannot be read (a damaged row) is left out.
    public func setAsideOperations(offset: Int = 0, limit: Int) throws -> [SetAsideOperation] {
        try Replica.wrapStorage {
            try database.query("SELECT seq, operation, reason, wall, state FROM set_aside WHERE state IN (0, 1, 2) ORDER BY id LIMIT ? OFFSET ?",
                               Int64(limit), Int64(offset)).compactMap { row in
                guard let operation = try? codec.decode(utf8: (row.blob(1) ?? [])[...]) else { return nil }
                return SetAsideOperation(sequence: row.integer(0) ?? 0, operation: operation,
                                         reason: row.integer(4) == SetAsideState.setAside.rawValue ? row.text(2) ?? "" : nil, wall: row.integer(3) ?? 0)
            }
        }
    }

    /// Forgets the operations set aside (not those still to be checked): the operator made again
    /// what was still wanted. Their ids stay known, so an import of an older bundle of this folder
    /// does not bring them back. Returns how many went.
    public func forgetSetAside() throws -> Int {
        try Replica.wrapStorage {
            try database.transaction {
                try database.run("UPDATE set_aside SET state = ?, operation = NULL, reason = NULL WHERE state = ?",
                                 SetAsideState.forgotten.rawValue, SetAsideState.setAside.rawValue)
                return database.changes
            }
        }
    }

    /// Of `operations` (received: a bundle, a pull), those of this replica's own that it set
    /// aside, made anew or forgot (`set_aside`): never taken into its state again. An older bundle
    /// of this folder, imported, would bring them back otherwise, and a laptop's next start
    /// would set aside or make anew again what it already had.
    /// Asked of every bundle imported (and every merge handed over in memory): one query, and a
    /// pass over the ids only when something is set aside here.
    func idsSetAside<Input: MergeInput>(among operations: [Input]) throws -> Set<OperationID> {
        // The table is asked first: it is empty on almost every replica, and a scan of the
        // operations for this replica's own cost a long merge about 540 instructions an operation
        // (P1, callgrind: 4% of the merging thread), each copied out to read its id.
        guard try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside)") == 1 else { return [] }
        var found = Set<OperationID>()
        for input in operations {
            let operationID = input.operation.id
            guard operationID.replica == id,
                  try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside WHERE counter = ?)", Int64(operationID.counter)) == 1 else { continue }
            found.insert(operationID)
        }
        return found
    }

    /// Step 1, inside the transaction that starts this replica again from a snapshot: copies its
    /// own operations waiting to go up (made here, after the push cursor, not erased here) into
    /// `set_aside` as pending, with the write each belongs to (its log block: one local write, or
    /// where the waiting part of a block starts). Returns their counters, which the snapshot
    /// lacks by design (`checkReplaceable`).
    func keepWaitingWrites(now: Int64) throws -> Set<UInt64> {
        // What an earlier start left is finished when the folder is opened (`Replica.open`).
        guard try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state IN (1, 2)") == 0 else {
            throw ChorusError(.invalidState, "writes of an earlier start wait in set_aside to be checked again", hint: "run `chorus sync` (without --set-aside-refused) first")
        }
        // What earlier starts made again is in the log under its own id: its rows served only
        // their start (the counts it reported, what a write made anew leaves out). Kept, every
        // start would add up to `setAsideOperationsMax` rows for good.
        try database.run("DELETE FROM set_aside WHERE state = ?", SetAsideState.madeAgain.rawValue)
        // Rows made anew keep their bytes until their start is over; a start killed after its
        // last write was made anew, before that, left them: read by this start's, they would be
        // taken for its own later writes, and leave out what they wrote again (a review found it).
        try database.run("UPDATE set_aside SET operation = NULL WHERE state = ? AND operation IS NOT NULL", SetAsideState.madeAnew.rawValue)
        var kept = Set<UInt64>()
        var write: Int64 = 0
        let held = try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE state IN (0, 1, 2)") ?? 0
        let room = limits.setAsideOperationsMax - Int(held)
        try forEachLogged(after: try pushCursor()) { logged in
            if logged.startsBlock || write == 0 { write = logged.sequence }
            guard logged.source != "upstream", logged.entry.replicaID == id, let payload = logged.entry.payload else { return true }
            guard kept.count < room else {
                throw ChorusError(.limitExceeded, "more operations wait to go up than set_aside keeps (setAsideOperationsMax, \(limits.setAsideOperationsMax), with the \(held) it holds already); nothing changed",
                                  hint: "`chorus set-aside --forget` drops what was set aside before, once what is still wanted of it was made again")
            }
            let operation = try codec.decode(utf8: Array(payload)[...])
            kept.insert(logged.entry.counter)
            try database.run("INSERT INTO set_aside(seq, write_seq, counter, operation, state, wall, record_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             logged.sequence, write, Int64(logged.entry.counter), Array(payload), SetAsideState.pending.rawValue, now, operation.recordHash)
            return true
        }
        return kept
    }

    /// A write kept: the old sequence of its first operation, and its operations.
    private struct KeptWrite {
        let write: Int64
        var rows = 0
        var operations: [Operation] = []
        /// Why it cannot be made again, found before it is checked (a damaged row).
        var unreadable: String?
    }

    /// Steps 2 to 4: settles every write kept (`Replica+SetAside`, above) and what a killed
    /// process left half-way.
    ///
    /// `upstreamHolds`: this replica's own operations its upstream holds (`info?own=1`): taken
    /// without a check, as the upstream does not check what it holds, even when the copy lacked
    /// them.
    @discardableResult
    public func finishSettingAside(upstreamHolds: CounterRanges? = nil) throws -> SettingAsideOutcome {
        var total = SettingAsideOutcome()
        // Asked at every sync: one read when no start is under way, and no write.
        guard try Replica.wrapStorage({ try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside WHERE state IN (1, 2))") }) == 1 else {
            return total
        }
        // Refused writes a killed process left: made anew where they can be, then checked again.
        var checkAgain = try Replica.wrapStorage { try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside WHERE state = 2)") } == 1
        while true {
            // Every pending write is settled before any is made anew, even when a killed process
            // left some refused: made anew while a later write of the person's was still pending,
            // a write's change left out nothing that later write changes again, and stamped after
            // it, undid it once it was made again (a review of stop 58's code).
            try checkPending(upstreamHolds: upstreamHolds, outcome: &total)
            let made = try makeAnewAsPerson(upstreamHolds: upstreamHolds, outcome: &total)
            let again = made > 0 || checkAgain
            checkAgain = false
            let (operations, writes) = try Replica.wrapStorage {
                try database.transaction { () throws -> (Int64, Int64) in
                    let counts = try database.queryRow("SELECT count(*), count(DISTINCT write_seq) FROM set_aside WHERE state = 2")
                    try database.run("UPDATE set_aside SET state = ?, reason = CASE WHEN ? THEN NULL ELSE reason END WHERE state = ?",
                                     (again ? SetAsideState.pending : SetAsideState.setAside).rawValue, again, SetAsideState.refused.rawValue)
                    // The start is over: what was made again or anew keeps its id here, not its bytes.
                    if try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside WHERE state IN (1, 2))") == 0 {
                        try database.run("UPDATE set_aside SET operation = NULL WHERE state IN (?, ?) AND operation IS NOT NULL",
                                         SetAsideState.madeAnew.rawValue, SetAsideState.madeAgain.rawValue)
                    }
                    return (counts?.integer(0) ?? 0, counts?.integer(1) ?? 0)
                }
            }
            guard again, operations > 0 else {
                if !again {
                    total.setAside += Int(operations)
                    total.setAsideWrites += Int(writes)
                }
                return total
            }
        }
    }

    /// Step 2: checks the pending writes against what this replica holds (the upstream's state,
    /// from a copy reaching what it had pulled) as the upstream checks one push of them
    /// (`Authorship`, with the person `upstream.person` names; none: every write is taken):
    /// against the state before any is made, a record counting as being made by the writes taken
    /// up to the one checked, in the order they were made (so a comment in an item whose making
    /// is refused is refused with it). Then each write, in one transaction of its own (one log
    /// block, as it was), is made again (each operation with its own id and stamp; its rows kept,
    /// "made again", until the start is over) or marked refused (`reason`).
    ///
    /// A write that cannot be made again for another reason than storage (an operation that
    /// does not apply here) is set aside with why, and the writes after it are checked again
    /// without it: one damaged row does not stop every sync and every open, nor lets through a
    /// write that needed it.
    private func checkPending(upstreamHolds: CounterRanges?, outcome total: inout SettingAsideOutcome) throws {
        var writes: [KeptWrite] = []
        func readPending() throws {
            writes = []
            try database.forEachRow("SELECT write_seq, operation FROM set_aside WHERE state = 1 ORDER BY write_seq, id") { row in
                let write = row.integer(0) ?? 0
                if writes.last?.write != write { writes.append(KeptWrite(write: write)) }
                writes[writes.count - 1].rows += 1
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
        // Why each write is refused, by its first operation's old sequence, and whether for good
        // (a row that cannot be read) or by `Authorship` (it may be made anew).
        func decide() throws -> [Int64: (why: String, forGood: Bool)] {
            var refused: [Int64: (why: String, forGood: Bool)] = [:]
            let person = try upstreamPerson()
            var facts = authorshipFacts(making: [])
            var making = Set<String>()
            for write in writes {
                if let why = write.unreadable {
                    refused[write.write] = (why, true)
                    continue
                }
                guard let person else { continue }
                facts.making = making.union(Authorship.making(write.operations))
                for operation in write.operations where try !isHeld(operation) {
                    guard let why = try Authorship.refusal(of: operation, boundTo: person, facts: facts) else { continue }
                    refused[write.write] = ("operation \(operation.id): \(why)", false)
                    break
                }
                if refused[write.write] == nil { making = facts.making }
            }
            return refused
        }
        // The write's rows still pending: another process opening the folder at the same moment
        // may have settled it.
        func isPending(_ write: KeptWrite) throws -> Bool {
            try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE write_seq = ? AND state = ?", write.write, SetAsideState.pending.rawValue) == Int64(write.rows)
        }
        func settle(_ write: KeptWrite, refused: (why: String, forGood: Bool)?, state: inout BatchState, outcome: inout SettingAsideOutcome) throws {
            if let refused {
                try database.run("UPDATE set_aside SET state = ?, reason = ? WHERE write_seq = ? AND state = ?",
                                 (refused.forGood ? SetAsideState.setAside : SetAsideState.refused).rawValue, refused.why, write.write, SetAsideState.pending.rawValue)
                if refused.forGood {
                    outcome.setAside += write.rows
                    outcome.setAsideWrites += 1
                }
                return
            }
            // A row of an operation held already or of an erased record says so, so that the
            // start's counts read from the rows (`latestSetAsideStart`) count it apart; the rest
            // of the write's rows are marked in one statement after.
            for operation in write.operations {
                let held = try hasOperation(operation.id), dropped = state.report.droppedForErasedRecords
                try apply(operation, state: &state)
                let reason: String
                if held {
                    outcome.alreadyHeld += 1
                    reason = SetAsideReason.alreadyHeld
                } else if state.report.droppedForErasedRecords > dropped {
                    outcome.droppedErased += 1
                    reason = SetAsideReason.recordErased
                } else {
                    outcome.madeAgain += 1
                    continue
                }
                try database.run("UPDATE set_aside SET state = ?, reason = ? WHERE write_seq = ? AND counter = ? AND state = ?",
                                 SetAsideState.madeAgain.rawValue, reason, write.write, Int64(operation.id.counter), SetAsideState.pending.rawValue)
            }
            try database.run("UPDATE set_aside SET state = ?, reason = NULL WHERE write_seq = ? AND state = ?",
                             SetAsideState.madeAgain.rawValue, write.write, SetAsideState.pending.rawValue)
        }
        while try Replica.wrapStorage({ try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside WHERE state = 1)") }) == 1 {
            let refused = try Replica.wrapStorage { try database.readTransaction { try readPending(); return try decide() } }
            var failed = false
            for write in writes {
                var outcome = SettingAsideOutcome()
                do {
                    // Its own operations come back under the ids they had: no counter is taken.
                    _ = try inBatch(operations: 0) { state in
                        if try isPending(write) { try settle(write, refused: refused[write.write], state: &state, outcome: &outcome) }
                    }
                } catch let error as ChorusError where error.code != .storage {
                    outcome = SettingAsideOutcome()
                    _ = try inBatch { state in
                        if try isPending(write) { try settle(write, refused: ("it could not be made again: \(error.message)", true), state: &state, outcome: &outcome) }
                    }
                    failed = true
                }
                total.add(outcome)
                if failed { break }
            }
            if !failed { return }
        }
    }

    /// Step 3: of the refused writes, those none of whose operations names an author, made anew
    /// as the laptop's person (`writeMany`, which checks them as theirs), in the order they were
    /// made, each in one transaction with its rows' change to "made anew". What a write that
    /// stands after it writes again is left out (`changes(remaking:before:deciding:)`): made
    /// anew, it would be stamped after that write and undo it. Those are the later writes made
    /// again, made anew already in this start, or refused naming the person (refused for what
    /// they need, checked again once this is made), read from `set_aside` (rows made again or
    /// anew keep their bytes until the start is over), so a start finished by another process
    /// leaves out the same. A write refused again keeps its rows, with both reasons.
    /// Returns how many writes were made anew.
    private func makeAnewAsPerson(upstreamHolds: CounterRanges?, outcome: inout SettingAsideOutcome) throws -> Int {
        guard let person = try Replica.wrapStorage({ try upstreamPerson() }) else { return 0 }
        var refused: [KeptWrite] = []
        var standing: [KeptWrite] = []
        try Replica.wrapStorage {
            try database.forEachRow("SELECT write_seq, operation, state FROM set_aside WHERE state IN (2, 3, 5) AND operation IS NOT NULL ORDER BY write_seq, id") { row in
                let write = row.integer(0) ?? 0
                let isRefused = row.integer(2) == SetAsideState.refused.rawValue
                func add(_ list: inout [KeptWrite]) {
                    if list.last?.write != write { list.append(KeptWrite(write: write)) }
                    list[list.count - 1].rows += 1
                    if let operation = try? codec.decode(utf8: (row.blob(1) ?? [])[...]) { list[list.count - 1].operations.append(operation) }
                }
                if isRefused { add(&refused) } else { add(&standing) }
            }
        }
        func isUnattributed(_ write: KeptWrite) -> Bool { write.operations.count == write.rows && write.operations.allSatisfy { $0.author == nil } }
        let toMake = refused.filter(isUnattributed)
        guard !toMake.isEmpty else { return 0 }
        let later = standing + refused.filter { $0.operations.allSatisfy { $0.author == person } }
        // A later delete or restore decides for the record when it stands: made again or anew,
        // or refused while the record is not here (the upstream holds nothing of it: it would
        // exist only through what is made anew, and the delete, checked again, would apply). One
        // refused while the record is here is not the person's to make: it will stay aside, and
        // what is made anew of the record must not be left out for it (a comment on another's
        // item, then a delete of that item), nor brought back over a delete that stands.
        let standingWrites = Set(standing.map(\.write))
        var deciding = Set<OperationID>()
        for write in later {
            for operation in write.operations where Replica.isDeleteOrRestore(operation) {
                let decides = try standingWrites.contains(write.write) || Replica.wrapStorage {
                    try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM records WHERE collection = ? AND record = ?)", operation.collection, operation.record) == 0
                }
                if decides { deciding.insert(operation.id) }
            }
        }
        // A restore naming no author is made anew after what comes before it, and brings its
        // record back: an edit before a delete that stands, then that restore, is made anew too.
        let restoresToMake = toMake.map { write in
            KeptWrite(write: write.write, rows: write.rows, operations: write.operations.filter {
                if case .restore = $0.action { return true } else { return false }
            })
        }
        for write in restoresToMake { deciding.formUnion(write.operations.map(\.id)) }
        var made = 0
        for write in toMake {
            let after = (later + restoresToMake).filter { $0.write > write.write }.sorted { $0.write < $1.write }.flatMap(\.operations)
            let held = try write.operations.filter { operation in
                try Replica.wrapStorage { try hasOperation(operation.id) } || upstreamHolds?.contains(operation.id.counter) == true
            }.map(\.id)
            let operations = write.operations.filter { !held.contains($0.id) }
            guard let (changes, leftOut) = Replica.changes(remaking: operations, before: after, deciding: deciding) else { continue }
            do {
                let made = try Replica.wrapStorage {
                    try database.transaction { () throws -> [Operation]? in
                        // Made anew by another process opening the folder at the same moment.
                        guard try database.queryScalarInteger("SELECT count(*) FROM set_aside WHERE write_seq = ? AND state = ?",
                                                              write.write, SetAsideState.refused.rawValue) == Int64(write.rows) else { return nil }
                        let remade = try withoutRemovesOfAbsentElements(changes)
                        let operations = remade.isEmpty ? [] : try writeMany(remade, by: person)
                        try database.run("UPDATE set_aside SET state = ?, reason = NULL WHERE write_seq = ? AND state = ?",
                                         SetAsideState.madeAnew.rawValue, write.write, SetAsideState.refused.rawValue)
                        // Each row says what became of it, for the start's counts.
                        for (ids, reason) in [(held, SetAsideReason.alreadyHeld), (leftOut, SetAsideReason.leftOut)] {
                            for id in ids {
                                try database.run("UPDATE set_aside SET reason = ? WHERE write_seq = ? AND counter = ? AND state = ?",
                                                 reason, write.write, Int64(id.counter), SetAsideState.madeAnew.rawValue)
                            }
                        }
                        return operations
                    }
                }
                guard made != nil else { continue }
                outcome.madeAsPerson += write.rows - held.count - leftOut.count
                outcome.alreadyHeld += held.count
                outcome.leftOut += leftOut.count
            } catch let error as ChorusError where error.code != .storage {
                // Refused again; checked again, and made anew in the next round if it can be (a
                // write of a record deleted here, restored by a later write made anew meanwhile).
                try Replica.wrapStorage {
                    try database.run("UPDATE set_aside SET reason = reason || ? WHERE write_seq = ? AND state = ?",
                                     "; made anew as \(person): \(error.message)", write.write, SetAsideState.refused.rawValue)
                }
                continue
            }
            made += 1
        }
        return made
    }

    /// Whether it decides whether its record is deleted (rather than its content).
    private static func isDeleteOrRestore(_ operation: Operation) -> Bool {
        switch operation.action {
        case .delete, .restore: return true
        default: return false
        }
    }

    /// `changes` without a remove of an element its record holds no tag of, nor a second remove
    /// of one element: its effect holds already. A remove made as several operations (an
    /// element of more tags than one lists) is remade as one, which takes every tag, and the
    /// next one found nothing and was refused, the write with it, set aside for good (a review);
    /// so was a remove of an element someone else removed meanwhile.
    private func withoutRemovesOfAbsentElements(_ writes: [(collection: String, record: String, changes: [Change])]) throws
        -> [(collection: String, record: String, changes: [Change])] {
        var removed: Set<[String]> = []
        return try writes.compactMap { write in
            let rid = try database.queryScalarInteger("SELECT rid FROM records WHERE collection = ? AND record = ?", write.collection, write.record)
            let changes = try write.changes.filter { change in
                guard case .remove(let field, let element) = change else { return true }
                guard removed.insert([write.collection, write.record, field, element]).inserted else { return false }
                guard let rid else { return true }
                return try database.queryScalarInteger("SELECT 1 FROM entries WHERE rid = ? AND field = ? AND key = ? LIMIT 1", rid, field, element) != nil
            }
            return changes.isEmpty ? nil : (write.collection, write.record, changes)
        }
    }

    /// The changes that make `operations` anew, record by record in their order: their values,
    /// elements, keys and entries, for `writeMany` to supersede what is held now. Left out: what
    /// an operation of `later` writes again (the same register, map key or set element, a
    /// retraction of the entry, a delete or restore of the record), which the later write, kept
    /// with its own stamp, decides; their ids are returned apart. Nil when one cannot be said
    /// as a change (an erase names its record by hash only).
    static func changes(remaking operations: [Operation], before later: [Operation], deciding: Set<OperationID>)
        -> (writes: [(collection: String, record: String, changes: [Change])], leftOut: [OperationID])? {
        // Records a later write leaves deleted (its last delete or restore of the record that
        // decides, one of `deciding`, is a delete): what is made anew of them would be entries
        // that delete never observed, which bring the record back where edits win over a delete,
        // and a conflict everywhere. The later delete decides: left out, the record is made anew
        // with nothing, and a delete of one the upstream never held is refused as not there. A
        // later restore that decides brings the record back, and what comes before it with it.
        func name(_ operation: Operation) -> BatchState.RecordName { .init(collection: operation.collection, record: operation.record) }
        var deletedLater = Set<BatchState.RecordName>()
        for next in later where deciding.contains(next.id) {
            switch next.action {
            case .delete: deletedLater.insert(name(next))
            case .restore: deletedLater.remove(name(next))
            default: break
            }
        }
        func isWrittenAgain(_ operation: Operation) -> Bool {
            switch operation.action {
            case .delete, .restore, .erase: break
            default: if deletedLater.contains(name(operation)) { return true }
            }
            return later.contains { next in
                guard next.collection == operation.collection, next.record == operation.record else { return false }
                switch (operation.action, next.action) {
                case (.delete, .delete), (.delete, .restore), (.restore, .delete), (.restore, .restore):
                    return true
                case (.set, .set):
                    return next.field == operation.field
                case (.mapSet(let key, _, _), .mapSet(let nextKey, _, _)), (.mapSet(let key, _, _), .mapRemove(let nextKey, _)),
                     (.mapRemove(let key, _), .mapSet(let nextKey, _, _)), (.mapRemove(let key, _), .mapRemove(let nextKey, _)):
                    return next.field == operation.field && key == nextKey
                case (.add(let element), .add(let nextElement)), (.add(let element), .remove(let nextElement, _)),
                     (.remove(let element, _), .add(let nextElement)), (.remove(let element, _), .remove(let nextElement, _)):
                    return next.field == operation.field && element == nextElement
                case (.append, .retract(let entries)):
                    return next.field == operation.field && entries.contains(operation.id)
                default:
                    return false
                }
            }
        }
        var writes: [(collection: String, record: String, changes: [Change])] = []
        var leftOut: [OperationID] = []
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
            if isWrittenAgain(operation) {
                leftOut.append(operation.id)
                continue
            }
            if let last = writes.last, last.collection == operation.collection, last.record == operation.record {
                writes[writes.count - 1].changes += made
            } else {
                writes.append((operation.collection, operation.record, made))
            }
        }
        return (writes, leftOut)
    }

    /// What the operator of a replica that can no longer send its writes does: a new folder.
    public static let newFolderSteps = "join a new, empty folder to the upstream (`chorus init`, then `chorus join` with a new token from the upstream's operator, then `chorus sync`)"
}
