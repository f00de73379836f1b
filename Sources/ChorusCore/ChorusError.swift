/// The error type of Chorus's engine: a code, a message with context, and a hint for the operator.
///
/// Codes are stable (scripts and the HTTP layer map them); messages and hints are for people.
public struct ChorusError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: String, Sendable {
        /// Input that does not parse or has the wrong shape (JSON, operation, bundle).
        case malformedInput
        /// A name, value or list over a bound in `Limits`.
        case limitExceeded
        /// A collection or field that the schema does not know (for local writes).
        case unknownCollection, unknownField
        /// An action that does not fit the field's kind (`add` on a register).
        case wrongFieldKind
        /// A value of the wrong JSON type for its field.
        case invalidValue
        /// An operation stamped too far ahead of this replica's clock.
        case clockSkew
        /// The record does not exist, or is deleted or erased.
        case recordNotFound, recordDeleted, recordErased
        /// The request contradicts the current state (restore a live record, resolve with no conflict).
        case invalidState
        /// A bundle whose checksum or framing does not match.
        case corruptBundle
        /// Replica folder problems: missing, not initialised, already initialised.
        case replicaNotInitialised, replicaAlreadyInitialised
        /// The database or a file could not be read or written.
        case storage
        /// A configuration that contradicts itself.
        case invalidConfiguration
        /// Operations asked for were removed from the log by compaction (`chorus compact`).
        case historyCompacted
        /// Another node (an upstream, a node asked with `--remote`) could not be reached, or
        /// answered that it is unwell: trying again later may succeed.
        case unreachable
        /// Another node refused the request: the token is unknown, revoked or of another role; or
        /// a write on a laptop that is not its person's, which its upstream would refuse (`Authorship`).
        case refused
        /// This replica and its upstream hold different states at the same point of the upstream's
        /// log, with nothing left to push: an operation reached one and not the other (an id used
        /// twice, by a replica restored from a copy of itself), so syncing again changes nothing.
        case diverged
    }

    public let code: Code
    public let message: String
    /// What the operator can do about it.
    public let hint: String?
    /// Whether trying again unchanged may succeed.
    public let isRetryable: Bool

    public init(_ code: Code, _ message: String, hint: String? = nil, isRetryable: Bool = false) {
        self.code = code
        self.message = message
        self.hint = hint
        self.isRetryable = isRetryable
    }

    public var description: String {
        hint.map { "\(message)\nhint: \($0)" } ?? message
    }
}
