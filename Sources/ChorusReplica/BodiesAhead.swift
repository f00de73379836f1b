import SQLiteKit

/// The folded bodies of the records a batch held and changed, encoded on a thread of their own
/// (`OnThread`) while the merging thread writes the batch's typed rows.
///
/// Why: taking a held record's entries to write and encoding them into one body
/// (`FoldedEntries.encode`) is a pure function of the record the batch left in memory, and it was
/// 7% of the merging thread's instructions (callgrind, P1 into an empty replica). Typed rows are
/// written between the records' keys being materialised and their bodies being inserted, and
/// that is SQLite's work, which only the merging thread may do; the machine's other core is
/// mostly idle then (the checks and the encoding of operations ran ahead of the merge).
///
/// What is written does not change: the thread encodes each record as `Replica.writeHeld` would,
/// from a copy that shares the record's storage, and leaves to the merging thread every record
/// that goes into rows, and any whose typed row turns out missing (which changes which values
/// its body keeps).
struct BodiesAhead {
    /// From this many changed held records a batch's bodies are encoded on another thread: a
    /// thread costs tens of microseconds to start, a body a few.
    static let recordsMin = 64

    private let work: OnThread<[[UInt8]?]>

    /// Starts encoding the bodies of `records`, or returns nil when they are too few to be worth a thread.
    init?(_ records: [(rid: Int64, record: HeldRecord)]) {
        guard records.count >= BodiesAhead.recordsMin else { return nil }
        work = OnThread("chorus-bodies") {
            try records.map { held in
                var record = held.record
                let isPastBound = record.isPastBound
                return HeldRecord.foldedBody(try record.takeEntriesToWrite(record: held.rid), isPastBound: isPastBound)
            }
        }
    }

    /// Each record's body, in the order given, or nil for one the merging thread is to write
    /// itself (`Replica.writeHeld`); throws what encoding a record threw, the first in that order.
    func bodies() throws -> [[UInt8]?] {
        try work.value()
    }
}
