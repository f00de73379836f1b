/// A hybrid logical timestamp: wall-clock milliseconds since the Unix epoch plus a logical counter
/// that orders events within one millisecond (Kulkarni et al., "Logical Physical Clocks", 2014).
///
/// Ordered by wall time, then logical counter. Written `WALL.LOGICAL` in text.
public struct HybridTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let wall: UInt64
    public let logical: UInt32

    public init(wall: UInt64, logical: UInt32) {
        self.wall = wall
        self.logical = logical
    }

    public static let zero = HybridTimestamp(wall: 0, logical: 0)
    /// Greatest wall time accepted anywhere (year 6429): keeps values inside SQLite's signed 64-bit integers with room.
    public static let wallMax: UInt64 = 1 << 47

    public static func < (a: HybridTimestamp, b: HybridTimestamp) -> Bool {
        a.wall != b.wall ? a.wall < b.wall : a.logical < b.logical
    }

    public var description: String { "\(wall).\(logical)" }
}

/// A source of wall-clock time in milliseconds since the Unix epoch. Injected, so tests and the
/// simulator control time.
public protocol WallClock: Sendable {
    func nowMilliseconds() -> UInt64
}

/// The replica's hybrid logical clock.
///
/// It never goes backwards, whatever the wall clock does, and it moves past every timestamp it
/// receives, so an operation made after seeing another is always stamped later than it. The replica
/// persists `last` with every write, so a restart cannot go backwards either.
public struct HybridClock: Sendable {
    /// The latest timestamp issued or observed.
    public private(set) var last: HybridTimestamp
    public let wallClock: any WallClock
    /// How far ahead of the wall clock a received timestamp may be.
    public let driftMillisecondsMax: UInt64

    public init(wallClock: any WallClock, last: HybridTimestamp = .zero, driftMillisecondsMax: UInt64 = Limits.default.clockDriftMillisecondsMax) {
        self.wallClock = wallClock
        self.last = last
        self.driftMillisecondsMax = driftMillisecondsMax
    }

    /// A new timestamp, greater than every one issued or observed before.
    public mutating func now() -> HybridTimestamp {
        let physical = wallClock.nowMilliseconds()
        if physical > last.wall {
            last = HybridTimestamp(wall: physical, logical: 0)
        } else if last.logical == UInt32.max {
            last = HybridTimestamp(wall: last.wall + 1, logical: 0)
        } else {
            last = HybridTimestamp(wall: last.wall, logical: last.logical + 1)
        }
        return last
    }

    /// Checks that a received timestamp is not too far in the future, without changing the clock.
    ///
    /// - Throws: `ChorusError.clockSkew` naming the skew, when `timestamp` is more than
    ///   `driftMillisecondsMax` ahead of the wall clock.
    public func checkDrift(_ timestamp: HybridTimestamp, operation: @autoclosure () -> OperationID? = nil) throws(ChorusError) {
        try checkDrift(timestamp, against: wallClock.nowMilliseconds(), operation: operation())
    }

    /// `checkDrift(_:operation:)` against a wall time read earlier (`physical`, from `wallClock`),
    /// for a caller checking many timestamps in a row: an earlier reading refuses a little sooner,
    /// never later. `operation` is read only for the error's message (a caller reading operations
    /// in place need not copy each one's id).
    public func checkDrift(_ timestamp: HybridTimestamp, against physical: UInt64,
                           operation: @autoclosure () -> OperationID? = nil) throws(ChorusError) {
        if timestamp.wall > physical && timestamp.wall - physical > driftMillisecondsMax {
            let skew = timestamp.wall - physical
            let who = operation().map { " (operation \($0))" } ?? ""
            throw ChorusError(.clockSkew,
                "operation stamped \(HybridClock.describe(milliseconds: skew)) ahead of the clock of the replica receiving it\(who); the limit is \(HybridClock.describe(milliseconds: driftMillisecondsMax))",
                hint: "check the clock of the replica that wrote it (NTP), or of this machine; nothing of the batch was applied. Setting the clock right does not change operations already stamped: the replica refusing them takes them once its clock reaches them, in \(HybridClock.describe(milliseconds: skew - driftMillisecondsMax))")
        }
        if timestamp.wall > HybridTimestamp.wallMax {
            throw ChorusError(.malformedInput, "wall time \(timestamp.wall) is beyond the supported range (at most \(HybridTimestamp.wallMax) Unix milliseconds)")
        }
    }

    /// Moves the clock past a received timestamp (call after `checkDrift`).
    public mutating func observe(_ timestamp: HybridTimestamp) {
        if timestamp > last { last = timestamp }
    }

    /// "3 h 2 min 5.120 s" style text for skews.
    public static func describe(milliseconds: UInt64) -> String {
        let seconds = milliseconds / 1000, ms = milliseconds % 1000
        let h = seconds / 3600, m = (seconds % 3600) / 60, s = seconds % 60
        var parts: [String] = []
        if h > 0 { parts.append("\(h) h") }
        if m > 0 { parts.append("\(m) min") }
        parts.append(ms == 0 ? "\(s) s" : "\(s).\(String(ms + 1000).dropFirst()) s")
        return parts.joined(separator: " ")
    }
}

/// A wall clock fixed by hand, for tests and the simulator.
public final class ManualClock: WallClock, @unchecked Sendable {
    private var milliseconds: UInt64
    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }
    public func nowMilliseconds() -> UInt64 { milliseconds }
    public func advance(by delta: UInt64) { milliseconds += delta }
    public func set(_ value: UInt64) { milliseconds = value }
}

/// A wall clock offset from another, to model a replica whose clock is wrong.
public struct OffsetClock: WallClock {
    public let base: any WallClock
    public let offsetMilliseconds: Int64
    public init(base: any WallClock, offsetMilliseconds: Int64) {
        self.base = base
        self.offsetMilliseconds = offsetMilliseconds
    }
    public func nowMilliseconds() -> UInt64 {
        let now = Int64(base.nowMilliseconds()) + offsetMilliseconds
        return now < 0 ? 0 : UInt64(now)
    }
}
