import ChorusCore

/// The operations of one `log_blocks` row: consecutive log sequences, stored as one value.
///
/// Why blocks: a log row per operation was a B-tree insert per merged operation, a quarter of the
/// merge's instructions once the id index had gone (Docs/performance-notes.md, eighth round). A
/// batch now appends its operations to a block in memory and writes a row per
/// `LogBlock.operationsMax` operations. What is per operation (id, record row, payload) is in the
/// body; what a batch shares (where the operations came from, when they arrived) is a column.
///
/// Body encoding, operation after operation, the first at the row's `first_seq`:
/// - the origin replica id, 16 bytes;
/// - the counter, an unsigned LEB128 varint;
/// - the record's row id plus one (0: none, an erased record or an erase), a varint;
/// - the canonical JSON payload's length plus one (0: none, erased), a varint, then its bytes.
///
/// Pure: no storage. A body that does not decode is refused with a storage error naming the block,
/// never read past. Whatever needs that block then stops with the error (a pull that reaches it,
/// an erasure, which rewrites every block holding the record's operations) until the replica is
/// restored from a backup or joined again; `chorus check` names the block.
public enum LogBlock {
    /// Operations one block holds at most: a pull page (1,000 operations) reads a few blocks, and
    /// an erasure rewrites at most this many payloads' block at once.
    public static let operationsMax = 256
    /// Body size past which a block is closed even with fewer operations (large values).
    public static let bytesMax = 256 * 1024

    /// One operation as its block holds it; the buffers point into the block's body.
    public struct Entry {
        public let replica: UnsafeRawBufferPointer
        public let counter: UInt64
        public let rid: Int64?
        public let payload: UnsafeRawBufferPointer?

        public var replicaID: ReplicaID { ReplicaID(bytes: Array(replica))! }
        public var payloadText: String? { payload.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Builds a block's body.
    public struct Encoder {
        public private(set) var bytes: [UInt8] = []
        /// Operations appended.
        public private(set) var count = 0
        /// Operations appended with a payload.
        public private(set) var live = 0

        public init() {}

        public var isFull: Bool { count >= LogBlock.operationsMax || bytes.count >= LogBlock.bytesMax }

        public mutating func append(replica: [UInt8], counter: UInt64, rid: Int64?, payload: [UInt8]?) {
            guard let payload else { return append(replica: replica, counter: counter, rid: rid, payloadBytes: nil) }
            payload.withUnsafeBytes { append(replica: replica, counter: counter, rid: rid, payloadBytes: $0) }
        }

        /// `append(replica:counter:rid:payload:)` of a payload read in place (the merge's are in
        /// blocks shared by many operations, `PayloadWriter`).
        public mutating func append(replica: [UInt8], counter: UInt64, rid: Int64?, payloadBytes payload: UnsafeRawBufferPointer?) {
            precondition(replica.count == 16, "a replica id is 16 bytes")
            // The id and the three numbers written on the stack, then appended at once: appended
            // byte by byte, each checked the array's capacity and uniqueness again (1.4% of a
            // merged operation's instructions on the merging thread; callgrind, P1).
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: LogBlock.entryHeadBytesMax) { head in
                let start = head.baseAddress!
                replica.withUnsafeBufferPointer { start.update(from: $0.baseAddress!, count: 16) }
                var length = 16
                length += LogBlock.writeVarint(counter, at: start + length)
                length += LogBlock.writeVarint(rid.map { UInt64($0) + 1 } ?? 0, at: start + length)
                length += LogBlock.writeVarint(payload.map { UInt64($0.count) + 1 } ?? 0, at: start + length)
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: head[..<length]))
            }
            if let payload {
                bytes.append(contentsOf: payload)
                live += 1
            }
            count += 1
        }

        /// Empties the block, keeping its buffer for the next.
        public mutating func removeAll() {
            bytes.removeAll(keepingCapacity: true)
            count = 0
            live = 0
        }

        /// Appends an entry read from another block, with its payload and record kept or dropped.
        public mutating func append(_ entry: Entry, keepingValue: Bool) {
            append(replica: Array(entry.replica), counter: entry.counter, rid: keepingValue ? entry.rid : nil,
                   payload: keepingValue ? entry.payload.map(Array.init) : nil)
        }
    }

    /// How many operations the body holds, and how many of them have a payload (a row's `live`):
    /// what a block's columns must agree with (`checkCount`, `chorus check`, a received snapshot).
    public static func counts(in body: UnsafeRawBufferPointer, block: Int64) throws -> (operations: Int, live: Int) {
        var live = 0
        let operations = try forEach(in: body, block: block) { _, entry in
            if entry.payload != nil { live += 1 }
            return true
        }
        return (operations ?? 0, live)
    }

    /// Visits the body's operations in order, with their index from 0, until `visit` returns false.
    /// Returns how many operations the body holds when it was read to the end (nil when stopped).
    @discardableResult
    public static func forEach(in body: UnsafeRawBufferPointer, block: Int64,
                               _ visit: (Int, Entry) throws -> Bool) throws -> Int? {
        var offset = 0, index = 0
        func corrupt(_ what: String) -> ChorusError {
            ChorusError(.storage, "log block ending at sequence \(block) is damaged: \(what) at byte \(offset)",
                        hint: "run `chorus check`; restore the replica from a backup or join it again from its upstream")
        }
        func varint() throws -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard offset < body.count else { throw corrupt("a number runs past the end") }
                let byte = body[offset]
                offset += 1
                guard shift < 64, shift < 63 || byte <= 1 else { throw corrupt("a number is over 64 bits") }
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
        }
        while offset < body.count {
            guard body.count - offset >= 16 else { throw corrupt("a replica id runs past the end") }
            let replica = UnsafeRawBufferPointer(rebasing: body[offset..<offset + 16])
            offset += 16
            let counter = try varint()
            let ridPlusOne = try varint()
            guard ridPlusOne <= UInt64(Int64.max) else { throw corrupt("a record row id is out of range") }
            let lengthPlusOne = try varint()
            var payload: UnsafeRawBufferPointer?
            if lengthPlusOne > 0 {
                guard lengthPlusOne - 1 <= UInt64(body.count - offset) else { throw corrupt("a payload runs past the end") }
                let length = Int(lengthPlusOne - 1)
                payload = UnsafeRawBufferPointer(rebasing: body[offset..<offset + length])
                offset += length
            }
            let entry = Entry(replica: replica, counter: counter, rid: ridPlusOne == 0 ? nil : Int64(ridPlusOne - 1), payload: payload)
            guard try visit(index, entry) else { return nil }
            index += 1
        }
        return index
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        if value < 0x80 {
            bytes.append(UInt8(value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: varintBytesMax) { scratch in
            let length = writeVarint(value, at: scratch.baseAddress!)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<length]))
        }
    }

    /// Bytes of a 64-bit varint, at most.
    static let varintBytesMax = 10
    /// Bytes of an entry's head, at most: the 16-byte id and three varints.
    static let entryHeadBytesMax = 16 + 3 * varintBytesMax

    /// Writes `value` as a varint at `start`, which has room for `varintBytesMax` bytes; how many it wrote.
    static func writeVarint(_ value: UInt64, at start: UnsafeMutablePointer<UInt8>) -> Int {
        var value = value, length = 0
        while value >= 0x80 {
            start[length] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            length += 1
        }
        start[length] = UInt8(value)
        return length + 1
    }
}
