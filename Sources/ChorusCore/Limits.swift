/// Every bound Chorus enforces, named once, with its unit and default.
///
/// Names put the qualifier last (`valueBytesMax`), so related limits line up. Relations between
/// limits are checked by `validate()` at start-up and in a test.
public struct Limits: Sendable, Equatable {
    /// Length of a collection name, in UTF-8 bytes. Default 64.
    public var collectionNameBytesMax = 64
    /// Length of a field name, in UTF-8 bytes. Default 64.
    public var fieldNameBytesMax = 64
    /// Length of a record id, in UTF-8 bytes. Default 128.
    public var recordIDBytesMax = 128
    /// Length of a map key, in UTF-8 bytes. Default 256.
    public var mapKeyBytesMax = 256
    /// Length of a set element, in UTF-8 bytes. Default 256.
    public var setElementBytesMax = 256
    /// Canonical JSON size of one field value (register, map entry, log entry), in bytes. Default 64 KiB.
    public var valueBytesMax = 64 * 1024
    /// Nesting depth of a JSON value. Default 32.
    public var jsonDepthMax = 32
    /// Size of a JSON document Chorus will parse at all (one operation line, one request body), in bytes. Default 4 MiB.
    public var jsonDocumentBytesMax = 4 * 1024 * 1024
    /// Operation ids one operation may supersede or observe. Default 10,000.
    public var supersedesCountMax = 10_000
    /// Canonical JSON size of one encoded operation, in bytes. Default 1 MiB.
    public var operationBytesMax = 1024 * 1024
    /// Operations applied in one SQLite transaction. Default 25,000.
    ///
    /// When each batch's commit synced the log, 3 to 4 ms on the machines measured (since the
    /// thirty-second round a call syncs the log once, at its end, `Replica.applyRemote`): with 10,000, a merge of
    /// 100,000 operations spent 54 to 66 ms of about 300 in its ten commits, against 34 to 46 ms
    /// with 25,000 (four), while the rest of the merge took as long and the process's peak memory
    /// was the same (124 MB either way, `chorus-bench --only-merge --people 10000`). At 50,000 the
    /// commits took 27 to 33 ms, but the rest about 20 ms longer, and the peak memory was 9 MB
    /// more (performance-notes, thirty-first round). The whole call holds the replica's turn
    /// however it is cut (`ReplicaExecutor`), so a local write waits no longer for larger batches.
    public var operationsPerBatchMax = 25_000
    /// Size of a bundle file, in bytes. Default 1 GiB.
    public var bundleBytesMax = 1024 * 1024 * 1024
    /// Absolute value of one counter increment. Default 1,000,000.
    public var counterIncrementMagnitudeMax: Int64 = 1_000_000
    /// How far ahead of the local clock an operation's timestamp may be, in milliseconds. Default 5 minutes.
    public var clockDriftMillisecondsMax: UInt64 = 5 * 60 * 1000
    /// Length of a replica's human name, in UTF-8 bytes. Default 64.
    public var replicaNameBytesMax = 64
    /// Field assignments in one local write command. Default 256.
    public var fieldsPerWriteMax = 256


    // MARK: HTTP server (Docs/reference/limits.md, "HTTP")

