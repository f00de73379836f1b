import XCTest
import ChorusCore
import ChorusTesting

/// XXH64 against values of the reference implementation (Python's `xxhash` 3.x, `xxh64(data).hexdigest()`).
final class XXHash64Tests: XCTestCase {
    static let rampWithTail: [UInt8] = Array((0..<3).flatMap { _ in (0...255).map(UInt8.init) }) + Array("xyz".utf8)
    static let vectors: [([UInt8], String)] = [
        ([], "ef46db3751d8e999"),
        (Array("a".utf8), "d24ec4f1a98c6e5b"),
        (Array("abc".utf8), "44bc2cf5ad770999"),
        (Array("0123456789abcdef0123456789abcdef".utf8), "642a94958e71e6c5"),
        (Array("The quick brown fox jumps over the lazy dog".utf8), "0b242d361fda71bc"),
        (rampWithTail, "e921a1b45bd779f8"),
    ]

    func test_matchesTheReferenceImplementation() {
        for (input, expected) in XXHash64Tests.vectors {
            var hasher = XXHash64()
            hasher.update(input)
            XCTAssertEqual(XXHash64.hex(hasher.finalize()), expected, "\(input.count) bytes")
        }
    }

    /// A body fed in pieces of any size gives the checksum of the whole (a download arrives in
    /// pieces the network chooses).
    func test_anySplitIntoPieces_givesTheSameChecksum() {
        let input = XXHash64Tests.rampWithTail
        for seed in testSeeds(count: 200, base: 0x0C4E_C500) {
            var rng = SeededGenerator(seed: seed)
            var hasher = XXHash64()
            var offset = 0
            while offset < input.count {
                let size = min(input.count - offset, rng.int(70))
                hasher.update(Array(input[offset..<offset + size]))
                offset += size
            }
            XCTAssertEqual(XXHash64.hex(hasher.finalize()), "e921a1b45bd779f8", "seed \(seed)")
        }
    }

    func test_everyByteChanged_changesTheChecksum() {
        var hasher = XXHash64()
        hasher.update(XXHash64Tests.rampWithTail)
        let original = hasher.finalize()
        for index in stride(from: 0, to: XXHash64Tests.rampWithTail.count, by: 7) {
            var changed = XXHash64Tests.rampWithTail
            changed[index] ^= 0x01
            var other = XXHash64()
            other.update(changed)
            XCTAssertNotEqual(other.finalize(), original, "byte \(index)")
        }
    }
}
