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

    /// A one-letter folder name, relative to the working folder: `chorus init --data a` trapped.
    func test_makeFolder_ofAOneLetterRelativeName() throws {
        let here = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
        defer { FileManager.default.changeCurrentDirectoryPath(here) }
        try FolderSync.makeFolder(atPath: "a")
        try FolderSync.makeFolder(atPath: "b/c")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/a") && FileManager.default.fileExists(atPath: folder + "/b/c"))
        XCTAssertTrue(FolderSync.syncFolder(of: "t"), "a one-letter file name's folder is the working folder")
    }

    func test_makeFolder_underAFile_isRefused() throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: folder + "/file", contents: Data()))
        XCTAssertThrowsError(try FolderSync.makeFolder(atPath: folder + "/file/inside"))
    }
}

/// The folder holding a path, split by hand: Foundation's `deletingLastPathComponent` traps on a
/// one-letter name (`chorus init --data a` crashed).
final class FolderParentTests: XCTestCase {
    func test_parent_ofNamesOneLetterLongAndOthers() {
        for (path, parent) in [("a", "."), ("a/b", "a"), ("/a", "/"), ("/", "/"), ("a/", "."), ("/tmp/x/", "/tmp"), ("dir/file.token", "dir"), ("./a", ".")] {
            XCTAssertEqual(FolderSync.parent(of: path), parent, path)
        }
    }
}
