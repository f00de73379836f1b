import ChorusCore
import ChorusReplica

/// Sync protocol version 1 messages (`Protocol/sync-v1.md`). Every message is a JSON object;
/// decoding is strict (unknown keys refused) so a malformed message changes nothing.
public enum SyncProtocol {
    /// Versions this build speaks, newest last.
    public static let versions = [1]
    /// The request header that names the version a client speaks.
    public static let versionHeader = "Chorus-Protocol"
    /// The request header that names the client's replica id.
    public static let replicaHeader = "Chorus-Replica"
    /// Optional request header: the client's wall clock, Unix ms (the upstream records the skew).
    public static let clockHeader = "Chorus-Clock"
    /// Optional pull header: operations the client still has waiting to push.
    public static let pendingHeader = "Chorus-Pending"
    /// Optional digest headers: the client's digest and its pull cursor when it took it. The
    /// cursor header also goes on pulls: the pull cursor the client has committed (protocol 4.4).
    public static let digestHeader = "Chorus-Digest"
    public static let cursorHeader = "Chorus-Cursor"
    /// Snapshot request header: the client's storage version (`Replica.storageVersion`).
    public static let storageHeader = "Chorus-Storage"
    /// A snapshot request's least sequence its copy's log must reach (protocol 4.6).
    public static let snapshotReachingHeader = "Chorus-Snapshot-Reaching"
    /// Snapshot response header: the upstream's log sequence the snapshot reaches.
    public static let snapshotThroughHeader = "Chorus-Snapshot-Through"
    /// Snapshot response header: XXH64 of the body, 16 lowercase hex digits.
    public static let snapshotChecksumHeader = "Chorus-Snapshot-Checksum"
    /// The media type of a snapshot: a SQLite 3 database file.
    public static let snapshotContentType = "application/vnd.sqlite3"
    /// `info`'s query asking for `ownOperations` (`?own=1`).
    public static let ownOperationsQuery = "own"
    /// The intervals `ownOperations` holds at most (the highest ones): a bound on what a client
    /// reads. A replica's ids make one interval per run of one process writing (each process that
    /// writes starts a new block of counters, `CounterReservation`), so a laptop written to by
    /// many commands has many; the highest thousand hold what a restore loses, its latest.
    public static let ownOperationIntervalsMax = 1_000
}

/// What `info` says of the snapshots an upstream serves (protocol 4.6): the storage version a
/// client must share to use one, and how far its log reaches now.
public struct SnapshotOffer: Equatable, Sendable {
    public let storage: String
    public let through: Int64

    public init(storage: String, through: Int64) {
        self.storage = storage
        self.through = through
    }
}

/// The upstream's identity and clock, returned with every response so a replica sees its skew.
public struct ServerStamp: Equatable, Sendable {
    public let replica: ReplicaID
    public let name: String
    public let clock: HybridTimestamp
    /// The upstream's wall clock when it answered, in Unix milliseconds.
    public let wall: UInt64

    public init(replica: ReplicaID, name: String, clock: HybridTimestamp, wall: UInt64) {
        self.replica = replica
        self.name = name
        self.clock = clock
        self.wall = wall
    }

    var json: JSONValue {
        .object(["replica": .string(replica.hex), "name": .string(name), "wall": .integer(Int64(wall)),
                 "clock": .object(["wall": .integer(Int64(clock.wall)), "logical": .integer(Int64(clock.logical))])])
    }

    /// `json`'s canonical text, written straight out in its key order: every sync response carries
    /// a stamp, and building and sorting its two objects was a tenth of a no-op pull (callgrind).
    /// `EnvelopeDecodingTests` checks that a page holding it is canonical JSON.
    func writeCanonical(to output: inout [UInt8]) {
        output.append(contentsOf: "{\"clock\":{\"logical\":".utf8)
        DecimalText.append(Int64(clock.logical), to: &output)
        output.append(contentsOf: ",\"wall\":".utf8)
        DecimalText.append(Int64(clock.wall), to: &output)
        output.append(contentsOf: "},\"name\":".utf8)
        JSONValue.string(name).write(to: &output, pretty: false, indent: 0)
        output.append(contentsOf: ",\"replica\":\"".utf8)
        output.append(contentsOf: replica.hex.utf8)
        output.append(contentsOf: "\",\"wall\":".utf8)
        DecimalText.append(Int64(wall), to: &output)
        output.append(UInt8(ascii: "}"))
    }

