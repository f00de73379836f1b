import ChorusCore
import ChorusReplica
import SQLiteKit
import Foundation

/// How a replica talks to its upstream. HTTP is one adapter; tests use an in-process one.
///
/// `info`, `pull` and `digest` read only. `push` is idempotent: sending the same body twice applies
/// it once, so a client retries freely after a cut connection or a lost response.
public protocol SyncTransport: Sendable {
    /// With `ownOperations`, asks also which of this replica's own operations the upstream holds
    /// (`?own=1`, protocol 4.2).
    func info(ownOperations: Bool) throws -> InfoResponse
    /// Sends a push body (`PushRequest.encode`).
    func push(body: [UInt8]) throws -> PushResponse
    /// Asks for operations after `after`; the server returns ours back, and those that came
    /// through us, only with `own` (protocol 4.4: a replica restored from a backup of itself that
    /// cannot start again from a snapshot takes them back so). `waitingToPush` tells the upstream
    /// how many of ours still wait to go up (for its health view).
    ///
    /// `committed` is the pull cursor this replica has committed (`Chorus-Cursor`): the durable
    /// acknowledgement the upstream's compaction waits for. It may trail `after`, since the next
    /// page is asked for while this one is still being merged.
    func pull(after: Int64, afterOperation: OperationID?, limit: Int, waitingToPush: Int64, committed: Int64, own: Bool) throws -> PullResponse
    /// The upstream's digest; `reporting` tells it ours and our pull cursor, so it can record
    /// whether we match.
    func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse
    /// Downloads the upstream's snapshot (protocol 4.6) into a new file at `path`, refusing one of
    /// another storage version or over `snapshotBytesMax`; returns the log sequence it reaches.
    /// `progress` is told the bytes received and expected (-1 if unknown) now and then.
    /// `reaching`: a copy is asked for whose log reaches at least that sequence (0: any).
    func snapshot(storage: String, reaching: Int64, into path: String, progress: @escaping (Int64, Int64) -> Void) throws -> Int64
}

extension SyncTransport {
    /// `info` without asking which of this replica's own operations the upstream holds.
    public func info() throws -> InfoResponse { try info(ownOperations: false) }

    /// A pull that leaves this replica's own operations out, as every pull does but those taking them back.
    public func pull(after: Int64, afterOperation: OperationID?, limit: Int, waitingToPush: Int64, committed: Int64) throws -> PullResponse {
        try pull(after: after, afterOperation: afterOperation, limit: limit, waitingToPush: waitingToPush, committed: committed, own: false)
    }

    public func snapshot(storage: String, reaching: Int64, into path: String, progress: @escaping (Int64, Int64) -> Void) throws -> Int64 {
        throw SyncError(status: 404, "this transport takes no snapshots", hint: "pull the log instead")
    }

    /// A snapshot of any age the upstream serves (`snapshotReuseSeconds`).
    public func snapshot(storage: String, into path: String, progress: @escaping (Int64, Int64) -> Void) throws -> Int64 {
        try snapshot(storage: storage, reaching: 0, into: path, progress: progress)
    }
}

/// What one sync moved, for `chorus sync` and the node's log.
@dynamicMemberLookup
public struct SyncReport: Sendable {
    public var pushedOperations = 0
    public var pushApplied = 0
    public var pulledOperations = 0
    public var pullApplied = 0
    /// Upstream wall clock minus ours, in milliseconds (positive: we are behind).
    public var skewMilliseconds: Int64 = 0
    public var upstreamName = ""
    /// Digest comparison, when asked: nil if not compared.
    public var digestMatches: Bool?
    /// Whether the digests differed with nothing left to push and the upstream's log where this
    /// replica pulled to (protocol 4.5): not a change made meanwhile, which the next sync would
    /// bring, but two states that syncing does not bring together.
    public var diverged = false
    public var upstreamDigest: String?
    public var localDigest: String?
    public var upstreamSequence: Int64 = 0
    /// Operations that came in a snapshot rather than pulled one by one (0 when none did).
    public var snapshotOperations: Int64 = 0
    /// Why the upstream's snapshot was not used, when one was tried and the log pulled instead.
    public var snapshotRefused: String?
    /// Pushed operations the upstream already held: a push repeated after a lost answer, or a
    /// replica restored from an older backup whose new writes reuse ids (then they are lost
    /// upstream). Such a replica does not start again from a snapshot in this sync.
    public var pushDuplicates = 0
    /// Whether this replica, holding data, refused to start again from the snapshot: it holds
    /// what the copy lacks (`Replica.adoptSnapshot(replacing:)`).
    var startingAgainRefused = false
    /// The pull cursor this replica may say it has committed (`Chorus-Cursor`) once its pull
    /// ended: behind the pull cursor when a write was made while the pull ran (`SyncSession.pull`);
    /// its digest report says it.
    var committedCursor: Int64?
    /// The id the upstream named at the pull cursor when the cursor did not move (after a snapshot,
    /// or an upgrade): written with the sync's success, not in a durable commit of its own, since
    /// one lost costs only a check skipped until the next page names it.
    var pullOperationLearnt: (cursor: Int64, operation: OperationID)?
    /// When this replica lacked operations of its own that the upstream holds (restored from a
    /// backup of itself, `Replica+OwnOperations`): it then starts again from the snapshot, or,
    /// when it cannot (replicas registered below it), takes them back with its pull (`own`).
    public var lostOwnOperations: Replica.LostOwnOperations?
    /// How many of them the pull took back, when it did: it lacks none now.
    public var ownTakenBack: UInt64 = 0
    /// Why it still lacks them, when it could neither start again nor take them back (an upstream
    /// that leaves them out of its pull, an older one): a state syncing will not mend, as `diverged`.
    public var lostOwnUnrecovered: String?
    /// How an upstream error recorded for a state syncing will not mend starts: the status reads
    /// it as `diverged`, not offline.
    public static let divergedPrefix = "diverged: "

