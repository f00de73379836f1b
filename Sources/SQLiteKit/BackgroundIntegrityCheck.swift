import Foundation

/// `PRAGMA integrity_check` of a database file on a read-only connection and a thread of its
/// own, so the caller checks other things on its own connection meanwhile: a received snapshot's
/// index check and its content checks take about as long each, and a machine has two cores or
/// more (P3 in `Docs/performance.md`).
///
/// A thread of its own, not Dispatch's shared pool: the caller may be one of many threads of
/// that pool waiting on a serial queue, and the check must not wait for the pool to grow.
/// The file must not be written while the check runs; `problems()` waits for it, so a caller
/// that leaves early (a content check failed) waits before the file changes or goes.
public final class BackgroundIntegrityCheck: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    /// Written once on the checking thread before `finished` is signalled, read only after.
    private var outcome: Result<[String], any Error> = .success([])
    private var waited = false

    /// Starts the check of the file at `path`, opened with `options` (made read-only).
    public init(path: String, options: Database.Options) {
        var readOnly = options
        readOnly.isReadOnly = true
        let thread = Thread { [self, readOnly] in
            outcome = Result { try Database(path: path, options: readOnly).integrityCheck() }
            finished.signal()
        }
        thread.name = "chorus-integrity-check"
        thread.start()
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
