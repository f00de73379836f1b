import ChorusCore
import Foundation
import SQLiteKit
#if canImport(Glibc)
import Glibc
#endif

/// The operation counters a replica has handed out, kept in a small file beside its database
/// (`chorus.counters`), ahead of the database by a block.
///
/// Why: a database restored from a backup (the hub guide's `.backup` copy) stores an older counter
/// than the operations the replica made after the backup, which other replicas hold. Writing on
/// from the older counter gave new operations ids those replicas already held: they dropped them
/// as duplicates, and the replicas differed for good. The file is not the database's backup, so a
/// restored database is opened at the counter the file names, past every id handed out.
///
/// A reservation names a counter `block` past the current one and is written durably (a new file,
/// synced, renamed over the old, the folder synced) before the batch that needs it commits: one
/// file write in `block` local writes, off the path of every other. Which reserved counters were
/// handed out is not known, so every connection opening the replica writes on past them all: a
/// process writing beside `chorus serve` (a CLI command), or a start after a stop, skips up to a
/// block of ids. Ids need not be consecutive; they must never be handed out twice.
struct CounterReservation: Sendable {
    /// The file's name in the replica folder.
    static let fileName = "chorus.counters"
    /// Counters reserved at once.
    static let block: UInt64 = 1_000
    /// The file's size at most, in bytes ("reserved " and a 19-digit counter).
    static let fileBytesMax = 64

    let path: String

    init?(_ location: Replica.Location) {
        guard case .directory(let folder) = location else { return nil }
        path = (folder as NSString).appendingPathComponent(CounterReservation.fileName)
    }

    /// The counter reserved, 0 when there is no file (a replica from before this file, or new).
    func read() throws -> UInt64 {
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        guard let data = FileManager.default.contents(atPath: path), data.count <= CounterReservation.fileBytesMax,
              let text = String(data: data, encoding: .utf8), text.hasPrefix("reserved "), text.hasSuffix("\n"),
              let value = UInt64(text.dropFirst("reserved ".count).dropLast()), value <= UInt64(Int64.max) else {
            throw ChorusError(.storage, "\(path) is damaged: it should hold one line, `reserved N`",
                              hint: "it names the operation counters this replica handed out; if its database was never restored from a backup, write `reserved 0` into it")
        }
        return value
    }

    /// Writes `value` durably: the counters up to it are this replica's, whatever its database says.
    func write(_ value: UInt64) throws {
        let bytes = Array("reserved \(value)\n".utf8)
        let temporary = path + ".new"
        func fail(_ what: String) -> ChorusError {
            ChorusError(.storage, "cannot record the reserved operation counters in \(path): \(what) failed (\(String(cString: strerror(errno))))",
                        hint: "check the replica folder's free space and permissions; nothing was written")
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw fail("open") }
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else { close(descriptor); throw fail("write") }
        guard close(descriptor) == 0 else { throw fail("close") }
        guard rename(temporary, path) == 0 else { throw fail("rename") }
        guard FolderSync.syncFolder(of: path) else { throw fail("fsync the folder") }
    }
}
