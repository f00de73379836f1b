/// A value the merging thread is done with, handed to another thread to free: the box holds the
/// last reference, and only the thread that frees it touches it once it is handed over.
///
/// Why: freeing a chunk of prepared operations, each with its strings and arrays, was 3% of the
/// merging thread's instructions (callgrind, P1); the thread that prepared the chunk frees it
/// (`EncodingAhead`). Only what another thread allocated is freed so: memory the merging thread
/// allocated, freed elsewhere, makes the two threads take turns at its allocator's lock (a
/// batch's tables freed on another thread took a merge from 5,000 context switches to 26,000).
final class Retired<Value>: @unchecked Sendable {
    private var value: Value?

    init(_ value: Value) { self.value = value }

    /// Frees the value, on the calling thread.
    func free() { value = nil }
}
