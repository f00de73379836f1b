import Foundation
import ChorusCore
import ChorusReplica

/// The upstream side of sync protocol v1: from an authenticated request to a response, with no
/// HTTP in it (the node adapts it to routes). Every method is safe to call from any thread.
public final class SyncService: @unchecked Sendable {
    public let executor: ReplicaExecutor
    public let limits: Limits
    let wallClock: any WallClock
    private let activityLock = NSLock()
    private var activity: [String: PeerActivity] = [:]
    /// Snapshots written or being sent (`SnapshotLease`s alive).
    private var snapshotsOut = 0

    public init(executor: ReplicaExecutor, limits: Limits, wallClock: any WallClock) {
        self.executor = executor
        self.limits = limits
        self.wallClock = wallClock
    }

    /// Finds the registered replica for a request's credentials.
    ///
    /// - Parameters:
    ///   - authorization: the `Authorization` header (`Bearer TOKEN`).
    ///   - replicaHeader: the `Chorus-Replica` header; required for replica and relay tokens, whose
    ///     token is bound to the first id presented.
    /// - Throws: 401 for a missing, malformed, unknown or revoked token; 403 for a forged identity.
    public func authenticate(authorization: String?, replicaHeader: String?) throws(SyncError) -> Peer {
        guard let authorization, authorization.hasPrefix("Bearer ") else {
            throw SyncError.unauthorized("missing bearer token")
        }
        let token = String(authorization.dropFirst("Bearer ".count)).trimmingCharacters(in: " ")
        guard token.utf8.count == 64, Hex.decode(token) != nil else { throw SyncError.unauthorized("malformed token") }
        return try mapped {
            try executor.perform { replica throws -> Peer in
                guard let peer = try replica.peer(forToken: token) else {
                    throw SyncError.unauthorized("unknown or revoked token")
                }
                if peer.role == .admin {
                    note(peer.name) { $0.lastSeenWall = wallClock.nowMilliseconds() }
                    return peer
                }
                guard let replicaHeader, let presented = ReplicaID(hex: replicaHeader) else {
                    throw SyncError(status: 400, "missing or malformed \(SyncProtocol.replicaHeader) header",
                                    hint: "send the client's replica id (32 hex digits)")
                }
                do {
                    let bound = try replica.bindPeer(peer, to: presented)
                    note(peer.name) { $0.lastSeenWall = wallClock.nowMilliseconds() }
                    return bound
                } catch let error as ChorusError {
                    throw SyncError.forbidden(error.message, hint: error.hint)
                }
            }
        }
    }

    /// Checks the client's protocol version header.
    public func checkVersion(_ header: String?) throws(SyncError) {
        guard let header else {
            throw SyncError(status: 400, "missing \(SyncProtocol.versionHeader) header", hint: "send `\(SyncProtocol.versionHeader): 1`")
        }
        guard let version = Int(header), SyncProtocol.versions.contains(version) else {
            throw SyncError(status: 400, "protocol version \(header.prefix(10)) is not supported; this node speaks \(SyncProtocol.versions.map(String.init).joined(separator: ", "))",
                            hint: "upgrade the older of the two chorus binaries")
        }
    }

    /// Runs `body`, turning any error into a `SyncError`: the one place engine errors get a status.
    private func mapped<T>(_ body: () throws -> T) throws(SyncError) -> T {
        do {
            return try body()
        } catch let error as SyncError {
            throw error
        } catch let error as ChorusError {
            throw SyncError(error)
        } catch {
            throw SyncError(status: 500, "\(error)")
        }
    }

    func stamp(_ replica: Replica) -> ServerStamp {
        ServerStamp(replica: replica.id, name: replica.name, clock: replica.lastTimestamp, wall: wallClock.nowMilliseconds())
    }

    public func info() -> InfoResponse {
        executor.perform { replica in
            var offer: SnapshotOffer?
            if case .directory = replica.location, limits.snapshotsConcurrentMax > 0, let through = try? replica.latestSequence() {
                offer = SnapshotOffer(storage: replica.storageVersion, through: through)
            }
            return InfoResponse(server: stamp(replica), protocolVersions: SyncProtocol.versions, pullPageOperationsMax: limits.pullPageOperationsMax,
                                pushPageOperationsMax: limits.pushPageOperationsMax, pushBodyBytesMax: limits.pushBodyBytesMax, snapshot: offer)
        }
    }

