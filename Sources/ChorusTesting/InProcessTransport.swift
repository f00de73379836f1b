import ChorusCore
import ChorusNode
import ChorusSync
import Foundation
import HTTP1

/// A sync transport that hands requests straight to a node's router, with no sockets: the whole
/// protocol (routing, auth, encoding) runs in-process, deterministically.
public final class InProcessTransport: SyncTransport, @unchecked Sendable {
    let router: NodeRouter
    public let token: String
    let replica: ReplicaID
    let limits: Limits
    /// The client's wall clock, sent in `Chorus-Clock` when set.
    public var clientClock: (any WallClock)?
    /// Called with every response before it is returned; tests use it to drop or corrupt responses.
    public var intercept: ((String, HTTPResponse) throws -> HTTPResponse)?
    /// Called with every request before the router sees it, on the thread that sends it (pulls
    /// run on threads of their own); tests use it to see what was asked, and when.
    public var observe: (@Sendable (HTTPRequest) -> Void)?

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

    /// The router's response, after `intercept`; a non-2xx one thrown as the HTTP transport would.
    public func respond(_ method: String, _ target: String, body: [UInt8] = [], headers: [(name: String, value: String)] = []) throws -> HTTPResponse {
        let sent = request(method, target, body: body, extraHeaders: headers)
        observe?(sent)
        var response = router.handle(sent)
        if let intercept { response = try intercept(target, response) }
        guard (200..<300).contains(response.status) else { throw HTTPTransport.refusal(status: response.status, body: response.body) }
        return response
    }

    func send(_ method: String, _ target: String, body: [UInt8] = [], headers: [(name: String, value: String)] = []) throws -> [UInt8] {
        try respond(method, target, body: body, headers: headers).body
    }

    public func info(ownOperations: Bool) throws -> InfoResponse {
        try InfoResponse(try JSONParser().parse(try send("GET", ownOperations ? "/sync/v1/info?\(SyncProtocol.ownOperationsQuery)=1" : "/sync/v1/info")))
    }
    public func push(body: [UInt8]) throws -> PushResponse { try PushResponse(try JSONParser().parse(try send("POST", "/sync/v1/push", body: body))) }
    public func pull(after: Int64, afterOperation: OperationID?, limit: Int, waitingToPush: Int64, committed: Int64, own: Bool) throws -> PullResponse {
        try PullResponse.decode(try send("GET", "/sync/v1/pull?after=\(after)&limit=\(limit)" + (afterOperation.map { "&afterOperation=\($0)" } ?? "")
                                             + (own ? "&\(SyncProtocol.ownOperationsQuery)=1" : ""),
                                         headers: [(SyncProtocol.pendingHeader, String(waitingToPush)), (SyncProtocol.cursorHeader, String(committed))]),
                                limits: limits)
    }
    /// The snapshot's body read from the router's response into `path`, as the HTTP transport would.
    public func snapshot(storage: String, reaching: Int64 = 0, into path: String, progress: @escaping (Int64, Int64) -> Void = { _, _ in }) throws -> Int64 {
        let response = try respond("GET", "/sync/v1/snapshot", headers: HTTPTransport.snapshotHeaders(storage: storage, reaching: reaching).sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let bytes = response.wholeBody()
        guard Int64(bytes.count) <= limits.snapshotBytesMax else { throw SyncError(status: 413, "snapshot over snapshotBytesMax") }
        var hasher = XXHash64()
        hasher.update(bytes)
        try SnapshotChecksum.check(hasher.finalize(), against: response.header(SyncProtocol.snapshotChecksumHeader))
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw SyncError(status: 0, "cannot write \(path)") }
        progress(Int64(bytes.count), response.contentLength)
        guard let through = response.header(SyncProtocol.snapshotThroughHeader).flatMap({ Int64($0) }) else {
            throw SyncError(status: 0, "no \(SyncProtocol.snapshotThroughHeader) header")
        }
        return through
    }

    public func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse {
        let headers = local.map { [(name: SyncProtocol.digestHeader, value: $0.digest), (name: SyncProtocol.cursorHeader, value: String($0.cursor))] } ?? []
        return try DigestResponse(try JSONParser().parse(try send("GET", "/sync/v1/digest", headers: headers)))
    }
}

extension HTTPResponse {
    /// The whole body, read to its end from `bodySource` when there is one (which can be read once).
    public func wholeBody() -> [UInt8] {
        guard let source = bodySource else { return body }
        var bytes: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { source.read(into: $0) }
            if count == 0 { return bytes }
            bytes += buffer[..<count]
        }
    }
}
