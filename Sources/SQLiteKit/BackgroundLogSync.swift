import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A sync of a database's write-ahead log file, on a thread of its own, while the connection
/// that wrote it goes on writing: what a run of commits made without syncs
/// (`Database.syncsEachCommit(false)`) has written reaches the disk meanwhile, and the run's last
/// commit, which syncs, waits only for what came after.
///
/// Why: a merge of many batches waited 7 ms or so at each batch's commit for the log's sync
/// (strace, P1 in `Docs/performance.md`), with nothing else to do on its thread. This sync
/// promises nothing: durability is still the last commit's own sync, which covers every frame
/// in the file. So a failure here (no log file, an error from the disk) is ignored, and the
/// last commit reports it if it lasts.
///
/// The log file is opened on a descriptor of its own: SQLite takes no POSIX locks on it (they are
/// on the database file and the shared-memory file), so closing the descriptor releases none.
public struct BackgroundLogSync: Sendable {
    private let sync: OnThread<Void>

    /// Starts the sync of the write-ahead log of the database file at `path`.
    public init(databasePath path: String) {
        sync = OnThread("chorus-log-sync") {
            let descriptor = open(path + "-wal", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return }
            _ = fdatasync(descriptor)
            close(descriptor)
        }
    }

    /// Whether the sync has ended, asked without waiting.
    public var isFinished: Bool { sync.isFinished }

    /// Waits for the sync to end.
    public func wait() { try? sync.value() }
}
