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
///
/// The file also names the counter the database had committed when the reservation was written
/// (`reserved R after C`). A database behind that has lost commits it once held: restored from a
/// backup, or its last commits lost. One at or past it has not, however far the reservation is
/// ahead: a batch of thousands (a seed, a merge) killed after its reservation, before its commit,
/// once had the next start say the replica was restored from a backup when it had lost nothing.
struct CounterReservation: Sendable {
    /// The file's name in the replica folder.
    static let fileName = "chorus.counters"
    /// Counters reserved at once.
    static let block: UInt64 = 1_000
    /// The file's size at most, in bytes ("reserved ", a 19-digit counter, " after " and another).
    static let fileBytesMax = 64

    /// What the file names: the counters reserved, and the counter the database had committed when
    /// they were (nil in a file from before it was written, `reserved R` alone).
    struct Reserved: Equatable, Sendable {
        var counter: UInt64
        var committedBefore: UInt64?
    }

    let path: String

    init?(_ location: Replica.Location) {
        guard case .directory(let folder) = location else { return nil }
        path = (folder as NSString).appendingPathComponent(CounterReservation.fileName)
    }

    /// Whether the file is there (`reserved 0` in it is not the same as none: an operator's word
    /// that the database was never restored).
    var fileExists: Bool { FileManager.default.fileExists(atPath: path) }

    /// What is reserved; 0 and no committed counter when there is no file (a replica new, or from
    /// before this file).
    func read() throws -> Reserved {
        guard FileManager.default.fileExists(atPath: path) else { return Reserved(counter: 0, committedBefore: nil) }
        guard let data = FileManager.default.contents(atPath: path), data.count <= CounterReservation.fileBytesMax,
              let text = String(data: data, encoding: .utf8), let reserved = CounterReservation.parse(text) else {
            throw ChorusError(.storage, "\(path) is damaged: it should hold one line, `reserved N after M`",
                              hint: "it names the operation counters this replica handed out; if its database was never restored from a backup, write `reserved 0` into it")
        }
        return reserved
    }

    /// `reserved R after C`, or `reserved R` (a file from before the committed counter was named);
    /// nil for anything else, or a counter past `Int64.max` (SQLite's integers).
    static func parse(_ text: String) -> Reserved? {
        guard text.hasPrefix("reserved "), text.hasSuffix("\n") else { return nil }
        let words = text.dropFirst("reserved ".count).dropLast().split(separator: " ", omittingEmptySubsequences: false)
        func counter(_ word: Substring) -> UInt64? {
            guard let value = UInt64(word), value <= UInt64(Int64.max) else { return nil }
            return value
        }
        switch words.count {
        case 1:
            return counter(words[0]).map { Reserved(counter: $0, committedBefore: nil) }
        case 3 where words[1] == "after":
            guard let reserved = counter(words[0]), let committed = counter(words[2]), committed <= reserved else { return nil }
            return Reserved(counter: reserved, committedBefore: committed)
        default:
            return nil
        }
    }

    /// Writes `value` durably: the counters up to it are this replica's, whatever its database
    /// says. `committed` is the counter the database holds committed as it is written.
    func write(_ value: UInt64, after committed: UInt64) throws {
        let bytes = Array("reserved \(value) after \(min(committed, value))\n".utf8)
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
