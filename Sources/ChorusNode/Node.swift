import ChorusCore
import ChorusReplica
import ChorusSync
import Dispatch
import Foundation
import HTTP1
import HTTPServer

/// A running node: serves its replica to replicas below it over HTTP and, when it has an upstream,
/// syncs with it in the background, backing off (jittered, capped) while the upstream is
/// unreachable. Local writes never wait for the network.
public final class Node: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port: UInt16 = 7420
        /// Seconds between background syncs when all is well.
        public var syncIntervalSeconds = 10.0
        /// A background sync also compares this node's digest with the upstream's at most this
        /// often (0: every sync), starting with the first: the upstream's health view then shows
        /// whether this node matches it, and a difference is logged. Not every sync: after a
        /// commit, the upstream hashes every row for it (about 300 ms at 10,000 people).
        public var digestCompareSeconds = 300.0
        public var limits = Limits.default
        /// Who is acting on the people API (single-sign-on header, or the laptop's owner).
        public var identity = IdentityPolicy()
        /// Addresses of proxies in front of the node (nginx terminating TLS, the single-sign-on
        /// proxy): each carries many clients' requests, so the per-address limits
        /// (`connectionsPerAddressMax`, `workersPerAddressMax`) do not bound them; the proxy
        /// bounds each client. nil: the trusted proxies when an identity header is set, else none.
        public var proxyAddresses: Set<String>?
        /// Seconds between automatic log compactions (`Replica.compactLog`, what `chorus compact`
        /// does); nil: never, the log is compacted by hand or by cron. Off by default: compaction
        /// removes the history `chorus export --since` bundles are cut from.
        public var compactIntervalSeconds: Double?
        public var wallClock: any WallClock = SystemClock()
        /// One JSON line per event (access log lines and sync outcomes).
        public var log: @Sendable (String) -> Void = { line in LineWriter.standardOutput.write(line) }
        public init() {}
    }

    public let configuration: Configuration
    public let executor: ReplicaExecutor
    public let service: SyncService
    public let metrics = Metrics()
    let server: HTTPServer
    private let syncQueue = DispatchQueue(label: "chorus.sync")
    /// When a background sync last compared digests with the upstream (wall milliseconds); read
    /// and written on `syncQueue` only.
    private var lastDigestComparison: UInt64?
    private var syncTimer: DispatchSourceTimer?
    private var consecutiveFailures = 0
    /// Whether a sync has found this replica holding all its own operations the upstream holds
    /// (`SyncSession.checksOwnOperations`): a folder is restored while no process holds it, so
    /// once a run is enough.
    private var ownOperationsChecked = false
    private var isStopped = false
    private let lock = NSLock()

    public init(replica: Replica, configuration: Configuration) {
        self.configuration = configuration
        self.executor = ReplicaExecutor(replica)
        let watch = replica.openChangeWatch()
        if watch == nil, case .directory = replica.location {
            // Not fatal: every sync request then takes the replica's turn, as before quiet reads.
            configuration.log(JSONValue.object(["event": "warning", "detail": "could not open a second connection to the replica's file: syncs that change nothing will wait for the replica",
                                                "hint": "check that the folder's files are readable by this process"]).canonicalText)
        }
        self.service = SyncService(executor: executor, limits: configuration.limits, wallClock: configuration.wallClock, watch: watch)
        var serverConfiguration = HTTPServer.Configuration()
        serverConfiguration.host = configuration.host
        serverConfiguration.port = configuration.port
        let limits = configuration.limits
        serverConfiguration.parser.requestLineBytesMax = limits.requestLineBytesMax
        serverConfiguration.parser.headerLineBytesMax = limits.headerLineBytesMax
        serverConfiguration.parser.headerBytesMax = limits.headerBytesMax
        serverConfiguration.parser.headerCountMax = limits.headerCountMax
        serverConfiguration.parser.bodyBytesMax = { NodeRouter.bodyLimit(for: $0, limits: limits) }
        serverConfiguration.parser.headRefusal = NodeRouter.headRefusal
        serverConfiguration.headerTimeoutSeconds = limits.headerTimeoutSeconds
        serverConfiguration.bodyIdleTimeoutSeconds = limits.bodyIdleTimeoutSeconds
        serverConfiguration.bodyBytesPerSecondMin = limits.bodyBytesPerSecondMin
        serverConfiguration.bodyBytesInFlightMax = limits.bodyBytesInFlightMax
        serverConfiguration.bodyBytesPerAddressMax = limits.bodyBytesPerAddressMax
        serverConfiguration.streamedBodySecondsMax = limits.snapshotSendSecondsMax
        serverConfiguration.keepAliveIdleSeconds = limits.keepAliveIdleSeconds
        serverConfiguration.requestsPerConnectionMax = limits.requestsPerConnectionMax
        serverConfiguration.connectionsMax = limits.connectionsMax
        serverConfiguration.connectionsPerAddressMax = limits.connectionsPerAddressMax
        serverConfiguration.workersPerAddressMax = limits.workersPerAddressMax
        // A proxy carries every user's connections; it is not one client.
        serverConfiguration.unboundedAddresses = configuration.proxyAddresses
            ?? (configuration.identity.identityHeader != nil ? configuration.identity.trustedProxies : [])
        let router = NodeRouter(service: service, limits: limits, metrics: metrics, identity: configuration.identity,
                                proxies: serverConfiguration.unboundedAddresses)
        let log = configuration.log
        let clock = configuration.wallClock
        let metrics = self.metrics
        self.server = HTTPServer(configuration: serverConfiguration, accessLog: { entry in
            // One line of canonical JSON per request (an annotation replaces a standard member).
            log(AccessLogLine.text(entry, time: clock.nowMilliseconds()))
            let route = NodeRouter.template(for: entry.path)
            metrics.increment("chorus_http_requests_total", labels: [("route", route), ("status", String(entry.status))])
            metrics.observe("chorus_http_request_duration_seconds", seconds: entry.milliseconds / 1000, labels: [("route", route)])
        }, inlineHandler: { request, remote in router.handleInline(request, remote: remote) },
        handler: { request, remote in router.handle(request, remote: remote) })
    }

    /// Starts serving and the background sync loop. Returns the bound port.
    @discardableResult
    public func start() throws -> UInt16 {
        // Before the first request can ask for a snapshot, which then waits for it.
        service.prepareSnapshots()
        let port: UInt16
        do {
            port = try server.start()
        } catch {
            service.waitForSnapshotPreparation()   // nothing writes in the folder once start has failed
            throw error
        }
        scheduleSync(after: 0)
        let flush = DispatchSource.makeTimerSource(queue: activityQueue)
        flush.schedule(deadline: .now() + Node.activityFlushSeconds, repeating: Node.activityFlushSeconds)
        flush.setEventHandler { [service] in
            service.flushActivity()
            service.expireSnapshotCache()
        }
        flush.resume()
        activityTimer = flush
        if let interval = configuration.compactIntervalSeconds {
            // Wall time, which runs on while a laptop sleeps; the first run soon after start, so a
            // node restarted more often than the interval still compacts.
            let compaction = DispatchSource.makeTimerSource(queue: compactionQueue)
            compaction.schedule(wallDeadline: .now() + min(interval, Node.firstCompactionSecondsMax), repeating: interval)
            compaction.setEventHandler { [weak self] in self?.compactLog() }
            compaction.resume()
            compactionTimer = compaction
        }
        return port
    }

    /// How often what replicas told us (last seen, cursors, skew) is written to disk.
    public static let activityFlushSeconds = 2.0
    private var activityTimer: DispatchSourceTimer?
    private var compactionTimer: DispatchSourceTimer?
    private let compactionQueue = DispatchQueue(label: "chorus.compaction")
    private let activityQueue = DispatchQueue(label: "chorus.activity")
    /// The longest wait for the first automatic compaction after start.
    public static let firstCompactionSecondsMax = 60.0

    /// Stops the sync loop, then stops accepting, finishes in-flight requests and closes. A sync
    /// in progress is waited for up to `graceSeconds` too, then left to end with the process: a
    /// snapshot download or a long catch-up took up to an hour, the node serving nothing
    /// meanwhile (a supervisor's kill came first, without the checkpoint below). What it left
    /// half-way is what a kill leaves: each page is one transaction, and the next sync resumes.
    ///
    /// Returns nil when `chorus.sqlite` holds every write the replica acknowledged; else what is
    /// left in its write-ahead log (`StopLeftover`): the file alone then lacks those writes, and
    /// the next start copies them in.
    @discardableResult
    public func stop(graceSeconds: Double = 10) -> StopLeftover? {
        lock.withLock {
            isStopped = true
            syncTimer?.cancel()
            syncTimer = nil
        }
        server.shutdown(graceSeconds: graceSeconds)
        activityTimer?.cancel()
        compactionTimer?.cancel()
        compactionQueue.sync {}  // wait for a compaction in progress
        activityQueue.sync {}    // and a flush: cancelled, a timer's handler already running ends on its own, maybe after the checkpoint below
        service.flushActivity()
        service.expireSnapshotCache(all: true)
        service.waitForSnapshotPreparation()
        let synced = DispatchSemaphore(value: 0)
        syncQueue.async { synced.signal() }
        if synced.wait(timeout: .now() + max(graceSeconds, 0)) == .timedOut {
            configuration.log(JSONValue.object(["event": "stop", "sync": "left in progress: it ends with the process; what it committed is kept, and the next sync resumes"]).canonicalText)
            // Not behind the sync's work on the executor (a snapshot taken row by row, a long
            // merge): the stop would wait for it after all. The log is checkpointed at the next open.
            return .syncLeftRunning
        }
        guard let notCopied = executor.perform({ $0.checkpointForStop() }) else { return nil }
        configuration.log(JSONValue.object([
            "event": "stop", "writeAheadLog": .string("not copied into the database file: \(notCopied)"),
            "hint": "nothing is lost: the next start copies it in; until then keep chorus.sqlite-wal with chorus.sqlite",
        ]).canonicalText)
        return .notCopied(notCopied)
    }

    /// What a stop left in the replica's write-ahead log, not copied into `chorus.sqlite`.
    public enum StopLeftover: Equatable, Sendable {
        /// A sync still running when the grace ran out: the log is copied in at the next open.
        case syncLeftRunning
        /// The copy failed or was held back, for the reason given (a full disk, a reader).
        case notCopied(String)
    }

    /// Blocks until the node's HTTP server can no longer serve though the node was not stopped
    /// (`HTTPServer.waitForFailure`), and returns what failed.
    public func waitForServerFailure() -> String { server.waitForFailure() }

    public var port: UInt16 { server.port }

    // MARK: Automatic compaction

    /// One automatic compaction: what replicas acknowledged is written first, so the log waits
    /// for no more than it must. Logged when it removed something or failed; a failure is retried
    /// at the next interval (the log is as it was: compaction is one transaction). It runs on the
    /// replica's executor, so requests wait for it: one transaction deleting whole blocks, about
    /// a second the first time for a million operations (`secure_delete` zeroes the freed pages;
    /// P5 in Docs/performance.md), then only what came since the run before.
    private func compactLog() {
        service.flushActivity()
        do {
            let report = try executor.perform { try $0.compactLog() }
            metrics.increment("chorus_log_compactions_total", labels: [("outcome", "ok")])
            metrics.increment("chorus_log_operations_compacted_total", by: Double(report.operationsRemoved))
            if report.operationsRemoved > 0 {
                configuration.log(JSONValue.object(["event": "compaction", "outcome": "ok", "report": report.json]).canonicalText)
            }
        } catch {
            metrics.increment("chorus_log_compactions_total", labels: [("outcome", "failed")])
            configuration.log(JSONValue.object(["event": "compaction", "outcome": "failed",
                                                "error": .string((error as? ChorusError)?.message ?? "\(error)")]).canonicalText)
        }
    }

    // MARK: Background sync

    /// Syncs `seconds` from now, a laptop's sleep counted in them (`SyncWait`): the timer looks
    /// at the clocks at most every `SyncWait.checkSeconds` until the wait is over.
    private func scheduleSync(after seconds: Double) {
        lock.withLock {
            guard !isStopped else { return }
            let wait = SyncWait(seconds: seconds, began: .now)
            let timer = DispatchSource.makeTimerSource(queue: syncQueue)
            timer.schedule(deadline: .now() + wait.nextCheckSeconds(at: wait.began))
            // Looked at again until the wait is over. Not cancelled here: the sync schedules the
            // next (`scheduleSync` cancels this one, and a cancelled timer runs its handler no
            // more, and lets it go, with the timer it holds), or the node stopped and cancelled it.
            timer.setEventHandler { [weak self] in
                let now = SyncWait.Clocks.now
                guard wait.isDue(at: now) else {
                    timer.schedule(deadline: .now() + wait.nextCheckSeconds(at: now))
                    return
                }
                self?.backgroundSync()
            }
            syncTimer?.cancel()
            syncTimer = timer
            timer.resume()
        }
    }

    private func backgroundSync() {
        guard let upstream = try? executor.perform({ try $0.upstream() }) else {
            scheduleSync(after: configuration.syncIntervalSeconds)
            return
        }
        let now = configuration.wallClock.nowMilliseconds()
        let compares = lastDigestComparison.map { now < $0 || Double(now - $0) >= configuration.digestCompareSeconds * 1000 } ?? true
        do {
            let report = try syncOnce(upstream: upstream, compareDigests: compares, checksOwnOperations: !ownOperationsChecked)
            // Checked for good only once nothing was found lost, or the replica started again or
            // took them back: one found lost and not recovered is asked again at each sync, so its
            // new writes are not pushed under ids the upstream holds (a read-only audit).
            ownOperationsChecked = report.lostOwnOperations == nil || report.snapshotOperations > 0 || report.ownTakenBack > 0
            // Postponed only when compared: a sync whose pull was cut short skips the comparison.
            if compares && report.digestMatches != nil { lastDigestComparison = now }
            consecutiveFailures = 0
            // A sync that moved all it could but left the states apart for good (`SyncReport.diverged`)
            // is counted apart, for an alert: syncing on will not mend it.
            let unmended = report.diverged || report.lostOwnUnrecovered != nil
            // Recorded as the sync's outcome, as `chorus sync` records it: the status, the page and
            // `chorus status` said in sync, the session having recorded a success (a read-only audit).
            if unmended {
                let why = report.lostOwnUnrecovered ?? "the digests differ after a sync that moved all it could (\(report.localDigest ?? "") here, \(report.upstreamDigest ?? "") upstream)"
                try? executor.perform { try $0.recordUpstream(error: .some(SyncReport.divergedPrefix + why + "; `chorus sync` on this folder says what to do")) }
            }
            metrics.increment("chorus_upstream_syncs_total", labels: [("outcome", unmended ? "diverged" : "ok")])
            metrics.increment("chorus_operations_applied_total", by: Double(report.pullApplied), labels: [("via", "pull")])
            if report.snapshotOperations > 0 {
                metrics.increment("chorus_operations_applied_total", by: Double(report.snapshotOperations), labels: [("via", "snapshot")])
            }
            if report.pushedOperations + report.pulledOperations > 0 || report.snapshotOperations > 0 || report.snapshotRefused != nil
                || report.digestMatches == false || unmended {
                configuration.log(JSONValue.object(["event": "sync", "upstream": .string(upstream.url), "outcome": .string(unmended ? "diverged" : "ok"),
                                                    "report": report.json]).canonicalText)
            }
            // A pull cut at its time limit goes on at once, in a sync whose push goes first.
            scheduleSync(after: report.pullCutShort ? 0 : configuration.syncIntervalSeconds)
        } catch {
            consecutiveFailures += 1
            metrics.increment("chorus_upstream_syncs_total", labels: [("outcome", "failed")])
            let delay = Node.backoffMilliseconds(failures: consecutiveFailures, limits: configuration.limits,
                                                 jitter: Double.random(in: 0.5...1.0))
            configuration.log(JSONValue.object(["event": "sync", "upstream": .string(upstream.url), "outcome": "failed",
                                                "error": .string((error as? SyncError)?.message ?? "\(error)"),
                                                "retryInMilliseconds": .integer(Int64(delay))]).canonicalText)
            scheduleSync(after: Double(delay) / 1000)
        }
    }

    /// The delay before retry number `failures`: exponential from the minimum, capped, times a
    /// jitter in 0.5...1 so a fleet that lost its hub does not come back in lockstep; never
    /// below the minimum (the first retry once came after 500 ms, under the documented 1 s).
    public static func backoffMilliseconds(failures: Int, limits: Limits, jitter: Double) -> Int {
        let exponent = min(max(failures - 1, 0), 30)
        let raw = min(Double(limits.syncRetryDelayMillisecondsMin) * pow(2, Double(exponent)), Double(limits.syncRetryDelayMillisecondsMax))
        return max(limits.syncRetryDelayMillisecondsMin, 1, Int(raw * min(max(jitter, 0.5), 1.0)))
    }

    /// One sync with the configured upstream (used by the loop and by `chorus sync`).
    public func syncOnce(upstream: Replica.Upstream, compareDigests: Bool = false, checksOwnOperations: Bool = true,
                         progress: @escaping (String) -> Void = { _ in }) throws -> SyncReport {
        try Node.sync(executor: executor, upstream: upstream, limits: configuration.limits, wallClock: configuration.wallClock,
                      compareDigests: compareDigests, checksOwnOperations: checksOwnOperations, progress: progress)
    }

    /// One sync of `executor`'s replica with `upstream`.
    public static func sync(executor: ReplicaExecutor, upstream: Replica.Upstream, limits: Limits, wallClock: any WallClock,
                            compareDigests: Bool, usesSnapshots: Bool = true, setsAsideRefused: Bool = false, checksOwnOperations: Bool = true,
                            progress: @escaping (String) -> Void, failedAfterPull: @escaping (SyncReport) -> Void = { _ in }) throws -> SyncReport {
        // Failing before the session starts is a failed sync too, recorded as the session records
        // its own: status and the page's indicator said "in sync" while the token file was gone.
        let url: URL, token: String
        do {
            url = try HTTPTransport.nodeURL(upstream.url)   // as `join` checked it (one stored before may not be)
            token = try HTTPTransport.readToken(path: upstream.tokenFile, limits: limits)
        } catch {
            let message = (error as? ChorusError)?.message ?? "\(error)"
            try? executor.perform { try $0.recordUpstream(error: .some(message)) }
            throw error
        }
        let replicaID = executor.perform { $0.id }
        var session = SyncSession(executor: executor, transport: HTTPTransport(baseURL: url, token: token, replica: replicaID, limits: limits, wallClock: wallClock),
                                  limits: limits, wallClock: wallClock)
        session.progress = progress
        session.usesSnapshots = usesSnapshots
        session.setsAsideRefused = setsAsideRefused
        session.checksOwnOperations = checksOwnOperations
        session.failedAfterPull = failedAfterPull
        return try session.run(compareDigests: compareDigests)
    }
}