    /// The upstream's replica id, as its `info` gave it: every later answer of the sync must be
    /// stamped by the same replica (`observe`).
    var upstreamReplica: ReplicaID?
    /// Whether the upstream no longer held what this replica had pulled (its log ended before the
    /// pull cursor, or held another operation there: it was restored from an older backup), so
    /// everything was sent again and the pull started from its compaction point.
    public var upstreamRewound = false
    /// After a rewind: the operations of this replica's own log before this sequence were
    /// compacted here, so what the upstream lost of them could not be sent again (0: none).
    public var unsendableAfterRewind: Int64 = 0
    /// The pull ended at `Limits.pullSecondsPerSyncMax` with more at the upstream: the next sync
    /// takes the rest (a node's background loop starts it at once).
    public var pullCutShort = false
    /// The limit to raise for the snapshot to be taken (`SyncError.remedy` of `snapshotRefused`).
    public var snapshotRefusedHint: String?
    /// What this sync did with this laptop's writes its upstream refuses as not its person's
    /// (`chorus sync --set-aside-refused`, `Replica+SetAside`), read as `report.setAside` and so
    /// on: set aside, made again, made anew as the person, dropped for records erased meanwhile.
    public var setAsideOutcome = Replica.SettingAsideOutcome()
    public init() {}

    public subscript<Count>(dynamicMember keyPath: KeyPath<Replica.SettingAsideOutcome, Count>) -> Count { setAsideOutcome[keyPath: keyPath] }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "pushed": .integer(Int64(pushedOperations)), "pushApplied": .integer(Int64(pushApplied)),
            "pulled": .integer(Int64(pulledOperations)), "pullApplied": .integer(Int64(pullApplied)),
            "skewMilliseconds": .integer(skewMilliseconds), "upstream": .string(upstreamName),
        ]
        if let digestMatches { object["digestMatches"] = .bool(digestMatches) }
        if diverged { object["diverged"] = .bool(true) }
        if let lostOwnUnrecovered { object["lostOwnUnrecovered"] = .string(lostOwnUnrecovered) }
        if ownTakenBack > 0 { object["ownTakenBack"] = .integer(Int64(clamping: ownTakenBack)) }
        if let upstreamDigest { object["upstreamDigest"] = .string(upstreamDigest) }
        if let localDigest { object["localDigest"] = .string(localDigest) }
        if snapshotOperations > 0 { object["snapshotOperations"] = .integer(snapshotOperations) }
        if let snapshotRefused { object["snapshotRefused"] = .string(snapshotRefused) }
        if upstreamRewound { object["upstreamRewound"] = .bool(true) }
        if unsendableAfterRewind > 0 { object["unsendableAfterRewind"] = .integer(unsendableAfterRewind) }
        if pullCutShort { object["pullCutShort"] = .bool(true) }
        let counts: [(String, Int)] = [("setAside", setAsideOutcome.setAside), ("setAsideWrites", setAsideOutcome.setAsideWrites),
                                       ("madeAgain", setAsideOutcome.madeAgain), ("droppedErased", setAsideOutcome.droppedErased),
                                       ("madeAsPerson", setAsideOutcome.madeAsPerson), ("leftOut", setAsideOutcome.leftOut)]
        for (name, count) in counts { object[name] = .integer(Int64(count)) }
        return .object(object)
    }
}

/// One sync with the upstream: push everything it lacks, pull everything we lack, page by page,
/// saving cursors after every page so an interrupted sync resumes where it stopped.
public struct SyncSession {
    public let executor: ReplicaExecutor
    public let transport: any SyncTransport
    public let limits: Limits
    public let wallClock: any WallClock
    /// Called with a line of progress for long transfers.
    public var progress: (String) -> Void = { _ in }
    /// Whether a new replica may start from the upstream's snapshot (protocol 4.6) rather than
    /// pull the whole log; `chorus sync --no-snapshot` turns it off.
    public var usesSnapshots = true
    /// Whether to ask the upstream which of this replica's own operations it holds (`info?own=1`,
    /// protocol 4.2), to find a folder restored from a backup of itself before it pushes
    /// (`Replica+OwnOperations`). A folder is restored while no process holds it, so a node asks
    /// at its first sync and `chorus sync` every time; it costs the upstream a turn.
    public var checksOwnOperations = true
    /// Whether a push refused as not this laptop's person's sets the refused writes aside: the
    /// replica starts again from the upstream's snapshot and makes again the writes it takes
    /// (`Replica+SetAside`); `chorus sync --set-aside-refused`.
    public var setsAsideRefused = false
    /// Given the report of a sync that failed after its pull (its push refused, stamped ahead of
    /// the upstream's clock, or the digests' comparison failed): what moved, which `chorus sync
    /// --json` puts beside the error.
    public var failedAfterPull: (SyncReport) -> Void = { _ in }

    public init(executor: ReplicaExecutor, transport: any SyncTransport, limits: Limits, wallClock: any WallClock) {
        self.executor = executor
        self.transport = transport
        self.limits = limits
        self.wallClock = wallClock
    }

