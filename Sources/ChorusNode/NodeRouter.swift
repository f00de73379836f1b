import ChorusCore
import ChorusPeople
import ChorusReplica
import ChorusSync
import ChorusWeb
import HTTP1
import HTTPServer

/// The node's HTTP routes: a function from a request to a response (no sockets here).
/// `Docs/reference/http.md` lists them for users.
public struct NodeRouter: Sendable {
    /// Who a route answers. `thisMachineOrAdmin`: a request from this machine with no token, or
    /// from elsewhere with an admin token (`/metrics`, which names every registered replica, when
    /// each laptop last synced, and costs a write and a scan of the log per scrape: it was open to
    /// anyone who could reach an office node, a read-only audit found).
    public enum Access: Sendable {
        case anyone, anyToken, sync, admin, thisMachineOrAdmin

        /// Whether HEAD is answered as the route's GET, with no token (a load balancer's check).
        var answersHead: Bool { self == .anyone || self == .thisMachineOrAdmin }
    }

    public struct Route: Sendable {
        public let method: String
        /// A path with `{id}` placeholders.
        public let path: String
        public let access: Access
        let template: RouteTemplate

        init(method: String, path: String, access: Access) {
            self.method = method
            self.path = path
            self.access = access
            self.template = RouteTemplate(path)
        }
    }

    public static let routes: [Route] = [
        Route(method: "GET", path: "/healthz", access: .anyone),
        Route(method: "GET", path: "/readyz", access: .anyone),
        Route(method: "GET", path: "/metrics", access: .thisMachineOrAdmin),
        Route(method: "GET", path: "/sync/v1/info", access: .anyToken),
        Route(method: "POST", path: "/sync/v1/push", access: .sync),
        Route(method: "GET", path: "/sync/v1/pull", access: .sync),
        Route(method: "GET", path: "/sync/v1/digest", access: .anyToken),
        Route(method: "GET", path: "/sync/v1/snapshot", access: .sync),
        Route(method: "GET", path: "/admin/v1/replicas", access: .admin),
        Route(method: "GET", path: "/admin/v1/conflicts", access: .admin),
        Route(method: "GET", path: "/admin/v1/conflicts/{id}", access: .admin),
        Route(method: "POST", path: "/admin/v1/conflicts/{id}/resolve", access: .admin),
        Route(method: "GET", path: "/admin/v1/resolutions", access: .admin),
    ]

    public let service: SyncService
    public let limits: Limits
    public let metrics: Metrics
    public let people: PeopleAPI
    /// Default silence threshold for the replica health view, in seconds (7 days).
    public static let silentAfterSecondsDefault: Int64 = 7 * 24 * 3600
    /// The longest silence `silentAfterSeconds` may name: ten years, as `chorus replicas health
    /// --silent-days` allows (3,650 days). Past it, the milliseconds it is turned into would overflow.
    public static let silentAfterSecondsMax: Int64 = 3650 * 24 * 3600

    /// Addresses of proxies in front of the node (`--trusted-proxy`): a request from one comes
    /// from anywhere, though its address may be this machine's (nginx beside the node).
    public let proxies: Set<String>

    public init(service: SyncService, limits: Limits, metrics: Metrics = Metrics(), identity: IdentityPolicy = IdentityPolicy(),
                proxies: Set<String> = []) {
        self.service = service
        self.limits = limits
        self.metrics = metrics
        self.proxies = proxies
        self.people = PeopleAPI(executor: service.executor, limits: limits, identity: identity)
    }

    /// The body limit for a request head: large only for sync pushes.
    public static func bodyLimit(for head: HTTPRequestHead, limits: Limits) -> Int {
        head.method == "POST" && head.path == "/sync/v1/push" ? limits.pushBodyBytesMax : limits.requestBodyBytesMax
    }

    /// What a 401 of this node asks for (`WWW-Authenticate`).
    static let bearerChallenge = "Bearer realm=\"chorus\""

