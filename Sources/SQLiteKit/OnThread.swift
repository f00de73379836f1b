import Foundation

/// Work started on a thread of its own, whose result callers wait for later: a checkpoint or an
/// integrity check on a connection of its own (`BackgroundCheckpoint`, `BackgroundIntegrityCheck`),
/// a pull's next page fetched while this one merges (`PageFetch`), operations encoded while the
/// batch before them merges (`EncodingAhead`). In SQLiteKit, the lowest module that runs work so.
///
/// A thread of its own, not Dispatch's shared pool: the caller may itself be one of the pool's
/// threads, waiting on a serial queue, and the work must not wait for the pool to grow.
public final class OnThread<Value: Sendable>: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    /// Written once on the work's thread before `finished` is signalled, read only after.
    private var outcome: Result<Value, any Error>?

    /// Starts `work` on a new thread named `name`.
    public init(_ name: String, _ work: @escaping @Sendable () throws -> Value) {
        let thread = Thread { [self] in
            outcome = Result { try work() }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Whether the work has ended, asked without waiting.
    public var isFinished: Bool {
        guard finished.wait(timeout: .now()) == .success else { return false }
        finished.signal()
        return true
    }

    /// Waits for the work to end; what it returned, or throws what it threw. Any number of calls,
    /// from any threads: each waiter signals the semaphore again for the next.
    public func value() throws -> Value {
        finished.wait()
        finished.signal()
        return try outcome!.get()
    }
}