    /// Runs push, then pull; with `compareDigests`, then asks the upstream's digest and compares.
    public func run(compareDigests: Bool = false) throws -> SyncReport {
        var report = SyncReport()
        // Set once the pull is done: a failure after it (a push refused, a stamp ahead, digests
        // compared) hands what moved to `failedAfterPull`, which a script should see.
        var pulled = false
        try executor.perform { try $0.recordUpstream(attempt: true) }
        do {
            // Asked even of a replica with no operation of its own: restored from a backup taken
            // before its first write, it would hand out again the ids its writes since had.
            let info = try transport.info(ownOperations: checksOwnOperations)
            guard info.protocolVersions.contains(where: SyncProtocol.versions.contains) else {
                throw SyncError(status: 400, "the upstream speaks protocol versions \(info.protocolVersions) and this replica \(SyncProtocol.versions)",
                                hint: "upgrade the older chorus")
            }
            report.upstreamName = info.server.name
            report.upstreamReplica = info.server.replica
            // Whose laptop this is, as the upstream says each time: its writes are refused here
            // when they are not that person's (`Authorship`), before the upstream refuses them.
            // And whether it takes its own operations back from this replica (a relay's): what
            // compaction then counts as unsendable after a restore.
            try executor.perform {
                try $0.recordUpstream(replica: info.server.replica, person: .some(info.person))
                try $0.recordUpstreamTakesOwnBack(info.relay)
            }
            // Writes of its own under ids the upstream holds are not pushed; the pull still goes on.
            var pushRefused: Error?
            if checksOwnOperations, let held = info.ownOperations, let lost = try executor.perform({ try $0.lostOwnOperations(upstreamHolds: held, latest: info.ownLatest) }) {
                if lost.unsentHeldCount > 0 {
                    pushRefused = reusedIDs(lost)
                } else {
                    report.lostOwnOperations = lost
                    progress("this replica was restored from a backup of itself, or copied (\(lacking(lost))): sending what it wrote since, then taking back what it lacks from the upstream...")
                }
            }
            let pageOperationsMax = min(limits.pushPageOperationsMax, info.pushPageOperationsMax)
            // The upstream's body limit, less room for the envelope (its `relayed` list at most
            // 10,000 ids of 35 bytes), and never below one operation, which any page must hold.
            let pageBytesMax = max(limits.operationBytesMax, min(limits.pushPageBytesMax, info.pushBodyBytesMax - SyncSession.pushEnvelopeBytesMax))
            let push = { (report: inout SyncReport) in
                try self.push(&report, pageOperationsMax: pageOperationsMax, pageBytesMax: pageBytesMax, keepsUpstreamOwn: info.relay)
            }
            // The upstream's log ends before what this replica pulled: it was restored from an
            // older backup and lost what came after. Everything of ours goes again, and the pull
            // starts again from its compaction point, before anything it lost. Seen in `info`
            // before pushing (our own push would lengthen its log past our cursor), and in a pull's
            // 409: from an upstream that does not say where its log ends, or one whose log has grown
            // past our cursor since and holds another operation there (`afterOperation`).
            let rewind = { (report: inout SyncReport) in
                progress("the upstream no longer holds what this replica pulled (restored from a backup?): sending everything again, pulling from sequence \(info.compactedThrough)")
                // The upstream's own operations too, from a relay (an office), which the upstream
                // takes them from: a replica pushes only what it made (protocol 4.4).
                report.unsendableAfterRewind = try executor.perform { try $0.rewindUpstreamCursors(pullCursor: info.compactedThrough, resendingUpstreamOwn: info.relay) }
                report.upstreamRewound = true
            }
            if let end = info.logEnd, try executor.perform({ try $0.upstream()?.pullCursor ?? 0 }) > end { try rewind(&report) }
            // A push refused for an operation stamped ahead of the upstream's clock (written here
            // while this machine's clock was wrong) waits until the upstream's clock reaches it:
            // meanwhile this replica still takes what others wrote, and the sync fails after the
            // pull, saying so. It once stopped here, and a laptop saw nothing new for that long.
            var stampedAhead: SyncError?
            // So does a push refused as not the person's (a laptop registered for one person,
            // protocol 8): what others wrote still comes down, and the sync fails after it.
            var forbidden: SyncError?
            let pushUnlessRefused = { (report: inout SyncReport) in
                guard pushRefused == nil, forbidden == nil else { return }
                do {
                    try push(&report)
                } catch let error as SyncError where error.code == .clockSkew {
                    stampedAhead = error
                    progress("the upstream refused this replica's operations as stamped ahead of its clock; pulling what it has meanwhile")
                } catch let error as SyncError where error.status == 403 {
                    forbidden = error
                    progress("the upstream refused this replica's push (\(error.message)); pulling what it has meanwhile")
                }
            }
            try pushUnlessRefused(&report)
            let tail = try bootstrap(from: info, &report)
            // Lacking operations of its own and not started again from the snapshot (replicas are
            // registered below it, whose cursors count its log, or it takes none), it takes them
            // back with its pull (`own`, protocol 4.4): they come after its cursor, pushed after
            // the backup it was restored from was taken; its log keeps its sequences.
            let takingOwnBack = report.lostOwnOperations != nil && report.snapshotOperations == 0
            if takingOwnBack { progress("taking back its own operations from the upstream's log, as it did not start again from the snapshot (\(snapshotNotUsed(report)))...") }
            do {
                do {
                    try pull(&report, compactedThrough: info.compactedThrough, snapshotOffered: info.snapshot != nil, tail: tail, digestFollows: compareDigests,
                             own: takingOwnBack)
                } catch let error as SyncError where error.status == 409 && !report.upstreamRewound {
                    try rewind(&report)
                    try pushUnlessRefused(&report)
                    try pull(&report, compactedThrough: info.compactedThrough, snapshotOffered: info.snapshot != nil, own: takingOwnBack)
                }
            } catch let error as SyncError where error.status == 410 && pushRefused == nil && forbidden?.isNotThePersons == true {
                // The upstream's log is compacted past this replica's cursor, and its writes wait
                // behind the refusal, so it can neither pull nor start again as usual (what waits
                // goes up first). Setting aside starts again anyway (below); otherwise the refusal
                // is what to act on, said with why the pull stopped.
                guard setsAsideRefused, info.person != nil else {
                    let refusal = forbidden!
                    throw SyncError(status: refusal.status, "\(refusal.message); the pull could not go on either (\(error.message)): this replica starts again from the upstream's snapshot only once nothing of its waits to go up",
                                    hint: refusal.hint)
                }
            } catch {
                // Its own ids reused say more of this folder than a pull that failed after them.
                throw pushRefused ?? error
            }
            pulled = true
            // Writes a sync killed between starting again and making them again left pending are
            // made again now, checked against what was just pulled; then, asked to, what the
            // upstream refuses is set aside, and what it takes goes up.
            if try settleSetAside(&report, upstreamHolds: info.ownOperations) { try pushUnlessRefused(&report) }
            if setsAsideRefused, pushRefused == nil, forbidden?.isNotThePersons == true, info.person != nil {
                try startAgainSettingAside(from: info, &report)
                forbidden = nil
                try pushUnlessRefused(&report)
            }
            if let pushRefused { throw pushRefused }
            let pulledSoFar = "the pull went on: \(report.pulledOperations == 1 ? "1 operation" : "\(report.pulledOperations) operations") received, \(report.pullApplied) new here"
            if let forbidden { throw SyncError(status: forbidden.status, "\(forbidden.message); \(pulledSoFar)", hint: forbidden.hint) }
            if let stampedAhead {
                throw SyncError(status: stampedAhead.status,
                                "\(stampedAhead.message); this replica's operations in the page holding it, and those after it, did not go up (the upstream applies nothing of a refused page), and \(pulledSoFar)",
                                hint: stampedAhead.hint)
            }
            // Its lost operations come back with the snapshot, or with the pull that asked for
            // them: looked at again, in case the upstream left them out (an older one ignores
            // `own`), or the pull was cut short. Still lacking, it is a state syncing will not
            // mend (as `diverged`): said, and the sync's work kept, not a failure to retry sooner.
            if takingOwnBack, let lost = report.lostOwnOperations {
                let held = info.ownOperations ?? CounterRanges()
                if let still = try executor.perform({ try $0.lostOwnOperations(upstreamHolds: held, latest: info.ownLatest) }) {
                    report.lostOwnUnrecovered = report.pullCutShort ? nil : """
                        this replica lacks at least \(still.lackingCount) of its own operations that the upstream holds (from \(executor.perform { $0.id.hex }):\(still.firstLacking)): \
                        its folder was restored from a backup of itself, or copied; it could not start again from the upstream's snapshot (\(snapshotNotUsed(report))), \
                        and the upstream's pull left them out (one older than this release does; and of an operation whose record was erased since, it keeps only the id)
                        """
                } else {
                    report.ownTakenBack = lost.lackingCount
                    progress("took back the \(lost.lackingCount) operation\(lost.lackingCount == 1 ? "" : "s") of its own it lacked")
                }
            }
            // An upstream restored from a backup that may lack operations this replica compacted
            // is compared now, not at the next comparison minutes later, so a difference for good
            // is said by this sync (`diverged`), where the node once logged it "ok".
            // Not after a pull cut at its time limit: the upstream holds more, and says so.
            if (compareDigests || report.unsendableAfterRewind > 0) && !report.pullCutShort { try compare(&report) }
            try executor.perform { try $0.recordUpstream(success: true, skewMilliseconds: report.skewMilliseconds, pullOperationAt: report.pullOperationLearnt) }
            return report
        } catch {
            var message = (error as? SyncError)?.message ?? (error as? ChorusError)?.message ?? "\(error)"
            // A push refused as stamped ahead says in how long the upstream takes it: what the
            // operator of a node syncing in the background reads in its status.
            if let refusal = error as? SyncError, refusal.code == .clockSkew, let hint = refusal.hint { message += " (\(hint))" }
            try? executor.perform { try $0.recordUpstream(error: .some(message)) }
            if pulled { failedAfterPull(report) }
            throw error
        }
    }