    init(_ json: JSONValue?) throws(ChorusError) {
        guard let json, case .string(let hex)? = json["replica"], let replica = ReplicaID(hex: hex),
              case .string(let name)? = json["name"], !name.isEmpty, name.utf8.count <= Limits.default.replicaNameBytesMax,
              case .integer(let wall)? = json["wall"], wall >= 0,
              case .integer(let clockWall)? = json["clock"]?["wall"], case .integer(let logical)? = json["clock"]?["logical"],
              clockWall >= 0, logical >= 0, logical <= Int64(UInt32.max) else {
            throw ChorusError(.malformedInput, "response has no valid \"server\" stamp")
        }
        self.init(replica: replica, name: name, clock: HybridTimestamp(wall: UInt64(clockWall), logical: UInt32(logical)), wall: UInt64(wall))
    }
}

/// `GET /sync/v1/info`.
public struct InfoResponse: Sendable {
    public let server: ServerStamp
    public let protocolVersions: [Int]
    public let pullPageOperationsMax: Int
    public let pushPageOperationsMax: Int
    public let pushBodyBytesMax: Int
    /// Present when the upstream serves snapshots (`GET /sync/v1/snapshot`).
    public let snapshot: SnapshotOffer?
    /// The sequence the upstream's log is compacted through (0: never compacted): a pull after
    /// an earlier sequence is refused (410), so a replica whose cursor is below it starts from the
    /// snapshot, or cannot catch up by pulling.
    public let compactedThrough: Int64
    /// The sequence the upstream's log ends at when it answered, when it says: a client whose pull
    /// cursor is past it knows, before it pushes, that the upstream was restored from an older
    /// backup (section 4.4).
    public let logEnd: Int64?
    /// When the client asked (`?own=1`) with a replica or relay token: the counters of its own
    /// operations the upstream holds, the highest `ownOperationIntervalsMax` intervals of them.
    /// A client that lacks some of them was restored from a backup of itself (`Replica+OwnOperations`).
    public let ownOperations: CounterRanges?
    /// With `ownOperations`, when the upstream knows it: the counter of the highest of them and
    /// the hash of its bytes. A client holding that counter unsent with other content was
    /// restored from a backup, and its writes since took every id it lost (`Replica+OwnOperations`).
    public let ownLatest: Replica.LatestOperation?
    /// The person the asking token is registered for (a laptop, `Authorship`), when it is: the
    /// client refuses writes that are not theirs before it makes them.
    public var person: String?
    /// Whether the asking token is a relay's (an office node): the upstream takes from it what it
    /// passes on, its own operations among them, which a relay sends back after the upstream was
    /// restored from a backup (section 4.4). Absent (false) from an older upstream.
    public var relay = false

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "server": server.json, "protocolVersions": .array(protocolVersions.map { .integer(Int64($0)) }),
            "limits": .object(["pullPageOperationsMax": .integer(Int64(pullPageOperationsMax)),
                               "pushPageOperationsMax": .integer(Int64(pushPageOperationsMax)),
                               "pushBodyBytesMax": .integer(Int64(pushBodyBytesMax))]),
        ]
        if let snapshot { object["snapshot"] = .object(["storage": .string(snapshot.storage), "through": .integer(snapshot.through)]) }
        if compactedThrough > 0 { object["compactedThrough"] = .integer(compactedThrough) }
        if let logEnd { object["logEnd"] = .integer(logEnd) }
        if let ownOperations {
            object["ownOperations"] = .array(ownOperations.intervals.map { .array([.integer(Int64($0.first)), .integer(Int64($0.last))]) })
        }
        if let person { object["person"] = .string(person) }
        if relay { object["relay"] = .bool(true) }
        if let ownLatest {
            object["ownLatest"] = .object(["counter": .integer(Int64(ownLatest.counter)), "hash": .string(XXHash64.hex(ownLatest.hash))])
        }
        return .object(object)
    }

    public init(server: ServerStamp, protocolVersions: [Int], pullPageOperationsMax: Int, pushPageOperationsMax: Int, pushBodyBytesMax: Int,
                snapshot: SnapshotOffer? = nil, compactedThrough: Int64 = 0, logEnd: Int64? = nil, ownOperations: CounterRanges? = nil,
                ownLatest: Replica.LatestOperation? = nil) {
        self.logEnd = logEnd
        self.ownOperations = ownOperations
        self.ownLatest = ownLatest
        self.server = server
        self.protocolVersions = protocolVersions
        self.pullPageOperationsMax = pullPageOperationsMax
        self.pushPageOperationsMax = pushPageOperationsMax
        self.pushBodyBytesMax = pushBodyBytesMax
        self.snapshot = snapshot
        self.compactedThrough = compactedThrough
    }

    public init(_ json: JSONValue) throws(ChorusError) {
        server = try ServerStamp(json["server"])
        guard case .array(let versions)? = json["protocolVersions"] else { throw ChorusError(.malformedInput, "info: no protocolVersions") }
        protocolVersions = versions.compactMap { $0.integerValue.map(Int.init) }
        // Each at least 1 when given: a client divides its pages by them (0 or less would leave it
        // nothing to send, or overflow what it computes from them).
        func positive(_ name: String, default value: Int) throws(ChorusError) -> Int {
            guard let given = json["limits"]?[name] else { return value }
            guard let number = given.integerValue, number >= 1 else {
                throw ChorusError(.malformedInput, "info: limits.\(name) must be an integer of 1 or more")
            }
            return Int(number)
        }
        pullPageOperationsMax = try positive("pullPageOperationsMax", default: 1000)
        pushPageOperationsMax = try positive("pushPageOperationsMax", default: 1000)
        pushBodyBytesMax = try positive("pushBodyBytesMax", default: 1024 * 1024)
        if let offer = json["snapshot"] {
            guard let storage = offer["storage"]?.stringValue, !storage.isEmpty, storage.utf8.count <= 128,
                  let through = offer["through"]?.integerValue, through >= 0 else {
                throw ChorusError(.malformedInput, "info: snapshot needs a storage version (1 to 128 bytes) and a through >= 0")
            }
            snapshot = SnapshotOffer(storage: storage, through: through)
        } else {
            snapshot = nil
        }
        if let floor = json["compactedThrough"] {
            guard let value = floor.integerValue, value >= 0 else { throw ChorusError(.malformedInput, "info: compactedThrough must be an integer of 0 or more") }
            compactedThrough = value
        } else {
            compactedThrough = 0
        }
        if let end = json["logEnd"] {
            guard let value = end.integerValue, value >= 0 else { throw ChorusError(.malformedInput, "info: logEnd must be an integer of 0 or more") }
            logEnd = value
        } else {
            logEnd = nil
        }
        if let named = json["person"] {
            guard let text = named.stringValue, !text.isEmpty, text.utf8.count <= Limits.default.recordIDBytesMax else {
                throw ChorusError(.malformedInput, "info: person must be a person id of 1 to \(Limits.default.recordIDBytesMax) bytes")
            }
            person = text
        } else {
            person = nil
        }
        if let given = json["relay"] {
            guard case .bool(let value) = given else { throw ChorusError(.malformedInput, "info: relay must be true or false") }
            relay = value
        }
        if let own = json["ownOperations"] {
            // Counters from 1 to 2^63 - 1, each interval ascending, after the one before it.
            let refuse = ChorusError(.malformedInput, "info: ownOperations must be an array of at most \(SyncProtocol.ownOperationIntervalsMax) [first, last] intervals of counters from 1, ascending, none touching the one before")
            guard case .array(let items) = own, items.count <= SyncProtocol.ownOperationIntervalsMax else { throw refuse }
            var intervals: [(first: UInt64, last: UInt64)] = []
            for item in items {
                guard case .array(let pair) = item, pair.count == 2, let first = pair[0].integerValue, let last = pair[1].integerValue,
                      first >= 1, first <= last, intervals.last.map({ first - 1 > Int64($0.last) }) ?? true else { throw refuse }
                intervals.append((UInt64(first), UInt64(last)))
            }
            ownOperations = CounterRanges(sortedRows: intervals)
        } else {
            ownOperations = nil
        }
        if let latest = json["ownLatest"] {
            // The highest of `ownOperations`, and an XXH64 in 16 lowercase hex digits.
            guard let counter = latest["counter"]?.integerValue, counter >= 1, ownOperations?.intervals.last.map({ $0.last == UInt64(counter) }) == true,
                  let hash = latest["hash"]?.stringValue.flatMap(XXHash64.value(hex:)) else {
                throw ChorusError(.malformedInput, "info: ownLatest must be an object of the highest counter of ownOperations and a hash of 16 lowercase hex digits")
            }
            ownLatest = Replica.LatestOperation(counter: UInt64(counter), hash: hash)
        } else {
            ownLatest = nil
        }
    }
}

