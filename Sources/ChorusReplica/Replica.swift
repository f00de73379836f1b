import ChorusCore
import SQLiteKit
import Foundation

/// A replica: one SQLite database holding the operation log, the merge state and the materialised
/// tables, all updated together in one SQLite transaction per batch.
///
/// Not thread-safe: use one `Replica` from one thread at a time (a node serialises access).
public final class Replica {
    /// Everything a replica needs from outside; injected so tests control it.
    public struct Configuration {
        public var limits: Limits = .default
        public var schema: Schema = PeopleSchema.current
        public var wallClock: any WallClock = SystemClock()
        /// `full` (default) makes every commit durable; simulations use `off` for speed.
        public var synchronous: Database.Synchronous = .full
        /// Deliberate merge bugs, so tests can prove the convergence checker catches them.
        public var faults: MergeFaults = MergeFaults()
        public init() {}
    }

    /// Where the database lives.
    public enum Location: Sendable {
        /// A replica folder; the database is `chorus.sqlite` inside it.
        case directory(String)
        /// A private in-memory database (tests).
        case memory
    }

    /// The database file name inside a replica folder.
    public static let databaseFileName = "chorus.sqlite"

    public let id: ReplicaID
    public private(set) var name: String
    public let configuration: Configuration
    public let location: Location
    let database: Database
    let codec: OperationCodec
    /// Typed-row SQL per collection, built once (see `MaterialisedSQL`); looked up by
    /// `materialisedSQL(of:)`, which matches names by their bytes.
    let materialisedSQLByName: [String: MaterialisedSQL]
    /// Reads the values folded entries keep in typed columns, for folding and unfolding.
    let registerColumns: RegisterColumns
    var clock: HybridClock
    /// The counter of the last operation this replica made.
    var counter: UInt64
    /// Where the counters handed out are reserved ahead (`CounterReservation`); nil in memory.
    let counterReservation: CounterReservation?
    /// The counter reserved so far, as this connection last read or wrote it.
    var reservedCounter: UInt64 = 0
    /// When the database is behind counters this replica certainly handed out (more than a
    /// block: restored from a backup, or its last commits lost): its stored counter and the
    /// reserved one it writes on from. Nil otherwise.
    public private(set) var counterRestoredFrom: (stored: UInt64, reserved: UInt64)?
    /// Whether `counterRestoredFrom` comes from a missing `chorus.counters` (the counter leapt
    /// `missingReservationLeap`), not from a file ahead of the database.
    public private(set) var countersFileMissing = false
    /// Folded records a batch unfolded into rows since this replica was opened (`Replica.takeFolded`), for
    /// tests and simulations to see that the path ran.
    public internal(set) var recordsUnfolded = 0
    /// Lookups of a record a long merge skipped (`CreatedRecords`) since this replica was opened:
    /// the record was then created, or found erased. For tests to see that the path ran.
    public internal(set) var recordLookupsSkipped = 0
    /// Snapshots this replica has started to adopt (`adoptSnapshot`), pages or rows. Adopting one
    /// rewrites `records` with row ids of its own through this connection, which moves neither
    /// `data_version` nor, necessarily, the largest row id: a long merge's `CreatedRecords`
    /// stops holding when it moves.
    var snapshotsAdopted = 0
    /// Bytes of folded bodies a batch reads and holds at once: `HeldRecord.batchBodyBytesMax`,
    /// lowered by tests to reach the bound with small records.
    var heldBodyBytesMax = HeldRecord.batchBodyBytesMax
    var schema: Schema { configuration.schema }
    var limits: Limits { configuration.limits }
    /// Whether an erase committed and the log must be checkpointed so its bytes leave the files.
    var needsCheckpoint = false
    /// The checkpoint a snapshot's pages left running on a thread of its own (`takeSnapshotPages`),
    /// for tests that must see it done.
    public internal(set) var snapshotCheckpoint: BackgroundCheckpoint?
    /// The checkpoint a merge of many batches left running on a thread of its own
    /// (`Replica.checkpointInBackground`), if any.
    public internal(set) var mergeCheckpoint: BackgroundCheckpoint?
    /// The connection's `PRAGMA data_version` when `clock` and `counter` last matched `meta`: while it
    /// is unchanged no other connection has committed, so a batch need not read `meta` again.
    var metaCurrentAtDataVersion: Int64?
    /// The logged ids of origins, as the last committed batch left them (`log_ids`), so a batch
    /// need not read them again: most batches meet the origins the one before met (a local write
    /// meets this replica's own). Trusted only while `metaCurrentAtDataVersion` holds (no other
    /// connection committed), and only filled by a batch that was its own transaction: a batch
    /// inside another transaction may yet be rolled back with it.
    var loggedIDsCache = ByOrigin<CounterRanges>()
    /// The log's last sequence as the last committed batch left it, trusted like `loggedIDsCache`.
    var latestSequenceCache: Int64?
    /// Whether `forEachLogged` is running (it may not be entered again).
    var isReadingLog = false
    /// Origins whose logged ids `loggedIDsCache` keeps at most (a hub hears from about one per
    /// replica below it; each is usually one interval). Past it the cache starts again.
    static let loggedOriginsCachedMax = 4_096
    /// Tests only: runs before each remote operation is checked, with its index in its call, on
    /// whichever thread checks it (`ChecksAhead`), so a test can hold a check back.
    var checkPause: (@Sendable (Int) -> Void)?
    /// Origin replicas' numbers in `origins`, and field names' in `fields`, as the running batch
    /// met them (`StoredNumbers.swift`); emptied at the start of every batch's transaction.
    ///
    /// Not checked for overlapping access at run time: a replica's connection and everything
    /// beside it are used by one caller at a time (`ReplicaExecutor`), and no access to either
    /// calls back into the replica while it lasts. The checks on each merged operation's two
    /// lookups were 1.5% of its instructions on the merging thread (callgrind, P1).
    @exclusivity(unchecked) var originNumbers = StoredNumbers.origins()
    @exclusivity(unchecked) var fieldNumbers = StoredNumbers.fields()
    /// The last state digest and the content version it describes (see `digest()`).
    var digestCache: (version: ContentVersion, snapshot: DigestSnapshot)?
    /// How many times the digest was computed from the rows rather than taken from the cache.
    public internal(set) var digestsComputed = 0
    /// Rows this connection changed in bookkeeping tables only (peers, their activity and reported
    /// digests, the upstream's cursors and health), never in the merge state. Discounted from the
    /// version the digest cache is keyed on, so a hub noting who synced when (every verifying sync
    /// reports its digest, and activity is flushed every two seconds) keeps its digest.
    var bookkeepingChanges: Int64 = 0

