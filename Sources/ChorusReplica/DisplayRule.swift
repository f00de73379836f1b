import ChorusCore
import SQLiteKit

/// Which live entry of a register or map key displays. Storage keeps no flag for it (migration
/// `0007`): the rule is a pure function of the key's live entries, so every reader (materialising,
/// the digest, reads, the conflict list) derives it the same way, and a conflicting merge writes
/// nothing to say which sibling won.
extension Replica {
    /// The display rule's sort key for an entry: (wall, logical, replica bytes, counter).
    struct DisplayKey: Comparable {
        let wall: Int64, logical: Int64, replica: [UInt8], counter: Int64
        static func < (a: DisplayKey, b: DisplayKey) -> Bool {
            if a.wall != b.wall { return a.wall < b.wall }
            if a.logical != b.logical { return a.logical < b.logical }
            if a.replica != b.replica { return a.replica.lexicographicallyPrecedes(b.replica) }
            return a.counter < b.counter
        }
    }

    /// The sort key of an entries row whose first columns are (replica, counter, wall, logical).
    static func displayOrder(_ row: Row) -> DisplayKey {
        DisplayKey(wall: row.integer(2) ?? 0, logical: row.integer(3) ?? 0, replica: row.blob(0) ?? [], counter: row.integer(1) ?? 0)
    }

    /// `displayOrder` for a row read in place.
    static func displayOrder(_ row: ColumnReader) -> DisplayKey {
        DisplayKey(wall: row.integer(2), logical: row.integer(3), replica: row.blob(0) ?? [], counter: row.integer(1))
    }

    /// An entries row's stored kind, compared in place (no String made per row). The five names
    /// differ in length or first byte, so those pick the one candidate and a single comparison
    /// confirms it (trying each of `allCases` in turn built the array and compared up to five
    /// times per row: 360 instructions; callgrind, the merge's whole-record read).
    static func storedKind(_ row: ColumnReader, column: Int) -> FieldKind? {
        row.withBlob(column) { bytes in
            let candidate: FieldKind
            switch (bytes.count, bytes.first) {
            case (8, UInt8(ascii: "r")?): candidate = .register
            case (3, UInt8(ascii: "s")?): candidate = .set
            case (3, UInt8(ascii: "m")?): candidate = .map
            case (7, UInt8(ascii: "c")?): candidate = .counter
            case (3, UInt8(ascii: "l")?): candidate = .log
            default: return nil
            }
            return bytes.elementsEqual(candidate.rawValue.utf8) ? candidate : nil
        }
    }

    /// Picks the displayed entry of one key as its entries go by, in any order.
    ///
    /// The rule: the greatest `DisplayKey` displays. Under the test-only fault
    /// `MergeFaults.displayLatestArrival`, the latest arrival (greatest log `seq`) displays instead,
    /// a deliberately order-dependent rule that the simulation must catch.
    struct DisplayChoice<Candidate> {
        let latestArrival: Bool
        private(set) var winner: (order: DisplayKey, seq: Int64, candidate: Candidate)?

        init(latestArrival: Bool) { self.latestArrival = latestArrival }

        mutating func offer(_ order: DisplayKey, seq: Int64, _ candidate: Candidate) {
            // Compared where it lies: bound to a name, the winner was copied at every offer.
            if winner == nil || (latestArrival ? seq > winner!.seq : order > winner!.order) { winner = (order, seq, candidate) }
        }

        var chosen: Candidate? { winner?.candidate }
    }

    /// A new chooser for this replica (honouring its test faults).
    func displayChoice<Candidate>(of _: Candidate.Type = Candidate.self) -> DisplayChoice<Candidate> {
        DisplayChoice(latestArrival: configuration.faults.displayLatestArrival)
    }
}
