import ChorusCore
import SQLiteKit
#if canImport(Glibc)
import Glibc
#endif

/// A bundle: operations in a file, so two replicas converge with no network (a USB stick).
///
/// Format (JSON Lines, UTF-8; `Docs/reference/bundle.md`):
///
///     {"format":"chorus-bundle","version":1,"origin":"<replica hex>","originName":"stockholm","since":0,"until":42,"operations":2}
///     {"action":"set",...}            one canonical operation per line, as in the sync protocol
///     {"action":"add",...}
///     {"sha256":"<hex of every byte above, newlines included>"}
///
/// A truncated file has no valid trailer; a changed byte breaks the checksum. Either is refused
/// before anything is applied.
public enum OperationBundle {
    public static let format = "chorus-bundle"
    public static let version = 1

    public struct Header: Equatable, Sendable {
        public let origin: ReplicaID
        public let originName: String
        /// The exporter's log sequence the bundle starts after.
        public let since: Int64
        /// The exporter's last sequence included: pass it as `--since` next time.
        public let until: Int64
        public let operations: Int
    }

    /// Parses and verifies a whole bundle. Nothing is applied here.
    public static func read(_ bytes: [UInt8], limits: Limits) throws(ChorusError) -> (Header, [Operation]) {
        guard bytes.count <= limits.bundleBytesMax else {
            throw ChorusError(.limitExceeded, "bundle is \(bytes.count) bytes, over bundleBytesMax (\(limits.bundleBytesMax))")
        }
        // What the file is, before whether it is whole: an empty file, or one that is not a
        // bundle at all, was called truncated, and sent people looking for a copy that failed.
        guard !bytes.isEmpty else {
            throw ChorusError(.corruptBundle, "the file is empty, not a Chorus bundle",
                              hint: "give the file `chorus export --output` wrote (an export or a copy that failed leaves an empty one); nothing was applied")
        }
        let firstLineEnd = newline(in: bytes, from: 0, before: min(bytes.count, OperationBundle.headerBytesMax + 1))
        // Cut within its header: a bundle's start, and nothing after it.
        if firstLineEnd == bytes.count && bytes.starts(with: Array("{\"format\":\"\(format)\"".utf8).prefix(bytes.count)) {
            throw truncated("it ends within its header line")
        }
        guard firstLineEnd <= OperationBundle.headerBytesMax else { throw notABundle }
        let header = try parseHeader(String(decoding: bytes[0..<firstLineEnd], as: UTF8.self))
        guard bytes.last == UInt8(ascii: "\n") else { throw truncated("it does not end with a newline") }
        // The trailer is the last line; the checksum covers everything before it.
        let body = bytes.dropLast()
        let trailerStart = (body.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
        guard trailerStart > 0 else { throw truncated("it has no operations section") }
        let trailerText = String(decoding: bytes[trailerStart..<(bytes.count - 1)], as: UTF8.self)
        guard let trailer = try? JSONParser().parse(trailerText), case .string(let expected)? = trailer["sha256"],
              trailer.objectValue?.count == 1 else {
            throw truncated("its last line is not the {\"sha256\": ...} trailer")
        }
        let actual = SHA256.hash(bytes[0..<trailerStart]).hexString
        guard actual == expected.lowercased() else {
            throw ChorusError(.corruptBundle, "bundle checksum mismatch: the file was changed after export (its trailer says \(expected.prefix(64)), its bytes hash to \(actual))",
                              hint: "export the bundle again from its origin; nothing was applied")
        }
        // Lines are counted, then decoded one by one, never all held as ranges: 16 bytes a line
        // made a bundle of a gigabyte of newlines (its header and checksum anyone can write)
        // take 16 GB before its count was compared (a read-only audit).
        let end = trailerStart - 1
        let headerEnd = firstLineEnd
        let held = headerEnd == end ? 0 : lineCount(of: bytes, from: headerEnd + 1, before: end)
        guard held == header.operations else {
            throw ChorusError(.corruptBundle, "bundle header announces \(header.operations) operations but holds \(held)",
                              hint: "export the bundle again from its origin; nothing was applied")
        }
        let codec = OperationCodec(limits: limits)
        var operations: [Operation] = []
        // Not `held`: a forged header announcing a billion empty lines would ask for one
        // allocation of a hundred gigabytes, and the process would stop; the first empty line
        // fails to decode long before the array grows that far (a read-only review).
        operations.reserveCapacity(min(held, OperationBundle.operationsReservedMax))
        var start = headerEnd + 1
        while start <= end && operations.count < held {
            let stop = newline(in: bytes, from: start, before: end)
            do {
                operations.append(try codec.decode(utf8: bytes[start..<stop]))
            } catch {
                throw ChorusError(error.code, "bundle line \(operations.count + 2): \(error.message)", hint: "nothing was applied")
            }
            start = stop + 1
        }
        return (header, operations)
    }

    /// The longest header line read, in bytes: a header is under 300.
    static let headerBytesMax = 4_096

    /// The most operations room is made for before any is decoded; past it the array grows as
    /// they are.
    static let operationsReservedMax = 65_536

    /// How many lines `bytes[start..<end]` holds, split at each newline (an empty line is a line).
    /// A byte scan: the generic `split` cost a fifteenth of an import's instructions (callgrind).
    static func lineCount(of bytes: [UInt8], from start: Int, before end: Int) -> Int {
        var count = 1, at = start
        while at < end {
            at = newline(in: bytes, from: at, before: end) + 1
            if at <= end { count += 1 }
        }
        return count
    }

    /// The index of the first newline in `bytes[start..<end]`, or `end` (`memchr`).
    static func newline(in bytes: [UInt8], from start: Int, before end: Int) -> Int {
        guard start < end else { return end }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let found = memchr(buffer.baseAddress! + start, 0x0A, end - start) else { return end }
            return buffer.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
        }
    }

