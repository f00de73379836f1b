import ChorusCore
import ChorusReplica
import Foundation

/// What the replica's recent turns read that a sync changing nothing needs again: the log's last
/// sequence and compaction point, the node's name and clock, and the peers of tokens presented.
/// Trusted only while the change watch reads the version they were read at, so a request answered
/// from them gets what a turn would have given it: any commit anywhere (a write, a push, a token
/// revoked by another process) sends the next request to the replica. This node's own activity
/// flush is the exception: in its own turn it reads again the head and the peers presented since
/// the last flush (`SyncService.readQuietlyAgain`), and tokens not presented since are forgotten.
///
/// Why: every sync request waited for the replica's one connection twice (its token, then its
/// page), and with 64 connections polling, the waiting, not the work, bounded a hub (P4,
/// Docs/performance-notes.md, fourteenth round). A compaction or a large push holds the replica
/// for seconds; no-op syncs now answer through it.
final class QuietReads: @unchecked Sendable {
    struct Reads {
        let version: Int64
        var head: Head?
        /// By token hash: peers found, not revoked, and bound (or admins).
        var peers: [String: Peer] = [:]
        /// By `Authorization` header (as clients send it, no spaces around the token), each
        /// token's hash for the tokens in `peers`, so a request answered from these reads hashes
        /// no token: SHA-256 was a tenth of a no-op sync's instructions (callgrind). The headers
        /// hold the tokens themselves: in memory only, as long as the reads (until the next
        /// commit, or the first activity flush in which the token was not presented), never
        /// written; what the disk keeps is still only their hashes.
        var tokenHashes: [String: String] = [:]
    }

    /// What `info` answers and a pull at the log's end needs.
    struct Head {
        let latest: Int64
        /// The id of the operation logged at `latest` (nil for an empty or wholly compacted log):
        /// what a pull at the log's end is checked against, and answered with (protocol 4.4).
        let latestOperation: OperationID?
        let compactedThrough: Int64
        let replica: ReplicaID
        let name: String
        let clock: HybridTimestamp
        /// The storage version a snapshot of this replica has (`Replica.storageVersion`).
        let storage: String

        /// Read in the replica's turn. `latest` and the id at it, when the caller has just read
        /// them in this turn, are not read again (the id is a read of the log's last block).
        init(_ replica: Replica, latest known: Int64? = nil, latestOperation knownOperation: OperationID? = nil) throws {
            latest = try known ?? replica.latestSequence()
            latestOperation = try knownOperation ?? replica.loggedOperationID(at: latest)
            compactedThrough = try replica.compactionFloor()
            self.replica = replica.id
            name = replica.name
            clock = replica.lastTimestamp
            storage = replica.storageVersion
        }

        func stamp(wall: UInt64) -> ServerStamp { ServerStamp(replica: replica, name: name, clock: clock, wall: wall) }
    }

    /// Tokens (and `Authorization` headers) remembered at most at once; beyond, the next one is
    /// not remembered.
    static let peersMax = 4096

    private let watch: ChangeWatch
    private let lock = NSLock()
    private var reads: Reads?
    /// Answers given from the reads (a known token, `info`, a pull at the log's end).
    private var answered = 0
    var answers: Int { lock.withLock { answered } }

    init(watch: ChangeWatch) { self.watch = watch }

    /// The version to record a turn's reads at: taken in the turn before it reads, so a commit by
    /// another process in between can only make the reads look older than they are, never newer.
    func versionBeforeReading() -> Int64? { watch.version() }

    /// Adds what a turn read at `version` (nil: the version could not be read; nothing is kept).
    func record(at version: Int64?, _ change: (inout Reads) -> Void) {
        guard let version else { return }
        lock.withLock {
            if reads?.version != version { reads = Reads(version: version) }
            change(&reads!)
        }
    }

    /// The reads last recorded, whether or not still true: what a turn may read again
    /// (`SyncService.readQuietlyAgain`), never an answer.
    func lastReads() -> Reads? { lock.withLock { reads } }

    /// What `read` makes of the reads while they are still true; nil when anything has committed
    /// since they were read, or `read` finds nothing.
    func trusted<T>(_ read: (Reads) -> T?) -> T? {
        answer(from: current(), read)
    }

    /// The reads as they stand now if they are still true, else nil: one look at the change
    /// watch, which a request asking several questions (its token, then its page) answers all of
    /// them from, as of that moment. Each look is a `PRAGMA data_version`, a read transaction with
    /// its locks, under the watch's one lock that every request in flight shares.
    func current() -> Reads? {
        guard let version = watch.version() else { return nil }
        return lock.withLock { reads?.version == version ? reads : nil }
    }

    /// What `read` makes of reads taken by `current()`; nil when there were none or it finds nothing.
    func answer<T>(from reads: Reads?, _ read: (Reads) -> T?) -> T? {
        guard let reads, let answer = read(reads) else { return nil }
        lock.withLock { answered += 1 }
        return answer
    }
}
