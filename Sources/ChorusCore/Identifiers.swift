import Glibc

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

    /// Equal bytes (as the derived `==`, and as `hash(into:)`, which stays derived), compared with
    /// one `memcmp`, as `Statement` compares text in place: the derived comparison went through
    /// `Array`'s generic `==`, element by element, about 150 instructions; a merge compares an
    /// operation's origin with others a few times an operation (about 70 instructions an
    /// operation fewer on the merging thread; callgrind, P1).
    public static func == (a: ReplicaID, b: ReplicaID) -> Bool {
        a.bytes.withUnsafeBytes { x in
            b.bytes.withUnsafeBytes { y in x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
        }
    }
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
        var text = text
        text.makeContiguousUTF8()
        guard let parsed = text.utf8.withContiguousStorageIfAvailable(OperationID.parse) ?? nil else { return nil }
        self = parsed
    }

    /// 32 lower- or upper-case hex digits, ':', then a decimal counter from 1 to Int64.max with no
    /// sign or leading zero. Parsed from the UTF-8 bytes: this runs for every operation received.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> OperationID? {
        guard bytes.count >= 34, bytes.count <= 32 + 1 + 19, bytes[32] == UInt8(ascii: ":"), bytes[33] != UInt8(ascii: "0") else { return nil }
        var replica = [UInt8](repeating: 0, count: 16)
        for index in 0..<16 {
            guard let high = Hex.nibble(bytes[2 * index]), let low = Hex.nibble(bytes[2 * index + 1]) else { return nil }
            replica[index] = high << 4 | low
        }
        var counter: UInt64 = 0
        for byte in bytes[33...] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflowTimes) = counter.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflowTimes, !overflowSum else { return nil }
            counter = sum
        }
        guard counter >= 1, counter <= UInt64(Int64.max), let id = ReplicaID(bytes: replica) else { return nil }
        return OperationID(replica: id, counter: counter)
    }

    public var description: String { "\(replica.hex):\(counter)" }

    public static func < (a: OperationID, b: OperationID) -> Bool {
        a.replica != b.replica ? a.replica < b.replica : a.counter < b.counter
    }
}
