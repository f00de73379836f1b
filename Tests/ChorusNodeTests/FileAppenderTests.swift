import XCTest
import Foundation
import ChorusCore
import ChorusNode

/// The buffered file writer behind snapshot downloads and bundle exports, on real files: what is
/// appended, in pieces of any size, is what the file holds once closed, and a failure says where.
final class FileAppenderTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("file-appender-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func test_pieces_ofEverySize_arriveInOrder_andWhole() throws {
        let path = (folder as NSString).appendingPathComponent("out")
        var rng = SystemRandomNumberGenerator()
        // Small pieces that fill the buffer, one that overflows it, and one larger than it.
        let sizes = [0, 1, 16_384, 16_384, FileAppender.bufferBytes - 10, 4_096, FileAppender.bufferBytes + 7, 3]
        var expected: [UInt8] = []
        let file = try FileAppender(creating: path)
        for size in sizes {
            let piece = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            expected += piece
            try file.append(piece)
        }
        try file.synchronize()
        try file.append([1, 2, 3])
        expected += [1, 2, 3]
        try file.close()
        try file.close()   // a second close does nothing
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), expected)
    }

    func test_creating_emptiesAFileThatExists() throws {
        let path = (folder as NSString).appendingPathComponent("out")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(repeating: 9, count: 100)))
        let file = try FileAppender(creating: path)
        try file.append([7])
        try file.close()
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), [7])
    }

    func test_aFolderThatDoesNotExist_isAStorageError_namingThePath() throws {
        let path = (folder as NSString).appendingPathComponent("missing/out")
        XCTAssertThrowsError(try FileAppender(creating: path)) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .storage)
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    func test_appendingAfterClose_throws_andWritesNothing() throws {
        let path = (folder as NSString).appendingPathComponent("out")
        let file = try FileAppender(creating: path)
        try file.append([1])
        try file.close()
        XCTAssertThrowsError(try file.append([2]))
        XCTAssertThrowsError(try file.append([UInt8](repeating: 2, count: FileAppender.bufferBytes + 1)))
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), [1])
    }
}