    /// A sync or admin request with a body and no bearer token at all, refused on its head (401)
    /// before its body is read: it could only be refused once read, and a client with no token
    /// announcing a 16 MiB push held its connection and its share of the body budget for as long
    /// as the body took to arrive (a read-only audit). A token that is well formed but unknown is
    /// still found out once the request is read (that needs the replica's turn).
    @Sendable static func headRefusal(_ head: HTTPRequestHead, bodyLength: Int) -> HTTPParseError? {
        guard bodyLength > 0, head.path.hasPrefix("/sync/") || head.path.hasPrefix("/admin/"),
              SyncService.bearerToken(head.header("Authorization")) == nil else { return nil }
        return HTTPParseError(status: 401, reason: "missing or malformed bearer token, refused before the body was read; send `Authorization: Bearer TOKEN` with a token from `chorus replicas add` on the node that answered",
                              challenge: NodeRouter.bearerChallenge)
    }

    /// The route template a path belongs to (for metrics labels: never a raw id).
    public static func template(for path: String) -> String {
        if let known = literalTemplates[path] { return known }
        return templateMatching(path)
    }

    private static func templateMatching(_ path: String) -> String {
        if WebAssets.serves(path) { return "/ui" }
        let segments = RouteTemplate.segments(of: path)
        return routes.first { $0.template.match(segments) != nil }?.path
            ?? PeopleAPI.routes.first { $0.template.match(segments) != nil }?.path ?? "unknown"
    }

    /// The template of each route path without placeholders, as `templateMatching` finds it: a
    /// dictionary lookup where splitting the path and matching it against every template was a
    /// twentieth of a no-op sync's instructions (callgrind).
    private static let literalTemplates: [String: String] = Dictionary(
        (routes.map(\.path) + PeopleAPI.routes.map(\.path)).filter { !$0.contains("{") }.map { ($0, templateMatching($0)) },
        uniquingKeysWith: { first, _ in first })

    /// By method, then path: each route whose path has no placeholders and which `find` gives for
    /// that very path (so no earlier template shadows it). Looked up before matching templates.
    private static let literalRoutes: [String: [String: Route]] = {
        var found: [String: [String: Route]] = [:]
        for route in routes where !route.path.contains("{") {
            guard case .success(let match) = find(routes, method: route.method, path: route.path, template: \.template, method: \.method),
                  match.0.path == route.path else { continue }
            found[route.method, default: [:]][route.path] = route
        }
        return found
    }()

    /// No route answers: 404 when no template matches the path, 405 (with `Allow`) when one does
    /// but not for this method.
    struct NoRoute: Error {
        let response: HTTPResponse
    }

    /// The route of `routes` for a request, with its placeholder values. Both routers use it.
    /// - Parameter answersHead: whether a GET route also answers HEAD (its GET's answer, whose
    ///   body the server does not send), so a 405's `Allow` names it too.
    static func find<R>(_ routes: [R], method: String, path: String, template: KeyPath<R, RouteTemplate>,
                        method routeMethod: KeyPath<R, String>, answersHead: (R) -> Bool = { _ in false }) -> Result<(R, [String]), NoRoute> {
        let segments = RouteTemplate.segments(of: path)
        // The first route of this method whose template matches; only a refusal looks at the others.
        for route in routes where route[keyPath: routeMethod] == method || (method == "HEAD" && route[keyPath: routeMethod] == "GET" && answersHead(route)) {
            if let values = route[keyPath: template].match(segments) { return .success((route, values)) }
        }
        let candidates = routes.filter { $0[keyPath: template].match(segments) != nil }
        guard !candidates.isEmpty else { return .failure(NoRoute(response: Problem.response(status: 404, detail: "no route \(path.prefix(100))"))) }
        let methods = candidates.flatMap { route in
            route[keyPath: routeMethod] == "GET" && answersHead(route) ? ["GET", "HEAD"] : [route[keyPath: routeMethod]]
        }.joined(separator: ", ")
        var response = Problem.response(status: 405, detail: "\(path.prefix(100)) takes \(methods)")
        response.headers.append(("Allow", methods))
        return .failure(NoRoute(response: response))
    }

