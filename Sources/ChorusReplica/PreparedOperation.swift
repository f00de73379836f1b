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
    public let operation: Operation
    /// `OperationCodec.canonicalBytes(operation)`.
    let payload: [UInt8]
    /// The canonical text of the action's value, nil for actions without one.
    let valueText: String?

    public init(_ operation: Operation) {
        self.operation = operation
        (payload, valueText) = operation.encodings()
    }

    /// Each operation prepared, in order.
    public static func prepare(_ operations: [Operation]) -> [PreparedOperation] { operations.map(PreparedOperation.init) }
}

/// What the merge takes: an operation, and its encodings, computed now or earlier.
protocol MergeInput {
    var operation: Operation { get }
    /// The log payload and the value's canonical text.
    func encodings() -> (payload: [UInt8], valueText: String?)
}

extension PreparedOperation: MergeInput {
    func encodings() -> (payload: [UInt8], valueText: String?) { (payload, valueText) }
}

/// An operation merged as it is is encoded on the merging thread, when it is needed (a local write,
/// a bundle, a test), so no array of encodings is held beside the batch.
extension Operation: MergeInput {
    var operation: Operation { self }

    func encodings() -> (payload: [UInt8], valueText: String?) {
        let valueText = action.value?.canonicalText
        // The canonical form does not depend on limits (they bound decoding only).
        return (OperationCodec().canonicalBytes(self, valueText: valueText), valueText)
    }
}
