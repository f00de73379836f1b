import ChorusCore
import ChorusReplica
import ChorusSync
import HTTP1
import HTTPServer

/// The node's HTTP routes: a function from a request to a response (no sockets here).
///
/// | route | who |
/// |---|---|
/// | `GET /healthz`, `GET /readyz` | anyone |
/// | `GET /sync/v1/info` | any valid token |
/// | `POST /sync/v1/push`, `GET /sync/v1/pull` | replica and relay tokens |
/// | `GET /sync/v1/digest` | any valid token |
/// | `GET /admin/v1/replicas` | admin tokens |
public struct NodeRouter: Sendable {
    public enum Access: Sendable { case anyone, anyToken, sync, admin }

    public struct Route: Sendable {
        public let method: String
        public let path: String
        public let access: Access
        /// Whether the route takes large bodies (sync pushes).
        public let isPush: Bool
    }

    public static let routes: [Route] = [
        Route(method: "GET", path: "/healthz", access: .anyone, isPush: false),
        Route(method: "GET", path: "/readyz", access: .anyone, isPush: false),
        Route(method: "GET", path: "/sync/v1/info", access: .anyToken, isPush: false),
        Route(method: "POST", path: "/sync/v1/push", access: .sync, isPush: true),
        Route(method: "GET", path: "/sync/v1/pull", access: .sync, isPush: false),
        Route(method: "GET", path: "/sync/v1/digest", access: .anyToken, isPush: false),
        Route(method: "GET", path: "/admin/v1/replicas", access: .admin, isPush: false),
    ]

    public let service: SyncService
    public let limits: Limits

    public init(service: SyncService, limits: Limits) {
        self.service = service
        self.limits = limits
    }

    /// The body limit for a request head: large only for sync pushes.
    public static func bodyLimit(for head: HTTPRequestHead, limits: Limits) -> Int {
        head.method == "POST" && head.path == "/sync/v1/push" ? limits.pushBodyBytesMax : limits.requestBodyBytesMax
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let path = request.head.path
        let candidates = NodeRouter.routes.filter { $0.path == path }
        guard !candidates.isEmpty else { return Problem.response(status: 404, detail: "no route \(path.prefix(100))") }
        guard let route = candidates.first(where: { $0.method == request.head.method }) else {
            var response = Problem.response(status: 405, detail: "\(path) takes \(candidates.map(\.method).joined(separator: ", "))")
            response.headers.append(("Allow", candidates.map(\.method).joined(separator: ", ")))
            return response
        }
        do {
            var peer: Peer?
            if route.access != .anyone {
                peer = try service.authenticate(authorization: request.head.header("Authorization"),
                                                replicaHeader: request.head.header(SyncProtocol.replicaHeader))
                switch (route.access, peer!.role) {
                case (.sync, .admin): throw SyncError.forbidden("admin tokens cannot sync", hint: "sync with a replica or relay token")
                case (.admin, .replica), (.admin, .relay): throw SyncError.forbidden("this route needs an admin token")
                default: break
                }
                if path.hasPrefix("/sync/") { try service.checkVersion(request.head.header(SyncProtocol.versionHeader)) }
            }
            var response = try respond(route, request, peer)
            if let peer { response.logAnnotations["peer"] = peer.name }
            return response
        } catch let error as SyncError {
            var response = Problem.response(status: error.status, detail: error.message, extra: error.hint.map { [("hint", $0)] } ?? [])
            if error.status == 401 { response.headers.append(("WWW-Authenticate", "Bearer realm=\"chorus\"")) }
            return response
        } catch let error as ChorusError {
            let mapped = SyncError(error)
            return Problem.response(status: mapped.status, detail: mapped.message, extra: mapped.hint.map { [("hint", $0)] } ?? [])
        } catch {
            return Problem.response(status: 500, detail: "internal error: \(error)")
        }
    }

    private func respond(_ route: Route, _ request: HTTPRequest, _ peer: Peer?) throws -> HTTPResponse {
        switch route.path {
        case "/healthz":
            return json(.object(["status": "ok"]))
        case "/readyz":
            let migrations = try service.executor.perform { try $0.appliedMigrations() }
            return json(.object(["status": "ready", "migrations": .array(migrations.map(JSONValue.string))]))
        case "/sync/v1/info":
            return json(service.info().json)
        case "/sync/v1/push":
            guard request.head.header("Content-Type")?.lowercased().hasPrefix("application/json") ?? false else {
                throw SyncError(status: 415, "push bodies are application/json")
            }
            return json(try service.push(peer: peer!, body: request.body).json)
        case "/sync/v1/pull":
            let query = request.head.query
            guard let after = Int64(query["after"] ?? "0"), let limit = Int(query["limit"] ?? String(limits.pullPageOperationsMax)), limit >= 1 else {
                throw SyncError(status: 400, "after and limit must be integers (after >= 0, limit >= 1)")
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: try service.pull(peer: peer!, after: after, limit: limit))
        case "/sync/v1/digest":
            return json(try service.digest(peer: peer!).json)
        case "/admin/v1/replicas":
            let peers = try service.executor.perform { try $0.peers() }
            return json(.object(["replicas": .array(peers.map(\.json))]))
        default:
            return Problem.response(status: 404, detail: "no route")
        }
    }

    func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: value.canonicalBytes)
    }
}