    /// Makes again the pending writes of a start to set writes aside (`Replica.finishSettingAside`),
    /// counted in `report`; whether some were made again (to push).
    private func settleSetAside(_ report: inout SyncReport, upstreamHolds: CounterRanges?) throws -> Bool {
        let outcome = try executor.perform { try $0.finishSettingAside(upstreamHolds: upstreamHolds) }
        report.setAsideOutcome.add(outcome)
        if outcome.setAside > 0 {
            progress("set aside \(outcome.setAsideWrites == 1 ? "1 write" : "\(outcome.setAsideWrites) writes") (\(outcome.setAside == 1 ? "1 operation" : "\(outcome.setAside) operations")) the upstream refuses; `chorus set-aside` lists them")
        }
        return outcome.madeAgain > 0 || outcome.madeAsPerson > 0
    }

    /// Starts this laptop again from a snapshot of its upstream reaching all it pulled, its writes
    /// waiting to go up kept pending (`Replica.adoptSnapshot(settingAside:)`), checks them against
    /// that state and makes again those the upstream takes (`settleSetAside`), then pulls what
    /// came after the snapshot. The two steps run one after the other: a laptop killed between
    /// them holds the writes pending, which the next process to open the folder makes again.
    private func startAgainSettingAside(from info: InfoResponse, _ report: inout SyncReport) throws {
        let plan = executor.perform { replica -> (folder: String, storage: String)? in
            guard case .directory(let folder) = replica.location else { return nil }
            return (folder, replica.storageVersion)
        }
        // As when starting again for any other reason (protocol 4.6): not after a push met
        // operations the upstream held already, nor when this folder lacks its own (restored
        // from a backup of itself): its writes since may reuse ids the upstream holds.
        // Nor when the upstream was restored from a backup: this replica's own operations it lost
        // are marked here as come from it, and no pull brings them back.
        guard report.pushDuplicates == 0, report.lostOwnOperations == nil, !report.upstreamRewound else {
            let why = report.upstreamRewound ? "the upstream no longer holds what this replica pulled (restored from a backup)"
                : report.lostOwnOperations == nil ? "operations the upstream held already in a push" : "this folder lacking operations of its own the upstream holds"
            throw SyncError(status: 0, "the refused writes were not set aside: this sync found \(why), and a replica then does not start again",
                            hint: "sync again with --set-aside-refused; if this says so again, \(SyncError.newFolderSteps), and make what is still wanted again there")
        }
        guard let plan, usesSnapshots, let offer = info.snapshot, offer.storage == plan.storage else {
            throw SyncError(status: 0, "the refused writes could not be set aside: that starts this replica again from its upstream's snapshot, and \(usesSnapshots ? "it offers none of this replica's storage version (\(plan?.storage ?? "in memory"))" : "--no-snapshot was given")",
                            hint: "run the same chorus version here and on the upstream, without --no-snapshot; or \(SyncError.newFolderSteps), and make what is still wanted again there")
        }
        progress("setting aside what the upstream refuses: starting again from its snapshot, then making again what it takes...")
        let path = (plan.folder as NSString).appendingPathComponent("\(Replica.snapshotFilePrefix)in-\(UUID().uuidString).sqlite")
        defer { Replica.removeSnapshotFile(path) }
        // A copy reaching what this replica pulled holds everything it holds but its own writes
        // waiting (`checkReplaceable` refuses one that lacks anything else).
        let pulledThrough = try executor.perform { try $0.upstream()?.pullCursor ?? 0 }
        // Reaching the upstream's log's end as `info` said it, too: the writes are checked against
        // all it held then, not a copy a minute old (`snapshotReuseSeconds`).
        let reaching = max(pulledThrough, info.logEnd ?? 0)
        let through = try downloadSnapshot(storage: plan.storage, reaching: reaching, into: path, compactedThrough: info.compactedThrough)
        guard through >= reaching else {
            throw SyncError(status: 0, "the refused writes were not set aside: the upstream's copy reaches sequence \(through), before the \(reaching) this replica asked for (an older chorus, which serves a cached copy)",
                            hint: "sync again with --set-aside-refused in a minute, or upgrade the upstream")
        }
        let adoption = try executor.perform { try $0.adoptSnapshot(at: path, through: through, from: info.server.replica, replacing: true, settingAside: true) }
        report.snapshotOperations = adoption.operations
        _ = try settleSetAside(&report, upstreamHolds: info.ownOperations)
        // Said as the start's rows say it: another process that opened the folder meanwhile (a
        // `chorus status`) finishes what it finds, and this one then finds nothing to count.
        report.setAsideOutcome = try executor.perform { try $0.latestSetAsideStart() }
        // The writes made again were made when this replica had pulled `pulledThrough`: it says no
        // more is committed until they are pushed (protocol 4.4).
        try pull(&report, compactedThrough: info.compactedThrough, snapshotOffered: true, committedAtMost: pulledThrough)
    }

