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
    private let snapshotLock = NSLock()
    /// Snapshot copies alive (written, cached or being sent): at most `snapshotsConcurrentMax`.
    private var snapshotCopies = 0
    /// Snapshot answers being sent, by replica name: at most `snapshotSendsMax` in all and
    /// `snapshotSendsPerReplicaMax` to one (`admitSnapshotSend`).
    private var snapshotSends: [String: Int] = [:]
    /// The last copy written, served again while younger than `snapshotReuseSeconds`.
    private var snapshotCache: SnapshotCopy?
    /// The last copy written while anything still holds it (a response sending it): served, however
    /// old, when `snapshotsConcurrentMax` copies exist, rather than a 503 that would send a new
    /// replica to replay the whole log (it pulls whatever came after the copy anyway).
    private weak var newestCopy: SnapshotCopy?
    /// The empty database each snapshot starts from (`EmptyStorageTemplate`), made as the node
    /// starts serving (`prepareSnapshots`), or else by the first snapshot.
    private let emptyStorage = EmptyStorageTemplate()
    /// Set when the node stops: no copy is cached after it.
    private var snapshotsStopped = false
    /// The log's end after each peer's last push that applied something, by peer name: a copy
    /// written before it lacks that peer's writes, and a replica starting again from a snapshot
    /// refuses one that lacks anything it holds (`Replica.adoptSnapshot(replacing:)`). At most one
    /// entry per registered peer.
    private var pushedThrough: [String: Int64] = [:]
    /// What no-op syncs need, read in recent turns; nil when the replica has no file to watch.
    private let quiet: QuietReads?
    /// How many answers (a known token, `info`, a pull at the log's end) came from the quiet reads.
    public var quietAnswers: Int { quiet?.answers ?? 0 }

    /// - Parameter watch: a change watch on the replica's file (`Replica.openChangeWatch()`): with
    ///   it, a known token, `info` and a pull with nothing new are answered without the replica's turn.
    public init(executor: ReplicaExecutor, limits: Limits, wallClock: any WallClock, watch: ChangeWatch? = nil) {
        self.executor = executor
        self.limits = limits
        self.wallClock = wallClock
        self.quiet = watch.map(QuietReads.init)
    }

    /// One look at what the replica's recent turns read, for a request that asks more than one
    /// question of them: `info` and `pull` ask for the token, then the log's head. Looking once
    /// answers both as of one moment (as a request that came an instant earlier would be
    /// answered), with one `PRAGMA data_version` where each question took its own.
    public struct QuietLook: Sendable {
        fileprivate let reads: QuietReads.Reads?
        /// A token already hashed for this request (`answeringQuietly`), by its header.
        fileprivate var token: (authorization: String, hash: String)?
    }

    /// A look for one request's questions; nil for a service without a change watch.
    public func lookQuietly() -> QuietLook? { quiet.map { QuietLook(reads: $0.current(), token: nil) } }

    /// What the quiet reads make of `read`: from `look` when the request took one and found them
    /// true, else from a look of its own (a stale look's request has just taken a turn, which may
    /// have read afresh what its next question needs).
    private func quietly<T>(_ look: QuietLook?, _ read: (QuietReads.Reads) -> T?) -> T? {
        guard let quiet else { return nil }
        guard let reads = look?.reads else { return quiet.trusted(read) }
        return quiet.answer(from: reads, read)
    }

    /// Finds the registered replica for a request's credentials.
    ///
    /// - Parameters:
    ///   - authorization: the `Authorization` header (`Bearer TOKEN`).
    ///   - replicaHeader: the `Chorus-Replica` header; required for replica and relay tokens, whose
    ///     token is bound to the first id presented.
    ///   - look: the request's look at the quiet reads (`lookQuietly`), when it took one.
    ///   - admits: the route's own refusals of the token (its role, the request's protocol
    ///     headers), asked before a token is bound to the id it presents: a request refused for
    ///     them (a replica token sent to an admin route by mistake, a wrong protocol version) binds
    ///     nothing, so the replica the token is for can still use it.
    /// - Throws: 401 for a missing, malformed, unknown or revoked token; 403 for a forged identity;
    ///   what `admits` throws.
    public func authenticate(authorization: String?, replicaHeader: String?, look: QuietLook? = nil,
                             admits: (Peer) throws(SyncError) -> Void = { _ in }) throws(SyncError) -> Peer {
        let hash: String
        if let token = look?.token, token.authorization == authorization {
            hash = token.hash
        } else {
            hash = try SyncService.tokenHash(authorization)
        }
        let presented = replicaHeader.flatMap(ReplicaID.init(hex:))
        if let known = quietly(look, { SyncService.knownPeer(in: $0, hash: hash, presenting: presented) }) {
            try admits(known)
            note(known.name) { $0.lastSeenWall = wallClock.nowMilliseconds() }
            return known
        }
        let peer = try mapped {
            try executor.perform { replica throws -> Peer in
                let version = quiet?.versionBeforeReading()
                let registered = try replica.registeredPeer(forTokenHash: hash)
                guard let peer = registered, !peer.isRevoked else {
                    // The client is told its token was revoked; the access log says whose it was,
                    // so the operator knows which laptop or office still uses it (a leaked token's
                    // finder learns no name).
                    if let revoked = registered {
                        var refusal = SyncError(status: 401, "revoked token: this node revoked it (`chorus replicas revoke`)",
                                                hint: "ask this node's operator for a new token (`chorus replicas add`)")
                        refusal.logDetail = "revoked token, registered as \(revoked.name)"
                        throw refusal
                    }
                    throw SyncError.unauthorized("unknown token: this node has registered no such token")
                }
                try admits(peer)
                var bound = peer
                if peer.role != .admin {
                    guard let presented else {
                        throw SyncError(status: 400, "missing or malformed \(SyncProtocol.replicaHeader) header",
                                        hint: "send the client's replica id (32 hex digits)")
                    }
                    do {
                        bound = try replica.bindPeer(peer, to: presented)
                    } catch let error as ChorusError {
                        throw SyncError.forbidden(error.message, hint: error.hint)
                    }
                }
                quiet?.record(at: version) { reads in
                    guard reads.peers.count < QuietReads.peersMax else { return }
                    reads.peers[hash] = bound
                    // Only the header as clients send it ("Bearer " and the 64 digits): spaces
                    // around a token would make other, longer keys of one hash (found by review).
                    if let authorization, authorization.utf8.count == SyncService.bearerHeaderBytes,
                       reads.tokenHashes.count < QuietReads.peersMax {
                        reads.tokenHashes[authorization] = hash
                    }
                }
                return bound
            }
        }
        note(peer.name) { $0.lastSeenWall = wallClock.nowMilliseconds() }
        return peer
    }

    /// The length of an `Authorization` header carrying a token as clients send it.
    static let bearerHeaderBytes = "Bearer ".utf8.count + 64

    /// The hash of a request's bearer token; 401 when it has none or it is malformed.
    static func tokenHash(_ authorization: String?) throws(SyncError) -> String {
        switch bearer(authorization) {
        case .missing: throw SyncError.unauthorized("missing bearer token")
        case .malformed: throw SyncError.unauthorized("malformed token")
        case .token(let token): return Replica.tokenHash(token)
        }
    }

    /// The token of an `Authorization` header, when it is a bearer token in the form tokens
    /// have (64 hex digits); nil otherwise. Hashes nothing and reads no replica: asked of a
    /// request's head, before its body is read (`NodeRouter.headRefusal`).
    public static func bearerToken(_ authorization: String?) -> String? {
        if case .token(let token) = bearer(authorization) { return token }
        return nil
    }

    private enum Bearer { case missing, malformed, token(String) }

    private static func bearer(_ authorization: String?) -> Bearer {
        // The scheme in any case (RFC 9110, 11.1: `bearer` is `Bearer`); the token as given.
        guard let authorization, authorization.utf8.count >= 7,
              zip(authorization.utf8.prefix(7), "bearer ".utf8).allSatisfy({ $0 == $1 || ($1 != 0x20 && $0 | 0x20 == $1) }) else {
            return .missing
        }
        // The 64 hex digits after "Bearer ", spaces around them dropped; checked on the bytes,
        // without a decoded copy (callgrind, a no-op sync).
        var text = authorization
        let token = text.withUTF8 { bytes -> String? in
            var start = "Bearer ".utf8.count, end = bytes.count
            while start < end && bytes[start] == UInt8(ascii: " ") { start += 1 }
            while end > start && bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
            let digits = UnsafeBufferPointer(rebasing: bytes[start..<end])
            guard digits.count == 64, digits.allSatisfy({ Hex.nibble($0) != nil }) else { return nil }
            return String(decoding: digits, as: UTF8.self)
        }
        return token.map(Bearer.token) ?? .malformed
    }

    /// The peer the quiet reads hold for a token: found, not revoked, and bound to the id it
    /// presents (or an admin). A replica token presenting another id is not answered from them: it
    /// takes the turn, for its 403.
    private static func knownPeer(in reads: QuietReads.Reads, hash: String, presenting presented: ReplicaID?) -> Peer? {
        reads.peers[hash].flatMap { $0.role == .admin || ($0.replica != nil && $0.replica == presented) ? $0 : nil }
    }

    /// `look`, when it answers a request without the replica's turn (its token is known in it,
    /// and it holds the log's head, at or before `pullAfter` for a pull, nil for `info`), with the
    /// token's hash kept for `authenticate`; else nil. What the node answers on its event loop
    /// (`NodeRouter.handleInline`): `authenticate`, `info` and `pull` given the returned look take
    /// no turn.
    public func answeringQuietly(_ look: QuietLook, authorization: String?, replicaHeader: String?, pullAfter: Int64?) -> QuietLook? {
        guard let reads = look.reads, let head = reads.head else { return nil }
        if let pullAfter, pullAfter < head.latest { return nil }
        guard let authorization, let hash = reads.tokenHashes[authorization] ?? (try? SyncService.tokenHash(authorization)),
              SyncService.knownPeer(in: reads, hash: hash, presenting: replicaHeader.flatMap(ReplicaID.init(hex:))) != nil else { return nil }
        var answering = look
        answering.token = (authorization, hash)
        return answering
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
            throw SyncError.nodeFault("\(error)")
        }
    }

    func stamp(_ replica: Replica) -> ServerStamp {
        ServerStamp(replica: replica.id, name: replica.name, clock: replica.lastTimestamp, wall: wallClock.nowMilliseconds())
    }

    /// What a client asks first in every sync. Answered from the quiet reads while nothing has
    /// committed since a turn read them, so a sync with nothing new takes no turn at all.
    public func info(look: QuietLook? = nil) -> InfoResponse {
        if let head = quietly(look, { $0.head }) { return info(head) }
        return executor.perform { info(in: $0, ownOperations: nil) }
    }

    /// `info` for a client asking `?own=1` with the replica id `origin`: it also says which of
    /// that replica's own operations this node holds (`InfoResponse.ownOperations`), read in the
    /// same turn. A client asks once a run, so this takes a turn where `info` need not.
    public func info(ownOf origin: ReplicaID) throws(SyncError) -> InfoResponse {
        try mapped {
            try executor.perform { replica in
                let own = CounterRanges(sortedRows: try replica.loggedIntervals(of: origin, max: SyncProtocol.ownOperationIntervalsMax))
                let latest = try replica.loggedLatest(of: origin)
                return info(in: replica, ownOperations: own, ownLatest: latest?.counter == own.intervals.last?.last ? latest : nil)
            }
        }
    }

    /// `info` read in the replica's turn.
    private func info(in replica: Replica, ownOperations: CounterRanges?, ownLatest: Replica.LatestOperation? = nil) -> InfoResponse {
        let version = quiet?.versionBeforeReading()
        if case .directory = replica.location, let head = try? QuietReads.Head(replica) {
            quiet?.record(at: version) { $0.head = head }
            return info(head, ownOperations: ownOperations, ownLatest: ownLatest)
        }
        // A replica in memory keeps no file to snapshot (nor does one whose head cannot be read).
        return InfoResponse(server: stamp(replica), protocolVersions: SyncProtocol.versions, pullPageOperationsMax: limits.pullPageOperationsMax,
                            pushPageOperationsMax: limits.pushPageOperationsMax, pushBodyBytesMax: limits.pushBodyBytesMax, snapshot: nil,
                            compactedThrough: (try? replica.compactionFloor()) ?? 0, logEnd: try? replica.latestSequence(), ownOperations: ownOperations,
                            ownLatest: ownLatest)
    }

    private func info(_ head: QuietReads.Head, ownOperations: CounterRanges? = nil, ownLatest: Replica.LatestOperation? = nil) -> InfoResponse {
        let offer = limits.snapshotsConcurrentMax > 0 ? SnapshotOffer(storage: head.storage, through: head.latest) : nil
        return InfoResponse(server: head.stamp(wall: wallClock.nowMilliseconds()), protocolVersions: SyncProtocol.versions,
                            pullPageOperationsMax: limits.pullPageOperationsMax, pushPageOperationsMax: limits.pushPageOperationsMax,
                            pushBodyBytesMax: limits.pushBodyBytesMax, snapshot: offer, compactedThrough: head.compactedThrough, logEnd: head.latest,
                            ownOperations: ownOperations, ownLatest: ownLatest)
    }

    /// A snapshot for a new replica (protocol 4.6): the one written less than
    /// `snapshotReuseSeconds` ago if there is one (a client pulls what came after it, so a copy a
    /// minute old serves as well, and a morning of new laptops costs the upstream one copy), else
    /// a new one, written on the calling thread from a connection of its own so syncs go on
    /// meanwhile. Each copy is an open, already unlinked file that lasts as long as the responses
    /// reading it: `snapshotsConcurrentMax` copies at most exist at once, however slowly they are read.
    ///
    /// - Throws: 409 when the client stores another version, 404 when this upstream keeps no file,
    ///   503 when `snapshotsConcurrentMax` copies exist already, or when `snapshotSendsMax`
    ///   answers are being sent (`snapshotSendsPerReplicaMax` to this replica), 500 when one
    ///   cannot be written. The send returned holds the answer's place until it is let go.
    ///
    /// `reaching`: the client asks for a copy whose log reaches at least that sequence (one
    /// setting writes aside holds what it pulled, and takes no copy older): a cached copy short of
    /// it is not served, and a new one is written (whose log reaches where this log ends).
    public func snapshot(peer: Peer, storage: String?, reaching: Int64 = 0) throws(SyncError) -> (copy: SnapshotCopy, send: SnapshotSend, isReused: Bool) {
        guard peer.role == .replica || peer.role == .relay else { throw SyncError.forbidden("\(peer.role.rawValue) tokens cannot take snapshots") }
        let (location, schema, ownStorage, floor, latestRead) = executor.perform { replica in
            (replica.location, replica.configuration.schema, replica.storageVersion, (try? replica.compactionFloor()) ?? 0,
             Result { try replica.latestSequence() })
        }
        // A failed read is the upstream's failure (500), not the client asking past the log.
        let latest: Int64
        do { latest = try latestRead.get() } catch { throw SyncError.nodeFault("cannot read the log's end: \(error)", hint: "retry later, or pull the log") }
        // No copy can reach past the log's end: each request asking for one skipped every copy
        // kept and wrote a new one of the whole database (a read-only audit), as a pull past the
        // end is refused.
        guard reaching <= latest else {
            throw SyncError(status: 409, "\(SyncProtocol.snapshotReachingHeader) asks for \(reaching), past this upstream's log, which ends at \(latest)",
                            hint: "ask for at most the log's end that info gives; an upstream whose log went back was restored from a backup")
        }
        guard snapshotFolder(location) != nil else {
            throw SyncError(status: 404, "this upstream serves no snapshots", hint: "pull the log from sequence 0")
        }
        guard let storage, storage == ownStorage else {
            throw SyncError(status: 409, "the snapshot is of storage version \(ownStorage), the client stores \(storage?.prefix(128) ?? "nothing")",
                            hint: "pull the log instead, or run the same chorus version on both")
        }
        // Its place among the answers being sent, taken once the cheap refusals are past: a busy
        // upstream's 503 is waited for by the client, not a reason to pull the whole log.
        let send = try admitSnapshotSend(peer: peer)
        // An expired copy gives its place back before the copies are counted.
        expireSnapshotCache()
        // A copy written before the log was compacted past it would leave its client below the
        // compaction point, unable to pull what came after: only copies reaching the point serve.
        // Nor copies older than what this peer pushed last (it may be starting again from one).
        let reach = max(floor, reaching, snapshotLock.withLock { pushedThrough[peer.name] } ?? 0)
        if let cached = snapshotLock.withLock({ snapshotCache }), cached.file.through >= reach { send.copy = cached; return (cached, send, true) }
        let (admitted, newest) = snapshotLock.withLock { () -> (Bool, SnapshotCopy?) in
            guard snapshotCopies < limits.snapshotsConcurrentMax else { return (false, newestCopy) }
            snapshotCopies += 1
            return (true, nil)
        }
        // Compared out of the lock: loaded from its weak reference, the copy may be held by nothing
        // else (its last response just ended), and let go inside the lock, its deinit took the
        // lock again, and the thread waited on itself (with the executor behind it, at the next
        // push that applied anything). A read-only review found it.
        if let newest, newest.file.through >= reach { send.copy = newest; return (newest, send, true) }
        guard admitted else {
            throw SyncError(status: 503, "\(limits.snapshotsConcurrentMax) snapshots are being written or sent already",
                            hint: "retry in a few minutes, or pull the log")
        }
        // Weak: the service holds its cached copy, which must not hold the service.
        let release: @Sendable () -> Void = { [weak self] in self?.snapshotLock.withLock { self?.snapshotCopies -= 1 } }
        let copy: SnapshotCopy
        do {
            copy = try SnapshotCopy(try Replica.writeSnapshot(of: location, schema: schema, template: emptyStorage), written: wallClock.nowMilliseconds(), release: release)
        } catch {
            release()
            throw SyncError.nodeFault("the snapshot could not be written: \((error as? ChorusError)?.message ?? "\(error)")",
                            hint: "clients pull the log instead; check the replica folder's free space")
        }
        let replaced = snapshotLock.withLock { () -> SnapshotCopy? in
            newestCopy = copy
            guard limits.snapshotReuseSeconds > 0, !snapshotsStopped else { return nil }
            defer { snapshotCache = copy }
            return snapshotCache
        }
        withExtendedLifetime(replaced) {}   // released on return, outside the lock
        send.copy = copy
        return (copy, send, false)
    }

    /// A place for one snapshot answer to `peer`, held until the answer is sent or its connection
    /// closes (the returned send, kept by the response's body, gives it back when let go).
    ///
    /// - Throws: 503 when `snapshotSendsMax` answers are being sent already, or
    ///   `snapshotSendsPerReplicaMax` to this replica.
    private func admitSnapshotSend(peer: Peer) throws(SyncError) -> SnapshotSend {
        let name = peer.name
        let admitted = snapshotLock.withLock { () -> Bool in
            guard snapshotSends.values.reduce(0, +) < limits.snapshotSendsMax,
                  snapshotSends[name, default: 0] < limits.snapshotSendsPerReplicaMax else { return false }
            snapshotSends[name, default: 0] += 1
            return true
        }
        guard admitted else {
            throw SyncError(status: 503, "this upstream is sending as many snapshots as it sends at once (\(limits.snapshotSendsMax) in all, \(limits.snapshotSendsPerReplicaMax) to one replica)",
                            hint: "retry in a few minutes, or pull the log")
        }
        return SnapshotSend { [weak self] in
            guard let self else { return }
            self.snapshotLock.withLock {
                self.snapshotSends[name, default: 1] -= 1
                if self.snapshotSends[name] == 0 { self.snapshotSends[name] = nil }
            }
        }
    }

    /// Makes the empty database every snapshot starts from (`EmptyStorageTemplate`) on a thread of
    /// its own, when this upstream serves snapshots: the first replica to join after the node
    /// starts then waits for no migrations (about 40 ms at this build's storage version, P3 in
    /// `Docs/performance.md`), unless it asks within those milliseconds (it then waits for what is
    /// left of them). The node calls it before it starts serving.
    public func prepareSnapshots() {
        let (location, schema) = executor.perform { ($0.location, $0.configuration.schema) }
        guard let folder = snapshotFolder(location) else { return }
        emptyStorage.prepare(schema: schema, in: folder)
    }

    /// The folder snapshots of the replica at `location` are written in; nil when this upstream
    /// serves none (a replica in memory has no file to copy, or `snapshotsConcurrentMax` is 0).
    private func snapshotFolder(_ location: Replica.Location) -> String? {
        guard case .directory(let folder) = location, limits.snapshotsConcurrentMax > 0 else { return nil }
        return folder
    }

    /// Waits until what `prepareSnapshots` started has ended: the node stopping, so that nothing
    /// writes in the replica's folder after it has stopped, and a benchmark measuring snapshots
    /// as an upstream that has been serving a while writes them.
    public func waitForSnapshotPreparation() { emptyStorage.waitForPreparation() }

    /// Whether the empty database snapshots start from is made (`prepareSnapshots`, or the first
    /// snapshot written).
    public var isSnapshotTemplateReady: Bool { emptyStorage.isPrepared }

    /// Lets go of the cached snapshot copy once it is older than `snapshotReuseSeconds` (or now,
    /// with `all`, after which none is cached again: the node stopping), so its disk space comes
    /// back when its last reader is done. The node calls it every few seconds and when it stops.
    public func expireSnapshotCache(all: Bool = false) {
        let now = wallClock.nowMilliseconds()
        let expired = snapshotLock.withLock { () -> SnapshotCopy? in
            if all { snapshotsStopped = true }
            guard let cached = snapshotCache,
                  all || now < cached.written || Double(now - cached.written) >= limits.snapshotReuseSeconds * 1000 else { return nil }
            snapshotCache = nil
            return cached
        }
        withExtendedLifetime(expired) {}   // released on return, outside the lock (its deinit takes the lock)
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
                // Everything that can refuse the push is asked before the relay's list is recorded:
                // a refused push changes nothing, not even what the relay says is below it.
                let relayed = peer.role == .relay ? Set(request.relayed) : nil
                // This node is no replica below another: recorded, it would read its own
                // operations as a relay's to pass on, and its own id as one below it.
                if relayed?.contains(replica.id) == true {
                    throw SyncError.forbidden("\(peer.name) lists this node's own replica \(replica.id.hex) among those below it; nothing of this push was applied",
                                              hint: "a relay lists the replicas registered on it, never its upstream")
                }
                for operation in request.operations where try !replica.mayPush(peer: peer, author: operation.id.replica, relayed: relayed) {
                    throw SyncError.forbidden("\(peer.name) may not push operation \(operation.id): it was made by replica \(operation.id.replica.hex), which is not \(peer.role == .relay ? "below it" : "itself"); nothing of this push was applied",
                                              hint: peer.role == .relay ? "register that replica on this relay with `chorus replicas add`" : "a replica pushes only its own operations")
                }
                try SyncService.refuseNotTheirs(request.operations, pushedBy: peer, in: replica)
                // Ids of the pusher's own reused for other operations (restored from a backup of
                // itself, or copied): merged, they would be dropped as duplicates, unseen.
                let reused = try replica.idsHeldWithOtherContent(request.operations.filter { $0.id.replica == request.replica }, source: peer.source)
                if let first = reused.first {
                    throw SyncError(status: 409,
                        "\(reused.count) operation\(reused.count == 1 ? "" : "s") of this push reuse\(reused.count == 1 ? "s" : "") an id this node holds for another operation (first \(first)): the pushing replica's folder was restored from a backup, or copied, after it had synced, and its counters went back with it; nothing of this push was applied",
                        hint: "the writes made there since the restore cannot be sent under those ids: \(SyncError.newFolderSteps), make them again there (`chorus log --data OLD_FOLDER` lists them), then remove the old folder")
                }
                let report = try replica.applyRemote(prepared, source: peer.source) {
                    if peer.role == .relay { try replica.setRelayed(peer: peer.name, replicas: request.relayed) }
                }
                if report.applied > 0 {
                    let end = try replica.latestSequence()
                    snapshotLock.withLock { pushedThrough[peer.name] = end }
                }
                return PushResponse(applied: report.applied, duplicates: report.duplicates, through: request.through, server: stamp(replica))
            }
        }
    }

    /// Refuses (403) a push from a replica registered here for one person holding an operation of
    /// its own that is not that person's (`Authorship`). What a relay passes on is its to vouch
    /// for (protocol 8): it holds the laptops registered on it for a person to the same. An
    /// operation this node holds already is not asked again: a replica sends its whole log again
    /// after its upstream was restored, or when it moved here, and what was taken stays taken.
    static func refuseNotTheirs(_ operations: [ChorusCore.Operation], pushedBy peer: Peer, in replica: Replica) throws {
        guard let person = peer.person else { return }
        var facts: Authorship.Facts?
        for operation in operations where operation.id.replica == peer.replica {
            guard try !replica.hasOperation(operation.id) else { continue }
            if facts == nil { facts = replica.authorshipFacts(making: Authorship.making(operations)) }
            guard let refusal = try Authorship.refusal(of: operation, boundTo: person, facts: facts!) else { continue }
            throw SyncError.forbidden("\(peer.name) is registered for \(person), and operation \(operation.id) (\(operation.collection)/\(operation.record.prefix(80))) \(SyncError.notTheirs): \(refusal); nothing of this push was applied",
                                      hint: Authorship.isNotHereYet(refusal) ? SyncError.notHereYetHint : SyncError.notThePersonsHint)
        }
    }

    /// A page of operations after `after`, never including what came from this peer (its own,
    /// and a relay's from below it) unless it asks with `own`. `committed`
    /// is what the peer says it has committed (`Chorus-Cursor`), the acknowledgement compaction
    /// waits for; never taken past `after`, which the peer has asked for and so cannot have past.
    /// 410 when compaction removed operations after `after` (the peer starts from a snapshot).
    /// `afterOperation` is the id the peer was told this log holds at `after`: 409 when it holds
    /// another there (restored from an older backup, then lengthened past the peer's cursor).
    public func pull(peer: Peer, after: Int64, afterOperation: OperationID? = nil, limit: Int, committed: Int64? = nil, own: Bool = false,
                     look: QuietLook? = nil) throws(SyncError) -> [UInt8] {
        guard peer.role == .replica || peer.role == .relay else { throw SyncError.forbidden("\(peer.role.rawValue) tokens cannot pull") }
        guard after >= 0 else { throw SyncError(status: 400, "after must be 0 or more") }
        // Past the log's end, the peer has pulled what this log no longer holds: it was restored
        // from an older backup (another upstream at the same address is refused by its id). Said,
        // not answered with an empty page, or the peer would wait for ever for sequences this log
        // now gives to other operations. A pull refused (here, or in the replica's turn) records
        // nothing of the peer's: its cursors count another log, and taken as its acknowledgement
        // they would let compaction pass what it has yet to pull.
        // One quiet answer for both questions: past the end, or at it (a page a turn would give
        // empty, without waiting for one, while nothing has committed since a turn read the end).
        let known = quietly(look) { reads -> (head: QuietReads.Head, isPast: Bool)? in
            reads.head.flatMap { after >= $0.latest ? ($0, after > $0.latest) : nil }
        }
        if let known, known.isPast { throw SyncService.pastTheEnd(after, latest: known.head.latest) }
        if let known { try SyncService.requireOperation(known.head.latestOperation, at: after, isThe: afterOperation) }
        if let committed, committed < 0 { throw SyncError(status: 400, "\(SyncProtocol.cursorHeader) must be 0 or more") }
        // Recorded once the pull is answered. `acknowledgedSequence` is only a progress hint for
        // the lag view (protocol 4.4): a pipelining client asks for the next page before it has
        // committed this one, so it is not a durable ack.
        let answered = { [self] in
            note(peer.name) { peerNote in
                if let committed { peerNote.committedSequence = min(committed, after) }
                peerNote.acknowledgedSequence = after
            }
        }
        let pageSize = max(1, min(limit, limits.pullPageOperationsMax))
        if let head = known?.head {
            answered()
            return PullResponse.encode(operationTexts: [], next: after, nextOperation: head.latestOperation, hasMore: false,
                                       server: head.stamp(wall: wallClock.nowMilliseconds()))
        }
        // Encoded after the replica's turn, which every sync request waits for.
        let (page, nextOperation, server) = try mapped {
            try executor.perform { replica in
                let version = quiet?.versionBeforeReading()
                let latest = try replica.latestSequence()
                guard after <= latest else { throw SyncService.pastTheEnd(after, latest: latest) }
                // Read when it is checked, or (below) when the page reads nothing after it.
                let there = try afterOperation == nil ? nil : replica.loggedOperationID(at: after)
                try SyncService.requireOperation(there, at: after, isThe: afterOperation)
                // With `own`, the peer's own operations and those that came through it too: it was
                // restored from a backup of itself and takes back what it lost (protocol 4.4).
                let page = try replica.logPage(after: after, excludingSource: own ? nil : peer.source, excludingAuthor: own ? nil : peer.replica,
                                               operationsMax: pageSize, bytesMax: limits.pullPageBytesMax)
                let nextOperation = try page.nextOperation ?? (page.next == after ? there ?? replica.loggedOperationID(at: after) : nil)
                // At the log's end for this peer, the next pull is likely a no-op: keep what it needs
                // (the id at the end is the page's own when the page ends there).
                if let quiet, !page.hasMore,
                   let head = try? QuietReads.Head(replica, latest: latest, latestOperation: page.next == latest ? nextOperation : nil) {
                    quiet.record(at: version) { $0.head = head }
                }
                return (page, nextOperation, stamp(replica))
            }
        }
        answered()
        return PullResponse.encode(operationTexts: page.operations, next: page.next, nextOperation: nextOperation, hasMore: page.hasMore, server: server)
    }

    /// What a client told its upstream was restored does (protocol 4.4).
    static let restoredHint = "the client sends everything it holds again and pulls from the upstream's compaction point (the reference client does so by itself); nothing it holds is lost"

    /// Throws 409 when the client named the operation at its cursor (`named`) and this log holds
    /// another there (`there`; nil: not held, nothing to check) (protocol 4.4): restored from an
    /// older backup, its log has since grown past the cursor.
    static func requireOperation(_ there: OperationID?, at after: Int64, isThe named: OperationID?) throws(SyncError) {
        guard let there, let pulled = named, there != pulled else { return }
        throw SyncError(status: 409, "this upstream's log holds operation \(there) at sequence \(after), not \(pulled), which the client pulled there: the upstream was restored from an older backup and has logged other operations since",
                  hint: restoredHint)
    }

    /// 409 for a pull after the end of this log (protocol section 4.4).
    static func pastTheEnd(_ after: Int64, latest: Int64) -> SyncError {
        SyncError(status: 409, "this upstream's log ends at sequence \(latest), before \(after), which the client has pulled through: the upstream was restored from an older backup",
                  hint: restoredHint)
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
                    let cursor = min(reported.cursor, response.through)
                    note(peer.name) { $0.acknowledgedSequence = cursor; $0.committedSequence = cursor }
                    try replica.recordReportedDigest(peer: peer.name, digest: reported.digest,
                                                     matched: reported.digest == response.digest && reported.cursor >= response.through)
                }
                return response
            }
        }
    }

    /// This node's wall clock, in Unix milliseconds: when a request's `Chorus-Clock` was read
    /// (`recordRequest`'s `clientWallReadAt`).
    public func nowMilliseconds() -> UInt64 { wallClock.nowMilliseconds() }

    /// Records what a sync request says about its client (clock, waiting operations, route).
    /// `clientWallReadAt` is when its clock was read (by default now): a request is recorded once
    /// answered, and a push queued behind a long merge would otherwise read as a client whose
    /// clock is behind by the wait.
    public func recordRequest(peer: Peer, clientWall: UInt64?, clientWallReadAt: UInt64? = nil, waitingUp: Int64?, pushed: Bool, pulled: Bool) {
        guard peer.role != .admin else { return }
        let now = wallClock.nowMilliseconds()
        note(peer.name) { item in
            if let clientWall { item.clientWall = clientWall; item.observedAtWall = min(clientWallReadAt ?? now, now) }
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

    /// After this node's own commit of peer activity, in the same turn: reads again what the
    /// quiet reads held (the log's head, and the peer of each remembered token presented since the
    /// last flush, still registered, not revoked and bound as before), recorded at the version
    /// taken before reading, as any turn's reads are; a token not presented since is forgotten, so
    /// the work and the tokens kept follow the peers that sync. Without it every flush (every 2 s
    /// under load) sent the next request of every connection to the replica's turn at once, 64
    /// requests queued behind one another: the tail of P4's latency (p99 4 to 41 ms in 2-second
    /// runs, 3.7 to 5.8 ms without flushes).
    private func readQuietlyAgain(_ replica: Replica, presented: Set<String>) {
        guard let quiet, let held = quiet.lastReads() else { return }
        let version = quiet.versionBeforeReading()
        let head = held.head == nil ? nil : try? QuietReads.Head(replica)
        var peers: [String: Peer] = [:]
        for (hash, was) in held.peers where presented.contains(was.name) {
            guard let peer = try? replica.peer(forTokenHash: hash), peer.role == was.role, peer.replica == was.replica else { continue }
            peers[hash] = peer
        }
        // Replaced, not merged: when the flush wrote nothing the version is the same, and the
        // tokens not presented must still go.
        quiet.record(at: version) { reads in
            if let head { reads.head = head }
            reads.peers = peers
            reads.tokenHashes = held.tokenHashes.filter { peers[$0.value] != nil }
        }
    }

    /// Writes the peer activity gathered since the last flush, in one transaction. The node calls
    /// it every few seconds, before reading health, and when it stops.
    public func flushActivity() {
        guard !activityLock.withLock({ activity.isEmpty }) else { return }
        // What is pending is taken inside the replica's turn, so flushes commit in the order they
        // took it: taken before the turn, a flush that waited behind a later one (the timer, the
        // health route and a stop flush at once) wrote older activity over newer, and one that
        // failed put its older notes back under the newer one's, already written.
        executor.perform { replica in
            let pending = activityLock.withLock { () -> [String: PeerActivity] in
                defer { activity = [:] }
                return activity
            }
            guard !pending.isEmpty else { return }
            do {
                try replica.recordPeerActivity(pending)
                readQuietlyAgain(replica, presented: Set(pending.keys))
            } catch {
                // Kept for the next flush rather than lost: noted since are newer.
                activityLock.withLock { for (name, item) in pending { var merged = item; if let newer = activity[name] { merged.merge(newer) }; activity[name] = merged } }
            }
        }
    }
}

/// One snapshot answer being sent (`SyncService.admitSnapshotSend`), with the copy it sends: its
/// place is given back when the response's body lets it go.
public final class SnapshotSend: @unchecked Sendable {
    public var copy: SnapshotCopy?
    private let release: @Sendable () -> Void

    init(release: @escaping @Sendable () -> Void) { self.release = release }

    deinit { release() }
}

/// One snapshot copy: its file open and already unlinked from the folder (so it is gone whatever
/// happens to the process, and no other process can open it), with its place among the
/// `snapshotsConcurrentMax` copies an upstream keeps. The descriptor closes and the place is
/// given back when the last holder (the cache, a response being sent) releases it.
public final class SnapshotCopy: @unchecked Sendable {
    /// What the copy covers; its path no longer exists.
    public let file: Replica.SnapshotFile
    /// The open copy, read with positional reads by every response that sends it.
    public let descriptor: Int32
    /// When it was written (the upstream's wall clock, milliseconds).
    let written: UInt64
    private let handle: FileHandle
    private let release: @Sendable () -> Void

    init(_ file: Replica.SnapshotFile, written: UInt64, release: @escaping @Sendable () -> Void) throws {
        defer { Replica.removeSnapshotFile(file.path) }
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw ChorusError(.storage, "cannot open the snapshot \(file.path) just written", hint: "check the replica folder's permissions")
        }
        self.file = file
        self.handle = handle
        self.descriptor = handle.fileDescriptor
        self.written = written
        self.release = release
    }

    deinit {
        try? handle.close()
        release()
    }
}