    private init(id: ReplicaID, name: String, configuration: Configuration, location: Location, database: Database) throws {
        self.id = id
        self.name = name
        self.configuration = configuration
        self.location = location
        self.database = database
        self.codec = OperationCodec(limits: configuration.limits)
        self.materialisedSQLByName = MaterialisedSQL.all(configuration.schema)
        self.registerColumns = RegisterColumns(schema: configuration.schema)
        registerColumns.attach(database)
        let (counter, last) = try Replica.storedCounterAndClock(
            counter: database.queryScalarInteger("SELECT value FROM meta WHERE key = 'counter'"),
            wall: database.queryScalarInteger("SELECT value FROM meta WHERE key = 'clock_wall'"),
            logical: database.queryScalarInteger("SELECT value FROM meta WHERE key = 'clock_logical'"))
        self.clock = HybridClock(wallClock: configuration.wallClock, last: last,
                                 driftMillisecondsMax: configuration.limits.clockDriftMillisecondsMax)
        self.counter = counter
        self.counterReservation = CounterReservation(location)
        if let counterReservation {
            let reserved = try counterReservation.read()
            reservedCounter = reserved.counter
            // Counters up to the reserved one may be held elsewhere: never hand them out again.
            // Which of them were handed out is not known (they are reserved a block ahead), so a
            // new connection writes on past them all: at most a block of ids past what a batch
            // needed is skipped, and all of a batch killed before its commit.
            if reservedCounter > counter {
                if Replica.lostCommits(stored: counter, reserved: reserved) { counterRestoredFrom = (counter, reservedCounter) }
                self.counter = reservedCounter
            } else if !counterReservation.fileExists,
                      try counter > 0 || database.queryScalarInteger("SELECT 1 FROM log_ids LIMIT 1") != nil {
                // A replica with a history, and no file naming how far its counters went: lost
                // with a disk, or a database restored alone. A backup's counter is behind ids the
                // offices hold, and writing on from it gave new writes their ids: the offices
                // dropped them as duplicates. It leaps `missingReservationLeap` past, and writes
                // the file at once when it can (a read-only folder: at its first write), so one
                // restore is one leap. A hub that has only received (counter 0) may have written
                // after its backup too, but is told nothing: most hubs never write.
                let leapt = counter > UInt64(Int64.max) - Replica.missingReservationLeap ? UInt64(Int64.max) : counter + Replica.missingReservationLeap
                self.counter = leapt
                // Under the write lock, as every reservation is written, and only while the file is
                // still missing: a process opening the folder beside this one may have written it,
                // and reserved past it since; a reservation never goes back.
                let wrote = try? database.transaction { () -> Bool in
                    guard !counterReservation.fileExists else { return false }
                    try counterReservation.write(leapt, after: counter)
                    return true
                }
                if wrote == true {
                    reservedCounter = leapt
                    if counter > 0 {
                        counterRestoredFrom = (counter, leapt)
                        countersFileMissing = true
                    }
                } else if let written = try? counterReservation.read(), written.counter > leapt {
                    reservedCounter = written.counter
                    self.counter = written.counter
                }
            }
        }
    }

