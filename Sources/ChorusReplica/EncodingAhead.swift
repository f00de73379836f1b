import ChorusCore
import SQLiteKit

/// A long merge's operations encoded a chunk ahead of it, on a thread of their own (`OnThread`).
///
/// Why: encoding an operation (its canonical bytes for the log, its value's canonical text for
/// its entry) is a pure function of the operation, and it was a ninth of a merged operation's
/// instructions (callgrind, P1 in `Docs/performance.md`). Pulls and pushes prepare their
/// operations where they decode them (`PreparedOperation`); operations handed over in memory (a
/// bundle being imported, a simulator's message) were encoded on the merging thread, which is the
/// one thread a replica's writes can use (SQLite has one writer). Here the chunk after the one
/// merging is encoded meanwhile on another core, so the merging thread encodes only the first
/// chunk, and none when the operations came prepared.
///
/// What is merged does not change: each operation gets the same encodings, only elsewhere.
struct EncodingAhead<Input: MergeInput> {
    /// Operations encoded by one thread. A thread costs tens of microseconds to start; a chunk
    /// takes milliseconds to merge.
    static var chunk: Int { 1_024 }

    private let inputs: [Input]
    private let isOn: Bool
    /// The chunk being merged, prepared, from `currentStart` (none yet: the first one is encoded
    /// as it merges).
    private var current: [PreparedOperation] = []
    private var currentStart = Self.chunk
    /// The chunk after it, being prepared.
    private var next: OnThread<[PreparedOperation]>?

    init(_ inputs: [Input]) {
        self.inputs = inputs
        isOn = Input.isEncodedWhenMerged && inputs.count > Self.chunk
        if isOn { next = start(at: Self.chunk) }
    }

    /// Merges the operation at `index` through `merge`: prepared ahead, or as it came when it is
    /// to be encoded as it merges (the first chunk, and operations that came prepared). Ask for
    /// indexes in rising order, each once. The prepared operation is lent, not copied.
    mutating func merge(at index: Int, _ merge: (borrowing PreparedOperation) throws -> Void, asItCame: (Input) throws -> Void) throws {
        guard isOn, index >= Self.chunk else { return try asItCame(inputs[index]) }
        if index == currentStart + current.count {
            let merged = Retired(current)
            current = try next!.value()
            currentStart = index
            let following = index + current.count
            next = following < inputs.count ? start(at: following, freeing: merged) : nil
        }
        precondition(index >= currentStart && index < currentStart + current.count, "EncodingAhead asked for operations out of order")
        try merge(current[index - currentStart])
    }

    /// Waits for the chunk being prepared, if any, so no thread outlives the merge that started it
    /// (a merge that failed leaves one preparing).
    func finish() {
        _ = try? next?.value()
    }

    /// Prepares the chunk from `first`, then frees `merged`, the chunk merged last, on that thread
    /// too: freeing a chunk's operations, each with its strings and arrays, was 3% of the merging
    /// thread's instructions (callgrind, P1).
    private func start(at first: Int, freeing merged: Retired<[PreparedOperation]>? = nil) -> OnThread<[PreparedOperation]> {
        let inputs = self.inputs, end = min(first + Self.chunk, inputs.count)
        return OnThread("chorus-encode") {
            defer { merged?.free() }
            return PreparedOperation.prepare(inputs[first..<end].lazy.map { $0.operation })
        }
    }
}