    /// Writes a snapshot for a new replica (protocol 4.6) into the replica's folder, on the calling
    /// thread and from a connection of its own, so syncs go on meanwhile. The caller sends the
    /// file, keeping the lease until the last byte is out: each lease is a copy of the database on
    /// disk, so `snapshotsConcurrentMax` of them at most exist at once, however slowly clients read.
    ///
    /// - Throws: 409 when the client stores another version, 404 when this upstream keeps no file,
    ///   503 when `snapshotsConcurrentMax` snapshots are being written or sent already.
    public func snapshot(peer: Peer, storage: String?) throws(SyncError) -> SnapshotLease {
        guard peer.role == .replica || peer.role == .relay else { throw SyncError.forbidden("\(peer.role.rawValue) tokens cannot take snapshots") }
        let (location, schema, ownStorage) = executor.perform { ($0.location, $0.configuration.schema, $0.storageVersion) }
        guard case .directory = location, limits.snapshotsConcurrentMax > 0 else {
            throw SyncError(status: 404, "this upstream serves no snapshots", hint: "pull the log from sequence 0")
        }
        guard let storage, storage == ownStorage else {
            throw SyncError(status: 409, "the snapshot is of storage version \(ownStorage), the client stores \(storage?.prefix(128) ?? "nothing")",
                            hint: "pull the log instead, or run the same chorus version on both")
        }
        let admitted = activityLock.withLock { () -> Bool in
            guard snapshotsOut < limits.snapshotsConcurrentMax else { return false }
            snapshotsOut += 1
            return true
        }
        guard admitted else {
            throw SyncError(status: 503, "\(limits.snapshotsConcurrentMax) snapshots are being written or sent already",
                            hint: "retry in a few minutes, or pull the log")
        }
        let release: @Sendable () -> Void = { [self] in activityLock.withLock { snapshotsOut -= 1 } }
        do {
            return SnapshotLease(file: try Replica.writeSnapshot(of: location, schema: schema), release: release)
        } catch {
            release()
            throw SyncError(status: 500, "the snapshot could not be written: \((error as? ChorusError)?.message ?? "\(error)")",
                            hint: "clients pull the log instead; check the replica folder's free space")
        }
    }

    /// Applies a push. Idempotent: a retried push applies nothing twice. All or nothing: if any
    /// operation may not be pushed by this peer, or is invalid, nothing of the push is applied.
    public func push(peer: Peer, body: [UInt8]) throws(SyncError) -> PushResponse {
        guard peer.role == .replica || peer.role == .relay else {
            throw SyncError.forbidden("\(peer.role.rawValue) tokens cannot push", hint: "register the pushing node with --role replica or relay")
        }
        let request: PushRequest
        do { request = try PushRequest.decode(body, limits: limits) } catch { throw SyncError(error) }
        guard request.replica == peer.replica else {
            throw SyncError.forbidden("push names replica \(request.replica.hex) but the token belongs to \(peer.replica?.hex ?? "?")")
        }
        // Encoded here, on the connection's thread, so the replica's one thread only merges.
        let prepared = PreparedOperation.prepare(request.operations)
        return try mapped {
            try executor.perform { replica throws -> PushResponse in
                if peer.role == .relay { try replica.setRelayed(peer: peer.name, replicas: request.relayed) }
                for operation in request.operations where try !replica.mayPush(peer: peer, author: operation.id.replica) {
                    throw SyncError.forbidden("\(peer.name) may not push operation \(operation.id): it was made by replica \(operation.id.replica.hex), which is not \(peer.role == .relay ? "below it" : "itself"); nothing of this push was applied",
                                              hint: peer.role == .relay ? "register that replica on this relay with `chorus replicas add`" : "a replica pushes only its own operations")
                }
                let report = try replica.applyRemote(prepared, source: peer.source)
                return PushResponse(applied: report.applied, duplicates: report.duplicates, through: request.through, server: stamp(replica))
            }
        }
    }

