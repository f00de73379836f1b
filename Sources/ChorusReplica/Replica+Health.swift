import ChorusCore
import SQLiteKit

/// How one replica known to this node is keeping up (`GET /admin/v1/replicas`, `chorus replicas health`).
public struct ReplicaHealth: Sendable {
    public let name: String
    /// `replica`, `relay`, `admin`, or `below NAME` for a replica a relay says is below it.
    public let role: String
    public let replica: ReplicaID?
    public let lastSeenWall: UInt64?
    public let lastSyncWall: UInt64?
    /// Operations here it has not pulled yet.
    public let waitingDown: Int64?
    /// Operations it said it has not pushed yet.
    public let waitingUp: Int64?
    /// Age of the oldest operation here it has not acknowledged, in milliseconds.
    public let lagMilliseconds: Int64?
    /// Its clock minus ours, as observed on its last request.
    public let skewMilliseconds: Int64?
    public let reportedDigest: String?
    public let digestMatched: Bool?
    public let isRevoked: Bool
    public let isSilent: Bool
    public let isSkewed: Bool
    /// The person whose laptop it is, when it was registered for one (`Authorship`).
    public var person: String? = nil

    public var flags: [String] {
        (isRevoked ? ["revoked"] : []) + (isSilent ? ["silent"] : []) + (isSkewed ? ["skewed-clock"] : [])
    }

    public var json: JSONValue {
        func optional(_ value: Int64?) -> JSONValue { value.map(JSONValue.integer) ?? .null }
        return .object([
            "name": .string(name), "role": .string(role), "replica": replica.map { .string($0.hex) } ?? .null,
            "lastSeen": optional(lastSeenWall.map(Int64.init)), "lastSync": optional(lastSyncWall.map(Int64.init)),
            "waitingDown": optional(waitingDown), "waitingUp": optional(waitingUp), "lagMilliseconds": optional(lagMilliseconds),
            "skewMilliseconds": optional(skewMilliseconds), "reportedDigest": reportedDigest.map(JSONValue.string) ?? .null,
            "digestMatched": digestMatched.map(JSONValue.bool) ?? .null, "flags": .array(flags.map(JSONValue.string)),
            "person": person.map(JSONValue.string) ?? .null,
        ])
    }
}

/// What requests told us about one registered replica since the last flush. Kept in memory and
/// written in one transaction now and then, so a no-op sync costs no disk write.
public struct PeerActivity: Sendable {
    public var lastSeenWall: UInt64?
    public var acknowledgedSequence: Int64?
    /// What the replica says it has committed (a durable acknowledgement; see `compactLog`).
    public var committedSequence: Int64?
    public var clientWall: UInt64?
    public var observedAtWall: UInt64?
    public var waitingUp: Int64?
    public var lastPushWall: UInt64?
    public var lastPullWall: UInt64?
    public init() {}

    /// Folds newer activity into this one.
    public mutating func merge(_ newer: PeerActivity) {
        lastSeenWall = newer.lastSeenWall ?? lastSeenWall
        acknowledgedSequence = [acknowledgedSequence, newer.acknowledgedSequence].compactMap { $0 }.max()
        committedSequence = [committedSequence, newer.committedSequence].compactMap { $0 }.max()
        if newer.clientWall != nil { clientWall = newer.clientWall; observedAtWall = newer.observedAtWall }
        waitingUp = newer.waitingUp ?? waitingUp
        lastPushWall = newer.lastPushWall ?? lastPushWall
        lastPullWall = newer.lastPullWall ?? lastPullWall
    }
}

extension Replica {
    /// Writes accumulated peer activity in one transaction.
    public func recordPeerActivity(_ activity: [String: PeerActivity]) throws {
        guard !activity.isEmpty else { return }
        try bookkeeping {
            try database.transaction {
                for (name, item) in activity.sorted(by: { $0.key < $1.key }) {
                    if let wall = item.lastSeenWall { try database.run("UPDATE peers SET last_seen_wall = ? WHERE name = ?", Int64(wall), name) }
                    if let sequence = item.acknowledgedSequence {
                        try database.run("UPDATE peers SET acknowledged_seq = max(acknowledged_seq, ?) WHERE name = ?", sequence, name)
                    }
                    if let sequence = item.committedSequence {
                        try database.run("UPDATE peers SET committed_seq = max(committed_seq, ?) WHERE name = ?", sequence, name)
                    }
                    if let client = item.clientWall, let at = item.observedAtWall {
                        // Clamped: both are at most Int64.max once clamped and at least 0, so the
                        // difference cannot overflow whatever a peer's header said.
                        try database.run("UPDATE peers SET observed_skew_ms = ? WHERE name = ?", Int64(clamping: client) - Int64(clamping: at), name)
                    }
                    if let waiting = item.waitingUp { try database.run("UPDATE peers SET pending_up = ? WHERE name = ?", waiting, name) }
                    if let wall = item.lastPushWall { try database.run("UPDATE peers SET last_push_wall = ? WHERE name = ?", Int64(wall), name) }
                    if let wall = item.lastPullWall { try database.run("UPDATE peers SET last_pull_wall = ? WHERE name = ?", Int64(wall), name) }
                }
            }
        }
    }

