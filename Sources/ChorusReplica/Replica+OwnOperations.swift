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
        /// replica lacks; 0 when it lacks none (`differingLatest` then says why this is).
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
        /// When it lacks none: the counter of the highest operation the upstream holds of this
        /// replica's, which this replica holds unsent under the same counter with other content.
        /// Its writes since the restore took every id it lost (`log_latest`).
        public let differingLatest: UInt64?
    }

    /// An origin's highest logged operation, by its counter and the XXH64 of its canonical bytes
    /// (`log_latest`): what tells two operations under one id apart once their bytes are gone.
    public struct LatestOperation: Equatable, Sendable {
        public let counter: UInt64
        public let hash: UInt64

        public init(counter: UInt64, hash: UInt64) {
            self.counter = counter
            self.hash = hash
        }

        /// The hash of an operation's canonical bytes (its log payload).
        public static func hash(_ canonicalBytes: UnsafeRawBufferPointer) -> UInt64 {
            var hasher = XXHash64()
            hasher.update(canonicalBytes)
            return hasher.finalize()
        }

        public static func hash(_ canonicalBytes: [UInt8]) -> UInt64 { canonicalBytes.withUnsafeBytes { hash($0) } }
    }

    /// How many rows of `log_latest` name another counter than their origin's highest in
    /// `log_ids` (`chorus check`, and a snapshot's checks): it says only which is the highest.
    /// A replica keeps no row of its own (`forgetOwnLatestSQL`); `chorus check` asks that apart.
    static let logLatestMismatchesSQL = """
        SELECT count(*) FROM log_latest l WHERE l.counter IS NOT (SELECT max(i.last) FROM log_ids i WHERE i.replica = l.replica)
        """

    /// Drops the row of this replica's own operations (bound: its id) from `log_latest`, where a
    /// snapshot brings the upstream's: nobody asks a replica about its own (`info?own=1` and a
    /// push's check are about the asker's and the pusher's), so a local write does not keep it,
    /// and a row kept would go stale.
    static let forgetOwnLatestSQL = "DELETE FROM main.log_latest WHERE replica = ?"

    /// The counter and content hash of `origin`'s highest operation this log ever held
    /// (`log_latest`): nil when not known (logged before this replica kept it, and compacted or
    /// erased since).
    public func loggedLatest(of origin: ReplicaID) throws -> LatestOperation? {
        try Replica.wrapStorage {
            var latest: LatestOperation?
            try database.forEachColumns("SELECT counter, hash FROM log_latest WHERE replica = ?", parameters: [origin.bytes]) { row in
                guard let counter = UInt64(exactly: row.integer(0)) else { return }
                latest = LatestOperation(counter: counter, hash: UInt64(bitPattern: row.integer(1)))
            }
            return latest
        }
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
    /// (`held`, the intervals it sent) and, of the highest (`latest`, when the upstream said),
    /// the same content; else what it lacks, and which of its own not yet pushed the upstream holds.
    public func lostOwnOperations(upstreamHolds held: CounterRanges, latest: LatestOperation? = nil) throws -> LostOwnOperations? {
        let own = try Replica.wrapStorage { try storedLoggedIDs(of: id) }
        let firstLacking = own.firstMissing(of: held)
        // Lacking none, the writes made since a restore took every id it lost (fewer would leave
        // it lacking some): the highest the upstream holds is then one of them, not yet pushed.
        guard firstLacking != nil || latest.map({ own.contains($0.counter) }) == true else { return nil }
        var unsent = CounterRanges()
        var differing: UInt64?
        try forEachLogged(after: try upstream()?.pushCursor ?? 0) { logged in
            guard logged.entry.replicaID == id, logged.source != "upstream" else { return true }
            _ = unsent.insert(logged.entry.counter)
            // Its bytes erased here (its record erased), it is not compared.
            if let latest, logged.entry.counter == latest.counter, let payload = logged.entry.payload,
               LatestOperation.hash(payload) != latest.hash {
                differing = latest.counter
            }
            return true
        }
        guard let first = firstLacking ?? differing.map({ _ in 0 }) else { return nil }
        let lackingCount = held.count - (own.overlap(with: held)?.count ?? 0)
        let reused = unsent.overlap(with: held)
        return LostOwnOperations(firstLacking: first, lackingCount: lackingCount, unsentHeldCount: reused?.count ?? 0,
                                 firstUnsentHeld: reused?.first ?? 0, differingLatest: firstLacking == nil ? differing : nil)
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
