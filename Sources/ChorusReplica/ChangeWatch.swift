import Foundation
import SQLiteKit

/// A second, read-only connection to a replica's file, used only to ask whether anything has
/// committed since a moment: its `PRAGMA data_version` moves whenever another connection commits,
/// the replica's own in this process or any other process's (`chorus compact`, `chorus replicas
/// revoke` while the node serves). A server trusts what it read in the replica's last turn while
/// the version stands, and answers without waiting for a turn (`SyncService`). Safe from any thread.
public final class ChangeWatch: @unchecked Sendable {
    private let database: Database
    private let lock = NSLock()

    init(path: String) throws {
        var options = Database.Options()
        options.isReadOnly = true
        options.createIfMissing = false
        // Never wait: a version that cannot be read at once (another connection recovering the
        // write-ahead log) is nil, and the request takes the replica's turn instead of stalling
        // every quiet request behind this connection's lock.
        options.busyTimeoutMilliseconds = 0
        database = try Database(path: path, options: options)
    }

    /// The version now; nil when it cannot be read, and the caller then takes the replica's turn.
    public func version() -> Int64? {
        lock.withLock { try? database.dataVersion() }
    }
}

extension Replica {
    /// A change watch on this replica's file; nil for a replica in memory, which no other
    /// connection can open.
    public func openChangeWatch() -> ChangeWatch? {
        guard case .directory = location else { return nil }
        return try? ChangeWatch(path: Replica.databasePath(location))
    }
}
