import Foundation

/// The bytes of an empty database as this build's migrations make it for one schema, kept after
/// the first snapshot an upstream writes so the next ones start from a copy of them.
///
/// Why: every snapshot is a new database file (`Replica.writeSnapshot`), and migrating one from
/// nothing runs every migration since the first, table rebuilds included: about 33 ms, more than
/// half of what a compacted hub of 10,000 people spends writing its snapshot (P3 in
/// `Docs/performance.md`). Written out, the same bytes take well under a millisecond.
///
/// One template serves one schema: the upstream that holds it keeps one replica. A template made
/// for another schema cannot slip through: the snapshot's writer still runs the migrations on
/// the copy (none is left to apply), then refuses a copy whose schema differs from the
/// replica's, as it always has.
public final class EmptyStorageTemplate: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: Data?

    public init() {}

    /// The kept bytes, or nil before the first snapshot.
    var kept: Data? { lock.withLock { bytes } }

    /// Keeps `data` unless bytes are kept already (two first snapshots written at once make the
    /// same bytes).
    func keep(_ data: Data) { lock.withLock { if bytes == nil { bytes = data } } }
}
