import ChorusCore
import ChorusReplica

/// A sync failure with the HTTP status it maps to. The mapping from engine errors lives here, once.
public struct SyncError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public let hint: String?
    /// What the node's access log says of it, where that is more than the client is told (whose
    /// revoked token was presented); nil: the message.
    public var logDetail: String?
    /// A limit of this replica's to raise for the same exchange to succeed (a snapshot download
    /// cut at its time or size limit), said where the exchange's failure is met again later (a
    /// compacted upstream's error, whose own hint, "pull the log", cannot help); nil: none.
    public var remedy: String?
    /// Whether the failure is the node's own (its storage, its configuration) rather than the
    /// request's: its message may name files, SQL or the machine's state, which are for the node's
    /// operator, so a client beyond the node's machine is told a reference to it instead.
    public var isNodeFault = false
    /// The answer was not a Chorus node's (a web server or proxy at the URL): an unreachable
    /// upstream to a script (`code`), whatever the status.
    public var answeredByOther = false
    /// Whether retrying later may succeed (network trouble, 5xx, 408, 429, and operations stamped
    /// ahead of the upstream's clock, which it takes once its clock reaches them).
    public var isRetryable: Bool { status == 0 || status >= 500 || status == 408 || status == 429 || isStampedAhead }

    /// A 422 for operations stamped too far ahead of the receiver's clock (`HybridClock.checkDrift`).
    var isStampedAhead: Bool { status == 422 && message.contains("stamped") }

    /// The engine's error code for this answer, for a command that reports it (`--json`): a
    /// script tells an outage from a refused token, a skewed clock or a compacted log.
    public var code: ChorusError.Code {
        if isStampedAhead { return .clockSkew }
        if answeredByOther { return .unreachable }
        switch status {
        case _ where isRetryable: return .unreachable
        case 401, 403: return .refused
        case 404: return .recordNotFound
        case 409: return .invalidState
        case 410: return .historyCompacted
        case 413, 414, 431: return .limitExceeded
        case 422: return .wrongFieldKind
        default: return .malformedInput
        }
    }

    /// How a replica whose folder cannot go on syncing (restored from a backup of itself, or
    /// copied) starts afresh: the steps every hint that sends it there names.
    public static let newFolderSteps = Replica.newFolderSteps

    /// What the operator of a laptop bound to a person does when its upstream refuses writes made
    /// there in another's name (`Authorship`): they cannot go up, and later writes wait behind them.
    public static let notThePersonsHint = "writes made on a laptop are its person's: they were made before the laptop learnt whose it is, by an older chorus, or against what the upstream holds otherwise (a record it has another maker for). `chorus log --waiting --data FOLDER` lists what waits to go up, with who made it; `chorus sync --set-aside-refused --data FOLDER` (with no `chorus serve` of the folder running) sets aside what the upstream refuses, keeping it here (`chorus set-aside`), and sends the rest. To trust this laptop with everyone's writes instead, its upstream's operator registers it again without --person"

    /// What a refusal of a laptop's push as not its person's says of the operation (a 403): what
    /// the laptop reads to offer setting it aside (`isNotThePersons`).
    public static let notTheirs = "is not theirs"

    /// Whether `error` is an upstream's refusal of a push as holding a write not the laptop's
    /// person's (and not another 403, such as an admin token's).
    public var isNotThePersons: Bool { status == 403 && message.contains(" \(SyncError.notTheirs): ") }

    /// The same, for a write to a record the upstream does not hold yet: if this laptop received
    /// it another way (a bundle, an earlier upstream), its maker's writes may still be on their
    /// way, and a comment, high-five or interest in it goes up once they have arrived.
    public static let notHereYetHint = "if the record came to this laptop another way (a bundle, an earlier upstream) and its maker has yet to sync, sync again once they have: a comment, high-five or interest in it is then taken. Otherwise: \(notThePersonsHint)"

    public init(status: Int, _ message: String, hint: String? = nil) {
        self.status = status
        self.message = message
        self.hint = hint
    }

    public var description: String { hint.map { "\(message)\nhint: \($0)" } ?? message }

    public static func unauthorized(_ message: String) -> SyncError {
        SyncError(status: 401, message, hint: "send `Authorization: Bearer TOKEN` with a token from `chorus replicas add` on the node that answered, not on the client")
    }

    public static func forbidden(_ message: String, hint: String? = nil) -> SyncError { SyncError(status: 403, message, hint: hint) }

    /// The HTTP status for an engine error.
    public init(_ error: ChorusError) {
        let status: Int
        switch error.code {
        case .malformedInput, .corruptBundle, .unknownCollection, .unknownField, .invalidValue: status = 400
        case .limitExceeded: status = 413
        case .clockSkew, .wrongFieldKind: status = 422
        case .recordNotFound, .replicaNotInitialised: status = 404
        case .invalidState, .recordDeleted, .recordErased, .replicaAlreadyInitialised, .diverged: status = 409
        case .storage: status = error.isRetryable ? 503 : 500
        case .invalidConfiguration: status = 500
        case .historyCompacted: status = 410
        case .unreachable: status = 503
        case .refused: status = 403
        }
        self.init(status: status, error.message, hint: error.hint)
        isNodeFault = error.code == .storage || error.code == .invalidConfiguration
    }

    /// A failure of the node's own (`isNodeFault`).
    public static func nodeFault(status: Int = 500, _ message: String, hint: String? = nil) -> SyncError {
        var error = SyncError(status: status, message, hint: hint)
        error.isNodeFault = true
        return error
    }
}
