import Dispatch

/// `PRAGMA integrity_check` of a database file on a connection and a thread of its own, so the
/// caller checks other things on its own connection meanwhile: a received snapshot's index check
/// and its content checks take about as long each, and a machine has two cores or more (P3 in
/// `Docs/performance.md`).
///
/// The file must not be written while the check runs; `problems()` waits for it, so a caller
/// that leaves early (a content check failed) waits before the file goes.
public final class BackgroundIntegrityCheck: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    /// Written once on the checking thread before `finished` is signalled, read only after.
    private var outcome: Result<[String], any Error> = .success([])
    private var waited = false

    /// Starts the check of the file at `path`, opened with `options`.
    public init(path: String, options: Database.Options) {
        DispatchQueue.global().async { [self] in
            outcome = Result { try Database(path: path, options: options).integrityCheck() }
            finished.signal()
        }
    }

    /// Waits for the check; the problems it found, empty when the file is sound. Throws what
    /// opening the file or running the check threw. Call it from one thread.
    public func problems() throws -> [String] {
        if !waited {
            finished.wait()
            waited = true
        }
        return try outcome.get()
    }
}
