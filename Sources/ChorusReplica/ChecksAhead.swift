import ChorusCore
import Foundation
import SQLiteKit

/// A long call's checks (clock drift, field kinds: `Replica.checkRemote`), run on two threads of
/// their own, a half each, while the call's operations merge on the replica's thread.
///
/// Why: before, the merging thread checked the first half itself before merging anything, which
/// was 3.6% of its instructions (callgrind, P1), on a machine whose other core was mostly idle.
///
/// What holds as when every operation was checked first:
/// - no operation is applied before it has passed: the merge asks `passed(_:)` before each, and
///   the checks run far ahead of it (a check costs a fourteenth of a merged operation). Encoding
///   ahead (`EncodingAhead`) does not wait for them: it is a pure function of any operation,
///   which stops the process on none (`OperationCodec` writes unsigned fields as unsigned);
/// - nothing commits before every operation of the call has passed: each batch asks `allPassed()`
///   before its commit, so a bad operation anywhere refuses the whole call, its transaction rolled
///   back;
/// - the error is the first failing operation's, in the call's order: each half stops at its first
///   failure, and the smaller index of the two is kept.
final class ChecksAhead: @unchecked Sendable {
    /// Operations a check thread checks between two reports of how far it got.
    static var stride: Int { 256 }

    private let condition = NSCondition()
    private let halves: [Range<Int>]
    /// Guarded by `condition`: how far each half passed (exclusive), whether it is done (passed
    /// whole, failed or cancelled), and the failure with the smallest index found.
    private var reached: [Int]
    private var done: [Bool]
    private var failure: (index: Int, error: ChorusError)?
    private var isCancelled = false
    private var threads: [OnThread<Void>] = []
    /// The merging thread's own: operations in it are known to have passed.
    private var knownPassed = 0..<0

    /// Starts checking `count` operations by `check`, which checks those at a range of indexes, in
    /// order, and returns the first failure's index and error, if any (for a replica's merge,
    /// `Replica.remoteCheck(_:)`).
    init(count: Int, check: @escaping @Sendable (Range<Int>) -> (index: Int, error: ChorusError)?) {
        let middle = count / 2
        halves = [0..<middle, middle..<count]
        reached = halves.map(\.lowerBound)
        done = halves.map(\.isEmpty)
        threads = halves.indices.map { half in OnThread("chorus-check") { [self] in self.check(half, check) } }
        // A half whose thread could not be made (the process out of threads) is checked here, on
        // the caller's thread, before anything merges: its progress is reported only by `check`,
        // and the merge waited for it for good (a `chorus import` of a large bundle hung).
        for (half, thread) in zip(halves.indices, threads) where !thread.started { self.check(half, check) }
    }

    /// Waits until the operation at `index` has passed. Throws, at the next wait, once any
    /// operation has failed, so the merge stops early (the call is refused whole anyway); the
    /// caller then reports `failureWhenDone()`, the first failing operation's error. Call it from
    /// one thread, before `finish()`.
    func passed(_ index: Int) throws(ChorusError) {
        if knownPassed.contains(index) { return }
        condition.lock()
        defer { condition.unlock() }
        precondition(!isCancelled, "ChecksAhead.passed after finish()")
        let half = halves.firstIndex { $0.contains(index) }!
        while true {
            if let failure { throw failure.error }
            if reached[half] > index {
                knownPassed = halves[half].lowerBound..<reached[half]
                return
            }
            condition.wait()
        }
    }

    /// Waits until every operation has been checked; throws the first failing operation's error.
    func allPassed() throws(ChorusError) {
        condition.lock()
        defer { condition.unlock() }
        // A cancelled half is done without having passed.
        precondition(!isCancelled, "ChecksAhead.allPassed after finish()")
        while !done.allSatisfy({ $0 }) { condition.wait() }
        if let failure { throw failure.error }
    }

    /// The first failing operation's error, once every operation has been checked, or nil: what
    /// a merge that failed otherwise reports instead, as checking first would have.
    func failureWhenDone() -> ChorusError? {
        do { try allPassed() } catch { return error }
        return nil
    }

    /// Stops the checks and waits for their threads, so none outlives the call.
    func finish() {
        condition.lock()
        isCancelled = true
        condition.unlock()
        for thread in threads { _ = try? thread.value() }
    }

    private func check(_ half: Int, _ checkRange: (Range<Int>) -> (index: Int, error: ChorusError)?) {
        var index = halves[half].lowerBound
        while index < halves[half].upperBound {
            let end = min(index + Self.stride, halves[half].upperBound)
            let failed = checkRange(index..<end)
            condition.lock()
            if let failed {
                if failure.map({ failed.index < $0.index }) ?? true { failure = failed }
                reached[half] = failed.index
            } else {
                reached[half] = end
            }
            // A failure before this half decides the call: the rest of it need not be checked.
            let stops = failed != nil || isCancelled || failure.map { $0.index < halves[half].lowerBound } ?? false
            if stops || end == halves[half].upperBound { done[half] = true }
            condition.broadcast()
            condition.unlock()
            if stops { return }
            index = end
        }
    }
}
