import Foundation
import SQLiteKit

/// The folded bodies of the records a batch held and changed, encoded by a thread of their own
/// (`OnThread`) while the merging thread writes the batch's typed rows, and then by both.
///
/// Why: taking a held record's entries to write and encoding them into one body
/// (`FoldedEntries.encode`) is a pure function of the record the batch left in memory, and it was
/// 7% of the merging thread's instructions into an empty replica, more with concurrent edits
/// (callgrind, P1). Typed rows are written between the records' keys being materialised and
/// their bodies being inserted, and that is SQLite's work, which only the merging thread may do;
/// the machine's other core is mostly idle then (the checks and the encoding of operations ran
/// ahead of the merge).
///
/// Why shared: with concurrent edits the typed rows are few updates, and the thread, working on
/// records the merging thread allocated, was still encoding when they were written: the merging
/// thread waited 4 to 7 ms a batch of 10,000 operations. So both take runs of records, in order,
/// until none is left; the merging thread waits only for the run the thread is on.
///
/// What is written does not change: each record is encoded as `Replica.writeHeld` would, from a
/// copy that shares the record's storage. Records that go into rows are left to the merging
/// thread (nil), as is any whose typed row turns out missing (which changes which values its body
/// keeps; the caller checks).
final class BodiesAhead: @unchecked Sendable {
    /// From this many changed held records a batch's bodies are encoded on another thread too. A
    /// pulled page of 1,000 operations holds about 100 records, and the page after it is being
    /// fetched and decoded on the other core meanwhile: from 64 records, a replayed bootstrap was
    /// slower (P3 replaying the log, medians of three alternations 526 ms against 468 ms from 256).
    static let recordsMin = 256
    /// Records taken at a time by either thread.
    static let run = 16

    /// Let go of once both threads are done, so the caller's array is the only reference to its
    /// storage again and writing a record back itself copies nothing.
    private var records: [(rid: Int64, record: HeldRecord)]
    private let lock = NSLock()
    /// Guarded by `lock`: the first record not taken yet, each record's body, and the first
    /// failure in the records' order.
    private var next = 0
    private var bodies: [[UInt8]?]
    private var failure: (index: Int, error: any Error)?
    private var helper: OnThread<Void>!

    /// Starts encoding the bodies of `records`, or returns nil when they are too few to be worth a thread.
    init?(_ records: [(rid: Int64, record: HeldRecord)]) {
        guard records.count >= BodiesAhead.recordsMin else { return nil }
        self.records = records
        bodies = Array(repeating: nil, count: records.count)
        helper = OnThread("chorus-bodies") { [self] in encodeUntilDone() }
    }

    /// Encodes what is left with the thread, waits for it, and returns each record's body, in the
    /// order given, or nil for one the merging thread is to write itself (`Replica.writeHeld`).
    /// Throws what encoding a record threw, the first in that order. Call it once.
    func finish() throws -> [[UInt8]?] {
        encodeUntilDone()
        _ = try? helper.value()
        lock.lock()
        defer { lock.unlock() }
        records = []
        if let failure { throw failure.error }
        return bodies
    }

    /// Stops handing out records and waits for the thread, so it never outlives the batch (a
    /// batch that failed before `finish()` stops it so). Any number of calls.
    func stop() {
        lock.lock()
        next = records.count
        lock.unlock()
        _ = try? helper.value()
    }

    /// Takes runs of records and encodes them until none is left or one failed.
    private func encodeUntilDone() {
        while let run = take() {
            var encoded: [[UInt8]?] = []
            encoded.reserveCapacity(run.count)
            var failed: (index: Int, error: any Error)?
            for index in run {
                do {
                    var record = records[index].record
                    let isPastBound = record.isPastBound
                    encoded.append(HeldRecord.foldedBody(try record.takeEntriesToWrite(record: records[index].rid), isPastBound: isPastBound))
                } catch {
                    failed = (index, error)
                    break
                }
            }
            lock.lock()
            for (offset, body) in encoded.enumerated() { bodies[run.lowerBound + offset] = body }
            if let failed, failure.map({ failed.index < $0.index }) ?? true { failure = failed }
            lock.unlock()
        }
    }

    /// The next run of records to encode, or nil when none is left or a record failed.
    private func take() -> Range<Int>? {
        lock.lock()
        defer { lock.unlock() }
        guard next < records.count, failure == nil else { return nil }
        let run = next..<min(next + BodiesAhead.run, records.count)
        next = run.upperBound
        return run
    }
}
