import ChorusCore
import Foundation
import CLinux
import SQLiteKit

/// The bytes of an empty database as this build's migrations make it for one schema, made once
/// (as the node starts serving, `prepare`, or else by the first snapshot an upstream writes) so
/// the snapshots after start from a copy of them.
///
/// Why: every snapshot is a new database file (`Replica.writeSnapshot`), and migrating one from
/// nothing runs every migration since the first, table rebuilds included: about 40 ms, twice
/// what a hub of 10,000 people spends writing the rest of its snapshot (P3 in
/// `Docs/performance.md`). Written out, the same bytes take well under a millisecond.
///
/// One template serves one schema: the upstream that holds it keeps one replica. A template made
/// for another schema cannot slip through: the snapshot's writer still runs the migrations on
/// the copy (none is left to apply), then refuses a copy whose schema differs from the
/// replica's, as it always has.
public final class EmptyStorageTemplate: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: Data?
    /// The bytes being made by `prepare`, on a thread of its own, kept once made.
    private var preparation: OnThread<Void>?

    public init() {}

    /// The kept bytes, or nil when none are kept. Waits for a preparation under way (it was started
    /// first, so it ends sooner than migrating another copy would).
    var kept: Data? {
        waitForPreparation()
        return lock.withLock { bytes }
    }

    /// Keeps `data` unless bytes are kept already (two first snapshots written at once make the
    /// same bytes).
    func keep(_ data: Data) { lock.withLock { if bytes == nil { bytes = data } } }

    /// Starts making the bytes for `schema` now, on a thread of its own, in a scratch file in
    /// `folder` (the replica's), so that the first snapshot does not make them while a new replica
    /// waits for it. An upstream calls it when it starts serving. Does nothing once it has been
    /// called: not while the bytes are being made, not once they are kept, and not after making
    /// them failed (a full disk, a folder gone), when the first snapshot migrates its own copy,
    /// keeps its bytes if it can, and reports what fails then.
    public func prepare(schema: Schema, in folder: String) {
        lock.withLock {
            guard bytes == nil, preparation == nil else { return }
            preparation = OnThread("chorus-snapshot-template") { [self] in
                // Every node start makes one: a node killed in those milliseconds, again and again,
                // would otherwise leave one each time where no snapshot is written to clean them.
                Replica.removeAbandonedSnapshots(in: folder, prefix: EmptyStorageTemplate.filePrefix, olderThanSeconds: EmptyStorageTemplate.abandonedSeconds)
                let path = (folder as NSString).appendingPathComponent(EmptyStorageTemplate.filePrefix + "\(UUID().uuidString).sqlite")
                defer {
                    Replica.removeSnapshotFile(path)
                    // The migrations' page cache and statements, freed as the connection closed,
                    // stay in this thread's heap otherwise: 0.8 of the 2.2 MB a node held for this (P6).
                    chorus_release_free_heap()
                }
                _ = try Replica.emptySnapshotDatabase(at: path, schema: schema, from: nil, keep: keep)
            }
        }
    }

    /// The scratch files' name prefix: a snapshot's, so a snapshot being written cleans away one
    /// a process killed mid-way left, once it is old (`Replica.removeAbandonedSnapshots`).
    static let filePrefix = Replica.snapshotFilePrefix + "template-"

    /// A scratch file not written to for this long was left by a node killed while making it
    /// (making one takes well under a second).
    static let abandonedSeconds: Double = 60

    /// Waits until a preparation started by `prepare` has ended, whatever came of it; returns at
    /// once when none was started. An upstream stopping waits so, so that nothing writes in its
    /// folder after it has stopped.
    public func waitForPreparation() {
        guard let preparation = lock.withLock({ preparation }) else { return }
        _ = try? preparation.value()
    }

    /// Whether bytes are kept, asked without waiting.
    public var isPrepared: Bool { lock.withLock { bytes != nil } }
}