    private static let notABundle = ChorusError(.corruptBundle, "not a Chorus bundle: its first line is not a chorus-bundle header",
                                                hint: "give the file `chorus export --output` wrote; nothing was applied")

    private static func truncated(_ why: String) -> ChorusError {
        ChorusError(.corruptBundle, "not a complete Chorus bundle: \(why)",
                    hint: "the file may be truncated (copy interrupted?); export it again; nothing was applied")
    }

    static func parseHeader(_ text: String) throws(ChorusError) -> Header {
        guard let json = try? JSONParser().parse(text), case .object(let object) = json,
              object["format"] == .string(format) else {
            throw notABundle
        }
        guard object["version"] == .integer(Int64(version)) else {
            throw ChorusError(.corruptBundle, "bundle version \(object["version"]?.canonicalText ?? "?") is not supported (this Chorus reads version \(version))",
                              hint: "upgrade chorus")
        }
        guard case .string(let originHex)? = object["origin"], let origin = ReplicaID(hex: originHex),
              case .string(let originName)? = object["originName"],
              case .integer(let since)? = object["since"], case .integer(let until)? = object["until"],
              case .integer(let count)? = object["operations"], count >= 0, since >= 0, until >= since,
              object.count == 7 else {
            throw ChorusError(.corruptBundle, "bundle header is malformed")
        }
        // A replica's name, as `chorus init` takes one: it is printed by `import` and returned
        // in its JSON, and a forged header held any text (a read-only audit).
        guard (try? Replica.checkName(originName, limits: .default)) != nil else {
            throw ChorusError(.corruptBundle, "bundle header's originName must be a replica name of 1 to \(Limits.default.replicaNameBytesMax) bytes with no control characters",
                              hint: "export the bundle again from its origin; nothing was applied")
        }
        return Header(origin: origin, originName: originName, since: since, until: until, operations: Int(count))
    }

    public static func headerLine(_ header: Header) -> String {
        JSONValue.object([
            "format": .string(format), "version": .integer(Int64(version)),
            "origin": .string(header.origin.hex), "originName": .string(header.originName),
            "since": .integer(header.since), "until": .integer(header.until), "operations": .integer(Int64(header.operations)),
        ]).canonicalText
    }
}

