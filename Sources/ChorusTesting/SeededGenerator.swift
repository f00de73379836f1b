import ChorusCore

/// A fast deterministic random generator (SplitMix64), so any failing run replays from its seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public let seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniformly chosen integer in `0..<upperBound`.
    public mutating func int(_ upperBound: Int) -> Int { Int.random(in: 0..<upperBound, using: &self) }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }

    /// A random element.
    public mutating func pick<C: Collection>(_ collection: C) -> C.Element { collection.randomElement(using: &self)! }
}

/// Reads a seed list from the environment (`CHORUS_SEED=123` replays one seed), or makes `count`
/// seeds from `base`.
public func testSeeds(count: Int, base: UInt64) -> [UInt64] {
    if let text = ProcessInfoShim.environment("CHORUS_SEED"), let seed = UInt64(text) { return [seed] }
    return (0..<UInt64(count)).map { base &+ $0 &* 0x1000_0001 }
}