    /// A request answered on the server's event loop, without waiting for anything: a health
    /// check, and a sync's `info` or pull at the log's end while the quiet reads hold its token and
    /// the log's head (a sync with nothing new). nil for anything else, which the connection's
    /// queue then gives to `handle`. The answer is `handle`'s, from the same look.
    public func handleInline(_ request: HTTPRequest, remote: String = "") -> HTTPResponse? {
        let head = request.head
        guard head.method == "GET", head.queryProblem == nil else { return nil }
        switch head.path {
        case "/healthz":
            return handle(request, remote: remote)
        case "/sync/v1/info", "/sync/v1/pull":
            var after: Int64?
            // Asked with `?own=1`, an answer reads which of the client's operations this node holds: in a turn.
            if head.query[SyncProtocol.ownOperationsQuery] != nil { return nil }
            if head.path == "/sync/v1/pull" {
                // An irregular query is answered (400) by `handle` on the queue.
                guard let parsed = NodeRouter.pullAfter(head.query) else { return nil }
                after = parsed
            }
            guard let look = service.lookQuietly().flatMap({
                service.answeringQuietly($0, authorization: head.header("Authorization"),
                                         replicaHeader: head.header(SyncProtocol.replicaHeader), pullAfter: after)
            }) else { return nil }
            return NodeRouter.answer(handle(request, remote: remote, look: look), to: remote, proxies: proxies)
        default:
            return nil
        }
    }

    public func handle(_ request: HTTPRequest, remote: String = "") -> HTTPResponse {
        NodeRouter.answer(handle(request, remote: remote, look: nil), to: remote, proxies: proxies)
    }

    /// `response` as it leaves the node for the client at `remote` (`host:port`, as the server
    /// gives it; empty in tests that call a route directly, read as this machine): never sniffed,
    /// and a fault's detail kept for a client on this machine (the operator's, or the laptop
    /// owner's own page), a reference to it for anyone else (`Problem.redactingFault`), a proxy
    /// in `proxies` included: nginx beside the node carries the internet's requests from 127.0.0.1.
    static func answer(_ response: HTTPResponse, to remote: String, proxies: Set<String> = []) -> HTTPResponse {
        var response = response
        let address = String(remote.split(separator: ":").first ?? "")
        if response.logAnnotations[Problem.referenceAnnotation] != nil && !remote.isEmpty
            && (proxies.contains(address) || !IdentityPolicy.isThisMachine(address)) {
            response = Problem.redactingFault(response)
        }
        return withoutSniffing(response)
    }

    /// `response` with `X-Content-Type-Options: nosniff` unless it has it already (the page's
    /// assets do): a browser then reads every answer of this node as the type it says, never
    /// guessing HTML in a JSON body that quotes what someone wrote.
    static func withoutSniffing(_ response: HTTPResponse) -> HTTPResponse {
        guard !response.headers.contains(where: { $0.name.caseInsensitiveCompare("X-Content-Type-Options") == .orderedSame }) else { return response }
        var response = response
        response.headers.append(("X-Content-Type-Options", "nosniff"))
        return response
    }

    /// The headers that say who is asking and how: each must appear once (400 when repeated).
    static let identityHeaders = ["Authorization", SyncProtocol.replicaHeader, SyncProtocol.versionHeader]

