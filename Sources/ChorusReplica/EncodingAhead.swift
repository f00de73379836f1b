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

    /// Chunks prepared ahead of the one merging, at most. With one, the next chunk's thread started
    /// only when the merge reached the chunk before it, and the merging thread waited for them
    /// 6 to 20 ms (median 8) in a merge of 100,000 operations, whenever the second core was busy
    /// with the checks or the bodies; with three ahead, 0 to 7 ms (median 2.5). Timed, P1,
    /// thirty-first round. Memory: three chunks of encodings.
    static var chunksAhead: Int { 3 }

    private let inputs: [Input]
    private let isOn: Bool
    /// The chunk being merged, prepared, from `currentStart` (none yet: the first one is encoded
    /// as it merges).
    private var current: [PreparedOperation] = []
    private var currentStart = Self.chunk
    /// The chunks after it being prepared, in order, each on a thread that waits for the one
    /// before to end first: one chunk is encoded at a time, however many are ahead.
    private var preparing: [OnThread<[PreparedOperation]>] = []
    /// Where the chunk to start next begins.
    private var unstarted = Self.chunk
    /// Threads freeing the chunks merged once every chunk was started.
    private var freeing: [OnThread<Void>] = []

    init(_ inputs: [Input]) {
        self.inputs = inputs
        isOn = Input.isEncodedWhenMerged && inputs.count > Self.chunk
        if isOn { startAhead(freeing: nil) }
    }

    /// Merges the operation at `index` through `merge`: prepared ahead, or as it came when it is
    /// to be encoded as it merges (the first chunk, and operations that came prepared). Ask for
    /// indexes in rising order, each once. The prepared operation is lent, not copied.
    mutating func merge(at index: Int, _ merge: (borrowing PreparedOperation) throws -> Void, asItCame: (Input) throws -> Void) throws {
        guard isOn, index >= Self.chunk else { return try asItCame(inputs[index]) }
        if index == currentStart + current.count {
            let merged = Retired(current)
            current = try preparing.removeFirst().value()
            currentStart = index
            startAhead(freeing: merged)
        }
        precondition(index >= currentStart && index < currentStart + current.count, "EncodingAhead asked for operations out of order")
        try current.withUnsafeBufferPointer { try merge($0[index - currentStart]) }
    }

    /// Waits for the chunks being prepared, if any, so no thread outlives the merge that started
    /// them (a merge that failed leaves some preparing).
    func finish() {
        for chunk in preparing { _ = try? chunk.value() }
        for thread in freeing { _ = try? thread.value() }
    }

    /// Starts chunks until `chunksAhead` are being prepared or none is left; the first started
    /// frees `merged`, the chunk merged last. When none is left to start, a thread of its own
    /// frees it: the last `chunksAhead` chunks freed on the merging thread were 190 instructions
    /// a merged operation in a call of 10,000 (callgrind, P1).
    private mutating func startAhead(freeing merged: Retired<[PreparedOperation]>?) {
        var merged = merged
        while preparing.count < Self.chunksAhead && unstarted < inputs.count {
            preparing.append(start(at: unstarted, after: preparing.last, freeing: merged))
            merged = nil
            unstarted = min(unstarted + Self.chunk, inputs.count)
        }
        if let merged { freeing.append(OnThread("chorus-free") { merged.free() }) }
    }

    /// Prepares the chunk from `first` once `previous` (the chunk before it) is prepared, then
    /// frees `merged` on that thread too: freeing a chunk's operations, each with its strings and
    /// arrays, was 3% of the merging thread's instructions (callgrind, P1).
    private func start(at first: Int, after previous: OnThread<[PreparedOperation]>?,
                       freeing merged: Retired<[PreparedOperation]>?) -> OnThread<[PreparedOperation]> {
        let inputs = self.inputs, end = min(first + Self.chunk, inputs.count)
        return OnThread("chorus-encode") {
            defer { merged?.free() }
            _ = try? previous?.value()
            return PreparedOperation.prepare(inputs, first..<end)
        }
    }
}
