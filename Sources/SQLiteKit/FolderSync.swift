import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Makes a rename into a folder durable: a file synced and renamed over its final path can still
/// be lost with the rename in a power cut until the folder's entry is synced too. In SQLiteKit,
/// the lowest module that writes files (a counter reservation, a token file, a bundle).
public enum FolderSync {
    /// Syncs the folder holding `path`; false when it cannot be opened or synced (`errno` says why).
    public static func syncFolder(of path: String) -> Bool {
        let folder = open(parent(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { return false }
        defer { close(folder) }
        return fsync(folder) == 0
    }

    /// The folder holding `path`, split by hand on its last `/` (trailing ones dropped): "." for a
    /// name alone, "/" for a name at the root. Foundation's `deletingLastPathComponent` traps on
    /// a one-letter name: `chorus init --data a` crashed, as `--token-file t` could.
    public static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// Makes the folder at `path` and any missing folders above it, and syncs the entry of each
    /// one made in its parent: a replica folder made by `init` or a first `serve` could
    /// otherwise vanish whole, with writes acknowledged in it, in a power cut on a file system
    /// that does not order the new entry before the files' syncs (a read-only audit).
    public static func makeFolder(atPath path: String) throws {
        var missing: [String] = []
        var level = path
        while !level.isEmpty, level != "/", !FileManager.default.fileExists(atPath: level) {
            missing.append(level)
            let above = parent(of: level)
            if above == level || above == "." { break }
            level = above
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // From the top down: each new folder's entry, in the folder above it.
        for made in missing.reversed() where !syncFolder(of: made) {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot sync the folder holding \(made): \(String(cString: strerror(errno)))"])
        }
    }
}
