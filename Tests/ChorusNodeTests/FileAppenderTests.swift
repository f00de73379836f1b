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
            // Eight random bytes at a time: a byte at a time took a second for these 2 MB.
            let words = (0..<(size + 7) / 8).map { _ in rng.next() }
            let piece = Array(words.withUnsafeBytes { $0.prefix(size) })
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

    func test_aFailedWrite_isAStorageError_namingThePath_andIsFinal() throws {
        // /dev/full takes no byte: every write fails with "No space left on device".
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/dev/full"), "this machine has no /dev/full")
        let file = try FileAppender(creating: "/dev/full")
        try file.append([1, 2, 3])   // buffered: nothing written yet
        XCTAssertThrowsError(try file.flush()) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .storage)
            XCTAssertTrue("\(error)".contains("/dev/full") && "\(error)".contains("No space left"), "\(error)")
        }
        XCTAssertThrowsError(try file.append([4]), "a failed writer takes nothing more")
        XCTAssertNoThrow(try file.close(), "closing writes nothing more, the failure already said")
        let large = try FileAppender(creating: "/dev/full")
        XCTAssertThrowsError(try large.append([UInt8](repeating: 0, count: FileAppender.bufferBytes + 1))) { error in
            XCTAssertEqual((error as? ChorusError)?.code, .storage)
        }
        let closing = try FileAppender(creating: "/dev/full")
        try closing.append([7])
        XCTAssertThrowsError(try closing.close(), "the last piece, written on close, fails there")
    }

    func test_aSymbolicLink_isNotFollowed() throws {
        let target = (folder as NSString).appendingPathComponent("target")
        let link = (folder as NSString).appendingPathComponent("link")
        XCTAssertTrue(FileManager.default.createFile(atPath: target, contents: Data([9, 9])))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        XCTAssertThrowsError(try FileAppender(creating: link)) { XCTAssertEqual(($0 as? ChorusError)?.code, .storage) }
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: target))), [9, 9], "the link's target is untouched")
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