/// `POST /sync/v1/push` body. Operations travel as their canonical JSON text.
public struct PushRequest: Sendable {
    /// The pushing replica (must match the token's bound replica and the Chorus-Replica header).
    public let replica: ReplicaID
    /// The pusher's log sequence this page goes up to: echoed back once applied.
    public let through: Int64
    /// For relays: every replica id below the pusher.
    public let relayed: [ReplicaID]
    public let operations: [Operation]

    public init(replica: ReplicaID, through: Int64, relayed: [ReplicaID], operations: [Operation]) {
        self.replica = replica
        self.through = through
        self.relayed = relayed
        self.operations = operations
    }

    /// Encodes with the operations' canonical text inserted verbatim.
    public static func encode(replica: ReplicaID, through: Int64, relayed: [ReplicaID], operationTexts: [String]) -> [UInt8] {
        var text = "{\"operations\":[" + operationTexts.joined(separator: ",") + "],"
        text += "\"relayed\":" + JSONValue.array(relayed.map { .string($0.hex) }).canonicalText + ","
        text += "\"replica\":\"\(replica.hex)\",\"through\":\(through)}"
        return Array(text.utf8)
    }

    /// The most array elements and object members a push holds outside its operations: its
    /// `relayed` list, and its own few members.
    public static func valuesOutsideOperationsMax(_ limits: Limits) -> Int { limits.relayedReplicasMax + 16 }