    /// Downloads the upstream's snapshot into `path`, with progress; its `through`, which must not
    /// be before the upstream's compaction point.
    private func downloadSnapshot(storage: String, reaching: Int64 = 0, into path: String, compactedThrough: Int64) throws -> Int64 {
        let progress = self.progress
        let through = try transport.snapshot(storage: storage, reaching: reaching, into: path) { received, expected in
            let megabytes = { (bytes: Int64) in String(format: "%.1f", Double(bytes) / 1_000_000) }
            progress("received \(megabytes(received))\(expected > 0 ? " of \(megabytes(expected))" : "") MB of the snapshot...")
        }
        guard through >= compactedThrough else {
            throw SyncError(status: 0, "it reaches sequence \(through), before the upstream's compaction point (\(compactedThrough)), so what came after could not be pulled",
                            hint: "sync again for a newer snapshot")
        }
        return through
    }

    /// What a folder restored from a backup of itself, or copied, lacks (`Replica+OwnOperations`), in words.
    private func lacking(_ lost: Replica.LostOwnOperations) -> String {
        let id = executor.perform { $0.id.hex }
        if let counter = lost.differingLatest {
            return "its latest operation the upstream holds, \(id):\(counter), is another here, of other content"
        }
        return "it lacks at least \(lost.lackingCount) of its own operations that the upstream holds, from \(id):\(lost.firstLacking)"
    }

    /// The refusal of such a folder whose writes not yet pushed carry ids the upstream holds: made
    /// since the restore, they reuse other operations' ids, and the upstream would drop them as
    /// duplicates, unseen. None of them is pushed; the pull goes on (`run`).
    private func reusedIDs(_ lost: Replica.LostOwnOperations) -> ChorusError {
        let count = lost.unsentHeldCount == 1 ? "1 operation made here and not sent yet carries an id" : "\(lost.unsentHeldCount) operations made here and not sent yet carry ids"
        return ChorusError(.invalidState, "this folder was restored from a backup of itself, or copied, after it had synced (\(lacking(lost))), and \(count) the upstream holds (first \(executor.perform { $0.id.hex }):\(lost.firstUnsentHeld)): made since the restore, they reuse the ids of other operations, which the upstream would take them for; nothing was sent",
                           hint: "writes made here since the restore cannot be sent under those ids: \(SyncError.newFolderSteps), make them again there (`chorus log --data THIS_FOLDER` lists them; those the new folder already shows went up before the restore), then remove this folder")
    }

    /// Takes an answer's server stamp, refusing one of another replica than `info`'s: a load
    /// balancer over two hubs, or a failover between requests, had pages of another log merged
    /// and its sequences kept as this replica's cursor (a read-only audit). Before anything of the
    /// answer is applied or any cursor moves.
    func observe(_ server: ServerStamp, _ report: inout SyncReport) throws {
        if let known = report.upstreamReplica, server.replica != known {
            throw SyncError(status: 0, "an answer of this sync came from replica \(server.replica.hex) (\(server.name.prefix(64))), where the upstream's info came from \(known.hex): two nodes answer at this URL",
                            hint: "point the URL at one node (not a balancer over several hubs); nothing of that answer was applied")
        }
        report.skewMilliseconds = Int64(server.wall) - Int64(wallClock.nowMilliseconds())
    }

    private enum PushStep {
        case done
        case skipped
        case send(LogPage, [UInt8])
    }

    /// Room a push's envelope takes beside its operations: `relayed` at its most (ids of 35 bytes
    /// each with quotes and comma), the replica id, the cursor and the keys.
    public static let pushEnvelopeBytesMax = Limits.default.relayedReplicasMax * 35 + 1024

    /// `keepsUpstreamOwn`: this replica is a relay of the upstream's, which sends the upstream its
    /// own operations back after a restore: a stretch of the log with nothing to push (what came
    /// from the upstream) counts as acknowledged now, so compaction keeps it as long as what was
    /// pushed (`acknowledgedKeptSeconds`); counted as acknowledged long ago, it went at the next
    /// compaction, and with it what the restored upstream would have got back.
    private func push(_ report: inout SyncReport, pageOperationsMax: Int, pageBytesMax: Int, keepsUpstreamOwn: Bool) throws {
        var pageBytesMax = pageBytesMax
        while true {
            let step = try executor.perform { replica -> PushStep in
                let upstream = try replica.upstream()
                let cursor = upstream?.pushCursor ?? 0
                let below = try replica.replicasBelow()
                // After the upstream was restored: its own operations this log holds, up to where
                // the log ended then, go back with the rest (`rewindUpstreamCursors`).
                var resendThrough = try replica.upstreamOwnToResend()
                if resendThrough > 0 && (cursor >= resendThrough || upstream?.replica == nil) {
                    try replica.finishUpstreamOwnResend()
                    resendThrough = 0
                }
                let page = try replica.logPage(after: cursor, excludingSource: "upstream", authors: Set(below + [replica.id]),
                                               alsoMadeBy: resendThrough > 0 ? upstream?.replica.map { ($0, resendThrough) } : nil,
                                               operationsMax: pageOperationsMax, bytesMax: pageBytesMax)
                if page.next == cursor { return .done }
                if page.operations.isEmpty {
                    // Nothing pushable in this stretch of the log: move the cursor past it.
                    try replica.recordUpstream(pushCursor: page.next, pushSent: keepsUpstreamOwn)
                    return page.hasMore ? .skipped : .done
                }
                return .send(page, PushRequest.encode(replica: replica.id, through: page.next, relayed: below, operationTexts: page.operations))
            }
            guard case .send(let page, let body) = step else {
                if case .skipped = step { continue }
                return
            }
            let response: PushResponse
            do {
                response = try transport.push(body: body)
            } catch let error as SyncError where error.status == 403 && page.sentBack > 0 {
                // An upstream that does not take its own operations back (an older one): the
                // rest goes up without them, and the states stay apart, which the digest says.
                try executor.perform { try $0.finishUpstreamOwnResend() }
                progress("the upstream refused its own operations sent back (\(error.message)); sending the rest without them")
                continue
            } catch let error as SyncError where error.status == 408 && page.operations.count > 1 {
                // The upstream gives a body a time by its size, at a minimum rate (section 6): on a
                // link slower than that, a page goes through only smaller. Halved until it does, or
                // until it is one operation (then the error stands).
                pageBytesMax = max(1, page.operations.reduce(0) { $0 + $1.utf8.count } / 2)
                progress("the upstream timed out a push of \(body.count) bytes: sending pages of at most \(pageBytesMax) bytes")
                continue
            }
            // The upstream echoes the page's end and counts what it took of it: anything else would
            // move the push cursor where this replica never pushed to (past operations not sent).
            guard response.through == page.next, (0...page.operations.count).contains(response.applied),
                  (0...(page.operations.count - response.applied)).contains(response.duplicates) else {
                throw SyncError(status: 0, "the upstream answered a push of \(page.operations.count) operations through sequence \(page.next) with \(response.applied) applied, \(response.duplicates) duplicates, through \(response.through)",
                                hint: "the upstream is faulty or not a Chorus node: ask its operator; the push cursor did not move, so the page is sent again next time")
            }
            try observe(response.server, &report)
            report.pushedOperations += page.operations.count
            report.pushApplied += response.applied
            report.pushDuplicates += response.duplicates
            try executor.perform { try $0.recordUpstream(pushCursor: response.through) }
            guard page.hasMore else { return }
            progress("pushed \(report.pushedOperations) operations...")
        }
    }

