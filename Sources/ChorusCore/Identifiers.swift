/// A replica's identity: 128 random bits, written as 32 lower-case hex digits.
///
/// Replica ids break ties between equal timestamps, so they are compared by their bytes.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 16 bytes, most significant first.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses 32 hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 32, let bytes = Hex.decode(hex) else { return nil }
        self.bytes = bytes
    }

    /// A new random id from the given generator (inject a seeded one in tests).
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> ReplicaID {
        var bytes: [UInt8] = []
        for _ in 0..<2 {
            let word = generator.next()
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return ReplicaID(bytes: bytes)!
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func < (a: ReplicaID, b: ReplicaID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// An operation's identity: the replica that made it and that replica's counter, which starts at 1
/// and goes up by one for each operation it makes. Written `REPLICAHEX:COUNTER`.
public struct OperationID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let replica: ReplicaID
    public let counter: UInt64

    public init(replica: ReplicaID, counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    /// Parses `REPLICAHEX:COUNTER`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let replica = ReplicaID(hex: String(parts[0])),
              let counter = UInt64(parts[1]), counter >= 1, counter <= UInt64(Int64.max),
              String(counter) == parts[1] else { return nil }
        self.init(replica: replica, counter: counter)
    }

    public var description: String { "\(replica.hex):\(counter)" }

    public static func < (a: OperationID, b: OperationID) -> Bool {
        a.replica != b.replica ? a.replica < b.replica : a.counter < b.counter
    }
}