    /// Parses and validates a push body.
    public static func decode(_ body: [UInt8], limits: Limits) throws(ChorusError) -> PushRequest {
        // Operations are parsed straight into their fields, with no dictionary per operation.
        let envelope: OperationEnvelope
        do {
            envelope = try JSONParser(depthMax: limits.jsonDepthMax + 4, bytesMax: limits.pushBodyBytesMax)
                .parseEnvelope(body, operationsMax: limits.pushPageOperationsMax, membersValuesMax: PushRequest.valuesOutsideOperationsMax(limits))
        } catch where error.isOverOperationsMax {
            throw ChorusError(.limitExceeded, "push: operations must be an array of at most \(limits.pushPageOperationsMax)")
        } catch {
            throw ChorusError(.malformedInput, "push body: \(error)")
        }
        guard envelope.isObject, envelope.keys == ["operations", "relayed", "replica", "through"] else {
            throw ChorusError(.malformedInput, "push body must be an object with exactly operations, relayed, replica and through")
        }
        let object = envelope.members
        guard case .string(let hex)? = object["replica"], let replica = ReplicaID(hex: hex) else {
            throw ChorusError(.malformedInput, "push: replica must be 32 hex digits")
        }
        guard case .integer(let through)? = object["through"], through >= 0 else {
            throw ChorusError(.malformedInput, "push: through must be an integer of 0 or more")
        }
        guard case .array(let relayedJSON)? = object["relayed"], relayedJSON.count <= limits.relayedReplicasMax else {
            throw ChorusError(.malformedInput, "push: relayed must be an array of at most \(limits.relayedReplicasMax) replica ids")
        }
        var relayed: [ReplicaID] = []
        for item in relayedJSON {
            guard case .string(let text) = item, let id = ReplicaID(hex: text) else { throw ChorusError(.malformedInput, "push: relayed holds a bad replica id") }
            relayed.append(id)
        }
        // Not an array: malformed (400), which no smaller page mends; too many was refused above (413).
        guard let operationsJSON = envelope.operations else {
            throw ChorusError(.malformedInput, "push: operations must be an array of at most \(limits.pushPageOperationsMax)")
        }
        let codec = OperationCodec(limits: limits)
        var operations: [Operation] = []
        operations.reserveCapacity(operationsJSON.count)
        for (index, item) in operationsJSON.enumerated() {
            do {
                operations.append(try codec.decode(item))
            } catch {
                // One operation over a per-operation limit is invalid (400), not a page too large
                // (413, which tells a client to send smaller pages: no page would take it).
                let code: ChorusError.Code = error.code == .limitExceeded ? .invalidValue : error.code
                throw ChorusError(code, "push: operation \(index): \(error.message)",
                                  hint: "nothing of the push was applied; the operation cannot be sent as it is (fix its data at the replica that wrote it)")
            }
        }
        try PushRequest.refuseIDsGivenTwice(operations, in: "push", consequence: "nothing of the push was applied",
                                            hint: "a replica gives each id to one operation: the pushing replica's counters went back (its folder restored from a backup of itself, or copied), or its software is faulty")
        return PushRequest(replica: replica, through: through, relayed: relayed, operations: operations)
    }

