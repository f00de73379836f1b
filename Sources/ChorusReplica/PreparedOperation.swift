import ChorusCore

/// A remote operation with what merging it computes from the operation alone: its canonical bytes
/// (the log's payload) and its value's canonical text (its entry's value).
///
/// Why apart: a replica merges on one thread (SQLite has one writer), and encoding was about a sixth
/// of a merged operation's instructions (callgrind, P3 in `Docs/performance-notes.md`). Prepared
/// where the operation was decoded, on a pull's fetching thread or a push's connection thread, that
/// work overlaps the merge of the page before instead of adding to it. It is a pure function of the
/// operation, so where it runs changes nothing of what is merged.
public struct PreparedOperation: Sendable {
    public var operation: Operation { parts.operation }
    /// `OperationCodec.canonicalBytes(operation)`.
    var payload: [UInt8] { parts.payload }
    /// The canonical text of the action's value, nil for actions without one.
    var valueText: String? { parts.valueText }
    /// The record's hash (`Operation.recordHash`), which the merge needs for each record it creates,
    /// computed for the first of each run of operations of one record; nil for the others and
    /// for erasures. Computed whether or not the record exists (which only the merge knows): for
    /// an existing one it is work thrown away, on the preparing thread, not the merging one.
    var recordHash: [UInt8]? { parts.recordHash }

    /// The parts, behind one reference. Held inline, the operation with its encodings was copied
    /// whole into each merge (an element read out of an array, then passed to `Replica.apply`),
    /// each of its ten strings and arrays retained, and released after it: 3% of the merging
    /// thread's instructions (callgrind, P1, thirty-first round). Behind one reference a copy is
    /// one count.
    private let parts: Parts

    private final class Parts: Sendable {
        let operation: Operation
        let payload: [UInt8]
        let valueText: String?
        let recordHash: [UInt8]?

        init(operation: Operation, payload: [UInt8], valueText: String?, recordHash: [UInt8]?) {
            (self.operation, self.payload, self.valueText, self.recordHash) = (operation, payload, valueText, recordHash)
        }
    }

    init(_ operation: Operation, hashingRecord: Bool) {
        let (payload, valueText) = operation.encodings()
        let recordHash: [UInt8]?
        switch operation.action {
        case .erase: recordHash = nil
        default: recordHash = hashingRecord ? Operation.recordHash(collection: operation.collection, record: operation.record) : nil
        }
        parts = Parts(operation: operation, payload: payload, valueText: valueText, recordHash: recordHash)
    }

    /// Each operation prepared, in order.
    public static func prepare<Operations: Collection<Operation>>(_ operations: Operations) -> [PreparedOperation] {
        // The run's record, its names only (compared by bytes, as the merge compares them):
        // keeping the whole operation copied each one's parts.
        var previous: BatchState.RecordName?
        return operations.map { operation in
            let name = BatchState.RecordName(collection: operation.collection, record: operation.record)
            defer { previous = name }
            return PreparedOperation(operation, hashingRecord: name != previous)
        }
    }
}

/// What the merge takes: an operation, and its encodings, computed now or earlier.
protocol MergeInput: Sendable {
    var operation: Operation { get }
    /// Whether `encodings()` computes them, rather than handing over what was computed ahead: a
    /// long merge of such inputs encodes them ahead on another thread (`EncodingAhead`).
    static var isEncodedWhenMerged: Bool { get }
    /// The log payload and the value's canonical text.
    func encodings() -> (payload: [UInt8], valueText: String?)
    /// The record's hash when it was computed ahead (`PreparedOperation.recordHash`).
    var recordHashAhead: [UInt8]? { get }
    /// `Replica.checkRemote` of the operation, read in place (a copy of each operation, made to
    /// check it, was half of the checks' instructions; callgrind, P1).
    func checkRemote(clock: HybridClock, schema: Schema) throws(ChorusError)
}

extension PreparedOperation: MergeInput {
    static var isEncodedWhenMerged: Bool { false }
    func encodings() -> (payload: [UInt8], valueText: String?) { (payload, valueText) }
    var recordHashAhead: [UInt8]? { recordHash }
    func checkRemote(clock: HybridClock, schema: Schema) throws(ChorusError) {
        try Replica.checkRemote(operation, clock: clock, schema: schema)
    }
}

/// An operation merged as it is is encoded on the merging thread, when it is needed (a local write,
/// a short merge, the first chunk of a long one); the rest of a long merge is prepared a chunk
/// ahead on another thread (`EncodingAhead`), two chunks of encodings held at a time.
extension Operation: MergeInput {
    var operation: Operation { self }
    static var isEncodedWhenMerged: Bool { true }
    var recordHashAhead: [UInt8]? { nil }
    func checkRemote(clock: HybridClock, schema: Schema) throws(ChorusError) {
        try Replica.checkRemote(self, clock: clock, schema: schema)
    }

    func encodings() -> (payload: [UInt8], valueText: String?) {
        let valueText = action.value?.canonicalText
        // The canonical form does not depend on limits (they bound decoding only).
        return (OperationCodec().canonicalBytes(self, valueText: valueText), valueText)
    }
}
