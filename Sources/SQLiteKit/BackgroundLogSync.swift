import Foundation

/// A sync of a database's write-ahead log file, on a thread of its own, while the connection
/// that wrote it goes on writing: what a run of commits made without syncs
/// (`Database.syncsEachCommit(false)`) has written reaches the disk meanwhile, and the sync that
/// ends the run waits only for what came after.
///
/// Why: a merge of many batches waited 7 ms or so at each batch's commit for the log's sync
/// (strace, P1 in `Docs/performance.md`), with nothing else to do on its thread. This sync
/// promises nothing: durability is the run's own sync at its end (`Database.syncLog`), which
/// covers every frame in the file. So a failure here (no log file, an error from the disk) is
/// ignored, and that sync reports it if it lasts.
public struct BackgroundLogSync: Sendable {
    private let sync: OnThread<Void>

    /// Starts the sync of the write-ahead log of the database file at `path`.
    public init(databasePath path: String) {
        sync = OnThread("chorus-log-sync") { try? Database.syncLogFile(ofDatabaseAt: path) }
    }

    /// Whether the sync has ended, asked without waiting.
    public var isFinished: Bool { sync.isFinished }

    /// Waits for the sync to end.
    public func wait() { try? sync.value() }
}
