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
        let folder = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { return false }
        defer { close(folder) }
        return fsync(folder) == 0
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
            let parent = (level as NSString).deletingLastPathComponent
            if parent == level { break }
            level = parent
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // From the top down: each new folder's entry, in the folder above it.
        for made in missing.reversed() where !syncFolder(of: made) {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot sync the folder holding \(made): \(String(cString: strerror(errno)))"])
        }
    }
}