    /// How far past its database's counter a replica that has made operations writes on when
    /// `chorus.counters` is missing: which counters it handed out after the database's last backup
    /// is not known, and no replica makes 2^32 operations between two backups. Ids need not be
    /// consecutive (`CounterReservation`), and its own operations coming back are taken up to
    /// 2^40 past it (`ownCounterLeapMax`), so what an office sends back of them is still taken.
    public static let missingReservationLeap: UInt64 = 1 << 32

    /// Reserves counters past `needed` (`CounterReservation`) before a batch making operations up
    /// to it commits. The file may be ahead of this connection's view (another process wrote it):
    /// a reservation never goes back.
    ///
    /// Runs inside the batch's transaction, before it writes its counter to `meta`: what `meta`
    /// holds then is what the database had committed. Returns the counter reserved when it wrote
    /// the file (`confirmReservation` names the batch's counter in it once it commits).
    func reserveCounters(through needed: UInt64, isInCallersTransaction: Bool) throws -> UInt64? {
        guard let counterReservation, needed > reservedCounter else { return nil }
        let file = try counterReservation.read()
        let stored = file.counter
        if stored >= needed {
            reservedCounter = stored
            return nil
        }
        // A block past what this batch needs, never more: opening reads a lead of more than a
        // block as a database restored from a backup, so a seed's batch of thousands reserving
        // as many again ahead had every seeded replica's `serve` say it was restored. A batch
        // past the reservation writes the file once, whatever its size: file writes stay rare.
        let reserved = min(UInt64(Int64.max), needed + CounterReservation.block)
        // Inside a caller's transaction, `meta` may hold an earlier batch of that transaction,
        // not committed: the file keeps the counter it named, committed for sure (a rollback then
        // read as lost commits). `inBatch` runs this before the batch's own counter goes in.
        let committed: UInt64
        if isInCallersTransaction {
            committed = file.committedBefore ?? 0
        } else {
            committed = UInt64(clamping: try database.queryScalarInteger("SELECT value FROM meta WHERE key = 'counter'") ?? 0)
        }
        try counterReservation.write(reserved, after: committed)
        reservedCounter = reserved
        return reserved
    }

    /// After the commit of a batch that wrote the reservation: the file names the counter now
    /// committed. Before, it names the one committed before the batch, which is also what a
    /// database restored to just before the batch stores: without this, that restore would go
    /// unsaid. Under the write lock, as reservations are written, so another process's newer
    /// reservation is never written over; left when the file names another. A failure leaves the
    /// file as it was, which keeps every id safe (only that one restore would go unsaid): the
    /// batch is committed, and its caller is told so.
    func confirmReservation(_ reserved: UInt64, committed: UInt64) {
        guard let counterReservation else { return }
        try? database.transaction {
            guard try counterReservation.read().counter == reserved else { return }
            try counterReservation.write(reserved, after: committed)
        }
    }

    /// Whether a database storing counter `stored` has lost commits it once held (restored from a
    /// backup, or its last commits lost), given what `chorus.counters` names: it is behind the
    /// counter it had committed when the reservation was written. A file from before that counter
    /// was named: more than a block behind the reservation (a killed batch of more than a block
    /// reads as a loss there).
    static func lostCommits(stored: UInt64, reserved: CounterReservation.Reserved) -> Bool {
        if let committed = reserved.committedBefore { return stored < committed }
        return reserved.counter > stored && reserved.counter - stored > CounterReservation.block
    }

