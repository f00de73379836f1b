import ChorusCore
import SQLiteKit

/// A replica registered below this node (`chorus replicas add`).
public struct Peer: Equatable, Sendable {
    public enum Role: String, CaseIterable, Sendable {
        /// A laptop or any replica: syncs, pushes only operations it made.
        case replica
        /// An office node: syncs and may also relay operations of replicas registered below it.
        case relay
        /// An admin tool: admin routes only.
        case admin
    }
    public let name: String
    public let role: Role
    /// The replica id bound at its first request; nil until then.
    public let replica: ReplicaID?
    public let isRevoked: Bool
    public let createdWall: UInt64
    public let lastSeenWall: UInt64?
    /// The last pull cursor it sent: everything up to here it has.
    public let acknowledgedSequence: Int64
    /// The person whose laptop it is (`chorus replicas add NAME --person ID`): every operation
    /// it pushes is theirs (`Authorship`). Nil: a replica trusted as its operator is.
    public var person: String? = nil

    /// The `oplog.source` value for operations it pushes.
    public var source: String { "peer:\(name)" }

    public var json: JSONValue {
        .object(["name": .string(name), "role": .string(role.rawValue), "replica": replica.map { .string($0.hex) } ?? .null,
                 "revoked": .bool(isRevoked), "created": .integer(Int64(createdWall)),
                 "lastSeen": lastSeenWall.map { .integer(Int64($0)) } ?? .null, "acknowledgedSequence": .integer(acknowledgedSequence),
                 "person": person.map(JSONValue.string) ?? .null])
    }
}

/// A page of this replica's log, already encoded, for a pull response or a push request.
public struct LogPage: Sendable {
    /// Canonical JSON of each operation, in log order.
    public let operations: [String]
    /// The last sequence examined: the cursor for the next page.
    public let next: Int64
    /// Whether more operations follow.
    public let hasMore: Bool
    /// The id of the operation logged at `next`, when the page read it (nil when it read none:
    /// `next` is then the `after` it was asked from). What a client sends back with the cursor, so
    /// the upstream can tell its log still holds that operation there (protocol 4.4).
    public let nextOperation: OperationID?
    /// Operations on the page only because their author is `alsoMadeBy`'s (the upstream's own,
    /// sent back after its restore).
    public var sentBack = 0
}

extension Replica {
    // MARK: Log pages

