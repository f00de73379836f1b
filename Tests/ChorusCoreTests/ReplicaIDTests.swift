import XCTest
@testable import ChorusCore

/// A replica id is equal to another exactly when their 16 bytes are, compared in place
/// (`ReplicaID.==`), and equal ids hash alike.
final class ReplicaIDTests: XCTestCase {
    private let base: [UInt8] = Array(0..<16)

    func testIdsOfTheSameBytesInSeparateArraysAreEqualAndHashAlike() {
        let a = ReplicaID(bytes: base)!, b = ReplicaID(bytes: Array(base))!
        XCTAssertEqual(a, b)
        XCTAssertEqual(Set([a, b]).count, 1)
        XCTAssertEqual(a.hashValue, b.hashValue)
    }

    func testADifferenceInAnyByteMakesTheIdsDiffer() {
        let a = ReplicaID(bytes: base)!
        for index in 0..<16 {
            var bytes = base
            bytes[index] ^= 0x80
            let b = ReplicaID(bytes: bytes)!
            XCTAssertNotEqual(a, b, "byte \(index)")
            XCTAssertNotEqual(b, a, "byte \(index)")
            XCTAssertEqual(Set([a, b]).count, 2, "byte \(index)")
        }
    }

    func testOrderAndEqualityAgree() {
        let a = ReplicaID(hex: "0000000000000000ffffffffffffffff")!, b = ReplicaID(hex: "00000000000000010000000000000000")!
        XCTAssertLessThan(a, b)
        XCTAssertNotEqual(a, b)
        XCTAssertFalse(a < ReplicaID(hex: a.hex)!)
        XCTAssertEqual(a, ReplicaID(hex: a.hex)!)
    }
}
