/// Operations' canonical bytes (their log payloads) written one after another into blocks of
/// memory shared by many operations, each operation's a `Payload` into its block.
///
/// Why: an array for each operation's bytes was an allocation and a free an operation, about
/// 1,000 instructions of the 3,000 that encoding one took on the threads that encode ahead of a
/// long merge (callgrind, P1, thirty-seventh round). A block holds about 300 of P1's operations.
///
/// A block's memory never moves: a payload is written whole into one block (a new block is
/// started when the rest of the current one is shorter than the operation's bound), so it can be
/// handed out as soon as it is written. A block is freed with the last payload that refers to it.
/// One allocation each: the bytes follow the header (`ManagedBuffer`).
final class PayloadBlock: ManagedBuffer<PayloadBlock.Header, UInt8> {
    /// Bytes a block holds when many payloads share it, unless one payload's bound is larger.
    static let bytes = 64 * 1024

    /// Bytes written, and bytes the block has room for.
    struct Header {
        var used: Int
        let capacity: Int
    }

    fileprivate static func make(capacity: Int) -> PayloadBlock {
        unsafeDowncast(create(minimumCapacity: capacity) { _ in Header(used: 0, capacity: capacity) }, to: PayloadBlock.self)
    }
}

/// One operation's canonical bytes, in a block shared with others.
///
/// Sendable, unchecked (a `ManagedBuffer` is not): a payload's bytes are written before the
/// payload exists and never after, and the block's header (`used`) is changed only by the
/// `PayloadWriter` that made the block, on its thread, and read by no payload.
struct Payload: @unchecked Sendable {
    /// Internal for tests, which check which payloads share a block and when it is freed.
    let block: PayloadBlock
    private let start: Int
    let count: Int

    fileprivate init(block: PayloadBlock, start: Int, count: Int) {
        (self.block, self.start, self.count) = (block, start, count)
    }

    /// `body` of the bytes, valid only during the call.
    func withUnsafeBufferPointer<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try block.withUnsafeMutablePointerToElements { try body(UnsafeBufferPointer(start: $0 + start, count: count)) }
    }

    /// The bytes as an array.
    var bytes: [UInt8] { withUnsafeBufferPointer { Array($0) } }
}

/// Writes payloads into blocks, starting a block when the current one has not room for the next
/// payload's bound. Used by one thread at a time; the payloads it returns may go to any thread.
struct PayloadWriter {
    private let blockBytes: Int
    private var block: PayloadBlock?

    /// `blockBytes` is the room of each block started, unless a payload's bound is larger: 0 for
    /// a payload of its own (one operation encoded as it merges).
    init(blockBytes: Int = PayloadBlock.bytes) { self.blockBytes = blockBytes }

    /// Writes a payload of at most `bound` bytes through `write`, which returns how many it wrote.
    /// A payload whose bound is larger than `blockBytes` gets a block of its own and leaves the
    /// current block current: the room left in it goes to the payloads after.
    mutating func write(bound: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) -> Payload {
        let block: PayloadBlock
        if let current = self.block, current.header.capacity - current.header.used >= bound {
            block = current
        } else if bound > blockBytes {
            block = PayloadBlock.make(capacity: bound)
        } else {
            block = PayloadBlock.make(capacity: blockBytes)
            self.block = block
        }
        let start = block.header.used
        let count = block.withUnsafeMutablePointerToElements { write($0 + start) }
        precondition(count <= bound, "a payload outgrew its bound")
        block.header.used += count
        return Payload(block: block, start: start, count: count)
    }
}
