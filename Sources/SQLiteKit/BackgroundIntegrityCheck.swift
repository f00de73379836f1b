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
public struct BackgroundIntegrityCheck: Sendable {
    private let check: OnThread<[String]>

    /// Starts the check of the file at `path`, opened with `options` (made read-only).
    public init(path: String, options: Database.Options) {
        var readOnly = options
        readOnly.isReadOnly = true
        check = OnThread("chorus-integrity-check") { [readOnly] in try Database(path: path, options: readOnly).integrityCheck() }
    }

    /// Waits for the check; the problems it found, empty when the file is sound. Throws what
    /// opening the file or running the check threw.
    public func problems() throws -> [String] { try check.value() }
}
