import XCTest
import ChorusCore
import ChorusTesting

/// XXH64 against values of the reference implementation (Python's `xxhash` 3.x, `xxh64(data).hexdigest()`).
final class XXHash64Tests: XCTestCase {
    static let rampWithTail: [UInt8] = Array((0..<3).flatMap { _ in (0...255).map(UInt8.init) }) + Array("xyz".utf8)

    /// `Protocol/vectors/xxh64.json`, the values a client in another language checks itself against.
    func test_matchesTheReferenceImplementation() throws {
        let vectors = try ProtocolVectors.load("xxh64.json")
        XCTAssertGreaterThanOrEqual(vectors.count, 6)
        for vector in vectors {
            let input = try XCTUnwrap(Hex.decode(try XCTUnwrap(vector["input"]?.stringValue)))
            var hasher = XXHash64()
            hasher.update(input)
            XCTAssertEqual(XXHash64.hex(hasher.finalize()), vector["xxh64"]?.stringValue, vector["name"]?.stringValue ?? "?")
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
