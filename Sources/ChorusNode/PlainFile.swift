import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether a path names a plain file, following links (`stat`, where `attributesOfItem` reads a
/// link itself, and refused a token file mounted as one). What reads a file a person names (a
/// token, a bundle) and what writes one (`OutputFile` in the CLI) ask it.
public enum PlainFile {
    /// What the path is when it is not a plain file ("a folder", "a device", "a pipe",
    /// "a socket"), or nil (a plain file, or nothing there: the caller's read or write says so).
    public static func notPlain(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a folder"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFIFO: return "a pipe"
        case S_IFSOCK: return "a socket"
        default: return "not a plain file"
        }
    }

    /// The size of the file the path names, through links; nil when it cannot be read.
    public static func size(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }
}
