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
}