    /// Why a replica lacking operations of its own did not start again from the snapshot, in words.
    private func snapshotNotUsed(_ report: SyncReport) -> String {
        report.snapshotRefused ?? (usesSnapshots ? "none was offered" : "snapshots are not used: --no-snapshot")
    }

    /// Starts a new replica from the upstream's snapshot when it offers one of this storage version
    /// and its log is long enough to be worth it (`snapshotSequenceMin`), or is compacted (then the
    /// snapshot is the only way to start). A snapshot that fails to
    /// download or is refused changes nothing (adoption is one transaction), so the pull that
    /// follows replays the log as if none had been offered.
    ///
    /// Once the snapshot has passed its checks, the first page after it is asked for while the
    /// snapshot is taken (`TailFetch`): a new replica waits one round trip less (on a link of
    /// 100 ms, a tenth of a second; P3 in `Docs/performance.md`). Returned for `pull`, which uses
    /// it when the snapshot was taken and lets it go otherwise. That page's request says what the
    /// replica had committed before the snapshot; a sync that compares digests says the rest with
    /// its digest, and one that does not asks once more (`pull`).
    private func bootstrap(from info: InfoResponse, _ report: inout SyncReport) throws -> TailFetch? {
        let lostOwn = report.lostOwnOperations != nil
        let offer = info.snapshot.flatMap { offer in
            usesSnapshots && offer.through > 0 && (offer.through >= limits.snapshotSequenceMin || info.compactedThrough > 0 || lostOwn) ? offer : nil
        }
        let pushDuplicates = report.pushDuplicates
        let (plan, refusal) = try executor.perform { replica -> (plan: (path: String, storage: String, replacing: Bool)?, refusal: String?) in
            guard case .directory(let folder) = replica.location else { return (nil, nil) }
            // A replica holding data starts again from the snapshot only when the upstream's log is
            // compacted past what it has pulled, or it lacks operations of its own the upstream
            // holds (else taken back by its pull, `own`): it cannot catch up otherwise (its writes
            // were pushed just before). What keeps it from doing so is said (`snapshotRefused`):
            // replicas registered below it were once "none was offered".
            let replacing = try !replica.canAdoptSnapshot()
            let behind = try (replica.upstream()?.pullCursor ?? 0) < info.compactedThrough
            let considered = replacing && usesSnapshots && (behind || lostOwn)
            // Not after a push met operations the upstream held (its writes since may reuse ids).
            let refusal = considered ? try replica.whyNotReplaceableWithSnapshot()
                ?? (pushDuplicates > 0 ? "its push met \(pushDuplicates) operation\(pushDuplicates == 1 ? "" : "s") the upstream held already" : nil) : nil
            guard !replacing || (considered && refusal == nil) else {
                // It holds data now and never takes a snapshot: what a stopped download left is of no use.
                Replica.removeIncomingSnapshots(in: folder)
                return (nil, refusal)
            }
            Replica.removeAbandonedSnapshots(in: folder)
            guard let offer, offer.storage == replica.storageVersion else { return (nil, nil) }
            let name = "\(Replica.snapshotFilePrefix)in-\(UUID().uuidString).sqlite"
            return (((folder as NSString).appendingPathComponent(name), replica.storageVersion, replacing), nil)
        }
        if let refusal { report.snapshotRefused = "it cannot start again from one: \(refusal)" }
        guard let plan else { return nil }
        progress(plan.replacing
                 ? "\(lostOwn ? "this replica lacks operations of its own" : "the upstream's log is compacted past this replica's cursor"): starting again from its snapshot, which holds everything this replica pushed..."
                 : "starting from the upstream's snapshot (its log reaches \(info.snapshot?.through ?? 0))...")
        defer { Replica.removeSnapshotFile(plan.path) }
        var tail: TailFetch?
        do {
            // Held while this session runs, so another process's sync leaves it, and once this
            // process is gone, the next sync removes what is left of it.
            let hold = try IncomingSnapshotHold(plan.path)
            defer { withExtendedLifetime(hold) {} }
            let through = try downloadSnapshot(storage: plan.storage, into: plan.path, compactedThrough: info.compactedThrough)
            // Asked for once the file has passed its checks, so the upstream's progress hint (a
            // pull's `after`, protocol 4.4) is not moved for a snapshot that is then refused; it
            // says what this replica has committed so far (`Chorus-Cursor`, the durable
            // acknowledgement), and nothing of its own waits to go up (a replica holding data
            // starts again only then).
            let (transport, limit) = (self.transport, limits.pullPageOperationsMax)
            let adoption = try executor.perform { replica in
                let committed = try replica.upstream()?.pullCursor ?? 0
                return try replica.adoptSnapshot(at: plan.path, through: through, from: info.server.replica, replacing: plan.replacing,
                                                 lostOwnChecked: lostOwn) {
                    tail = TailFetch(after: through, fetch: PageFetch(transport, after: through, limit: limit, waitingToPush: 0, committed: committed))
                }
            }
            report.snapshotOperations = adoption.operations
            // It holds data now and takes no other snapshot: what downloads stopped earlier (a
            // killed `chorus sync`) left is of no use, and went only once a later sync found data.
            Replica.removeIncomingSnapshots(in: (plan.path as NSString).deletingLastPathComponent)
            progress("took \(adoption.operations) operations from the snapshot; pulling what came after \(adoption.through)...")
            return tail
        } catch {
            // The page after a snapshot not taken is of no use; its request finishes first, so no
            // thread outlives the session.
            tail?.discard()
            // A token the upstream refuses (an admin's, which may not sync) is said as such: the
            // log's pull would be refused too, or, compacted, fail as "sync again", which never helps.
            if let refused = error as? SyncError, refused.code == .refused { throw refused }
            // An upstream busy sending snapshots (503) is waited for: the sync fails and is tried
            // again with backoff, where pulling the log instead replayed all of it (a review).
            if let busy = error as? SyncError, busy.status == 503 { throw busy }
            let message = (error as? SyncError)?.message ?? (error as? ChorusError)?.message ?? "\(error)"
            report.snapshotRefused = message
            // The limit to raise for it to be taken (a download cut at its time limit: raise it
            // for this link), kept for the compacted upstream's error, which otherwise said only
            // "sync again", and a slow link downloaded it from the start again, for good.
            report.snapshotRefusedHint = (error as? SyncError)?.remedy
            // Refused by its own checks (what only it holds), not a download that failed.
            report.startingAgainRefused = plan.replacing && (error as? ChorusError)?.code == .invalidState
            progress("the snapshot was not used (\(message)); pulling the log instead")
            return nil
        }
    }

