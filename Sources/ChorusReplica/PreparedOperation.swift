import ChorusCore

/// A remote operation with its encodings (`MergeEncodings`), made where it was decoded: on a pull's
/// fetching thread or a push's connection thread, that work overlaps the merge of the page before
/// instead of adding to it.
public struct PreparedOperation: Sendable {
    public var operation: Operation { parts.operation }
    /// What merging it computes from it alone.
    var encodings: MergeEncodings { parts.encodings }
    /// `MergeEncodings.recordHash`: the first operation of each run of one record's carries it.
    var recordHash: [UInt8]? { parts.encodings.recordHash }

    /// The parts, behind one reference. Held inline, the operation with its encodings was copied
    /// whole into each merge (an element read out of an array, then passed to `Replica.apply`),
    /// each of its ten strings and arrays retained, and released after it: 3% of the merging
    /// thread's instructions (callgrind, P1, thirty-first round). Behind one reference a copy is
    /// one count.
    private let parts: Parts

    private final class Parts: Sendable {
        let operation: Operation
        let encodings: MergeEncodings

        init(operation: Operation, encodings: MergeEncodings) {
            (self.operation, self.encodings) = (operation, encodings)
        }
    }

    /// Each operation prepared, in order.
    public static func prepare(_ operations: [Operation]) -> [PreparedOperation] {
        prepare(operations, operations.indices)
    }

    /// The operations at `range` prepared, in order, each copied once, into its `Parts` (the
    /// copy read out of the array is moved there): read in place, then copied into its parts, each
    /// was copied twice and released once, 930 instructions an operation on the preparing thread
    /// (callgrind, P1, thirty-seventh round).
    static func prepare<Input: MergeInput>(_ operations: [Input], _ range: Range<Int>) -> [PreparedOperation] {
        var runs = RecordRuns()
        var payloads = PayloadWriter()
        var prepared: [PreparedOperation] = []
        prepared.reserveCapacity(range.count)
        for index in range {
            let operation = operations[index].operation
            let encodings = MergeEncodings(operation, hashingRecord: runs.startsRun(operation), payloads: &payloads)
            prepared.append(PreparedOperation(parts: Parts(operation: operation, encodings: encodings)))
        }
        return prepared
    }

    private init(parts: Parts) { self.parts = parts }
}

/// What merging an operation computes from the operation alone: its canonical bytes (the log's
/// payload), its value's canonical text (its entry's value), and for the first of a run of one
/// record's operations, the record's hash.
///
/// Why apart: a replica merges on one thread (SQLite has one writer), and encoding was about a sixth
/// of a merged operation's instructions (callgrind, P3 in `Docs/performance-notes.md`). Computed
/// where the operation was decoded (`PreparedOperation`), on a pull's fetching thread or a push's
/// connection thread, or a chunk ahead of a long merge (`EncodingAhead`), that work overlaps the
/// merge instead of adding to it. It is a pure function of the operation, so where it runs changes
/// nothing of what is merged.
struct MergeEncodings: Sendable {
    /// `OperationCodec.canonicalBytes(operation)`, in a block shared with the operations encoded
    /// beside it (`PayloadWriter`).
    let payload: Payload
    /// The canonical text of the action's value, nil for actions without one.
    let valueText: String?
    /// The record's hash (`Operation.recordHash`), which the merge needs for each record it creates,
    /// computed for the first of each run of operations of one record; nil for the others, for
    /// erasures, and when encoded as it merges. Computed whether or not the record exists (which
    /// only the merge knows): for an existing one it is work thrown away, on the preparing thread,
    /// not the merging one.
    let recordHash: [UInt8]?

    /// The operation's encodings, with its record's hash when `hashingRecord`, its payload written
    /// by `payloads`.
    init(_ operation: Operation, hashingRecord: Bool, payloads: inout PayloadWriter) {
        let valueText = operation.action.value?.canonicalText
        // The canonical form does not depend on limits (they bound decoding only).
        let codec = OperationCodec(), bound = codec.canonicalBytesBound(operation, valueText: valueText)
        payload = payloads.write(bound: bound) { codec.writeCanonicalBytes(operation, valueText: valueText, to: $0, capacity: bound) }
        self.valueText = valueText
        switch operation.action {
        case .erase: recordHash = nil
        default: recordHash = hashingRecord ? Operation.recordHash(collection: operation.collection, record: operation.record) : nil
        }
    }
}

/// Finds the first operation of each run of one record's operations, which carries the record's
/// hash (`MergeEncodings.recordHash`).
struct RecordRuns {
    /// The run's record, its names only (compared by bytes, as the merge compares them): keeping
    /// the whole operation copied each one's parts.
    private var previous: BatchState.RecordName?

    /// Whether `operation` starts a run: its record is not the one before's.
    mutating func startsRun(_ operation: Operation) -> Bool {
        let name = BatchState.RecordName(collection: operation.collection, record: operation.record)
        defer { previous = name }
        return name != previous
    }
}

/// What the merge takes: an operation, and its encodings, computed now or earlier.
protocol MergeInput: Sendable {
    var operation: Operation { get }
    /// Whether `mergeEncodings()` computes them, rather than handing over what was computed ahead: a
    /// long merge of such inputs encodes them ahead on another thread (`EncodingAhead`).
    static var isEncodedWhenMerged: Bool { get }
    /// The log payload, the value's canonical text, and the record's hash if it was computed ahead.
    func mergeEncodings() -> MergeEncodings
    /// `Replica.checkRemote` of the operation at `index` of `inputs`, read in place (a copy of
    /// each operation, made to check it, was half of the checks' instructions; callgrind, P1).
    static func checkRemote(_ inputs: UnsafeBufferPointer<Self>, at index: Int, _ checks: inout RemoteChecks) throws(ChorusError)
}

extension PreparedOperation: MergeInput {
    static var isEncodedWhenMerged: Bool { false }
    func mergeEncodings() -> MergeEncodings { encodings }
    static func checkRemote(_ inputs: UnsafeBufferPointer<Self>, at index: Int, _ checks: inout RemoteChecks) throws(ChorusError) {
        try checks.check(inputs[index].parts.operation)
    }
}

/// An operation merged as it is is encoded on the merging thread, when it is needed (a local write,
/// a short merge, the first chunk of a long one); the rest of a long merge is encoded a chunk
/// ahead on another thread (`EncodingAhead`).
extension Operation: MergeInput {
    var operation: Operation { self }
    static var isEncodedWhenMerged: Bool { true }
    func mergeEncodings() -> MergeEncodings {
        var payload = PayloadWriter(blockBytes: 0)
        return MergeEncodings(self, hashingRecord: false, payloads: &payload)
    }
    static func checkRemote(_ inputs: UnsafeBufferPointer<Self>, at index: Int, _ checks: inout RemoteChecks) throws(ChorusError) {
        try checks.check(inputs.baseAddress! + index)
    }
}
