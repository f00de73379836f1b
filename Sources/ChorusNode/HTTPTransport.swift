import ChorusCore
import ChorusSync
import ChorusReplica
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The sync transport over HTTP, with URLSession (FoundationNetworking) and timeouts.
public final class HTTPTransport: SyncTransport, @unchecked Sendable {
    public let baseURL: URL
    let token: String
    let replica: ReplicaID
    let limits: Limits
    let session: URLSession
    let wallClock: any WallClock

    /// - Parameters:
    ///   - baseURL: the upstream, e.g. `http://127.0.0.1:7420`.
    ///   - token: the bearer token the upstream issued for this replica.
    public init(baseURL: URL, token: String, replica: ReplicaID, limits: Limits, wallClock: any WallClock = SystemClock()) {
        self.wallClock = wallClock
        self.baseURL = baseURL
        self.token = token
        self.replica = replica
        self.limits = limits
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = limits.syncRequestTimeoutSeconds
        configuration.timeoutIntervalForResource = limits.syncRequestTimeoutSeconds * 4
        configuration.httpMaximumConnectionsPerHost = 2
        self.session = URLSession(configuration: configuration)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// Reads and checks a token file: 64 hex digits, surrounding whitespace ignored.
    public static func readToken(path: String, limits: Limits) throws -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int else {
            throw ChorusError(.storage, "cannot read the token file \(path)", hint: "give the file `chorus replicas add` output was saved to")
        }
        guard size <= limits.tokenFileBytesMax, let data = FileManager.default.contents(atPath: path) else {
            throw ChorusError(.limitExceeded, "the token file \(path) is \(size) bytes, over \(limits.tokenFileBytesMax)", hint: "it should hold one 64-hex-digit token")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.utf8.count == 64, Hex.decode(token) != nil else {
            throw ChorusError(.malformedInput, "the token file \(path) does not hold a 64-hex-digit token",
                              hint: "save exactly the token printed by `chorus replicas add` on the upstream")
        }
        return token
    }

    func send(_ method: String, _ path: String, query: [URLQueryItem] = [], body: [UInt8]? = nil, headers: [String: String] = [:]) throws -> [UInt8] {
        var components = URLComponents(url: baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query }
        var request = URLRequest(url: components.url!, timeoutInterval: limits.syncRequestTimeoutSeconds)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(String(SyncProtocol.versions.last!), forHTTPHeaderField: SyncProtocol.versionHeader)
        request.setValue(replica.hex, forHTTPHeaderField: SyncProtocol.replicaHeader)
        request.setValue(String(wallClock.nowMilliseconds()), forHTTPHeaderField: SyncProtocol.clockHeader)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        final class Outcome: @unchecked Sendable {
            var data: Data?
            var response: URLResponse?
            var error: Error?
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        session.dataTask(with: request) { data, response, error in
            outcome.data = data
            outcome.response = response
            outcome.error = error
            done.signal()
        }.resume()
        done.wait()
        if let error = outcome.error {
            throw SyncError(status: 0, "cannot reach the upstream \(baseURL.absoluteString): \(error.localizedDescription)",
                            hint: "check the URL and that the upstream is running; changes are kept and sent when it is back")
        }
        guard let http = outcome.response as? HTTPURLResponse else { throw SyncError(status: 0, "no HTTP response from \(baseURL.absoluteString)") }
        let bytes = [UInt8](outcome.data ?? Data())
        guard (200..<300).contains(http.statusCode) else {
            let problem = try? JSONParser().parse(bytes)
            let detail = problem?["detail"]?.stringValue ?? String(decoding: bytes.prefix(200), as: UTF8.self)
            throw SyncError(status: http.statusCode, "the upstream answered \(http.statusCode): \(detail)", hint: problem?["hint"]?.stringValue)
        }
        return bytes
    }

    func json(_ bytes: [UInt8]) throws -> JSONValue {
        do { return try JSONParser(bytesMax: limits.pullPageBytesMax + 1024 * 1024).parse(bytes) } catch {
            throw SyncError(status: 0, "the upstream sent malformed JSON: \(error)")
        }
    }

    public func info() throws -> InfoResponse { try InfoResponse(try json(try send("GET", "sync/v1/info"))) }

    public func push(body: [UInt8]) throws -> PushResponse { try PushResponse(try json(try send("POST", "sync/v1/push", body: body))) }

    public func pull(after: Int64, limit: Int, waitingToPush: Int64) throws -> PullResponse {
        let bytes = try send("GET", "sync/v1/pull", query: [URLQueryItem(name: "after", value: String(after)), URLQueryItem(name: "limit", value: String(limit))],
                             headers: [SyncProtocol.pendingHeader: String(waitingToPush)])
        return try PullResponse.decode(bytes, limits: limits)
    }

    public func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse {
        let headers = local.map { [SyncProtocol.digestHeader: $0.digest, SyncProtocol.cursorHeader: String($0.cursor)] } ?? [:]
        return try DigestResponse(try json(try send("GET", "sync/v1/digest", headers: headers)))
    }
}
