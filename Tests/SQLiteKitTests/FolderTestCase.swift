import XCTest
import Foundation

/// A test case with a fresh temporary folder for its database files, removed after each test.
class FolderTestCase: XCTestCase {
    var folder: String!
    /// The start of the folder's name, so a leftover says which tests made it.
    var folderPrefix: String { "sqlitekit" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        folder = NSTemporaryDirectory() + "\(folderPrefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
        super.tearDown()
    }
}