    /// Clock skew beyond which a replica is flagged, in milliseconds (a fifth of the drift limit).
    public var clockSkewWarningMilliseconds: Int64 { Int64(limits.clockDriftMillisecondsMax / 5) }

    /// Records the digest a replica reported at a cursor, and whether it matched ours at that cursor.
    public func recordReportedDigest(peer: String, digest: String, matched: Bool) throws {
        try bookkeeping {
            try database.run("UPDATE peers SET reported_digest = ?, digest_matched = ?, digest_reported_wall = ? WHERE name = ?",
                             digest, matched, Int64(configuration.wallClock.nowMilliseconds()), peer)
        }
    }

    /// Health of every replica registered here and every replica relays say is below them.
    ///
    /// - Parameter silentAfterMilliseconds: flag a replica not seen for longer than this.
    public func replicaHealth(silentAfterMilliseconds: Int64) throws -> [ReplicaHealth] {
        try Replica.wrapStorage { try database.readTransaction {
            let now = Int64(configuration.wallClock.nowMilliseconds())
            var rows: [ReplicaHealth] = []
            let peers = try database.query("""
                SELECT name, role, replica, revoked, created_wall, last_seen_wall, acknowledged_seq, reported_digest, digest_matched,
                       observed_skew_ms, pending_up, last_pull_wall, person FROM peers ORDER BY name
                """)
            let floor = try compactedThrough()
            for row in peers {
                let name = row.text(0)!, role = row.text(1)!, acknowledged = row.integer(6) ?? 0
                var waitingDown: Int64?, lag: Int64?
                // A revoked one pulls no more: what it has not pulled is not waiting for it, and a
                // lag growing for ever would hide the replicas really behind (a day-2 review).
                if role != "admin" && row.integer(3) != 1 {
                    // Below the compaction point the operations are gone from the log, so they are
                    // counted by sequence (it takes them from the snapshot): at most that many, the
                    // oldest at least as old as the compaction, whose time is not kept (the lag counts
                    // from the peer's registration then).
                    let below = max(0, floor - acknowledged)
                    let waiting = try countLive(after: max(acknowledged, floor), excludingSource: "peer:\(name)")
                    waitingDown = below + waiting.count
                    let oldest = below > 0 ? [row.integer(4), waiting.oldestWall].compactMap { $0 }.min() : waiting.oldestWall
                    lag = oldest.map { max(0, now - max($0, 0)) } ?? 0
                }
                // Times and skew as stored, kept in range: a row edited by hand (a negative time,
                // the smallest integer) must not stop the count on an overflow.
                let lastSeen = row.integer(5).map { max($0, 0) }
                let skew = row.integer(9).map { max($0, -Int64.max) }
                let reference = lastSeen ?? row.integer(4).map { max($0, 0) } ?? now
                rows.append(ReplicaHealth(
                    name: name, role: role, replica: row.blob(2).flatMap(ReplicaID.init(bytes:)), lastSeenWall: lastSeen.map(UInt64.init(clamping:)),
                    lastSyncWall: row.integer(11).map(UInt64.init(clamping:)), waitingDown: waitingDown, waitingUp: row.integer(10), lagMilliseconds: lag,
                    skewMilliseconds: skew, reportedDigest: row.text(7), digestMatched: row.integer(8).map { $0 == 1 },
                    isRevoked: row.integer(3) == 1, isSilent: row.integer(3) != 1 && now - reference > silentAfterMilliseconds,
                    isSkewed: abs(skew ?? 0) > clockSkewWarningMilliseconds, person: row.text(12)))
            }
            let relayed = try database.query("""
                SELECT r.replica, r.peer, (SELECT max(i.received_wall) FROM log_ids i WHERE i.replica = r.replica)
                FROM peer_relayed r JOIN peers p ON p.name = r.peer WHERE p.revoked = 0 ORDER BY r.peer, r.replica
                """)
            for row in relayed {
                guard let replica = row.blob(0).flatMap(ReplicaID.init(bytes:)) else { continue }
                let lastSeen = row.integer(2).map { max($0, 0) }
                rows.append(ReplicaHealth(
                    name: String(replica.hex.prefix(8)), role: "below \(row.text(1)!)", replica: replica, lastSeenWall: lastSeen.map(UInt64.init(clamping:)),
                    lastSyncWall: nil, waitingDown: nil, waitingUp: nil, lagMilliseconds: nil, skewMilliseconds: nil,
                    reportedDigest: nil, digestMatched: nil, isRevoked: false,
                    isSilent: lastSeen.map { now - $0 > silentAfterMilliseconds } ?? false, isSkewed: false))
            }
            return rows
        } }
    }
}
