import ChorusCore
import ChorusNode
import ChorusSync
import HTTP1

/// A sync transport that hands requests straight to a node's router, with no sockets: the whole
/// protocol (routing, auth, encoding) runs in-process, deterministically.
public final class InProcessTransport: SyncTransport, @unchecked Sendable {
    let router: NodeRouter
    let token: String
    let replica: ReplicaID
    let limits: Limits
    /// The client's wall clock, sent in `Chorus-Clock` when set.
    public var clientClock: (any WallClock)?
    /// Called with every response before it is returned; tests use it to drop or corrupt responses.
    public var intercept: ((String, HTTPResponse) throws -> HTTPResponse)?

    public init(router: NodeRouter, token: String, replica: ReplicaID, limits: Limits = .default) {
        self.router = router
        self.token = token
        self.replica = replica
        self.limits = limits
    }

    /// A request as the HTTP transport would send it.
    public func request(_ method: String, _ target: String, body: [UInt8] = [], token: String? = nil,
                        extraHeaders: [(name: String, value: String)] = []) -> HTTPRequest {
        var headers: [(name: String, value: String)] = [("Host", "test"), (SyncProtocol.versionHeader, "1"), (SyncProtocol.replicaHeader, replica.hex)]
        headers += extraHeaders
        if let clientClock { headers.append((SyncProtocol.clockHeader, String(clientClock.nowMilliseconds()))) }
        headers.append(("Authorization", "Bearer \(token ?? self.token)"))
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        return HTTPRequest(head: HTTPRequestHead(method: method, target: target, minorVersion: 1, headers: headers), body: body)
    }

    func send(_ method: String, _ target: String, body: [UInt8] = [], headers: [(name: String, value: String)] = []) throws -> [UInt8] {
        var response = router.handle(request(method, target, body: body, extraHeaders: headers))
        if let intercept { response = try intercept(target, response) }
        guard (200..<300).contains(response.status) else {
            let detail = (try? JSONParser().parse(response.body))?["detail"]?.stringValue ?? ""
            throw SyncError(status: response.status, detail)
        }
        return response.body
    }

    public func info() throws -> InfoResponse { try InfoResponse(try JSONParser().parse(try send("GET", "/sync/v1/info"))) }
    public func push(body: [UInt8]) throws -> PushResponse { try PushResponse(try JSONParser().parse(try send("POST", "/sync/v1/push", body: body))) }
    public func pull(after: Int64, limit: Int, waitingToPush: Int64) throws -> PullResponse {
        try PullResponse.decode(try send("GET", "/sync/v1/pull?after=\(after)&limit=\(limit)",
                                         headers: [(SyncProtocol.pendingHeader, String(waitingToPush))]), limits: limits)
    }
    public func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse {
        let headers = local.map { [(name: SyncProtocol.digestHeader, value: $0.digest), (name: SyncProtocol.cursorHeader, value: String($0.cursor))] } ?? []
        return try DigestResponse(try JSONParser().parse(try send("GET", "/sync/v1/digest", headers: headers)))
    }
}