extension Replica {
    /// Writes every operation logged after `since` as a bundle, streaming bytes to `write`.
    /// Operations of erased records (only their ids remain) are left out.
    @discardableResult
    ///
    /// `through`: the last log sequence to include (nil: the log's end), so a log larger than a
    /// bundle may hold (`bundleBytesMax`, which import refuses beyond) travels in pieces.
    public func exportBundle(since: Int64 = 0, through: Int64? = nil, to write: ([UInt8]) throws -> Void) throws -> OperationBundle.Header {
        // One snapshot for the count and the operations: another process may merge (or erase)
        // while the bundle is written, and the header must count what the body holds.
        try Replica.wrapStorage { try database.readTransaction {
            guard since >= 0 else { throw ChorusError(.malformedInput, "--since must be a sequence number of 0 or more") }
            try checkNotCompacted(after: since, exporting: true)
            // A cursor past the log's end is another replica's, or this one's before it was
            // restored from a backup: carried on as the next --since, it would skip every operation
            // logged up to it.
            let latest = try latestLoggedSequence()
            guard since <= latest else {
                throw ChorusError(.invalidState, "--since \(since) is past the end of this replica's log (sequence \(latest))",
                                  hint: "the cursor is another replica's, or from before this one was restored: export with --since \(latest) for nothing new, or without --since for everything")
            }
            // What this read sees may include batches another connection committed without a
            // sync (a large import's, all but its last): synced before `until` is handed out, so
            // a power cut cannot take back what the bundle says it holds, and renumber it
            // (a read-only audit).
            try database.syncLog()
            if let through {
                guard through >= since, through <= latest else {
                    throw ChorusError(.invalidState, "--until \(through) is outside this export: from --since \(since) to the log's end, \(latest)",
                                      hint: "give an --until from \(since) to \(latest), or leave it out for the log's end")
                }
            }
            let until = through ?? latest
            // Those after `since` less those after `until`: the blocks' counts, no bodies read.
            let count = try countLive(after: since, excludingSource: nil).count - (until < latest ? try countLive(after: until, excludingSource: nil).count : 0)
            let header = OperationBundle.Header(origin: id, originName: name, since: since, until: until, operations: Int(count))
            var hasher = SHA256()
            var buffer = Array((OperationBundle.headerLine(header) + "\n").utf8)
            var written = 0
            func flush() throws {
                hasher.update(buffer)
                try write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            try forEachLogged(after: since) { logged in
                guard logged.sequence <= until else { return false }
                guard let payload = logged.entry.payload else { return true }
                buffer.append(contentsOf: payload)
                buffer.append(UInt8(ascii: "\n"))
                written += 1
                if buffer.count >= 256 * 1024 { try flush() }
                return true
            }
            // One read transaction: only a damaged log (its blocks' counts against their bodies,
            // which `chorus check` reports) makes them disagree.
            guard written == count else {
                throw ChorusError(.storage, "the log's blocks count \(count) operations after sequence \(since) and hold \(written): the database is damaged; the bundle is not whole",
                                  hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
            }
            try flush()
            let trailer = JSONValue.object(["sha256": .string(hasher.finalize().hexString)]).canonicalText + "\n"
            try write(Array(trailer.utf8))
            return header
        } }
    }

    /// The `meta` keys of what bundles did here: the log sequence through which every operation
    /// has left in a bundle (`recordExport`), and that a bundle was ever imported.
    static let exportedThroughKey = "exported_through", bundleImportedKey = "bundle_imported"

    /// Records that the bundle `header` describes is written whole (renamed into place, its
    /// folder synced): the log through its `until` has left in bundles when it starts no later
    /// than the last one recorded ended, or than the compaction point (a log compacted before
    /// this was recorded, or a replica started from a snapshot, whose earlier operations came
    /// from elsewhere). What compaction keeps on a replica that exchanges bundles only.
    public func recordExport(_ header: OperationBundle.Header) throws {
        try Replica.wrapStorage {
            let reached = max(try exportedThrough(), try compactedThrough())
            guard header.since <= reached, header.until > reached else { return }
            try database.run("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), ?2)",
                             Replica.exportedThroughKey, header.until)
        }
    }

    /// The log sequence through which every operation has left in a bundle (0: none recorded).
    public func exportedThrough() throws -> Int64 {
        try Replica.wrapStorage { try database.queryScalarInteger("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", Replica.exportedThroughKey) ?? 0 }
    }

    /// Whether this replica exchanges operations by bundles only: it exported or imported one,
    /// and no replica is registered here (a hub's or office's readers hold its log themselves).
    func exchangesBundlesOnly() throws -> Bool {
        try database.queryScalarInteger("""
            SELECT EXISTS (SELECT 1 FROM meta WHERE key IN (?1, ?2))
                AND NOT EXISTS (SELECT 1 FROM peers WHERE revoked = 0 AND role != 'admin')
            """, Replica.exportedThroughKey, Replica.bundleImportedKey) == 1
    }

    /// Verifies a whole bundle, then applies it (see `applyRemote`). A truncated, tampered or
    /// future-stamped bundle is refused with nothing applied. `progress` hears, after each
    /// committed batch, how many of the bundle's operations are merged; `beforeMerging` is given
    /// the header and operations once the whole bundle is verified, before anything of it is merged.
    @discardableResult
    public func importBundle(_ bytes: [UInt8], progress: ((_ merged: Int, _ total: Int) -> Void)? = nil,
                             beforeMerging: ((OperationBundle.Header, [Operation]) -> Void)? = nil) throws -> (OperationBundle.Header, ApplyReport) {
        let (header, operations) = try OperationBundle.read(bytes, limits: limits)
        beforeMerging?(header, operations)
        let report = try applyRemote(operations, source: nil, inLastBatch: nil, afterBatch: progress.map { progress in
            { merged in progress(merged, operations.count) }
        })
        // Marked once merged: from now on compaction keeps what has not left in a bundle.
        try Replica.wrapStorage {
            try database.run("INSERT INTO meta(key, value) VALUES (?, 1) ON CONFLICT(key) DO NOTHING", Replica.bundleImportedKey)
        }
        return (header, report)
    }
}