    /// An optional request header holding a whole number from 0 to `Int64.max` (a clock in
    /// milliseconds, a count, a cursor): nil when absent, 400 when it is anything else, so a
    /// value no client sends is refused before it is recorded or computed with (a clock of
    /// 2^64 - 1 once trapped in the activity flush, the node stopped).
    static func wholeNumberHeader(_ request: HTTPRequest, _ name: String) throws(SyncError) -> Int64? {
        guard let text = request.head.header(name) else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw SyncError(status: 400, "\(name) must be a whole number from 0 to \(Int64.max), not \"\(text.prefix(40))\"",
                            hint: "send the header as the protocol says (Protocol/sync-v1.md, section 2), or leave it out")
        }
        return value
    }

    /// A pull's cursor as its query gives it (0 when absent); nil when it is not an integer.
    static func pullAfter(_ query: [String: String]) -> Int64? { Int64(query["after"] ?? "0") }

    private func handle(_ request: HTTPRequest, remote: String, look given: SyncService.QuietLook?) -> HTTPResponse {
        let path = request.head.path
        // A parameter given twice, or a broken escape, on any route: which value a client meant
        // is not the node's to guess (the last one silently counted).
        if let problem = request.head.queryProblem { return Problem.response(status: 400, detail: problem) }
        if path.hasPrefix("/api/v1/") { return people.handle(request, remote: remote) }
        if WebAssets.serves(path) {
            if path == "/" || path == "/index.html" { SkillTaxonomy.warmUp() }   // whoever opened the page will soon see skills
            let response = WebAssets.shipped.response(method: request.head.method, path: path, ifNoneMatch: request.head.header("If-None-Match"))
            guard response.status >= 400 else { return response }
            // Refusals as every other route's: a problem document.
            var problem = Problem.response(status: response.status, detail: String(decoding: response.body.filter { $0 != UInt8(ascii: "\n") }, as: UTF8.self))
            problem.headers += response.headers.filter { $0.name == "Allow" }
            return problem
        }
        // HEAD of a GET route open to anyone (a load balancer's health check): the GET's answer,
        // whose body the server does not send. Not the sync and admin routes, whose GETs act
        // (a snapshot written, a pull recorded).
        if request.head.method == "HEAD", let get = NodeRouter.literalRoutes["GET"]?[path], get.access.answersHead {
            return handle(HTTPRequest(head: HTTPRequestHead(method: "GET", target: request.head.target, minorVersion: request.head.minorVersion,
                                                            headers: request.head.headers), body: []), remote: remote, look: given)
        }
        let (route, parameters): (Route, [String])
        if let literal = NodeRouter.literalRoutes[request.head.method]?[path] {
            (route, parameters) = (literal, [])
        } else {
            switch NodeRouter.find(NodeRouter.routes, method: request.head.method, path: path, template: \.template, method: \.method,
                                   answersHead: { $0.access.answersHead && NodeRouter.literalRoutes["GET"]?[$0.path] != nil }) {
            case .success(let found): (route, parameters) = found
            case .failure(let refusal): return refusal.response
            }
        }
        // Known once the token passed, and named in the access log whatever the answer: the
        // refusals and failures are what an operator most needs to trace to an office.
        // A failure of this node's own (5xx: a full disk, a database it cannot write) also says
        // what it was there, as `Problem.internalError` does: the status alone told the operator
        // nothing.
        var peer: Peer?
        func named(_ response: HTTPResponse, failure: String? = nil) -> HTTPResponse {
            var response = response
            if let peer { response.logAnnotations["peer"] = peer.name }
            if let failure, response.status >= 500, response.logAnnotations["error"] == nil { response.logAnnotations["error"] = String(failure.prefix(300)) }
            // A token refused (unknown, revoked, presenting another replica's id): why, and the
            // replica id the client presented, so the operator can trace it to an office.
            if let failure, response.status == 401 || response.status == 403, response.logAnnotations["error"] == nil {
                response.logAnnotations["error"] = String(failure.prefix(300))
                // Named as what the client claimed: the token did not vouch for it.
                if let presented = request.head.header(SyncProtocol.replicaHeader).flatMap(ReplicaID.init(hex:)) {
                    response.logAnnotations["presentedReplica"] = presented.hex
                }
            }
            return response
        }
        // What a sync request tells of its peer, recorded once it is answered.
        var toRecord: (peer: Peer, clientWall: UInt64?, readAt: UInt64?, waitingUp: Int64?)?
        do {
            // The questions a no-op sync asks (its token, then the log's head) answered from one look.
            let look = given ?? (route.path == "/sync/v1/pull" || route.path == "/sync/v1/info" ? service.lookQuietly() : nil)
            let fromThisMachine = route.access == .thisMachineOrAdmin && IdentityPolicy.isThisMachine(String(remote.split(separator: ":").first ?? ""))
            if route.access != .anyone && !fromThisMachine {
                if let repeated = NodeRouter.identityHeaders.first(where: request.head.repeats) {
                    throw SyncError(status: 400, "the \(repeated) header appears more than once", hint: "send it once")
                }
                var clientWall: Int64?, waitingUp: Int64?
                let authenticated = try service.authenticate(authorization: request.head.header("Authorization"),
                                                             replicaHeader: request.head.header(SyncProtocol.replicaHeader), look: look) { candidate throws(SyncError) in
                    // Named in the log from here, the route's own refusals of it too.
                    peer = candidate
                    switch (route.access, candidate.role) {
                    case (.sync, .admin): throw SyncError.forbidden("admin tokens cannot sync", hint: "sync with a replica or relay token")
                    case (.admin, .replica), (.admin, .relay): throw SyncError.forbidden("this route needs an admin token",
                                                                                         hint: "register one with `chorus replicas add NAME --role admin`")
                    case (.thisMachineOrAdmin, .replica), (.thisMachineOrAdmin, .relay):
                        throw SyncError.forbidden("\(route.path) answers a request from another machine only with an admin token",
                                                  hint: "scrape it with an admin token (`chorus replicas add prometheus --role admin`; Prometheus: `authorization: credentials_file`), or from the node's own machine")
                    default: break
                    }
                    if route.path.hasPrefix("/sync/") {
                        try service.checkVersion(request.head.header(SyncProtocol.versionHeader))
                        clientWall = try NodeRouter.wholeNumberHeader(request, SyncProtocol.clockHeader)
                        waitingUp = try NodeRouter.wholeNumberHeader(request, SyncProtocol.pendingHeader)
                    }
                }
                if route.path.hasPrefix("/sync/") {
                    toRecord = (authenticated, clientWall.map(UInt64.init), clientWall == nil ? nil : service.nowMilliseconds(), waitingUp)
                }
                peer = authenticated
            }
            // A sync request's clock and pending count are recorded whatever its answer; its push
            // or pull only once answered 2xx. A refused one (a pull with `limit=0`, a push of `{}`)
            // once set the peer's last sync, shown by health, and counted it among the peers whose
            // history snapshots keep (a read-only audit; the protocol: nothing of a refused push
            // is recorded).
            let response: HTTPResponse
            do {
                response = try respond(route, parameters, request, peer, look: look)
            } catch {
                if let toRecord { service.recordRequest(peer: toRecord.peer, clientWall: toRecord.clientWall, clientWallReadAt: toRecord.readAt, waitingUp: toRecord.waitingUp, pushed: false, pulled: false) }
                throw error
            }
            if let toRecord {
                let answered = (200..<300).contains(response.status)
                service.recordRequest(peer: toRecord.peer, clientWall: toRecord.clientWall, clientWallReadAt: toRecord.readAt, waitingUp: toRecord.waitingUp,
                                      pushed: answered && route.path == "/sync/v1/push", pulled: answered && route.path == "/sync/v1/pull")
            }
            return named(response)
        } catch let error as SyncError {
            var response = error.response
            if error.status == 401 { response.headers.append(("WWW-Authenticate", NodeRouter.bearerChallenge)) }
            return named(response, failure: error.logDetail ?? error.message)
        } catch let error as ChorusError {
            return named(SyncError(error).response, failure: error.message)
        } catch {
            return named(Problem.internalError(error))
        }
    }

    private func respond(_ route: Route, _ parameters: [String], _ request: HTTPRequest, _ peer: Peer?,
                         look: SyncService.QuietLook?) throws -> HTTPResponse {
        let query = request.head.query
        switch route.path {
        case "/healthz":
            return json(.object(["status": "ok"]))
        case "/readyz":
            let migrations = try service.executor.perform { try $0.appliedMigrations() }
            return json(.object(["status": "ready", "migrations": .array(migrations.map(JSONValue.string))]))
        case "/metrics":
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                body: Array(try renderMetrics().utf8))
        case "/sync/v1/info":
            // A replica or relay asking which of its own operations this node holds (protocol 4.2).
            if let asked = query[SyncProtocol.ownOperationsQuery] {
                guard asked == "1" else { throw SyncError(status: 400, "own must be 1 when given", hint: "ask `/sync/v1/info?own=1`, or leave it out") }
                if let peer, peer.role != .admin, let origin = peer.replica ?? request.head.header(SyncProtocol.replicaHeader).flatMap(ReplicaID.init(hex:)) {
                    var info = try service.info(ownOf: origin)
                    info.person = peer.person
                    info.relay = peer.role == .relay
                    return json(info.json)
                }
            }
            var info = service.info(look: look)
            info.person = peer?.person
            info.relay = peer?.role == .relay
            return json(info.json)
        case "/sync/v1/push":
            guard request.head.header("Content-Type")?.lowercased().hasPrefix("application/json") ?? false else {
                throw SyncError(status: 415, "push bodies are application/json")
            }
            let response = try service.push(peer: peer!, body: request.body)
            metrics.increment("chorus_operations_applied_total", by: Double(response.applied), labels: [("via", "push")])
            return json(response.json)
        case "/sync/v1/pull":
            guard let after = NodeRouter.pullAfter(query), let limit = Int(query["limit"] ?? String(limits.pullPageOperationsMax)), limit >= 1 else {
                throw SyncError(status: 400, "after and limit must be integers (after >= 0, limit >= 1)")
            }
            let committed = try NodeRouter.wholeNumberHeader(request, SyncProtocol.cursorHeader)
            var afterOperation: OperationID?
            if let given = query["afterOperation"] {
                guard let id = OperationID(given) else {
                    throw SyncError(status: 400, "afterOperation must be an operation id, REPLICAHEX:COUNTER (the pull response's nextOperation)")
                }
                afterOperation = id
            }
            // A client restored from a backup of itself taking its own operations back (protocol 4.4).
            let own = query[SyncProtocol.ownOperationsQuery]
            guard own == nil || own == "1" else {
                throw SyncError(status: 400, "own must be 1 when given", hint: "ask `/sync/v1/pull?after=N&own=1`, or leave it out")
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")],
                                body: try service.pull(peer: peer!, after: after, afterOperation: afterOperation, limit: limit, committed: committed,
                                                       own: own != nil, look: look))
        case "/sync/v1/snapshot":
            // A reach that is no sequence is refused, as any malformed header (400).
            let reachingText = request.head.header(SyncProtocol.snapshotReachingHeader)
            let reaching = try reachingText.map { text throws(SyncError) -> Int64 in
                guard let value = Int64(text), value >= 0 else { throw SyncError(status: 400, "\(SyncProtocol.snapshotReachingHeader) must be a sequence, 0 or more") }
                return value
            } ?? 0
            let (copy, send, isReused) = try service.snapshot(peer: peer!, storage: request.head.header(SyncProtocol.storageHeader), reaching: reaching)
            metrics.increment("chorus_snapshots_served_total", labels: [("copy", isReused ? "reused" : "new")])
            var response = HTTPResponse(status: 200, headers: [("Content-Type", SyncProtocol.snapshotContentType),
                                                               (SyncProtocol.snapshotThroughHeader, String(copy.file.through)),
                                                               (SyncProtocol.snapshotChecksumHeader, XXHash64.hex(copy.file.checksum))])
            response.bodySource = FileBody(descriptor: copy.descriptor, length: copy.file.bytes, keeping: send)
            return response
        case "/sync/v1/digest":
            let cursor = try NodeRouter.wholeNumberHeader(request, SyncProtocol.cursorHeader)
            let reported = request.head.header(SyncProtocol.digestHeader).flatMap { digest in cursor.map { (digest, $0) } }
            return json(try service.digest(peer: peer!, reported: reported).json)
        case "/admin/v1/replicas":
            guard let silent = Int64(query["silentAfterSeconds"] ?? String(NodeRouter.silentAfterSecondsDefault)),
                  (0...NodeRouter.silentAfterSecondsMax).contains(silent) else {
                throw SyncError(status: 400, "silentAfterSeconds must be a whole number of seconds from 0 to \(NodeRouter.silentAfterSecondsMax) (ten years)")
            }
            service.flushActivity()
            let rows = try service.executor.perform { try $0.replicaHealth(silentAfterMilliseconds: silent * 1000) }
            return json(.object(["replicas": .array(rows.map(\.json))]))
        case "/admin/v1/conflicts":
            let filter = try conflictFilter(query)
            let (conflicts, next, total) = try service.executor.perform { try $0.conflicts(matching: filter) }
            return json(.object(["conflicts": .array(conflicts.map(\.json)), "next": next.map(JSONValue.string) ?? .null,
                                 "total": .integer(Int64(total))]))
        case "/admin/v1/conflicts/{id}":
            let detail = try service.executor.perform { replica -> JSONValue? in
                try replica.conflict(id: parameters[0]).map { try replica.conflictDetail($0) }
            }
            guard let detail else { throw SyncError(status: 404, "no open conflict \(parameters[0].prefix(40))", hint: "it may have been resolved") }
            return json(detail)
        case "/admin/v1/conflicts/{id}/resolve":
            let (choice, seen) = try resolution(request.body)
            let record = try service.executor.perform {
                try $0.resolveConflict(id: parameters[0], choice, by: "admin:\(peer!.name)", seen: seen, checkingValue: PeopleAPI.checkResolution($0))
            }
            return json(record.json)
        case "/admin/v1/resolutions":
            let limit = try NodeRouter.pageSize(query)
            let after = query["after"]
            if let after, after.utf8.count > 300 { throw SyncError(status: 400, "after is longer than 300 bytes: it is a cursor a page gave") }
            let (records, next) = try service.executor.perform { try $0.resolutionsPage(limit: limit, after: after) }
            return json(.object(["resolutions": .array(records.map(\.json)), "next": next.map(JSONValue.string) ?? .null]))
        default:
            return Problem.response(status: 404, detail: "no route")
        }
    }

    private func conflictFilter(_ query: [String: String]) throws -> ConflictFilter {
        var filter = ConflictFilter()
        // Names and a cursor, at most `conflictFilterCharactersMax` characters each, as the
        // OpenAPI document says (a longer one was taken, and matched nothing).
        for key in ["collection", "record", "field", "after"] where (query[key]?.unicodeScalars.count ?? 0) > NodeRouter.conflictFilterCharactersMax {
            throw SyncError(status: 400, "\(key) is longer than \(NodeRouter.conflictFilterCharactersMax) characters")
        }
        // A collection this node does not have matches nothing: a 400, as the CLI says of it
        // locally, not an empty list that reads as "no open conflicts".
        if let collection = query["collection"] {
            do { _ = try PeopleSchema.current.requireCollection(collection) } catch { throw SyncError(error) }
        }
        filter.collection = query["collection"]
        filter.record = query["record"]
        filter.field = query["field"]
        filter.after = query["after"]
        if let text = query["replica"] {
            guard let replica = ReplicaID(hex: text) else { throw SyncError(status: 400, "replica must be 32 hex digits") }
            filter.replica = replica
        }
        for (key, value) in [("since", query["since"]), ("until", query["until"])] {
            guard let value else { continue }
            guard let wall = UInt64(value) else { throw SyncError(status: 400, "\(key) must be Unix milliseconds") }
            if key == "since" { filter.since = wall } else { filter.until = wall }
        }
        if query["limit"] != nil { filter.limit = try NodeRouter.pageSize(query) }
        return filter
    }

    /// Longest name or cursor an admin's conflict list is filtered by.
    static let conflictFilterCharactersMax = 200

    /// An admin list's `limit`: 1 to 1,000, default 100 (400 otherwise: `-1` once meant every row).
    static func pageSize(_ query: [String: String]) throws -> Int {
        guard let text = query["limit"] else { return 100 }
        guard let limit = Int(text), (1...1000).contains(limit) else { throw SyncError(status: 400, "limit must be 1 to 1000") }
        return limit
    }

    /// `{"keep": "OPERATION_ID"}`, `{"value": JSON}` or `{"action": "restore" | "delete"}`, with
    /// `"siblings"`, the operation ids of the values the admin was shown, when the page sends them
    /// (`Replica.resolveConflict(seen:)`; at most `supersedesCountMax`).
    private func resolution(_ body: [UInt8]) throws -> (ConflictChoice, seen: [OperationID]?) {
        let json: JSONValue
        do { json = try JSONParser(depthMax: limits.jsonDepthMax + 2, bytesMax: limits.requestBodyBytesMax).parse(body) } catch {
            throw SyncError(status: 400, "resolve body: \(error)")
        }
        guard case .object(var object) = json else {
            throw SyncError(status: 400, "resolve body must be one of {\"keep\": OPERATION_ID}, {\"value\": JSON}, {\"action\": \"restore\"|\"delete\"}")
        }
        var seen: [OperationID]?
        if let given = object.removeValue(forKey: "siblings") {
            let refused = SyncError(status: 400, "siblings must be an array of at most \(limits.supersedesCountMax) operation ids, those of the values shown")
            guard case .array(let items) = given, items.count <= limits.supersedesCountMax else { throw refused }
            seen = try items.map { item throws(SyncError) in
                guard let id = item.stringValue.flatMap(OperationID.init) else { throw refused }
                return id
            }
        }
        guard object.count == 1 else {
            throw SyncError(status: 400, "resolve body must be one of {\"keep\": OPERATION_ID}, {\"value\": JSON}, {\"action\": \"restore\"|\"delete\"}")
        }
        switch (object["keep"], object["value"], object["action"]) {
        case (.string(let text)?, nil, nil):
            guard let id = OperationID(text) else { throw SyncError(status: 400, "keep must be an operation id") }
            return (.keep(id), seen)
        case (nil, let value?, nil):
            try OperationCodec(limits: limits).checkValue(value, context: "value")
            return (.value(value), seen)
        case (nil, nil, .string("restore")?): return (.restore, seen)
        case (nil, nil, .string("delete")?): return (.delete, seen)
        default:
            throw SyncError(status: 400, "resolve body must be one of {\"keep\": OPERATION_ID}, {\"value\": JSON}, {\"action\": \"restore\"|\"delete\"}")
        }
    }

    /// `/metrics`: counters and histograms kept in memory, plus gauges read from the replica now.
    func renderMetrics() throws -> String {
        service.flushActivity()
        // Revoked replicas will never sync again: their lag would only grow, and fire lag alerts for good.
        let (stats, conflicts, all, pending) = try service.executor.perform { replica in
            (try replica.statistics(), try replica.conflicts().count, try replica.replicaHealth(silentAfterMilliseconds: NodeRouter.silentAfterSecondsDefault * 1000),
             try replica.upstream() == nil ? nil : try replica.pendingPushCount())
        }
        let health = all.filter { !$0.isRevoked }
        var gauges = [
            Metrics.Gauge(name: "chorus_operations_logged", help: "Operations in this replica's log.", samples: [([], Double(stats.operations))]),
            Metrics.Gauge(name: "chorus_records", help: "Records known to this replica.", samples: [([], Double(stats.records))]),
            Metrics.Gauge(name: "chorus_open_conflicts", help: "Open conflicts, every kind.", samples: [([], Double(conflicts))]),
            Metrics.Gauge(name: "chorus_replica_lag_seconds", help: "Age of the oldest operation a registered replica (not revoked) has not acknowledged.",
                          samples: health.compactMap { row in row.lagMilliseconds.map { ([("replica", row.name)], Double($0) / 1000) } }),
            Metrics.Gauge(name: "chorus_replica_waiting_operations", help: "Operations waiting to reach a registered replica (down) or to come from it (up).",
                          samples: health.flatMap { row in
                              [row.waitingDown.map { ([("replica", row.name), ("direction", "down")], Double($0)) },
                               row.waitingUp.map { ([("replica", row.name), ("direction", "up")], Double($0)) }].compactMap { $0 }
                          }),
            Metrics.Gauge(name: "chorus_replica_clock_skew_seconds", help: "A registered replica's clock minus this node's, last observed.",
                          samples: health.compactMap { row in row.skewMilliseconds.map { ([("replica", row.name)], Double($0) / 1000) } }),
        ]
        if let pending {
            gauges.append(Metrics.Gauge(name: "chorus_upstream_waiting_operations", help: "Operations of this replica not yet pushed upstream.",
                                        samples: [([], Double(pending))]))
        }
        return metrics.render(gauges: gauges)
    }

    func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: value.canonicalBytes)
    }
}

extension SyncError {
    /// The `application/problem+json` response for this error, with its hint: the one place every
    /// route turns an error into HTTP.
    var response: HTTPResponse {
        if isNodeFault { return Problem.fault(status: status, detail: message, hint: hint) }
        return Problem.response(status: status, detail: message, extra: hint.map { [("hint", $0)] } ?? [])
    }
}