    /// Request line, in bytes (414 beyond). Default 8 KiB.
    public var requestLineBytesMax = 8 * 1024
    /// One header line, in bytes (431 beyond). Default 8 KiB.
    public var headerLineBytesMax = 8 * 1024
    /// All header lines of a request, in bytes (431 beyond). Default 32 KiB.
    public var headerBytesMax = 32 * 1024
    /// Header fields in one request (431 beyond). Default 100.
    public var headerCountMax = 100
    /// Request body for every route but sync pushes, in bytes (413 beyond). Default 1 MiB.
    public var requestBodyBytesMax = 1024 * 1024
    /// Request body of a sync push, in bytes (413 beyond). Default 16 MiB.
    public var pushBodyBytesMax = 16 * 1024 * 1024
    /// Time for a whole request header from its first byte, in seconds (408 beyond). Default 10.
    public var headerTimeoutSeconds = 10.0
    /// Longest stall while reading a body, in seconds (408 beyond). Default 30.
    public var bodyIdleTimeoutSeconds = 30.0
    /// Slowest a body may arrive on average, in bytes per second, after `bodyIdleTimeoutSeconds`
    /// of grace (408 beyond): T seconds after its head, at least (T - `bodyIdleTimeoutSeconds`) x
    /// this bytes of it have arrived, so a body of N bytes has at most `bodyIdleTimeoutSeconds +
    /// N / this` seconds (a 16 MiB push: 69 minutes). Counted on the bytes received: without it a
    /// client sending a byte every 29 s held its connection for ever, and 512 such clients every
    /// connection; counted on the length announced, one announcing 16 MiB held it an hour.
    /// Default 4 KiB/s.
    public var bodyBytesPerSecondMin = 4096.0
    /// Request body bytes being received at once over all connections, counted as they arrive
    /// (503 beyond): what 512 connections sending 16 MiB pushes would otherwise hold, before any
    /// token is checked. Default 128 MiB.
    public var bodyBytesInFlightMax = 128 * 1024 * 1024
    /// Of those, from one client address (503 beyond), so a few clients cannot take the whole
    /// budget from everyone else. Default 32 MiB.
    public var bodyBytesPerAddressMax = 32 * 1024 * 1024
    /// Idle keep-alive connection lifetime, in seconds. Default 15.
    public var keepAliveIdleSeconds = 15.0
    /// Requests served on one connection. Default 1,000.
    public var requestsPerConnectionMax = 1000
    /// Open connections (503 beyond). Default 512.
    public var connectionsMax = 512
    /// Of those, from one client address (503 beyond), so one client leaving connections idle
    /// cannot take them all from everyone else; a trusted proxy (`--trusted-proxy`) is not
    /// bounded by it. Default 256.
    public var connectionsPerAddressMax = 256
    /// Requests of one client address answered at once by workers (the rest wait their turn,
    /// in order), so one client sending many cannot take every thread from everyone else; a
    /// trusted proxy is not bounded by it. Default 16.
    public var workersPerAddressMax = 16

    // MARK: Sync (Protocol/sync-v1.md)

