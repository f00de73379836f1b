import XCTest
@testable import ChorusReplica

/// The search that tells compaction whether a log block names an author at all (`KeptAuthors`):
/// found wherever it stands, never past the bytes, and not fooled by its pivot byte alone.
final class KeptAuthorsSearchTests: XCTestCase {
    func found(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { KeptAuthors.contains($0, KeptAuthors.authorKey) }
    }

    func test_findsTheKey_atTheStart_inTheMiddle_andAtTheEnd() {
        XCTAssertTrue(found("\"author\":\"p-ana\""))
        XCTAssertTrue(found("{\"action\":\"set\",\"author\":\"p-ana\",\"collection\":\"people\"}"))
        XCTAssertTrue(found("xx\"author\":"))
    }

    func test_anHWithoutTheKey_orTheKeyCutShort_isNotAMatch() {
        XCTAssertFalse(found("{\"action\":\"set\",\"value\":\"hhhh\",\"record\":\"author\"}"), "author as a value, not a key")
        XCTAssertFalse(found("h\"author\""), "no colon")
        XCTAssertFalse(found("\"auth"))
        XCTAssertFalse(found(""))
        XCTAssertFalse(found("h"), "shorter than the key, its pivot byte first")
    }

    func test_bytesAroundTheKey_mayBeAnything() {
        var bytes: [UInt8] = [0x68, 0x00, 0xFF, 0x68]
        bytes += Array("\"author\":".utf8)
        bytes += [0x68]
        XCTAssertTrue(bytes.withUnsafeBytes { KeptAuthors.contains($0, KeptAuthors.authorKey) })
        XCTAssertFalse([UInt8](repeating: 0x68, count: 64).withUnsafeBytes { KeptAuthors.contains($0, KeptAuthors.authorKey) })
    }
}
