import Dispatch
import Foundation

/// Frees a large batch's in-memory structures on another thread: the merging thread hands them
/// over instead of tearing them down itself.
///
/// Why: a batch's key changes, each with its array of live entries, and its held records, each
/// with its entries, are thousands of small arrays. Freeing them as materialising ended was 9.4
/// million instructions in a batch of 10,000 operations, 6% of the merging thread's (callgrind,
/// P1, thirty-first round in Docs/performance-notes.md), while the second core was busy about
/// half of the merge's time.
///
/// The value handed over must hold the last references to what it holds (`consume` it), or the
/// release here only lowers a count and the merging thread frees it after all. Values are freed
/// in the order they were handed over, one at a time.
enum ReleaseAside {
    /// Elements (key changes) from which a batch's structures are worth a hand-over: below it the
    /// hand-over (a queued block, a thread woken) costs about what the freeing would.
    static let elementsMin = 256

    private static let queue = DispatchQueue(label: "chorus.release-aside", qos: .utility)
    private static let counting = NSLock()
    nonisolated(unsafe) private static var handedOverCount = 0

    /// Hands `value` to the release thread, which drops it soon after.
    static func drop<Value>(_ value: consuming Value) {
        let box = Box(value)
        counting.withLock { handedOverCount += 1 }
        queue.async { box.empty() }
    }

    /// How many values were handed over in this process (tests: a large batch hands its
    /// structures over).
    static var handedOver: Int { counting.withLock { handedOverCount } }

    /// Returns once every value handed over before the call is freed.
    static func waitUntilFreed() { queue.sync {} }

    /// Holds the value until the release thread empties it: the closure's captures are released
    /// wherever Dispatch chooses, the box's value where `empty` runs.
    private final class Box<Value>: @unchecked Sendable {
        private var value: Value?
        init(_ value: consuming Value) { self.value = value }
        func empty() { value = nil }
    }
}