    /// The counter and clock `meta` stores (absent: 0), checked before they are converted: a
    /// negative number or a logical part past `UInt32.max` can only come from a damaged or altered
    /// file, and converting it unchecked would stop the process instead of saying so.
    static func storedCounterAndClock(counter: Int64?, wall: Int64?, logical: Int64?) throws -> (UInt64, HybridTimestamp) {
        let (counter, wall, logical) = (counter ?? 0, wall ?? 0, logical ?? 0)
        guard counter >= 0, wall >= 0, logical >= 0, logical <= Int64(UInt32.max) else {
            throw ChorusError(.storage, "the replica's stored counter and clock are damaged (counter \(counter), clock \(wall).\(logical))",
                              hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        return (UInt64(counter), HybridTimestamp(wall: UInt64(wall), logical: UInt32(logical)))
    }

    /// What SQL on a replica's database needs registered on the connection: the table function
    /// the view `entries` reads folded entries through (`FoldedEntries.swift`). SQLite checks
    /// every view when the schema changes, so a connection that migrates needs it too.
    /// `schema` says which typed columns hold the values folded entries keep once (`RegisterColumns`).
    public static func registerFunctions(on database: Database, schema: Schema = PeopleSchema.current) throws {
        let columns = RegisterColumns(schema: schema)
        columns.attach(database)
        try database.register(FoldedEntries.tableFunction(columns: columns))
        try database.registerBlobOrInfiniteTest(named: EntryRows.blobOrInfiniteFunction)
    }

    static func databasePath(_ location: Location) -> String {
        switch location {
        case .directory(let path): return (path as NSString).appendingPathComponent(databaseFileName)
        case .memory: return ":memory:"
        }
    }

    static func openDatabase(_ location: Location, configuration: Configuration, create: Bool) throws -> Database {
        var options = Database.Options()
        options.synchronous = configuration.synchronous
        options.createIfMissing = create
        do {
            let database = try Database(path: databasePath(location), options: options)
            try registerFunctions(on: database, schema: configuration.schema)
            return database
        } catch let error as SQLiteError {
            throw ChorusError(.storage, "cannot open the replica database \(databasePath(location)): \(error.message)", hint: error.hint)
        }
    }

    /// Creates a new replica with a fresh random id.
    ///
    /// - Throws: `replicaAlreadyInitialised` if the folder already holds a replica.
    public static func create<G: RandomNumberGenerator>(at location: Location, name: String, configuration: Configuration = Configuration(),
                                                        using generator: inout G) throws -> Replica {
        try configuration.limits.validate()
        try checkName(name, limits: configuration.limits)
        if case .directory(let path) = location {
            let file = databasePath(location)
            // An empty file (a copy cut short, a crash before the first page) holds nothing: it
            // is replaced. A file of anything else is never overwritten.
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
            if size == 0 { try? FileManager.default.removeItem(atPath: file) }
            // So is what an init cut short left (a full disk): Chorus's tables partly made, and no
            // replica named in them yet. Retrying `init` once said the folder was taken. Moved
            // aside, not deleted, in case it was not.
            if size ?? 0 > 0, isUnfinishedInit(file, schema: configuration.schema) {
                for suffix in [""] + sqliteSideFileSuffixes where FileManager.default.fileExists(atPath: file + suffix) {
                    let aside = file + suffix + ".unfinished-init"
                    try? FileManager.default.removeItem(atPath: aside)
                    try? FileManager.default.moveItem(atPath: file + suffix, toPath: aside)
                }
            }
            if FileManager.default.fileExists(atPath: file) {
                let header = FileHandle(forReadingAtPath: file).flatMap { handle in defer { try? handle.close() }; return try? handle.read(upToCount: 16) }
                guard header.map({ Array($0) == Array("SQLite format 3\0".utf8) }) ?? false else {
                    throw ChorusError(.replicaAlreadyInitialised, "\(file) exists and is not a SQLite database, so not a replica",
                                      hint: "move it away if it is not needed, or choose another folder with --data")
                }
                throw ChorusError(.replicaAlreadyInitialised, "\(path) already holds a database (\(databaseFileName))",
                                  hint: "if it is a replica, use it as it is (`chorus status --data \(path)`); or choose another folder with --data")
            }
            do {
                try FolderSync.makeFolder(atPath: path)
            } catch {
                throw ChorusError(.storage, "cannot create the folder \(path): \(error.localizedDescription)",
                                  hint: "check the path and its permissions")
            }
        }
        let database = try openDatabase(location, configuration: configuration, create: true)
        // A new replica's counters start at 1: a reservation left by an earlier one is not its own.
        // Written even when there is none, so the file is missing only from a folder restored
        // without it: a new replica that took history before its first write (an import, a first
        // sync) once found no file beside a history, and leapt its counters 2^32 as a restore does.
        if let reservation = CounterReservation(location) {
            try reservation.write(0, after: 0)
        }
        let id = ReplicaID.random(using: &generator)
        try wrapStorage {
            try StorageSchema.migrator(schema: configuration.schema).migrate(database)
            try database.transaction {
                try database.run("INSERT INTO meta(key, value) VALUES ('replica_id', ?)", id.hex)
                try database.run("INSERT INTO meta(key, value) VALUES ('name', ?)", name)
                try database.run("INSERT INTO meta(key, value) VALUES ('counter', 0)")
                try database.run("INSERT INTO meta(key, value) VALUES ('clock_wall', 0)")
                try database.run("INSERT INTO meta(key, value) VALUES ('clock_logical', 0)")
                try database.run("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", configuration.schema.version)
            }
        }
        return try Replica(id: id, name: name, configuration: configuration, location: location, database: database)
    }

    /// Whether the database at `file` is what an `init` cut short left, for this build's storage
    /// of `schema`: its migrations table Chorus's own (this build's first migration first, none it
    /// does not know), every table one of those this build's migrations make, no replica id in
    /// `meta` (written last, after the migrations), and no record, log block or logged id. Cut
    /// shorter, it holds no table at all (the file switched to a write-ahead log, the first thing
    /// opening it does), or Chorus's migrations table alone and empty (made in its own
    /// transaction, before the first migration's): both were refused as another program's, by
    /// `init` as by `serve`, until someone deleted the file. Looked at read-only; anything it
    /// cannot read is not taken for one. Another program's database with a `schema_migrations`
    /// table of its own (Rails, golang-migrate and Ecto all make one) is not.
    static func isUnfinishedInit(_ file: String, schema: Schema) -> Bool {
        var options = Database.Options()
        options.isReadOnly = true
        options.createIfMissing = false
        let migrator = StorageSchema.migrator(schema: schema)
        let known = Set(migrator.migrations.map(\.name))
        guard let probe = try? Database(path: file, options: options),
              let tables = try? Set(probe.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").compactMap({ $0.text(0) })) else {
            return false
        }
        if tables.isEmpty { return (try? probe.queryScalarInteger("SELECT count(*) FROM sqlite_schema")) == 0 }
        guard let applied = try? probe.query("SELECT name FROM schema_migrations ORDER BY applied_order").compactMap({ $0.text(0) }) else { return false }
        if applied.isEmpty { return tables == ["schema_migrations"] }
        guard applied.first == StorageSchema.firstMigrationName, applied.allSatisfy(known.contains),
              let ours = try? chorusTables(schema: schema), tables.isSubset(of: ours) else { return false }
        if tables.contains("meta"), (try? probe.queryScalarText("SELECT value FROM meta WHERE key = 'replica_id'")) != nil { return false }
        for table in ["records", "log_blocks", "log_ids"] where tables.contains(table) {
            guard (try? probe.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM \(table))")) == 0 else { return false }
        }
        return true
    }

    /// The tables this build's migrations make for `schema`, read from an empty database in memory.
    static func chorusTables(schema: Schema) throws -> Set<String> {
        let scratch = try Database(path: ":memory:")
        try registerFunctions(on: scratch, schema: schema)
        try StorageSchema.migrator(schema: schema).migrate(scratch)
        return Set(try scratch.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").compactMap { $0.text(0) })
    }

    /// `isUnfinishedInit` of a replica folder's database; false in memory.
    static func isOnDiskUnfinishedInit(_ location: Location, schema: Schema) -> Bool {
        guard case .directory = location else { return false }
        return isUnfinishedInit(databasePath(location), schema: schema)
    }

    /// Opens an existing replica, running any migrations this build adds.
    ///
    /// - Throws: `replicaNotInitialised` if the folder holds no replica; `storage` if the file is
    ///   damaged or written by a newer Chorus.
    public static func open(at location: Location, configuration: Configuration = Configuration()) throws -> Replica {
        try configuration.limits.validate()
        if case .directory(let path) = location { try requireReplicaFile(in: path, schema: configuration.schema) }
        let database = try openDatabase(location, configuration: configuration, create: false)
        return try wrapStorage {
            try StorageSchema.migrator(schema: configuration.schema).migrate(database)
            guard let hex = try database.queryScalarText("SELECT value FROM meta WHERE key = 'replica_id'"),
                  let id = ReplicaID(hex: hex) else {
                // Not initialised, for `serve`, which then makes the replica it would have made.
                if isOnDiskUnfinishedInit(location, schema: configuration.schema) { throw unfinishedInit(location) }
                throw ChorusError(.storage, "the database has no valid replica id", hint: "the folder is damaged; restore it from a backup")
            }
            let name = try database.queryScalarText("SELECT value FROM meta WHERE key = 'name'") ?? ""
            let replica = try Replica(id: id, name: name, configuration: configuration, location: location, database: database)
            // A sync setting writes aside killed between its two steps (`Replica+SetAside`): its
            // waiting writes are made again, checked against the copy it started from (which
            // reached all it had pulled), before anything reads this replica or writes to it.
            // Not asked of a damaged file: `chorus check` and `serve` say what to do with it.
            if (try? database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM set_aside WHERE state IN (1, 2))")) == 1 {
                _ = try replica.finishSettingAside()
            }
            // A merge's resolutions a process killed after its commit left to check against
            // erasures. Tried, not required: a command that only reads must not fail on it (a
            // full disk, the write lock held by a node beside it); the mark waits for the next.
            if (try? database.queryScalarInteger("SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?)", resolutionsToCheckKey)) == 1 {
                try? replica.eraseResolutionsOfErasedRecords()
            }
            return replica
        }
    }

    /// What `open` says of a folder whose `init` was cut short (`isUnfinishedInit`).
    static func unfinishedInit(_ location: Location) -> ChorusError {
        let folder: String
        if case .directory(let path) = location { folder = path } else { folder = "memory" }
        return ChorusError(.replicaNotInitialised, "no replica in \(folder): `chorus init` was cut short here (a kill, a full disk?) and made none",
                           hint: "run `chorus init --data \(folder)` again (or `chorus serve`): it sets the unfinished files aside (*.unfinished-init) and starts afresh")
    }

    /// Refuses a folder whose database file holds no replica: none there, an empty one (a copy cut
    /// short: `init` replaces it), one an `init` cut short left (`init` and `serve` set it aside),
    /// or another program's, looked at read-only. Opened to be written, a file is switched to a
    /// write-ahead log for good, and migrated, a whole empty schema is written into it.
    public static func requireReplicaFile(in folder: String, schema: Schema) throws {
        let file = databasePath(.directory(folder))
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file) else {
            // A file given as the folder: `init` there fails too, so its hint was no way out.
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), !isFolder.boolValue {
                throw ChorusError(.replicaNotInitialised, "no replica in \(folder): it is a file, and a replica is a folder",
                                  hint: "pass the replica's folder with --data (the one holding \(databaseFileName)), not a file")
            }
            throw ChorusError(.replicaNotInitialised, "no replica in \(folder)",
                              hint: "run `chorus init --data \(folder)` first, or pass the right --data folder")
        }
        guard attributes[.size] as? Int != 0 else {
            throw ChorusError(.replicaNotInitialised, "no replica in \(folder): its database file is empty",
                              hint: "run `chorus init --data \(folder)` (it replaces the empty file), or pass the right --data folder")
        }
        var options = Database.Options()
        options.isReadOnly = true
        options.createIfMissing = false
        // Chorus's own two tables: another program's database that happens to have a `meta` table
        // was once taken for a replica, and migrated, written into. (A replica's whose `meta` lost
        // its id is damaged, and `open` says so.)
        let (isChorus, tables): (Bool, Int64)
        do {
            let probe = try Database(path: file, options: options)
            // Both tables, and the migrations Chorus's (its first one first; another program's
            // `schema_migrations` has other columns, or other names).
            let both = try probe.queryScalarInteger("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('meta', 'schema_migrations')") == 2
            isChorus = both && (try? probe.queryScalarText("SELECT name FROM schema_migrations ORDER BY applied_order LIMIT 1")) == StorageSchema.firstMigrationName
            tables = try probe.queryScalarInteger("SELECT count(*) FROM sqlite_schema") ?? 0
        } catch let error as SQLiteError {
            throw ChorusError(.storage, "cannot open the replica database \(file): \(error.message)", hint: error.hint)
        }
        guard isChorus else {
            if isUnfinishedInit(file, schema: schema) { throw unfinishedInit(.directory(folder)) }
            let why = tables == 0 ? "it is empty" : "it lacks Chorus's tables"
            throw ChorusError(.storage, "\(file) is a SQLite database but not a Chorus replica (\(why)); nothing was written to it",
                              hint: "pass the right --data folder; this file was not written by chorus init")
        }
    }