    /// Operations logged after `after`, skipping those from `excludedSource` (so nothing is echoed
    /// back where it came from) and erased ones, bounded by count and bytes (at least one operation).
    /// Costs the same whatever the length of history: a seek to the block holding `after + 1`.
    ///
    /// - Parameter authors: when given, only operations made by these replicas are included (a push
    ///   carries only what the upstream will accept from this node); others are skipped. Such a
    ///   page ends where a block starts when it can (a block bigger than the page is split): one
    ///   write travels whole, so an upstream checking a laptop's writes (`Authorship`) sees a
    ///   record being made with the field that says who makes it.
    /// - Parameter excludedAuthor: operations this replica made are skipped too, whatever their
    ///   source: the puller's own, which reached here another way (a bundle of them imported here)
    ///   and were sent back to it.
    public func logPage(after: Int64, excludingSource excludedSource: String?, excludingAuthor excludedAuthor: ReplicaID? = nil,
                        authors: Set<ReplicaID>? = nil, alsoMadeBy also: (author: ReplicaID, through: Int64)? = nil,
                        operationsMax: Int, bytesMax: Int) throws -> LogPage {
        try Replica.wrapStorage {
            var operations: [String] = []
            var bytes = 0
            var next = after
            // The id at `next`, made once the page ends: the replica's bytes copied into one
            // buffer per page, not an id allocated for every operation visited.
            var nextReplica = [UInt8](repeating: 0, count: 16)
            var nextCounter: UInt64?
            func passed(_ logged: LoggedEntry) {
                next = logged.sequence
                guard logged.entry.replica.count == nextReplica.count else { return nextCounter = nil }
                nextReplica.withUnsafeMutableBytes { $0.copyMemory(from: logged.entry.replica) }
                nextCounter = logged.entry.counter
            }
            var hasMore = false
            let scanMax = operationsMax * 4 + 100
            var scanned = 0
            let authorBytes = authors.map { Set($0.map(\.bytes)) }
            let excludedBytes = excludedAuthor?.bytes
            // Operations of `also.author` through `also.through`, whatever their source: an
            // upstream's own, sent back to it once it was restored from a backup and lost them.
            let alsoBytes = also?.author.bytes, alsoThrough = also?.through ?? 0
            var sentBackCount = 0
            // Where the page stood when the block being read started: a push page ends there.
            var blockStart: (count: Int, bytes: Int, next: Int64, nextCounter: UInt64?, nextReplica: [UInt8], sentBack: Int)?
            func endAtBlockStart() {
                guard authors != nil, let start = blockStart, start.count > 0, start.count < operations.count else { return }
                operations.removeLast(operations.count - start.count)
                (bytes, next, nextCounter, nextReplica, sentBackCount) = (start.bytes, start.next, start.nextCounter, start.nextReplica, start.sentBack)
            }
            // Read in place from the block: only the payload becomes a String, and only when it is
            // sent (a `Row` per operation was most of a hub's work per pulled operation, callgrind P3).
            try forEachLogged(after: after) { logged in
                if authors != nil && logged.startsBlock { blockStart = (operations.count, bytes, next, nextCounter, nextReplica, sentBackCount) }
                scanned += 1
                if scanned > scanMax {
                    hasMore = true
                    endAtBlockStart()
                    return false
                }
                let sentBack = alsoBytes != nil && logged.sequence <= alsoThrough && logged.entry.replica.elementsEqual(alsoBytes!)
                guard sentBack || (excludedSource.map({ logged.source != $0 }) ?? true
                                   && excludedBytes.map({ !logged.entry.replica.elementsEqual($0) }) ?? true
                                   && authorBytes?.contains(Array(logged.entry.replica)) ?? true),
                      let payload = logged.entry.payload else {
                    passed(logged)
                    return true
                }
                if !operations.isEmpty && (operations.count >= operationsMax || bytes + payload.count > bytesMax) {
                    hasMore = true
                    if !logged.startsBlock { endAtBlockStart() }
                    return false
                }
                operations.append(String(decoding: payload, as: UTF8.self))
                if sentBack { sentBackCount += 1 }
                bytes += payload.count + 1
                passed(logged)
                return true
            }
            // Checked after the blocks are read, not before: the page's statements are not one read
            // transaction, and a compaction committed while they ran (another process may compact)
            // sets its point in the same transaction as it deletes. A point read now that is still
            // at or below `after` means nothing after `after` was removed before it was read.
            try checkNotCompacted(after: after)
            let nextOperation = nextCounter.flatMap { counter in ReplicaID(bytes: nextReplica).map { OperationID(replica: $0, counter: counter) } }
            var page = LogPage(operations: operations, next: next, hasMore: hasMore, nextOperation: nextOperation)
            page.sentBack = sentBackCount
            return page
        }
    }

    // MARK: Registered replicas

