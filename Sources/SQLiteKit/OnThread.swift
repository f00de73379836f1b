import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
    /// Whether a thread was made for the work: false, it ended at once in `ThreadNotStarted`
    /// without running. A caller whose work reports its progress elsewhere than in its value
    /// (`ChecksAhead`) asks it, or it would wait for progress that never comes.
    public private(set) var started = true

    /// Starts `work` on a new thread named `name`. When no thread can be made (the process is
    /// out of threads: `RLIMIT_NPROC`, a cgroup's `pids.max`, systemd's `TasksMax`), the work
    /// ends at once in `ThreadNotStarted`: Foundation's `Thread.start` drops pthread_create's
    /// error, and whoever waited for the work waited for good (a sync stopped with nothing
    /// logged, the executor behind a checkpoint that never ran, `/healthz` still answering).
    public init(_ name: String, _ work: @escaping @Sendable () throws -> Value) {
        let running = ThreadBody { [self] in
            Thread.current.name = name
            outcome = Result { try work() }
            finished.signal()
        }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let box = Unmanaged.passRetained(running).toOpaque()
        let created = pthread_create(&thread, &attributes, { raw in
            let running = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            running.body()
            return nil
        }, box)
        guard created == 0 else {
            started = false
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            outcome = .failure(ThreadNotStarted(name: name, code: created))
            finished.signal()
            return
        }
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

/// The process could not make a thread for `OnThread`'s work.
public struct ThreadNotStarted: Error, CustomStringConvertible {
    public let name: String
    public let code: Int32
    public var description: String {
        "no thread could be started for \(name) (pthread_create: \(String(cString: strerror(code)))): the process is out of threads; raise its limit (ulimit -u, TasksMax in a systemd unit, the container's pids limit)"
    }
}

/// What a thread `OnThread` started runs, passed to it as a retained pointer.
private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