    /// Pulls page after page. The next page is fetched and decoded on another thread while this
    /// one merges (P3 in Docs/performance.md: decoding costs about as much as merging), and each
    /// page commits with its cursor, so an interrupted pull resumes after the last merged page.
    /// `tail` is the first page after a snapshot just taken, already asked for (`bootstrap`).
    /// `digestFollows`: the sync reports its cursor with its digest next (`compare`).
    /// `committedAtMost`: the most this pull may say is committed while writes of this replica's
    /// wait (made again after starting again: they were made when it had pulled only that much).
    /// `own`: every page also holds this replica's own operations and those that came through it
    /// (protocol 4.4), which it lacks, restored from a backup of itself.
    private func pull(_ report: inout SyncReport, compactedThrough: Int64, snapshotOffered: Bool, tail: TailFetch? = nil,
                      digestFollows: Bool = false, committedAtMost: Int64? = nil, own: Bool = false) throws {
        let cursors: (start: Int64, operation: OperationID?, pending: (count: Int64, logEnd: Int64))
        do {
            cursors = try executor.perform { replica in
                let upstream = try replica.upstream()
                return (upstream?.pullCursor ?? 0, upstream?.pullOperation, try replica.pendingPush())
            }
        } catch {
            tail?.discard()
            throw error
        }
        let (start, waiting) = (cursors.start, cursors.pending.count)
        // Taken, the snapshot moved the cursor to its end: the page asked for after it is the next.
        let usable = tail?.after == start && start >= compactedThrough ? tail : nil
        if usable == nil { tail?.discard() }
        if start < compactedThrough { throw try compactedPast(start, compactedThrough: compactedThrough, snapshotOffered: snapshotOffered, report) }
        // The cursor told to the upstream as committed (`Chorus-Cursor`), which it reads as "every
        // write still to come from this replica was made after it had these operations" (its
        // snapshots and compaction keep history only after the lowest such cursor). A write made
        // while the pull runs is concurrent with the pages merged after it, and waits for the next
        // sync's push: from then on the cursor stays where it was when none was seen waiting. Any
        // waiting now was made since this sync's push, which sent all there was, so at `start`.
        // Between pages, one was made if the log gained operations not from upstream since the
        // last look (a write, a push from a replica below, another process's): only what came
        // after that end is read, not every block pulled so far.
        var committed = min(start, committedAtMost ?? start)
        var noneWaiting = waiting == 0
        var logEnd = cursors.pending.logEnd
        // The id at the cursor goes with it, so an upstream restored and lengthened since says so
        // (protocol 4.4); not known yet after a snapshot, it is kept from the first page that says it.
        var knownOperation = cursors.operation
        var fetching = usable?.fetch
            ?? PageFetch(transport, after: start, afterOperation: knownOperation, limit: limits.pullPageOperationsMax, waitingToPush: waiting, committed: committed,
                         own: own)
        var asked = start
        // Whether the request in flight only says what this replica holds (below): it may fail.
        var saying = false
        let cutoff = DispatchTime.now().uptimeNanoseconds + UInt64(max(limits.pullSecondsPerSyncMax, 0) * 1e9)
        while true {
            let response: PullResponse, prepared: [PreparedOperation]
            do {
                (response, prepared) = try fetching.wait()
            } catch where saying {
                return   // what it had to say waits for the next sync; everything pulled is merged
            }
            // Only that one request's failure is let go: the pages after it fail the sync as any
            // page does (a later 409, 410 or broken page was swallowed, and the sync recorded a
            // success; a read-only audit).
            saying = false
            // A page that says more follows must end past where it was asked from, and none may end
            // before it: otherwise an upstream (broken, or restored from an older backup) would keep
            // this loop asking for ever, or the cursor would claim what was never pulled.
            guard response.next >= asked, !response.hasMore || response.next > asked else {
                throw SyncError(status: 0, "the upstream's page after sequence \(asked) ends at \(response.next)\(response.hasMore ? " and says more follows" : "")",
                                hint: "the upstream's log is behind this replica's cursor (restored from an older backup?) or it is faulty: ask its operator; nothing of the page was applied")
            }
            // Nothing in it and the cursor where it was (a sync with nothing new): no commit to
            // make, and none made (each was a durable one, a sync of the file).
            let unchanged = prepared.isEmpty && response.next == asked
            // Unchanged, only the id at the cursor may be news: kept with the sync's success.
            if unchanged, knownOperation == nil, let named = response.nextOperation { report.pullOperationLearnt = (response.next, named) }
            asked = response.next
            if response.nextOperation != nil || !unchanged { knownOperation = response.nextOperation }
            try observe(response.server, &report)
            let following = response.hasMore
                ? PageFetch(transport, after: response.next, afterOperation: response.nextOperation, limit: limits.pullPageOperationsMax,
                            waitingToPush: waiting, committed: committed, own: own) : nil
            let applied: Int
            do {
                (applied, noneWaiting, logEnd) = try executor.perform { replica in
                    let applied = unchanged ? 0 : try replica.applyPulled(prepared, through: response.next, nextOperation: response.nextOperation).applied
                    // After the page, in one read: what else was logged since the last look, by
                    // this process or another, before or after the page committed.
                    let growth = try replica.logGrowth(after: logEnd)
                    return (applied, noneWaiting && growth.notFromUpstream == 0, growth.end)
                }
            } catch {
                // Let the request in flight finish (at most the transport's request timeout) so no
                // thread outlives the session; its page is dropped and pulled again next time.
                _ = try? following?.wait()
                throw error
            }
            if noneWaiting { committed = response.next }
            report.committedCursor = committed
            report.pulledOperations += response.operations.count
            report.pullApplied += applied
            var next = following
            // Pulling for as long as the upstream's log grows faster than this link carries it,
            // the sync would never end, nor its next push come: it ends here, the rest next time.
            if let pending = next, DispatchTime.now().uptimeNanoseconds >= cutoff {
                _ = try? pending.wait()   // no thread outlives the session; its page comes again
                report.pullCutShort = true
                progress("pulled for \(Int(limits.pullSecondsPerSyncMax)) s (pullSecondsPerSyncMax) with more at the upstream: the next sync takes the rest, after its push")
                return
            }
            // Once only, and not while what it may say is held back (`committedAtMost`): it would
            // say the same again, for ever.
            if next == nil && !saying && committedAtMost == nil && fetching.committed < start && !digestFollows {
                // The page after a snapshot was asked for with the cursor from before it, and was
                // the last: one more request says what this replica holds now (the upstream's
                // settled sequence counts it by that, protocol 4.6) and takes what came meanwhile.
                // A digest request that follows says it too, without this one.
                next = PageFetch(transport, after: response.next, afterOperation: response.nextOperation, limit: limits.pullPageOperationsMax,
                                 waitingToPush: waiting, committed: committed, own: own)
                saying = true
            }
            guard let next else { return }
            progress("pulled \(report.pulledOperations) operations...")
            fetching = next
        }
    }