    /// Registers a replica below this node and returns its new 256-bit token (hex). Only the token's
    /// SHA-256 is stored; the token cannot be shown again.
    ///
    /// With `replica`, the token is bound to that id at once: the operator says which replica it
    /// is for. That is how a replica this node already knows gets a token (`bindPeer` gives no
    /// token an id known here on first use): a new token after a revoked one, or a laptop that
    /// synced through an office and now syncs here directly. Refused while an active token is
    /// bound to the id, and for this node's own id.
    ///
    /// With `person`, the replica is that person's laptop: it pushes only operations that are
    /// theirs (`Authorship`), and learns so from `info` to refuse others before it makes them.
    /// Only for the `replica` role (a relay speaks for many people), and only a person this
    /// node holds, so a mistyped id does not leave a laptop that can push nothing.
    ///
    /// `beforeCommit` is given the token inside the registration's transaction, before its commit
    /// (`replicas add --token-file` puts the file in place then): what it throws registers
    /// nothing, and a kill after it leaves a token file of a replica not registered (harmless,
    /// replaced by the next `add`), never a replica registered with a token nobody has.
    public func addPeer(name: String, role: Peer.Role, replica: ReplicaID? = nil, person: String? = nil,
                        beforeCommit: (String) throws -> Void = { _ in }) throws -> String {
        try OperationCodec.checkName(name, max: limits.peerNameBytesMax, what: "replica name")
        guard name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }) else {
            throw ChorusError(.malformedInput, "replica name \"\(name)\" may hold letters, digits, '-', '_' and '.' only")
        }
        if let person {
            guard role == .replica else {
                throw ChorusError(.malformedInput, "a person is named for a replica token only, not for the \(role.rawValue) role",
                                  hint: "a relay pushes the writes of everyone at its office, and an admin token pushes nothing: leave --person out")
            }
            try OperationCodec.checkName(person, max: limits.recordIDBytesMax, what: "person")
            guard schema.collection("people") != nil, let profile = try get(collection: "people", record: person), profile.isVisible else {
                throw ChorusError(.recordNotFound, "no person \(person.prefix(80)) here",
                                  hint: "name the laptop's person by their id, as `chorus list people` shows it on this node")
            }
        }
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 {
            let word = generator.next()
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        let token = Hex.encode(bytes)
        try bookkeeping { try database.transaction {
            if try database.queryScalarInteger("SELECT 1 FROM peers WHERE name = ?", name) != nil {
                throw ChorusError(.invalidState, "a replica named \(name) is already registered",
                                  hint: "choose another name (a revoked replica keeps its name, so what it did stays told by it)")
            }
            if let replica {
                guard replica != id else { throw ChorusError(.invalidState, "a token cannot be bound to this node's own id \(replica.hex)") }
                if let other = try database.queryScalarText("SELECT name FROM peers WHERE replica = ? AND revoked = 0", replica.bytes) {
                    throw ChorusError(.invalidState, "replica \(replica.hex) already has an active token, \(other)",
                                      hint: "revoke it first (`chorus replicas revoke \(other)`), then add the new one")
                }
                // The id moves to the new token; the revoked one keeps its name and history.
                try database.run("UPDATE peers SET replica = NULL WHERE replica = ? AND revoked = 1", replica.bytes)
            }
            try database.run("INSERT INTO peers(name, role, token_hash, created_wall, replica, person) VALUES (?, ?, ?, ?, ?, ?)",
                             name, role.rawValue, Replica.tokenHash(token), Int64(configuration.wallClock.nowMilliseconds()), replica?.bytes, person)
            try beforeCommit(token)
        } }
        return token
    }

    /// SHA-256 of a token, hex: what is stored and compared.
    public static func tokenHash(_ token: String) -> String { SHA256.hash(token).hexString }

    /// Every registered replica, by name.
    public func peers() throws -> [Peer] {
        try Replica.wrapStorage {
            try database.query("""
                SELECT name, role, replica, revoked, created_wall, last_seen_wall, acknowledged_seq, person FROM peers ORDER BY name
                """).map(Replica.peer)
        }
    }

    static func peer(_ row: Row) -> Peer {
        Peer(name: row.text(0)!, role: Peer.Role(rawValue: row.text(1)!) ?? .replica, replica: row.blob(2).flatMap(ReplicaID.init(bytes:)),
             isRevoked: row.integer(3) == 1, createdWall: UInt64(clamping: row.integer(4) ?? 0), lastSeenWall: row.integer(5).map(UInt64.init(clamping:)),
             acknowledgedSequence: row.integer(6) ?? 0, person: row.text(7))
    }

    /// Revokes a registered replica: its token stops working on the next request.
    public func revokePeer(name: String) throws {
        try bookkeeping {
            try database.run("UPDATE peers SET revoked = 1 WHERE name = ?", name)
            if database.changes == 0 {
                throw ChorusError(.recordNotFound, "no registered replica named \(name)", hint: "`chorus replicas list` shows them")
            }
        }
    }

    /// The peer a token belongs to, if it is registered and not revoked.
    public func peer(forToken token: String) throws -> Peer? {
        try peer(forTokenHash: Replica.tokenHash(token))
    }

    /// As `peer(forToken:)`, given the token's `tokenHash`: a server hashes before it takes its
    /// turn at the replica, so the turn is shorter.
    public func peer(forTokenHash hash: String) throws -> Peer? {
        try registeredPeer(forTokenHash: hash).flatMap { $0.isRevoked ? nil : $0 }
    }

    /// The peer a token was registered for, revoked or not: a refusal names whose it was.
    public func registeredPeer(forTokenHash hash: String) throws -> Peer? {
        try Replica.wrapStorage {
            try database.queryRow("""
                SELECT name, role, replica, revoked, created_wall, last_seen_wall, acknowledged_seq, person FROM peers WHERE token_hash = ?
                """, hash).map(Replica.peer)
        }
    }

    /// Binds a peer to the replica id it presents on first use; later requests must present the same.
    /// Writes only when binding (once per token).
    ///
    /// On first use a token takes only an id nobody here knows: not one another token was bound to
    /// (active or revoked), not one a relay below says it relays, not one with operations in this
    /// log. Otherwise any token's holder could claim a known replica's id, push operations in its
    /// name (an id it has not used yet would make the real one a duplicate, dropped), and have a
    /// relay's pushes of that replica's operations refused. The operator gives a known replica a
    /// token by naming its id (`addPeer(name:role:replica:)`, `chorus replicas add --replica`).
    ///
    /// - Throws: `invalidState` (HTTP 403) when the peer presents another id than the one bound,
    ///   an id known here, or this node's own id.
    public func bindPeer(_ peer: Peer, to replica: ReplicaID) throws -> Peer {
        try bookkeeping {
            if let bound = peer.replica, bound != replica {
                throw ChorusError(.invalidState, "token of \(peer.name) is bound to replica \(bound.hex), not \(replica.hex)",
                                  hint: "each token serves one replica; register another with `chorus replicas add`")
            }
            if replica == id { throw ChorusError(.invalidState, "a replica cannot present this node's own id") }
            if peer.replica == nil {
                let assign = "if this token is meant for it, revoke this token and register one naming the id: `chorus replicas add NAME --replica \(replica.hex)`"
                if let other = try database.queryScalarText("SELECT name FROM peers WHERE replica = ?", replica.bytes) {
                    throw ChorusError(.invalidState, "replica \(replica.hex) is already registered as \(other); a new token does not take a known id on first use",
                                      hint: assign)
                }
                if let relay = try database.queryScalarText("SELECT peer FROM peer_relayed WHERE replica = ? LIMIT 1", replica.bytes) {
                    throw ChorusError(.invalidState, "replica \(replica.hex) syncs through \(relay), below this node; a new token does not take a known id on first use",
                                      hint: assign)
                }
                if try database.queryScalarInteger("SELECT 1 FROM log_ids WHERE replica = ? LIMIT 1", replica.bytes) != nil {
                    throw ChorusError(.invalidState, "operations of replica \(replica.hex) are already in this node's log; a new token does not take a known id on first use",
                                      hint: assign)
                }
                try database.run("UPDATE peers SET replica = ? WHERE name = ?", replica.bytes, peer.name)
            }
            var bound = Peer(name: peer.name, role: peer.role, replica: replica, isRevoked: false, createdWall: peer.createdWall,
                             lastSeenWall: configuration.wallClock.nowMilliseconds(), acknowledgedSequence: peer.acknowledgedSequence)
            bound.person = peer.person
            return bound
        }
    }

    /// Records the replica ids a relay says are below it (replacing what it said before).
    public func setRelayed(peer: String, replicas: [ReplicaID]) throws {
        try bookkeeping {
            try database.transaction {
                try database.run("DELETE FROM peer_relayed WHERE peer = ?", peer)
                for replica in replicas { try database.run("INSERT OR IGNORE INTO peer_relayed(peer, replica) VALUES (?, ?)", peer, replica.bytes) }
            }
        }
    }

    /// Replica ids below this node: every bound registered replica that is not an admin, and
    /// everything relays below say is below them. A relay sends this list upstream, and pushes
    /// the operations of these replicas and its own. Revoked ones stay: what this node accepted
    /// from them before the revocation is in its state, and must reach the upstream, or the two
    /// would differ for ever (a revoked token pushes nothing new).
    public func replicasBelow() throws -> [ReplicaID] {
        try Replica.wrapStorage {
            let rows = try database.query("""
                SELECT replica FROM peers WHERE replica IS NOT NULL AND role != 'admin'
                UNION SELECT r.replica FROM peer_relayed r JOIN peers p ON p.name = r.peer WHERE p.role = 'relay'
                """)
            return rows.compactMap { $0.blob(0).flatMap(ReplicaID.init(bytes:)) }.filter { $0 != id }.sorted()
        }
    }

    /// Whether a peer may push an operation authored by `author`: its own, or for a relay, one of
    /// the replicas it says are below it (never this node's own). A relay is an office node its
    /// operator registered as one: it speaks for what it accepted, even of a replica that now
    /// also syncs here directly (a laptop that moved), whose operations it may still hold.
    /// `relayed`, when given, is what the relay says now (a push's list, checked before it is
    /// recorded, so a refused push records nothing); otherwise what it said last (`peer_relayed`).
    public func mayPush(peer: Peer, author: ReplicaID, relayed: Set<ReplicaID>? = nil) throws -> Bool {
        if author == peer.replica { return true }
        // This node's own operations, which an office that pulled them sends back once this node
        // was restored from a backup and lost them (`upstreamOwnToResend`): from a relay, trusted
        // with what it passes on, not from a replica, which pushes only what it made. Held
        // already, they count as duplicates; new, they come back under their ids, and the
        // counter moves past them (`appendToLog`).
        if author == id { return peer.role == .relay }
        guard peer.role == .relay else { return false }
        return try Replica.wrapStorage {
            if let relayed { return relayed.contains(author) }
            return try database.queryScalarInteger("SELECT 1 FROM peer_relayed WHERE peer = ? AND replica = ?", peer.name, author.bytes) != nil
        }
    }

    // MARK: Upstream

    /// This node's upstream and sync cursors.
    public struct Upstream: Sendable {
        public let url: String
        public let tokenFile: String
        public let replica: ReplicaID?
        /// Upstream log sequence pulled through.
        public let pullCursor: Int64
        /// The id of the operation the upstream logged at `pullCursor`, as its page said; nil
        /// when not known (nothing is then checked).
        public let pullOperation: OperationID?
        /// Our log sequence pushed through.
        public let pushCursor: Int64
        public let lastAttemptWall: UInt64?
        public let lastSuccessWall: UInt64?
        public let lastError: String?
        public let observedSkewMilliseconds: Int64?
        /// The person the upstream says this replica's token is for (`Authorship`): every write
        /// made here is theirs. Nil: a replica trusted as its operator is.
        public let person: String?
    }

    /// The person the upstream registered this replica for (`Upstream.person`), read alone: a
    /// local write asks it in its own transaction.
    func upstreamPerson() throws -> String? {
        try database.queryScalarText("SELECT person FROM upstream WHERE id = 1")
    }

    public func upstream() throws -> Upstream? {
        try Replica.wrapStorage {
            try database.queryRow("""
                SELECT url, token_file, replica, pull_cursor, push_cursor, last_attempt_wall, last_success_wall, last_error, observed_skew_ms,
                       pull_operation, person
                FROM upstream WHERE id = 1
                """).map { row in
                Upstream(url: row.text(0)!, tokenFile: row.text(1)!, replica: row.blob(2).flatMap(ReplicaID.init(bytes:)),
                         pullCursor: row.integer(3) ?? 0, pullOperation: row.text(9).flatMap(OperationID.init),
                         pushCursor: row.integer(4) ?? 0,
                         lastAttemptWall: row.integer(5).map(UInt64.init(clamping:)), lastSuccessWall: row.integer(6).map(UInt64.init(clamping:)),
                         lastError: row.text(7), observedSkewMilliseconds: row.integer(8), person: row.text(10))
            }
        }
    }

    /// Sets the upstream. Cursors start over when the URL changes (re-sending is harmless), except
    /// once the log is compacted: then only the same upstream at a new address is accepted, cursors
    /// kept, and a first upstream is refused (it could not be sent the compacted history).
    public func setUpstream(url: String, tokenFile: String) throws {
        try bookkeeping {
            try database.transaction {
                let current = try database.queryScalarText("SELECT url FROM upstream WHERE id = 1")
                if current == url {
                    try database.run("UPDATE upstream SET token_file = ? WHERE id = 1", tokenFile)
                } else if case let floor = try compactedThrough(), floor > 0 {
                    // A new upstream would be sent this node's log from the start, and compaction removed
                    // some of it. The same upstream at a new address keeps its cursors (the first sync
                    // refuses another upstream's id); with no upstream yet, there is none to keep.
                    guard current != nil else {
                        throw ChorusError(.historyCompacted, "this replica's log is compacted through sequence \(floor), so a new upstream could not be sent all it holds",
                                          hint: "join a new, empty folder to that upstream instead, or make this node the upstream of the others (`chorus replicas add`)")
                    }
                    try database.run("UPDATE upstream SET url = ?, token_file = ? WHERE id = 1", url, tokenFile)
                } else {
                    try database.run("DELETE FROM upstream")
                    try database.run("DELETE FROM upstream_acknowledged")
                    try database.run("DELETE FROM meta WHERE key IN (?, ?)", Replica.resendUpstreamOwnKey, Replica.upstreamTakesOwnBackKey)
                    try database.run("INSERT INTO upstream(id, url, token_file) VALUES (1, ?, ?)", url, tokenFile)
                }
            }
        }
    }

    /// Starts this node's exchange with its upstream again after the upstream lost part of its log
    /// (restored from an older backup: protocol section 4.4): the push cursor goes back to this
    /// node's own compaction point, so everything its log holds that did not come from the upstream
    /// is sent again (what the upstream still has counts as duplicates), and the pull cursor back
    /// to `pullCursor`, the upstream's compaction point, which lies before anything it lost. Both
    /// only move back. Returns the last operation made here or below (for a relay, by the upstream too) that compaction removed
    /// (`pushableCompactedThrough`): what the upstream lost of those cannot be sent again (0 when
    /// none was compacted here).
    @discardableResult
    public func rewindUpstreamCursors(pullCursor: Int64, resendingUpstreamOwn: Bool = false) throws -> Int64 {
        try bookkeeping {
            // One commit: killed between the two, the cursors stood rewound (so no later sync
            // rewound again) while the acknowledgements kept their old times, and compaction
            // could drop blocks just sent again without the window kept for a second restore
            // (a read-only audit).
            try database.transaction {
                let floor = try compactedThrough()
                try database.run("""
                    UPDATE upstream SET push_cursor = min(push_cursor, ?1), pull_cursor = min(pull_cursor, max(0, ?2)),
                        pull_operation = NULL WHERE id = 1
                    """, floor, pullCursor)
                // What is sent again is acknowledged again, from now: the old times no longer count.
                try database.run("UPDATE upstream_acknowledged SET through_seq = min(through_seq, ?)", floor)
                // The upstream's own operations this log holds go back with the rest: the upstream
                // may have lost them with its disk, and no one else sends a node its own.
                if resendingUpstreamOwn {
                    try database.run("""
                        INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), ?2)
                        """, Replica.resendUpstreamOwnKey, try latestLoggedSequence())
                }
                // What the upstream may lack for good: operations made here or below that
                // compaction removed (`pushableCompactedThrough`), not the floor, which a snapshot
                // sets with nothing of this replica's below it.
                return try pushableCompactedThrough()
            }
        }
    }

    /// The `meta` key of the log sequence through which the upstream's own operations go back
    /// to it (`rewindUpstreamCursors(resendingUpstreamOwn:)`).
    static let resendUpstreamOwnKey = "resend_upstream_own_through"

    /// The log sequence through which the upstream's own operations this log holds are pushed
    /// back to it, as they are after it was restored from a backup; 0: none.
    public func upstreamOwnToResend() throws -> Int64 {
        try Replica.wrapStorage { try database.queryScalarInteger("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", Replica.resendUpstreamOwnKey) ?? 0 }
    }

    /// The `meta` key saying the upstream takes its own operations back from this replica (its
    /// token there is a relay's, as its `info` said at the last sync).
    static let upstreamTakesOwnBackKey = "upstream_takes_own_back"

    /// Records what the upstream's `info` said of it (`relay`), writing only when it changed.
    public func recordUpstreamTakesOwnBack(_ takes: Bool) throws {
        guard try upstreamTakesOwnBack() != takes else { return }
        try Replica.wrapStorage {
            if takes {
                try database.run("INSERT INTO meta(key, value) VALUES (?, 1) ON CONFLICT(key) DO NOTHING", Replica.upstreamTakesOwnBackKey)
            } else {
                try database.run("DELETE FROM meta WHERE key = ?", Replica.upstreamTakesOwnBackKey)
            }
        }
    }

    /// Whether the upstream takes its own operations back from this replica, as last recorded.
    public func upstreamTakesOwnBack() throws -> Bool {
        try Replica.wrapStorage { try database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?)", Replica.upstreamTakesOwnBackKey) == 1 }
    }

    /// Forgets the resend once the push has gone past it.
    public func finishUpstreamOwnResend() throws {
        try Replica.wrapStorage { try database.run("DELETE FROM meta WHERE key = ?", Replica.resendUpstreamOwnKey) }
    }

    /// Applies a page pulled from the upstream and moves the pull cursor to `next` in the same
    /// transaction: a page is merged and acknowledged together. That is one durable commit when
    /// the page holds at most `operationsPerBatchMax` operations (pages are cut smaller than that);
    /// a larger one commits batch by batch and moves the cursor with the last batch.
    /// Takes operations prepared where the page was decoded (`PreparedOperation`). `nextOperation`
    /// is the id the page gave for the operation at `next`, kept with the cursor (nil: not known).
    @discardableResult
    public func applyPulled(_ operations: [PreparedOperation], through next: Int64, nextOperation: OperationID? = nil) throws -> ApplyReport {
        try applyRemote(operations, source: "upstream", inLastBatch: {
            try self.movePullCursor(to: next, operation: nextOperation)
        })
    }

    /// Moves the pull cursor forward to `next` (never back), and keeps `operation` as the id at it
    /// when the cursor is then at `next`; a cursor moved on with no id known forgets the one it had.
    func movePullCursor(to next: Int64, operation: OperationID?) throws {
        try database.run("""
            UPDATE upstream SET pull_operation = CASE WHEN ?1 > pull_cursor THEN ?2
                    WHEN ?1 = pull_cursor THEN coalesce(?2, pull_operation) ELSE pull_operation END,
                pull_cursor = max(pull_cursor, ?1) WHERE id = 1
            """, next, operation?.description)
    }

    /// Records sync progress and health, in one transaction. Nil arguments leave a column as it is.
    ///
    /// What only reports (when a sync was tried or succeeded, its error, the clock skew it saw) is
    /// committed without syncing the log when nothing else changes, and so is `learnt`, the id the
    /// upstream named at an unmoved pull cursor (kept only while the cursor is there and no id
    /// is known): a power cut may lose it, and `chorus status` then shows the sync before (a lost
    /// id skips one check until a page names it again); the next durable commit, or a checkpoint, keeps
    /// it for good. Why: a sync recorded its attempt and its success with a sync of the log each,
    /// and the one at the end of a snapshot bootstrap waited 3 to 5 ms behind the checkpoint of
    /// the snapshot's pages (P3 in `Docs/performance.md`). The upstream's id (checked and written
    /// in the same transaction) and the cursors are committed durably, as every change to what
    /// this replica holds or has sent.
    ///
    /// `person`: whom the upstream's `info` says this replica's token is for (`.some(nil)`: no one).
    ///
    /// `pushSent`: the push cursor moved past operations the upstream just acknowledged (false:
    /// past a stretch holding none to push, which needs no keeping for a restored upstream).
    public func recordUpstream(replica: ReplicaID? = nil, pullCursor: Int64? = nil, pushCursor: Int64? = nil, pushSent: Bool = true,
                               attempt: Bool = false, success: Bool = false, error: String?? = nil, skewMilliseconds: Int64? = nil,
                               pullOperationAt learnt: (cursor: Int64, operation: OperationID)? = nil, person: String?? = nil) throws {
        try bookkeeping {
            let now = Int64(configuration.wallClock.nowMilliseconds())
            let write = {
                if let replica {
                    let known = try self.database.queryRow("SELECT replica FROM upstream WHERE id = 1")?.blob(0)
                    if let known, known != replica.bytes {
                        throw ChorusError(.invalidState, "the upstream is now replica \(replica.hex), not \(Hex.encode(known)) as before",
                                          hint: try self.compactedThrough() > 0
                                              ? "this replica's log is compacted (by `chorus compact`, or since it started from its upstream's snapshot), so it cannot start over with another upstream: `chorus join` the previous upstream again and sync, so its own writes are sent, then join a new, empty folder to the new one (with the previous one gone, `chorus export --output FILE` and import the file in the new folder)"
                                              : "if the upstream was replaced on purpose: `chorus join` of another URL starts over; at the same URL, join a new, empty folder to it (this one's own writes: `chorus export --output FILE` here, `chorus import FILE` there)")
                    }
                    // Written once: known already, it is not written again.
                    if known == nil { try self.database.run("UPDATE upstream SET replica = ? WHERE id = 1", replica.bytes) }
                }
                if let pullCursor { try self.movePullCursor(to: pullCursor, operation: nil) }
                if let pushCursor {
                    try self.database.run("UPDATE upstream SET push_cursor = max(push_cursor, ?) WHERE id = 1", pushCursor)
                    if pushSent {
                        // When (to the minute) the upstream had it all through there: compaction
                        // keeps it a while longer (`acknowledgedKeptSeconds`). Rows older than the
                        // longest keep but the newest of them are of no more use.
                        try self.database.run("""
                            INSERT INTO upstream_acknowledged(minute, through_seq) VALUES (?1 / 60000, ?2)
                            ON CONFLICT(minute) DO UPDATE SET through_seq = max(through_seq, excluded.through_seq)
                            """, now, pushCursor)
                        try self.database.run(Replica.pruneAcknowledgedSQL, (now - Replica.acknowledgedKeptSecondsMax * 1000) / 60_000 - 1)
                    } else {
                        // Nothing to push in the stretch: as acknowledged as what came before it.
                        try self.database.run(Replica.nothingToKeepSQL, pushCursor)
                    }
                }
                if attempt { try self.database.run("UPDATE upstream SET last_attempt_wall = ? WHERE id = 1", now) }
                if success { try self.database.run("UPDATE upstream SET last_success_wall = ?, last_error = NULL WHERE id = 1", now) }
                if let error { try self.database.run("UPDATE upstream SET last_error = ? WHERE id = 1", error) }
                if let skewMilliseconds { try self.database.run("UPDATE upstream SET observed_skew_ms = ? WHERE id = 1", skewMilliseconds) }
                if let person { try self.database.run("UPDATE upstream SET person = ? WHERE id = 1", person) }
                if let learnt {
                    try self.database.run("UPDATE upstream SET pull_operation = ?2 WHERE id = 1 AND pull_cursor = ?1 AND pull_operation IS NULL",
                                          learnt.cursor, learnt.operation.description)
                }
            }
            // Inside a caller's transaction, its commit is this one's.
            if database.isInTransaction { return try write() }
            // The upstream's id goes with a durable commit: written on the first sync only, the
            // commits of the others write nothing, and sync nothing.
            guard replica == nil, pullCursor == nil, pushCursor == nil, database.defersSyncs else { return try database.transaction(write) }
            try database.syncsEachCommit(false)
            do {
                try database.transaction(write)
            } catch {
                // Set back by the connection's next transaction if not here.
                try? database.syncsEachCommit(true)
                throw error
            }
            // Not set back, the sync fails here rather than leave later commits unsynced.
            try database.syncsEachCommit(true)
        }
    }

    /// What the log gained after sequence `end` other than from upstream (a write here, a push
    /// from a replica below, another process's), and where it ends now: read in one transaction,
    /// so an operation committed after it is after the end it gives. A pull asks it after each
    /// page (`SyncSession.pull`), from the end it gave before.
    public func logGrowth(after end: Int64) throws -> (notFromUpstream: Int64, end: Int64) {
        try Replica.wrapStorage { try database.readTransaction {
            (try countLive(after: end, excludingSource: "upstream").count, try latestLoggedSequence())
        } }
    }

    /// Operations of ours not yet pushed upstream (excluding those that came from upstream).
    public func pendingPushCount() throws -> Int64 {
        try pendingPush().count
    }

    /// Where pushing upstream has got to in the log (0 before the first push).
    func pushCursor() throws -> Int64 {
        try database.queryScalarInteger("SELECT push_cursor FROM upstream WHERE id = 1") ?? 0
    }

    /// What waits to go upstream, counted two ways in one transaction (so a push that ends
    /// between two reads never shows "waiting" beside "0 changes"): operations, one per field
    /// (`pendingPushCount`), and writes, as a person counts them: one thanks is five operations
    /// but one write. Writes are the log blocks holding a live operation after the push cursor,
    /// not from upstream. A write is one block (at most `Limits.fieldsPerWriteMax` operations,
    /// `LogBlock.operationsMax`) unless its values pass a block's bytes; a batch pushed from below
    /// or imported from a bundle counts as the one arrival it was, and a block the last push cut
    /// in two counts once.
    public func pendingPushCounts() throws -> (operations: Int64, writes: Int64) {
        try Replica.wrapStorage { try database.readTransaction {
            let cursor = try pushCursor()
            let operations = try countLive(after: cursor, excludingSource: "upstream").count
            guard operations > 0 else { return (0, 0) }
            return (operations, try database.queryScalarInteger("""
                SELECT count(*) FROM log_blocks WHERE last_seq > ? AND live > 0 AND (source IS NULL OR source != 'upstream')
                """, cursor) ?? 0)
        } }
    }

    /// `pendingPushCount`, and where the log ends, read in one transaction: a pull starts from
    /// both (`SyncSession.pull`), and an operation committed between two reads would be in
    /// neither count nor growth after the end.
    public func pendingPush() throws -> (count: Int64, logEnd: Int64) {
        try Replica.wrapStorage { try database.readTransaction {
            (try countLive(after: try pushCursor(), excludingSource: "upstream").count, try latestLoggedSequence())
        } }
    }
}
