import ChorusCore
import SQLiteKit

/// What an upstream holds of this replica's own operations (protocol 4.2, `ownOperations`) against
/// what this replica holds: the sign, whatever either side compacted, that this folder was restored
/// from a backup of itself or copied. Such a folder lacks operations of its own that the upstream
/// holds (made after the backup), and hands their ids out again (its counters went back with it):
/// the upstream takes a write made under such an id as one it holds, and the write is lost unseen.
/// `SyncSession` asks before it pushes, so none made here since has gone up yet.
extension Replica {
    /// What the comparison found: this replica lacks operations of its own that the upstream holds.
    public struct LostOwnOperations: Equatable, Sendable {
        /// The lowest counter of this replica's own operations that the upstream holds and this
        /// replica lacks.
        public let firstLacking: UInt64
        /// How many it lacks (of the intervals the upstream sent).
        public let lackingCount: UInt64
        /// Of this replica's own operations not yet pushed, those whose id the upstream holds: how
        /// many, and the lowest counter (0 when none). Made since the restore, they reuse the id
        /// of another operation; kept from before it (unsent when the backup was taken, sent
        /// since by the folder it was restored over), they are the same. Nothing here tells the
        /// two apart once the upstream compacted them, so none of them may go.
        public let unsentHeldCount: UInt64
        public let firstUnsentHeld: UInt64
    }

    /// The intervals of `origin`'s operation counters this replica has logged, ascending: the
    /// highest `max` of them when there are more (the lost operations of a restored folder are
    /// its latest).
    public func loggedIntervals(of origin: ReplicaID, max: Int) throws -> [(first: UInt64, last: UInt64)] {
        try Replica.wrapStorage {
            var rows: [(first: UInt64, last: UInt64)] = []
            try database.forEachRow("SELECT first, last FROM log_ids WHERE replica = ? ORDER BY first DESC LIMIT ?", parameters: [origin.bytes, Int64(max)]) { row in
                rows.append((UInt64(bitPattern: row.integer(0) ?? 0), UInt64(bitPattern: row.integer(1) ?? 0)))
            }
            return rows.reversed()
        }
    }

    /// nil when this replica holds every operation of its own that the upstream says it holds
    /// (`held`, the intervals it sent); else what it lacks, and which of its own not yet pushed
    /// the upstream holds.
    public func lostOwnOperations(upstreamHolds held: CounterRanges) throws -> LostOwnOperations? {
        let own = try Replica.wrapStorage { try storedLoggedIDs(of: id) }
        guard let first = own.firstMissing(of: held) else { return nil }
        let lackingCount = held.count - (own.overlap(with: held)?.count ?? 0)
        var unsent = CounterRanges()
        try forEachLogged(after: try upstream()?.pushCursor ?? 0) { logged in
            if logged.entry.replicaID == id, logged.source != "upstream" { _ = unsent.insert(logged.entry.counter) }
            return true
        }
        let reused = unsent.overlap(with: held)
        return LostOwnOperations(firstLacking: first, lackingCount: lackingCount, unsentHeldCount: reused?.count ?? 0, firstUnsentHeld: reused?.first ?? 0)
    }

    /// Whether this replica's log holds an operation it does not push (not from its upstream,
    /// and made neither here nor by a replica registered below it: another replica's, imported
    /// from a bundle), which its upstream may lack until its maker syncs. Reads the whole log:
    /// asked only when the digests differ with nothing to push or pull (`SyncSession.compare`).
    public func holdsOperationsItCannotPush() throws -> Bool {
        let authors = Set(try replicasBelow().map(\.bytes) + [id.bytes])
        var found = false
        try Replica.wrapStorage {
            try forEachLogged(after: 0) { logged in
                if logged.source != "upstream", !authors.contains(Array(logged.entry.replica)) { found = true }
                return !found
            }
        }
        return found
    }
}