    /// Operations in one pull page. Default 1,000.
    public var pullPageOperationsMax = 1000
    /// Encoded operations in one pull page, in bytes (a page holds at least one operation). Default 4 MiB.
    public var pullPageBytesMax = 4 * 1024 * 1024
    /// Operations in one push. Default 1,000.
    public var pushPageOperationsMax = 1000
    /// Encoded operations in one push, in bytes. Default 8 MiB.
    public var pushPageBytesMax = 8 * 1024 * 1024
    /// Replica ids a relay may list as below it. Default 10,000.
    public var relayedReplicasMax = 10_000
    /// Operations a replica keeps set aside (`chorus sync --set-aside-refused`: writes its
    /// upstream refuses as not its person's, with those waiting to be checked again). Default 100,000.
    public var setAsideOperationsMax = 100_000
    /// Length of a registered replica's name (`chorus replicas add NAME`), in bytes. Default 64.
    public var peerNameBytesMax = 64
    /// How long operations this node sent its upstream stay in its log after the upstream
    /// acknowledged them, whatever compaction would otherwise remove: an upstream restored from
    /// a backup younger than this gets them again at the next sync (it lost them; this node
    /// sends everything its log holds again). Compacted sooner, they could not be sent again,
    /// and the upstream, and every replica joining it after, lacked them for good. Default 7
    /// days; `chorus compact --keep-hours` overrides it for one run.
    public var acknowledgedKeptSeconds: Int64 = 7 * 86_400
    /// First retry delay after a failed sync, in milliseconds. Default 1 s.
    public var syncRetryDelayMillisecondsMin = 1_000
    /// Longest retry delay (the backoff cap), in milliseconds. Default 5 minutes.
    public var syncRetryDelayMillisecondsMax = 5 * 60 * 1000
    /// HTTP client timeout for one sync request, in seconds: the longest wait for the next piece
    /// of an answer. Default 60.
    public var syncRequestTimeoutSeconds = 60.0
    /// The longest a client waits for one whole sync answer (not a snapshot), however steadily it
    /// arrives: four times `syncRequestTimeoutSeconds`, so an upstream trickling a byte at a time
    /// cannot hold a sync for ever.
    public var syncAnswerSecondsMax: Double { syncRequestTimeoutSeconds * 4 }
    /// The largest sync answer (not a snapshot) a client reads, in bytes: a pull page and its
    /// envelope. A longer answer is cut and the sync fails, so an upstream cannot fill memory.
    public var syncAnswerBytesMax: Int { pullPageBytesMax + SyncEnvelope.bytesMax }
    /// Size of a token file, in bytes. Default 4 KiB.
    public var tokenFileBytesMax = 4096
    /// Size of a snapshot a client accepts (protocol 4.6); a longer download is cut and the client
    /// pulls the log instead. Default 4 GiB.
    public var snapshotBytesMax: Int64 = 4 * 1024 * 1024 * 1024
    /// A new replica asks for a snapshot only when the upstream's log reaches this sequence; below
    /// it, pulling the log costs less than copying the database. Default 10,000.
    public var snapshotSequenceMin: Int64 = 10_000
    /// Snapshots an upstream keeps at once, being written or sent (503 beyond): each is a copy of
    /// its database on disk until its last byte is sent. Default 2.
    public var snapshotsConcurrentMax = 2
    /// Snapshot answers an upstream sends at once (503 beyond), and to one replica: each holds a
    /// thread for as long as its client reads, up to `snapshotSendSecondsMax`. Copies alone were
    /// counted, and one copy could be sent to any number of connections at once, each read a byte
    /// at a time by one stolen token's holder (a read-only audit). Defaults 8 and 2.
    public var snapshotSendsMax = 8
    public var snapshotSendsPerReplicaMax = 2
    /// An upstream serves the snapshot it wrote last again while it is younger than this, in
    /// seconds (0 writes one per request). Default 60.
    public var snapshotReuseSeconds = 60.0
    /// How long an upstream may take to send one snapshot, however steadily the client reads, in
    /// seconds (the connection is closed beyond, and the copy's place given back). Default 2 hours.
    public var snapshotSendSecondsMax = 7200.0
    /// How long a client's snapshot download may take in all, in seconds (cut beyond, and the
    /// client pulls the log instead). Default 1 hour.
    public var snapshotDownloadSecondsMax = 3600.0
    /// How long one sync pulls page after page, in seconds: past it, the sync ends once the page
    /// it merges is committed, and what is left comes with the next sync, whose push goes first.
    /// A link slower than the upstream's log grew never ended its sync, and writes made meanwhile
    /// never went up. Default 10 minutes.
    public var pullSecondsPerSyncMax = 600.0

    public init() {}

    /// The defaults documented in `Docs/reference/limits.md`.
    public static let `default` = Limits()

