import Foundation

/// A passive checkpoint of a database in WAL mode, on a connection and a thread of its own: it
/// copies the pages committed to the write-ahead log into the database file while the connection
/// that committed them goes on. Passive, it waits for no reader or writer, so it may copy only
/// part of the log (a reader still on an older state) or none (another checkpoint running):
/// `wait()` says which. Whatever it leaves, a later checkpoint copies.
///
/// What it is for: a merge of many batches (`Replica.applyRemote`), whose commits would each
/// leave the log long enough for SQLite to checkpoint it on the committing connection, the
/// database file's `fdatasync` included (5 to 30 ms, about five times in a merge of 100,000
/// operations; P1 in `Docs/performance.md`); and a commit of many pages at once
/// (`replaceContents`, a new replica taking its upstream's snapshot), which leaves a checkpoint
/// due that SQLite would run at the end of the committing connection's next statement, on its
/// caller's time (6 ms of a 4 MB bootstrap, P3 in `Docs/performance.md`). Nothing waits for it: the commit was durable in the log already, and
/// a process stopped mid-checkpoint leaves a database SQLite recovers from its log.
///
/// A thread of its own, not Dispatch's shared pool, which may be busy with the very threads that
/// go on using the database.
public struct BackgroundCheckpoint: Sendable {
    private let checkpoint: OnThread<Bool>

    /// Starts the checkpoint of the database file at `path`, which must exist.
    public init(path: String) {
        checkpoint = OnThread("chorus-checkpoint") {
            var options = Database.Options()
            options.createIfMissing = false
            return try Database(path: path, options: options).checkpointPassive()
        }
    }

    /// Whether the checkpoint has ended, asked without waiting.
    public var isFinished: Bool { checkpoint.isFinished }

    /// Waits for the checkpoint: true when it copied the whole log into the file, false when a
    /// reader or another checkpoint left part of it for later. Throws what opening the database
    /// or checkpointing threw.
    @discardableResult
    public func wait() throws -> Bool { try checkpoint.value() }
}
