import Dispatch

/// A value the merging thread is done with, handed to another thread to free: the box holds the
/// last reference, and only the thread that frees it touches it once it is handed over.
///
/// Why: freeing what a long merge built (a chunk of prepared operations, each with its strings
/// and arrays; a batch's tables of records, keys and entries) is work for the allocator and the
/// reference counts, and it was 3% of the merging thread's instructions for each of the two
/// (callgrind, P1). The merging thread is the one thread a replica's writes can use (SQLite has
/// one writer); the machine has other cores.
final class Retired<Value>: @unchecked Sendable {
    private var value: Value?

    init(_ value: Value) { self.value = value }

    /// Frees the value, on the calling thread.
    func free() { value = nil }

    /// Frees the value on a thread of Dispatch's pool, not waited for: nothing waits on freeing.
    func freeAside() {
        DispatchQueue.global(qos: .utility).async { self.free() }
    }
}