    /// Checks that the limits are consistent with each other. Called at start-up and in tests.
    public func validate() throws(ChorusError) {
        func require(_ condition: Bool, _ message: String) throws(ChorusError) {
            if !condition { throw ChorusError(.invalidConfiguration, message, hint: "fix the limits configuration") }
        }
        try require(valueBytesMax > 0 && valueBytesMax <= operationBytesMax / 2,
                    "valueBytesMax must leave room for the rest of an operation within operationBytesMax")
        try require(supersedesCountMax * 64 + valueBytesMax <= operationBytesMax,
                    "an operation with supersedesCountMax ids (about 64 bytes each) and a full value must fit in operationBytesMax")
        try require(operationBytesMax <= jsonDocumentBytesMax, "operationBytesMax must not exceed jsonDocumentBytesMax")
        try require(operationBytesMax <= bundleBytesMax, "a bundle must be able to hold at least one operation")
        try require(operationsPerBatchMax >= 1, "operationsPerBatchMax must be at least 1")
        try require(jsonDepthMax >= 2, "jsonDepthMax must allow objects inside operations")
        try require(recordIDBytesMax > 0 && collectionNameBytesMax > 0 && fieldNameBytesMax > 0, "name limits must be positive")
        try require(counterIncrementMagnitudeMax > 0, "counterIncrementMagnitudeMax must be positive")
        try require(pushPageBytesMax + SyncEnvelope.bytesMax <= pushBodyBytesMax,
                    "a push page (pushPageBytesMax) plus its envelope must fit in pushBodyBytesMax")
        try require(operationBytesMax <= pushPageBytesMax && operationBytesMax <= pullPageBytesMax,
                    "one operation must fit in a push page and a pull page")
        try require(requestBodyBytesMax <= pushBodyBytesMax,
                    "request body limits must be ordered: requestBodyBytesMax <= pushBodyBytesMax")
        try require(headerLineBytesMax <= headerBytesMax, "one header line cannot exceed all headers")
        try require(syncRetryDelayMillisecondsMin > 0 && syncRetryDelayMillisecondsMin <= syncRetryDelayMillisecondsMax,
                    "sync retry delays must be positive and ordered")
        try require(connectionsMax >= 1 && requestsPerConnectionMax >= 1, "connection limits must be at least 1")
        try require(connectionsPerAddressMax >= 1 && connectionsPerAddressMax <= connectionsMax,
                    "connectionsPerAddressMax must be 1 to connectionsMax")
        try require(workersPerAddressMax >= 1, "workersPerAddressMax must be at least 1")
        try require(setAsideOperationsMax >= 0, "setAsideOperationsMax must not be negative")
        try require(acknowledgedKeptSeconds >= 0 && acknowledgedKeptSeconds <= 8_760 * 3600, "acknowledgedKeptSeconds must be 0 to a year")
        // Finite and at most a day (a snapshot's sending, a week): they become milliseconds in an
        // Int32 and nanoseconds in a UInt64, which a larger or infinite value would overflow.
        try require([headerTimeoutSeconds, bodyIdleTimeoutSeconds, keepAliveIdleSeconds, syncRequestTimeoutSeconds].allSatisfy { $0 > 0 && $0 <= 86_400 },
                    "headerTimeoutSeconds, bodyIdleTimeoutSeconds, keepAliveIdleSeconds and syncRequestTimeoutSeconds must be more than 0 and at most 86400")
        // URLSession (the https client) times a request out at once below a second (measured).
        try require(syncRequestTimeoutSeconds >= 1, "syncRequestTimeoutSeconds must be at least 1")
        try require(pullSecondsPerSyncMax >= 0 && pullSecondsPerSyncMax <= 86_400, "pullSecondsPerSyncMax must be 0 (a page a sync) to 86400")
        try require(snapshotSendSecondsMax <= 7 * 86_400 && snapshotDownloadSecondsMax <= 7 * 86_400 && snapshotReuseSeconds <= 86_400,
                    "snapshotSendSecondsMax and snapshotDownloadSecondsMax must be at most a week, snapshotReuseSeconds a day")
        try require(bodyBytesPerSecondMin > 0 && bodyBytesPerSecondMin.isFinite, "bodyBytesPerSecondMin must be more than 0")
        try require(bodyBytesInFlightMax >= bodyBytesPerAddressMax && bodyBytesPerAddressMax >= pushBodyBytesMax,
                    "body budgets must hold at least one whole push: pushBodyBytesMax <= bodyBytesPerAddressMax <= bodyBytesInFlightMax")
        try require(snapshotBytesMax > 0 && snapshotSequenceMin >= 0 && snapshotsConcurrentMax >= 0 && snapshotDownloadSecondsMax > 0 && snapshotReuseSeconds >= 0 && snapshotSendSecondsMax > 0
                    && snapshotSendsMax >= 1 && snapshotSendsPerReplicaMax >= 1,
                    "snapshot limits must not be negative (snapshotsConcurrentMax 0 turns snapshots off on an upstream), and snapshotSendsMax and snapshotSendsPerReplicaMax must be at least 1")
    }
}

/// Room for what surrounds the operations of a sync message (cursors, flags, the server stamp, a
/// relay's list of replica ids): pages are bounded by their operations' bytes, bodies by those
/// plus this.
public enum SyncEnvelope {
    public static let bytesMax = 1024 * 1024
}

