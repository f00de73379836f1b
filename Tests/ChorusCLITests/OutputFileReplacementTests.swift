import XCTest
import Foundation
@testable import ChorusCLI

/// A file a command replaces (`replicas add --token-file`): the path holds the old file or the
/// whole new one; when what was written must not stand, the old one is put back.
final class OutputFileReplacementTests: XCTestCase {
    var folder: String = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "chorus-output-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func leftBeside() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".new") || $0.hasSuffix(".old") }.sorted()
    }

    func test_putBack_restoresTheOldFile_andANewPathIsRemoved() throws {
        let path = folder + "/token"
        try Data("old\n".utf8).write(to: URL(fileURLWithPath: path))
        let replacement = try OutputFile.Replacement(path, mode: 0o600, hint: "")
        try replacement.commit(Array("new\n".utf8), hint: "")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new\n")
        XCTAssertTrue(replacement.putBack(), "the old file was there to put back")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old\n", "the path holds what it held before")
        XCTAssertEqual(try leftBeside(), [])

        let fresh = folder + "/fresh"
        let made = try OutputFile.Replacement(fresh, mode: 0o600, hint: "")
        try made.commit(Array("new\n".utf8), hint: "")
        XCTAssertFalse(made.putBack(), "nothing was there before")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh))
        XCTAssertEqual(try leftBeside(), [])
    }

    func test_forgetOld_keepsTheNewFile_andLeavesNothingBeside() throws {
        let path = folder + "/token"
        try Data("old\n".utf8).write(to: URL(fileURLWithPath: path))
        let replacement = try OutputFile.Replacement(path, mode: 0o600, hint: "")
        XCTAssertTrue(replacement.temporary.hasSuffix(".new"))
        try replacement.commit(Array("new\n".utf8), hint: "")
        replacement.forgetOld()
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new\n")
        XCTAssertEqual(try leftBeside(), [])
    }

    /// A killed run's new file does not block the next run of the same process id.
    func test_aNewFileLeftByAKilledRun_doesNotBlockTheNext() throws {
        let path = folder + "/token"
        let first = try OutputFile.Replacement(path, mode: 0o600, hint: "")
        _ = first   // never committed nor abandoned: as a run killed here leaves it
        let second = try OutputFile.Replacement(path, mode: 0o600, hint: "")
        XCTAssertNotEqual(first.temporary, second.temporary)
        try second.commit(Array("new\n".utf8), hint: "")
        second.forgetOld()
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new\n")
        first.abandon()
    }
}
