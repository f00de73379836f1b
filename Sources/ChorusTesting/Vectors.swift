import ChorusCore
import Foundation

/// Loads the golden test vectors of `Protocol/vectors/`, so the spec and the code cannot drift.
public enum ProtocolVectors {
    /// The repository's `Protocol/vectors` folder, found from this source file's path.
    public static var directory: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Protocol/vectors").path
    }

    /// The `vectors` array of a vector file, or the array named `key`.
    public static func load(_ name: String, array key: String = "vectors") throws -> [JSONValue] {
        let path = (directory as NSString).appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ChorusError(.storage, "missing test vectors \(path)")
        }
        let document = try JSONParser(bytesMax: 64 * 1024 * 1024).parse(Array(data))
        guard case .array(let vectors)? = document[key] else { throw ChorusError(.malformedInput, "\(name) has no \(key) array") }
        return vectors
    }
}
