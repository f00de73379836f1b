/// XXH64 (https://github.com/Cyan4973/xxHash, `doc/xxhash_spec.md`), seed 0: a fast 64-bit
/// checksum, written here because Chorus takes no package dependencies.
///
/// Used where a large body must be checked end to end at the speed it is read (a sync snapshot:
/// tens of megabytes, where SHA-256 in Swift would cost more than the transfer). It catches
/// accidental damage, not forgery: it is not a cryptographic hash. Tested against the reference
/// implementation's values in `XXHash64Tests`.
///
///     var hasher = XXHash64()
///     hasher.update(bytes)
///     let checksum = hasher.finalize()
public struct XXHash64: Sendable {
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1: UInt64 = prime1 &+ prime2
    private var v2: UInt64 = prime2
    private var v3: UInt64 = 0
    private var v4: UInt64 = 0 &- prime1
    private var total: UInt64 = 0
    /// Bytes of an unfinished 32-byte stripe.
    private var pending: [UInt8] = []

    public init() { pending.reserveCapacity(32) }

    @inline(__always) static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        let mixed = accumulator &+ input &* prime2
        return ((mixed << 31) | (mixed >> 33)) &* prime1
    }

    @inline(__always) static func mergeRound(_ accumulator: UInt64, _ value: UInt64) -> UInt64 {
        (accumulator ^ round(0, value)) &* prime1 &+ prime4
    }

    @inline(__always) static func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 { (value << bits) | (value >> (64 - bits)) }

    @inline(__always) static func load64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Feeds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        total &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let taken = min(32 - pending.count, bytes.count)
            pending += bytes[0..<taken]
            offset = taken
            guard pending.count == 32 else { return }
            pending.withUnsafeBytes { stripes(in: $0, upTo: 32) }
            pending.removeAll(keepingCapacity: true)
        }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        let whole = rest.count & ~31
        stripes(in: rest, upTo: whole)
        pending += rest[whole...]
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    private mutating func stripes(in bytes: UnsafeRawBufferPointer, upTo end: Int) {
        var (a, b, c, d) = (v1, v2, v3, v4)
        var offset = 0
        while offset < end {
            a = XXHash64.round(a, XXHash64.load64(bytes, offset))
            b = XXHash64.round(b, XXHash64.load64(bytes, offset + 8))
            c = XXHash64.round(c, XXHash64.load64(bytes, offset + 16))
            d = XXHash64.round(d, XXHash64.load64(bytes, offset + 24))
            offset += 32
        }
        (v1, v2, v3, v4) = (a, b, c, d)
    }

    /// The checksum of everything fed.
    public func finalize() -> UInt64 {
        var hash: UInt64
        if total >= 32 {
            hash = XXHash64.rotate(v1, 1) &+ XXHash64.rotate(v2, 7) &+ XXHash64.rotate(v3, 12) &+ XXHash64.rotate(v4, 18)
            for value in [v1, v2, v3, v4] { hash = XXHash64.mergeRound(hash, value) }
        } else {
            hash = XXHash64.prime5
        }
        hash &+= total
        pending.withUnsafeBytes { tail in
            var offset = 0
            while offset + 8 <= tail.count {
                hash ^= XXHash64.round(0, XXHash64.load64(tail, offset))
                hash = XXHash64.rotate(hash, 27) &* XXHash64.prime1 &+ XXHash64.prime4
                offset += 8
            }
            if offset + 4 <= tail.count {
                hash ^= UInt64(UInt32(littleEndian: tail.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) &* XXHash64.prime1
                hash = XXHash64.rotate(hash, 23) &* XXHash64.prime2 &+ XXHash64.prime3
                offset += 4
            }
            while offset < tail.count {
                hash ^= UInt64(tail[offset]) &* XXHash64.prime5
                hash = XXHash64.rotate(hash, 11) &* XXHash64.prime1
                offset += 1
            }
        }
        hash ^= hash >> 33
        hash &*= XXHash64.prime2
        hash ^= hash >> 29
        hash &*= XXHash64.prime3
        hash ^= hash >> 32
        return hash
    }

    /// The checksum as 16 lowercase hex digits, as the protocol sends it.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The checksum `hex` wrote: exactly 16 lowercase hex digits (no sign, no other case), nil otherwise.
    public static func value(hex text: String) -> UInt64? {
        guard text.utf8.count == 16, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        return UInt64(text, radix: 16)
    }
}