    /// Why a pull after `start` would be refused by an upstream compacted past it (410), and what
    /// to do, said before asking.
    private func compactedPast(_ start: Int64, compactedThrough: Int64, snapshotOffered: Bool, _ report: SyncReport) throws -> SyncError {
        let why = report.snapshotRefused.map { " (its snapshot was not used: \($0))" } ?? ""
        let hint: String
        let holdsData = try !executor.perform { try $0.canAdoptSnapshot() }
        if holdsData, report.pushDuplicates > 0 {
            hint = "its push met \(report.pushDuplicates) operations the upstream already held, so it did not start again from the snapshot: sync again (after a push repeated when its answer was lost, the next sync starts again); if this repeats, the replica was restored from an older backup and its writes reuse ids: export them (`chorus export --output FILE`), join a new, empty folder to the upstream and import the file there"
        } else if holdsData, report.startingAgainRefused {
            hint = "this replica holds what the upstream lacks, so it cannot start again from the snapshot; export it (`chorus export --output FILE`), join a new, empty folder to the upstream, import the file there, and retire this one"
        } else if holdsData, try !executor.perform({ try $0.canReplaceWithSnapshot() }) {
            hint = "this replica cannot catch up by pulling, nor start again from the snapshot (replicas are registered below it, or its writes are not all pushed). Push them (`chorus sync`), or join a new, empty folder to the upstream and retire this one"
        } else if !usesSnapshots {
            hint = "sync without --no-snapshot: a new replica of a compacted upstream starts from its snapshot"
        } else if snapshotOffered, let refusedHint = report.snapshotRefusedHint {
            hint = "\(refusedHint); then sync again to retry the snapshot"
        } else if snapshotOffered {
            hint = "sync again to retry the snapshot"
        } else {
            hint = "the upstream serves no snapshots (snapshotsConcurrentMax is 0, or it runs in memory); a new replica of a compacted upstream needs one: ask its operator"
        }
        return SyncError(status: 410, "the upstream's log is compacted through sequence \(compactedThrough) and this replica has pulled only through \(start)\(why)",
                         hint: hint)
    }

    /// Compares digests at the same cursor: if the upstream's log has not moved past what we
    /// pulled and we have pushed everything, equal digests prove the replicas match.
    private func compare(_ report: inout SyncReport) throws {
        let (local, pullCursor, waiting) = try executor.perform { ($0.digestOrEmpty(), try $0.upstream()?.pullCursor ?? 0, try $0.pendingPushCount()) }
        // Reported as committed (section 4.4): what the pull could say (behind its cursor when a
        // write was made while it ran; a write made since follows all it pulled).
        let remote = try transport.digest(reporting: (local, min(pullCursor, report.committedCursor ?? pullCursor)))
        try observe(remote.server, &report)
        report.upstreamDigest = remote.digest
        report.upstreamSequence = remote.through
        report.localDigest = local
        report.digestMatches = local == remote.digest
        // Operations it holds but may not push (another replica's, imported from a bundle) reach
        // the upstream when their maker syncs: a difference they make is not for good.
        if !local.isEmpty && local != remote.digest && remote.through <= pullCursor && waiting == 0 && report.lostOwnUnrecovered == nil {
            if try executor.perform({ try $0.holdsOperationsItCannotPush() }) {
                progress("this replica holds operations of other replicas that it does not send up (imported from a bundle): they reach the upstream when their makers sync, or when the bundle is imported there")
            } else {
                report.diverged = true
            }
        }
        if local != remote.digest && remote.through > pullCursor {
            progress("the upstream moved on during the comparison (its log is at \(remote.through), we pulled to \(pullCursor)); sync again to compare")
        }
    }
}

extension Replica {
    func digestOrEmpty() -> String { (try? digest().hexString) ?? "" }
}

/// The first pull after a snapshot, asked for while the checked snapshot is taken.
struct TailFetch {
    /// The sequence it pulls after: the snapshot's.
    let after: Int64
    let fetch: PageFetch

    /// Waits for the request to end and drops its page (or its error).
    func discard() { _ = try? fetch.wait() }
}

/// One pull request running on its own thread (`OnThread`); `wait` returns its page, its
/// operations prepared for the merge on that thread too (`PreparedOperation`), or throws its error.
struct PageFetch: Sendable {
    private let request: OnThread<(PullResponse, [PreparedOperation])>
    /// The cursor the request says is committed (`Chorus-Cursor`).
    let committed: Int64

    init(_ transport: any SyncTransport, after: Int64, afterOperation: OperationID? = nil, limit: Int, waitingToPush: Int64, committed: Int64,
         own: Bool = false) {
        self.committed = committed
        request = OnThread("chorus-pull") {
            let response = try transport.pull(after: after, afterOperation: afterOperation, limit: limit, waitingToPush: waitingToPush, committed: committed,
                                              own: own)
            return (response, PreparedOperation.prepare(response.operations))
        }
    }

    /// Blocks until the page arrived (or failed).
    func wait() throws -> (PullResponse, [PreparedOperation]) { try request.value() }
}
