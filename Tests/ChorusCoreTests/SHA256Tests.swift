import XCTest
import ChorusCore

/// SHA-256 against the NIST FIPS 180-4 example vectors (and the long-message vector).
final class SHA256Tests: XCTestCase {
    func test_nistVectors() {
        XCTAssertEqual(SHA256.hash("abc").hexString, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hash("").hexString, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hexString,
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hash("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu").hexString,
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func test_oneMillionA() {
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        XCTAssertEqual(hasher.finalize().hexString, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func test_streamingAtEverySplit_matchesOneShot() {
        let message = Array((0..<200).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let expected = SHA256.hash(message)
        for split in 0...message.count {
            var hasher = SHA256()
            hasher.update(Array(message[..<split]))
            hasher.update(message[split...])  // the generic Sequence path
            XCTAssertEqual(hasher.finalize(), expected, "split at \(split)")
        }
    }

    func test_streamingInPlace_atEveryPairOfSplits_matchesOneShot() {
        // Three pieces, each fed from memory in place: a part-filled block topped up, then whole
        // blocks read where they lie, then the rest buffered.
        let message = Array((0..<200).map { UInt8(truncatingIfNeeded: $0 * 13 + 5) })
        let expected = SHA256.hash(message)
        for first in stride(from: 0, through: message.count, by: 7) {
            for second in stride(from: first, through: message.count, by: 5) {
                var hasher = SHA256()
                hasher.update(Array(message[..<first]))
                hasher.update(Array(message[first..<second]))
                hasher.update(Array(message[second...]))
                XCTAssertEqual(hasher.finalize(), expected, "split at \(first) and \(second)")
            }
        }
    }

    func test_paddingBoundaries() {
        // A last block one byte short of full, and the second block's edges (computed by Python's hashlib).
        XCTAssertEqual(SHA256.hash(String(repeating: "a", count: 63)).hexString, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34")
        XCTAssertEqual(SHA256.hash(String(repeating: "a", count: 119)).hexString, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb")
        XCTAssertEqual(SHA256.hash(String(repeating: "a", count: 120)).hexString, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c")
        XCTAssertEqual(SHA256.hash(String(repeating: "a", count: 128)).hexString, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e")
        // Lengths around the 55/56/64-byte padding edges, checked against values computed by sha256sum.
        XCTAssertEqual(SHA256.hash(String(repeating: "a", count: 55)).hexString, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        XCTAssertEqual(SHA256.hash(String(repeating: "a", count: 56)).hexString, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        XCTAssertEqual(SHA256.hash(String(repeating: "a", count: 64)).hexString, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    func test_hex_roundTrip_andRejectsBadInput() {
        XCTAssertEqual(Hex.decode(Hex.encode([0, 1, 0xab, 0xff])), [0, 1, 0xab, 0xff])
        XCTAssertEqual(Hex.encode(Array(0...255)), (0...255).map { String(format: "%02x", $0) }.joined())
        XCTAssertEqual(Hex.encode([]), "")
        var prefixed = Array("id:".utf8)
        Hex.append([0x0f, 0xf0], to: &prefixed)
        XCTAssertEqual(String(decoding: prefixed, as: UTF8.self), "id:0ff0")
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode("zz"))
    }
}
