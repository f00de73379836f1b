import ChorusCore
import ChorusReplica
import SQLiteKit

/// Makes replicas for tests with a manual clock and seeded ids.
public enum ReplicaFactory {
    /// A configuration with a manual clock; `driftMilliseconds` widens the skew limit for simulations.
    public static func configuration(clock: any WallClock, driftMilliseconds: UInt64? = nil, faults: MergeFaults = MergeFaults(),
                                     synchronous: Database.Synchronous = .off) -> Replica.Configuration {
        var configuration = Replica.Configuration()
        configuration.wallClock = clock
        configuration.synchronous = synchronous
        configuration.faults = faults
        if let driftMilliseconds { configuration.limits.clockDriftMillisecondsMax = driftMilliseconds }
        return configuration
    }

    /// Two in-memory offices on one manual clock (Stockholm, seed 11; New York, seed 22), as the
    /// merge and conflict tests start: the same ids and stamps in every run.
    public static func twoOffices() throws -> (clock: ManualClock, stockholm: Replica, newYork: Replica) {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        return (clock, try memory(name: "stockholm", clock: clock, seed: 11), try memory(name: "new-york", clock: clock, seed: 22))
    }

    /// An in-memory replica.
    public static func memory(name: String = "test", clock: any WallClock, seed: UInt64, driftMilliseconds: UInt64? = nil,
                              faults: MergeFaults = MergeFaults()) throws -> Replica {
        var rng = SeededGenerator(seed: seed)
        return try Replica.create(at: .memory, name: name,
                                  configuration: configuration(clock: clock, driftMilliseconds: driftMilliseconds, faults: faults), using: &rng)
    }

    /// A replica in a folder (a real SQLite file), made with `configuration`, which a test keeps to
    /// open the folder again.
    public static func durable(at path: String, name: String = "hq", configuration: Replica.Configuration, seed: UInt64) throws -> Replica {
        var rng = SeededGenerator(seed: seed)
        return try Replica.create(at: .directory(path), name: name, configuration: configuration, using: &rng)
    }
}

/// Thrown to roll a test transaction back on purpose.
public struct RollbackForTesting: Error { public init() {} }

extension Replica {
    /// Runs `body` inside a transaction that is always rolled back, so one replica can check many
    /// independent cases cheaply. Returns what `body` returned.
    public func withRolledBackState<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        do {
            try withDatabase { database in
                try database.transaction {
                    result = try body()
                    throw RollbackForTesting()
                }
            }
        } catch is RollbackForTesting {}
        return result!
    }
}