    /// A page of operations after `after`, never including what came from this peer.
    public func pull(peer: Peer, after: Int64, limit: Int) throws(SyncError) -> [UInt8] {
        guard peer.role == .replica || peer.role == .relay else { throw SyncError.forbidden("\(peer.role.rawValue) tokens cannot pull") }
        guard after >= 0 else { throw SyncError(status: 400, "after must be 0 or more") }
        let pageSize = max(1, min(limit, limits.pullPageOperationsMax))
        return try mapped {
            try executor.perform { replica in
                // Only a progress hint for the lag view (protocol 4.4): a pipelining client asks for
                // the next page before it has committed this one, so this is not a durable ack.
                note(peer.name) { $0.acknowledgedSequence = after }
                let page = try replica.logPage(after: after, excludingSource: peer.source, operationsMax: pageSize, bytesMax: limits.pullPageBytesMax)
                return PullResponse.encode(operationTexts: page.operations, next: page.next, hasMore: page.hasMore, server: stamp(replica))
            }
        }
    }

    /// The state digest and the log sequence it was taken at. When the client reports its own
    /// digest at a cursor equal to ours, whether they match is recorded for the health view.
    public func digest(peer: Peer, reported: (digest: String, cursor: Int64)? = nil) throws(SyncError) -> DigestResponse {
        return try mapped {
            try executor.perform { replica in
                let snapshot = try replica.digestSnapshot()
                let response = DigestResponse(digest: snapshot.digest.hexString, through: snapshot.through, server: stamp(replica))
                if let reported, peer.role != .admin, reported.digest.utf8.count == 64, Hex.decode(reported.digest) != nil {
                    // The client says it has committed what it pulled through `cursor`: the durable
                    // acknowledgement (protocol section 2, Chorus-Digest with Chorus-Cursor).
                    note(peer.name) { $0.acknowledgedSequence = min(reported.cursor, response.through) }
                    try replica.recordReportedDigest(peer: peer.name, digest: reported.digest,
                                                     matched: reported.digest == response.digest && reported.cursor >= response.through)
                }
                return response
            }
        }
    }

    /// Records what a sync request says about its client (clock, waiting operations, route).
    public func recordRequest(peer: Peer, clientWall: UInt64?, waitingUp: Int64?, pushed: Bool, pulled: Bool) {
        guard peer.role != .admin else { return }
        let now = wallClock.nowMilliseconds()
        note(peer.name) { item in
            if let clientWall { item.clientWall = clientWall; item.observedAtWall = now }
            if let waitingUp { item.waitingUp = waitingUp }
            if pushed { item.lastPushWall = now }
            if pulled { item.lastPullWall = now }
        }
    }

    /// Folds what a request told us about a peer into the in-memory activity.
    func note(_ peer: String, _ change: (inout PeerActivity) -> Void) {
        var item = PeerActivity()
        change(&item)
        activityLock.withLock { activity[peer, default: PeerActivity()].merge(item) }
    }

    /// Writes the peer activity gathered since the last flush, in one transaction. The node calls
    /// it every few seconds, before reading health, and when it stops.
    public func flushActivity() {
        let pending = activityLock.withLock { () -> [String: PeerActivity] in
            defer { activity = [:] }
            return activity
        }
        guard !pending.isEmpty else { return }
        do {
            try executor.perform { try $0.recordPeerActivity(pending) }
        } catch {
            // Keep it for the next flush rather than lose it.
            activityLock.withLock { for (name, item) in pending { var merged = item; if let newer = activity[name] { merged.merge(newer) }; activity[name] = merged } }
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars = scalars.dropFirst() }
        while let last = scalars.last, set.contains(last) { scalars = scalars.dropLast() }
        return String(scalars)
    }
}

/// A snapshot file and its place among the `snapshotsConcurrentMax` an upstream keeps at once,
/// given back when the lease is released (after its body was sent, or on failure).
public final class SnapshotLease: @unchecked Sendable {
    public let file: Replica.SnapshotFile
    private let release: @Sendable () -> Void

    init(file: Replica.SnapshotFile, release: @escaping @Sendable () -> Void) {
        self.file = file
        self.release = release
    }

    deinit {
        Replica.removeSnapshotFile(file.path)   // already unlinked once opened for sending; this covers a failure before
        release()
    }
}