    /// Refuses a page giving one id to two operations of other content (protocol 4.3): an id
    /// twice must be one operation twice (a page repeated within itself is harmless); otherwise
    /// one of the two would be taken as a duplicate of the other and lost unseen, as across pages
    /// the upstream refuses (409, `Replica+ReusedIDs`). Push and pull pages alike.
    static func refuseIDsGivenTwice(_ operations: [Operation], in page: String, consequence: String, hint: String) throws(ChorusError) {
        var firstIndex: [OperationID: Int] = [:]
        for (index, operation) in operations.enumerated() {
            if let first = firstIndex[operation.id] {
                guard operations[first] == operation else {
                    throw ChorusError(.invalidState, "\(page): operations \(first) and \(index) carry the same id \(operation.id) with other content, and one would be dropped as a duplicate; \(consequence)",
                                      hint: hint)
                }
            } else {
                firstIndex[operation.id] = index
            }
        }
    }
}

/// `POST /sync/v1/push` response.
public struct PushResponse: Sendable {
    public let applied: Int
    public let duplicates: Int
    public let through: Int64
    public let server: ServerStamp

    public init(applied: Int, duplicates: Int, through: Int64, server: ServerStamp) {
        self.applied = applied
        self.duplicates = duplicates
        self.through = through
        self.server = server
    }

    public var json: JSONValue {
        .object(["applied": .integer(Int64(applied)), "duplicates": .integer(Int64(duplicates)),
                 "through": .integer(through), "server": server.json])
    }

    public init(_ json: JSONValue) throws(ChorusError) {
        guard case .integer(let applied)? = json["applied"], case .integer(let duplicates)? = json["duplicates"],
              case .integer(let through)? = json["through"], applied >= 0, duplicates >= 0, through >= 0 else {
            throw ChorusError(.malformedInput, "push response is malformed (applied, duplicates and through are integers of 0 or more)")
        }
        self.init(applied: Int(applied), duplicates: Int(duplicates), through: through, server: try ServerStamp(json["server"]))
    }
}

/// `GET /sync/v1/pull?after=CURSOR&limit=N` response.
public struct PullResponse: Sendable {
    public let operations: [Operation]
    /// The cursor to send next time.
    public let next: Int64
    /// The id of the operation the upstream logged at `next` (protocol 4.4), sent back with the
    /// cursor as `afterOperation`; nil when the upstream did not say (`next` is 0, compacted, or
    /// an upstream older than the field).
    public let nextOperation: OperationID?
    public let hasMore: Bool
    public let server: ServerStamp

