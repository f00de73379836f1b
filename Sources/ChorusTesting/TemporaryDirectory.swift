import Foundation

/// A fresh folder under the system's temporary directory, removed when `remove()` is called.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "chorus-test") throws {
        let base = NSTemporaryDirectory()
        let path = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }

    /// A path inside the folder.
    public func appending(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum ProcessInfoShim {
    static func environment(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }
}
