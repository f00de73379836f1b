import SQLiteKit

/// The records one long call of `Replica.applyRemote` has created, kept while they are the only
/// records the replica holds: the call began with `records` empty (a new replica replaying the
/// log, a bundle imported into a new folder, P1 into an empty replica), and nothing else has
/// added one since.
///
/// Why: a batch looks up every record it meets for the first time (`Replica.recordID`: its row,
/// its folded body, whether it has superseded ids), and in such a call almost every lookup finds
/// nothing. That lookup was 5.5% of the merging thread's instructions into an empty replica
/// (2,240 instructions a record; callgrind, P1, thirty-sixth round). While this holds, a record
/// whose hash is not among those the call created cannot be in `records`, and the lookup is
/// skipped; one whose hash is (created by an earlier batch of the call, or sharing the first
/// eight bytes of another's hash) is looked up as before. A wrong "absent" would create a second
/// row for a record, so it is only ever said when it is certain.
///
/// It stops holding, for the rest of the call, when at a batch's start:
/// - another connection has committed since the call's first batch (`PRAGMA data_version`);
/// - this replica has started to adopt a snapshot since (`Replica.snapshotsAdopted`): adopting
///   one copies `records` with its own row ids through this connection, which moves neither
///   `data_version` nor, necessarily, the largest row id (no caller adopts one mid-merge today:
///   adoption refuses a replica holding records, or one with operations not yet pushed);
/// - the largest row id in `records` is not the last this call gave: a record inserted by this
///   connection between batches moves it, since every other insert leaves the row id to SQLite's
///   AUTOINCREMENT or gives one past it (`NewRecords`);
/// - or the call has created `countMax` records.
final class CreatedRecords {
    /// Records a call remembers, at most: 8 bytes each, about 16 MiB as a set at the bound.
    /// A call that creates more merges the rest with a lookup per record, as before.
    static let countMax = 1_048_576
    /// Calls with fewer operations do not look: the check at each batch's start is a statement,
    /// and a short call saves few lookups.
    static let callOperationsMin = 1_000

    /// The first 8 bytes of the hashes (`Operation.recordHash`) of the records the call created.
    private var prefixes: Set<UInt64> = []
    /// The row id of the last record the call created; nil before its first.
    private var lastRid: Int64?
    /// `PRAGMA data_version` and `Replica.snapshotsAdopted` at the call's first batch.
    private var dataVersion: Int64?
    private var snapshotsAdopted: Int?
    /// False once it stopped holding: then it never holds again in this call.
    private(set) var holds = true
    /// `countMax`, lowered by tests.
    private let countBound: Int

    init(countMax: Int = CreatedRecords.countMax) {
        countBound = countMax
    }

    /// Whether `records` still holds only what this call created, asked at the start of each
    /// batch inside its transaction, with the batch's `data_version` and the replica's count of
    /// snapshots adopted.
    func stillHolds(in database: Database, dataVersion: Int64, snapshotsAdopted: Int) throws -> Bool {
        guard holds else { return false }
        if let first = self.dataVersion, first != dataVersion { return stop() }
        if let first = self.snapshotsAdopted, first != snapshotsAdopted { return stop() }
        self.dataVersion = dataVersion
        self.snapshotsAdopted = snapshotsAdopted
        guard try database.queryScalarInteger("SELECT max(rid) FROM records") == lastRid else { return stop() }
        return true
    }

    /// Whether the record whose hash is `hash` is certainly not in `records`. False only says
    /// it may be.
    func certainlyAbsent(hash: [UInt8]) -> Bool {
        holds && !prefixes.contains(CreatedRecords.prefix(hash))
    }

    /// Notes a record the call created, with row id `rid`.
    func created(rid: Int64, hash: [UInt8]) {
        guard holds else { return }
        guard prefixes.count < countBound else { _ = stop(); return }
        prefixes.insert(CreatedRecords.prefix(hash))
        lastRid = rid
    }

    private func stop() -> Bool {
        holds = false
        prefixes = []
        return false
    }

    /// The first 8 bytes of `hash`, as a number (a hash shorter than that is padded with zeros).
    static func prefix(_ hash: [UInt8]) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 {
            value = value << 8 | UInt64(index < hash.count ? hash[index] : 0)
        }
        return value
    }
}