    /// Encodes with canonical operation texts inserted verbatim (no re-encoding on the hot path).
    public static func encode(operationTexts: [String], next: Int64, nextOperation: OperationID? = nil, hasMore: Bool, server: ServerStamp) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256 + operationTexts.reduce(0) { $0 + $1.utf8.count + 1 })
        output.append(contentsOf: (hasMore ? "{\"hasMore\":true,\"next\":" : "{\"hasMore\":false,\"next\":").utf8)
        DecimalText.append(next, to: &output)
        if let nextOperation {
            output.append(contentsOf: ",\"nextOperation\":\"".utf8)
            output.append(contentsOf: nextOperation.description.utf8)
            output.append(UInt8(ascii: "\""))
        }
        output.append(contentsOf: ",\"operations\":[".utf8)
        for (index, text) in operationTexts.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: text.utf8)
        }
        output.append(contentsOf: "],\"server\":".utf8)
        server.writeCanonical(to: &output)
        output.append(UInt8(ascii: "}"))
        return output
    }

    public init(operations: [Operation], next: Int64, nextOperation: OperationID? = nil, hasMore: Bool, server: ServerStamp) {
        self.operations = operations
        self.next = next
        self.nextOperation = nextOperation
        self.hasMore = hasMore
        self.server = server
    }

    /// The most array elements and object members a pull page holds outside its operations: a
    /// dozen now (its cursor, flag and server stamp), with room for members a newer upstream
    /// adds; a faulty or hostile upstream's millions of tiny values are refused as they are read.
    public static let valuesOutsideOperationsMax = 1_024

    public static func decode(_ body: [UInt8], limits: Limits) throws(ChorusError) -> PullResponse {
        // Operations are parsed straight into their fields, with no dictionary per operation: this
        // was more than half of the instructions of a bootstrap's decoding thread (callgrind, P3).
        let envelope: OperationEnvelope
        do {
            // A page holds at most what was asked, never more than `pullPageOperationsMax`.
            envelope = try JSONParser(depthMax: limits.jsonDepthMax + 4, bytesMax: limits.syncAnswerBytesMax)
                .parseEnvelope(body, operationsMax: limits.pullPageOperationsMax, membersValuesMax: PullResponse.valuesOutsideOperationsMax)
        } catch {
            throw ChorusError(.malformedInput, "pull response: \(error)", isRetryable: true)
        }
        let json = envelope.members
        guard let items = envelope.operations, case .integer(let next)? = json["next"], next >= 0,
              case .bool(let hasMore)? = json["hasMore"] else {
            throw ChorusError(.malformedInput, "pull response is malformed")
        }
        var nextOperation: OperationID?
        if let given = json["nextOperation"] {
            guard case .string(let text) = given, let id = OperationID(text), next > 0 else {
                throw ChorusError(.malformedInput, "pull response's nextOperation must be an operation id (REPLICAHEX:COUNTER), and only with a next above 0")
            }
            nextOperation = id
        }
        let codec = OperationCodec(limits: limits)
        var operations: [Operation] = []
        operations.reserveCapacity(items.count)
        for item in items { operations.append(try codec.decode(item)) }
        // The protocol asks a client to refuse such a page (4.3); it was merged, the second
        // operation counted as a duplicate of the first and lost (a read-only review).
        try PushRequest.refuseIDsGivenTwice(operations, in: "pull response", consequence: "nothing of the page was applied",
                                            hint: "the upstream gives one id to two operations: its software is faulty, or a replica below it reused ids; tell its operator")
        return PullResponse(operations: operations, next: next, nextOperation: nextOperation, hasMore: hasMore, server: try ServerStamp(json["server"]))
    }
}

/// `GET /sync/v1/digest` response: the state digest and the log sequence it was taken at.
public struct DigestResponse: Sendable {
    public let digest: String
    public let through: Int64
    public let server: ServerStamp

    public init(digest: String, through: Int64, server: ServerStamp) {
        self.digest = digest
        self.through = through
        self.server = server
    }

    public var json: JSONValue { .object(["digest": .string(digest), "through": .integer(through), "server": server.json]) }

    public init(_ json: JSONValue) throws(ChorusError) {
        guard case .string(let digest)? = json["digest"], case .integer(let through)? = json["through"] else {
            throw ChorusError(.malformedInput, "digest response is malformed")
        }
        self.init(digest: digest, through: through, server: try ServerStamp(json["server"]))
    }
}

/// The end-to-end check of a snapshot's bytes (protocol 4.6): XXH64 of the body against the
/// `Chorus-Snapshot-Checksum` header. Catches damage in transit or on disk that leaves a file
/// SQLite still reads (a flipped byte inside a value passes `quick_check`).
public enum SnapshotChecksum {
    public static func check(_ computed: UInt64, against header: String?) throws(SyncError) {
        guard let expected = header.flatMap(XXHash64.value(hex:)) else {
            throw SyncError(status: 0, "the snapshot came without a valid \(SyncProtocol.snapshotChecksumHeader) header (16 lowercase hex digits)",
                            hint: "the client pulls the log instead")
        }
        guard computed == expected else {
            throw SyncError(status: 0, "the snapshot's bytes do not match their checksum (\(XXHash64.hex(computed)), the upstream sent \(header ?? "none")): it was damaged on the way",
                            hint: "the client pulls the log instead; sync again to retry the snapshot")
        }
    }
}