    /// Runs storage code, turning SQLite and migration errors into `ChorusError`.
    static func wrapStorage<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ChorusError {
            throw error
        } catch let error as SQLiteError {
            throw ChorusError(.storage, error.description, hint: error.hint, isRetryable: error.isRetryable || error.isDiskFull)
        } catch let error as MigrationError {
            throw ChorusError(.storage, error.description, hint: "upgrade chorus to a version that knows this database")
        }
    }

    /// Runs storage code that writes bookkeeping tables only (see `bookkeepingChanges`). Never use
    /// it around a write to the merge state: the digest cache would then answer with a stale digest.
    func bookkeeping<T>(_ body: () throws -> T) throws -> T {
        let before = database.totalChanges
        defer { bookkeepingChanges += database.totalChanges - before }
        return try Replica.wrapStorage(body)
    }

    /// The version of the merge state: the content version less this connection's bookkeeping.
    func mergeStateVersion() throws -> ContentVersion {
        let version = try database.contentVersion()
        return ContentVersion(dataVersion: version.dataVersion, totalChanges: version.totalChanges - bookkeepingChanges)
    }

    /// The current hybrid timestamp (for status output; does not advance the clock).
    public var lastTimestamp: HybridTimestamp { clock.last }

    /// The local sequence number of the latest operation in the log: the cursor to export from next time.
    public func latestSequence() throws -> Int64 {
        try Replica.wrapStorage { try latestLoggedSequence() }
    }

    /// SQLite's integrity check; empty when sound.
    public func integrityCheck() throws -> [String] {
        try Replica.wrapStorage { try database.integrityCheck() }
    }

    /// SQLite's quick check (every page and record well formed, not every index against its
    /// table); empty when sound. What a node runs before it serves: a few hundred milliseconds
    /// for a hundred megabytes.
    public func quickCheck() throws -> [String] {
        try Replica.wrapStorage { try database.quickCheck() }
    }

    /// Throws unless `name` may name a replica: 1 to `replicaNameBytesMax` bytes, no control
    /// characters. (`chorus serve` asks before it makes a folder for one.)
    public static func checkName(_ name: String, limits: Limits) throws {
        guard name.utf8.count <= limits.replicaNameBytesMax else {
            throw ChorusError(.limitExceeded, "replica name is \(name.utf8.count) bytes, over the limit of \(limits.replicaNameBytesMax) (replicaNameBytesMax)",
                              hint: "give a shorter --name; it is for people to recognise the replica")
        }
        guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ChorusError(.invalidValue, "replica name must be 1 to \(limits.replicaNameBytesMax) bytes of printable text, with no control characters")
        }
    }

    /// Whether `error` says the database file is damaged (not busy, full or unreadable).
    public static func isDamage(_ error: ChorusError) -> Bool { error.code == .storage && error.hint == SQLiteError.corruptionHint }

    /// What an operator does about a database that fails a check.
    public static let damagedHint = "restore the folder from a backup (Docs/guides/run-a-hub.md, section 5), or start a new replica in another folder and sync it from the upstream (`chorus init`, `chorus join`, `chorus sync`); keep this folder to report it"

    /// Direct read access to the database, for the domain's SQL queries over materialised tables.
    public func withDatabase<T>(_ body: (Database) throws -> T) throws -> T {
        try Replica.wrapStorage { try body(database) }
    }
}

/// Deliberate merge bugs, used only by tests that check the convergence checker.
public struct MergeFaults: Sendable {
    /// Break ties between concurrent writes by arrival order instead of (timestamp, replica).
    public var displayLatestArrival = false
    public init() {}
}
