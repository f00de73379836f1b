import ChorusReplica
import Dispatch

/// Owns a replica and runs every use of it on one serial queue, so HTTP handlers and the
/// background sync never touch the (single-threaded) SQLite connection at once.
public final class ReplicaExecutor: @unchecked Sendable {
    private let replica: Replica
    private let queue = DispatchQueue(label: "chorus.replica")

    public init(_ replica: Replica) { self.replica = replica }

    /// Runs `body` with exclusive use of the replica and returns its result. Do not call re-entrantly.
    @discardableResult
    public func perform<T>(_ body: (Replica) throws -> T) rethrows -> T {
        try queue.sync { try body(replica) }
    }
}
