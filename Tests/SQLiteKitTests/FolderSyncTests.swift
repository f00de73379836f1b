import XCTest
import Foundation
import SQLiteKit

/// Folders made for a replica: every missing level made, an existing one left as it is, and a
/// path that cannot be a folder refused with the reason.
final class FolderSyncTests: FolderTestCase {
    func test_makeFolder_makesEveryMissingLevel_andLeavesAnExistingOneAsItIs() throws {
        let deep = folder + "/a/b/c"
        try FolderSync.makeFolder(atPath: deep)
        var isFolder: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: deep, isDirectory: &isFolder) && isFolder.boolValue)
        XCTAssertTrue(FileManager.default.createFile(atPath: deep + "/kept", contents: Data("x".utf8)))
        try FolderSync.makeFolder(atPath: deep)
        XCTAssertTrue(FileManager.default.fileExists(atPath: deep + "/kept"), "what the folder held stays")
    }

    func test_makeFolder_underAFile_isRefused() throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: folder + "/file", contents: Data()))
        XCTAssertThrowsError(try FolderSync.makeFolder(atPath: folder + "/file/inside"))
    }
}
