/// The counters of one origin replica whose operations the log holds, as sorted, disjoint,
/// non-adjacent closed intervals.
///
/// Why intervals: a replica numbers its operations 1, 2, 3, ... and they travel in that order
/// almost always (a pull page and a push follow the sender's log, which holds each origin's
/// operations in counter order), so an origin's ids are one interval, with a few more while
/// operations are in flight out of order. Keeping them as intervals (table `log_ids`) instead of a
/// unique index on the log's ids spares every merged operation a B-tree write (an index entry of
/// about 35 bytes), and a batch rewrites only the intervals it changed.
///
/// Pure: no storage. `Replica` loads an origin's intervals once per batch, checks and inserts in
/// memory, and writes back what changed.
public struct CounterRanges: Equatable, Sendable {
    /// (first, last), both inclusive, sorted by `first`; never overlapping or touching.
    public private(set) var intervals: [(first: UInt64, last: UInt64)]

    public init() { intervals = [] }

    /// From stored rows; they must be sorted by `first`. Overlapping or touching rows (which no
    /// replica writes, but a hand-edited file could hold) are joined, so the invariant holds.
    public init(sortedRows rows: [(first: UInt64, last: UInt64)]) {
        intervals = []
        intervals.reserveCapacity(rows.count)
        for row in rows where row.first <= row.last {
            if let previous = intervals.last, previous.last == .max || row.first <= previous.last + 1 {
                intervals[intervals.count - 1].last = max(previous.last, row.last)
            } else {
                intervals.append(row)
            }
        }
    }

    public static func == (a: CounterRanges, b: CounterRanges) -> Bool {
        a.intervals.count == b.intervals.count && zip(a.intervals, b.intervals).allSatisfy { $0.first == $1.first && $0.last == $1.last }
    }

    /// How many counters the intervals hold.
    public var count: UInt64 { intervals.reduce(0) { $0 + ($1.last - $1.first + 1) } }

    public func contains(_ counter: UInt64) -> Bool {
        let index = lastIndex(startingAtOrBefore: counter)
        return index >= 0 && counter <= intervals[index].last
    }

    /// The first counter `other` holds that is not held here and that `isExcused` does not
    /// excuse; nil when there is none. Walks the gaps only: a counter held here is never asked
    /// about, and the walk stops at the first counter not excused.
    public func firstMissing(of other: CounterRanges, unless isExcused: (UInt64) -> Bool = { _ in false }) -> UInt64? {
        for interval in other.intervals {
            var counter = interval.first
            while true {
                let index = lastIndex(startingAtOrBefore: counter)
                if index >= 0 && counter <= intervals[index].last {
                    // Held through the end of this interval of ours: go on after it.
                    guard intervals[index].last < interval.last else { break }
                    counter = intervals[index].last + 1
                    continue
                }
                if !isExcused(counter) { return counter }
                guard counter < interval.last else { break }
                counter += 1
            }
        }
        return nil
    }

    /// The counters from `lowest` on held both here and in `other`: how many, and the lowest of
    /// them; nil when none. One walk of both sorted lists.
    public func overlap(with other: CounterRanges, from lowest: UInt64 = 0) -> (count: UInt64, first: UInt64)? {
        var count: UInt64 = 0, first: UInt64?
        var mine = 0, theirs = 0
        while mine < intervals.count && theirs < other.intervals.count {
            let a = intervals[mine], b = other.intervals[theirs]
            let low = max(a.first, b.first, lowest), high = min(a.last, b.last)
            if low <= high {
                count += high - low + 1
                first = first ?? low
            }
            if a.last < b.last { mine += 1 } else { theirs += 1 }
        }
        return first.map { (count, $0) }
    }

    /// Adds `counter`; false when it was already held (a duplicate).
    public mutating func insert(_ counter: UInt64) -> Bool {
        // The common case first: the next counter after everything held.
        if let last = intervals.last, counter > last.last {
            if counter == last.last &+ 1 {
                intervals[intervals.count - 1].last = counter
            } else {
                intervals.append((counter, counter))
            }
            return true
        }
        let index = lastIndex(startingAtOrBefore: counter)
        if index >= 0 && counter <= intervals[index].last { return false }
        let joinsBefore = index >= 0 && intervals[index].last &+ 1 == counter
        let joinsAfter = index + 1 < intervals.count && counter &+ 1 == intervals[index + 1].first
        switch (joinsBefore, joinsAfter) {
        case (true, true):
            intervals[index].last = intervals[index + 1].last
            intervals.remove(at: index + 1)
        case (true, false):
            intervals[index].last = counter
        case (false, true):
            intervals[index + 1].first = counter
        case (false, false):
            intervals.insert((counter, counter), at: index + 1)
        }
        return true
    }

    /// What must change in stored rows (one per interval, keyed by `first`) holding `stored` to
    /// make them hold these intervals: the rows to delete, by `first`, and the rows to write, new
    /// or with a new `last`. One walk of both sorted lists.
    public func difference(from stored: CounterRanges) -> (removed: [UInt64], written: [(first: UInt64, last: UInt64, isNew: Bool)]) {
        var removed: [UInt64] = [], written: [(first: UInt64, last: UInt64, isNew: Bool)] = []
        var old = 0, new = 0
        while old < stored.intervals.count || new < intervals.count {
            if new == intervals.count || (old < stored.intervals.count && stored.intervals[old].first < intervals[new].first) {
                removed.append(stored.intervals[old].first)
                old += 1
            } else if old == stored.intervals.count || intervals[new].first < stored.intervals[old].first {
                written.append((intervals[new].first, intervals[new].last, true))
                new += 1
            } else {
                if stored.intervals[old].last != intervals[new].last { written.append((intervals[new].first, intervals[new].last, false)) }
                old += 1
                new += 1
            }
        }
        return (removed, written)
    }

    /// The index of the last interval whose `first` is at most `counter`; -1 if none.
    private func lastIndex(startingAtOrBefore counter: UInt64) -> Int {
        var low = 0, high = intervals.count
        while low < high {
            let middle = (low + high) / 2
            if intervals[middle].first <= counter { low = middle + 1 } else { high = middle }
        }
        return low - 1
    }
}
