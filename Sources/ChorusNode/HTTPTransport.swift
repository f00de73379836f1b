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

    /// A request to the upstream with the headers every sync request carries (protocol section 2).
    func makeRequest(_ method: String, _ path: String, query: [URLQueryItem] = [], headers: [String: String] = [:]) -> URLRequest {
        var components = URLComponents(url: baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query }
        var request = URLRequest(url: components.url!, timeoutInterval: limits.syncRequestTimeoutSeconds)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(String(SyncProtocol.versions.last!), forHTTPHeaderField: SyncProtocol.versionHeader)
        request.setValue(replica.hex, forHTTPHeaderField: SyncProtocol.replicaHeader)
        request.setValue(String(wallClock.nowMilliseconds()), forHTTPHeaderField: SyncProtocol.clockHeader)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        return request
    }

    /// A non-2xx answer as an error, with the problem's detail and hint when the body is one.
    public static func refusal(status: Int, body: [UInt8]) -> SyncError {
        let problem = try? JSONParser().parse(body)
        let detail = problem?["detail"]?.stringValue ?? String(decoding: body.prefix(200), as: UTF8.self)
        return SyncError(status: status, "the upstream answered \(status): \(detail)", hint: problem?["hint"]?.stringValue)
    }

    func send(_ method: String, _ path: String, query: [URLQueryItem] = [], body: [UInt8]? = nil, headers: [String: String] = [:]) throws -> [UInt8] {
        var request = makeRequest(method, path, query: query, headers: headers)
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
        guard (200..<300).contains(http.statusCode) else { throw HTTPTransport.refusal(status: http.statusCode, body: bytes) }
        return bytes
    }

    func json(_ bytes: [UInt8]) throws -> JSONValue {
        do { return try JSONParser(bytesMax: limits.pullPageBytesMax + 1024 * 1024).parse(bytes) } catch {
            throw SyncError(status: 0, "the upstream sent malformed JSON: \(error)")
        }
    }

    public func info() throws -> InfoResponse { try InfoResponse(try json(try send("GET", "sync/v1/info"))) }

    public func push(body: [UInt8]) throws -> PushResponse { try PushResponse(try json(try send("POST", "sync/v1/push", body: body))) }

    public func pull(after: Int64, limit: Int, waitingToPush: Int64, committed: Int64) throws -> PullResponse {
        let bytes = try send("GET", "sync/v1/pull", query: [URLQueryItem(name: "after", value: String(after)), URLQueryItem(name: "limit", value: String(limit))],
                             headers: [SyncProtocol.pendingHeader: String(waitingToPush), SyncProtocol.cursorHeader: String(committed)])
        return try PullResponse.decode(bytes, limits: limits)
    }

    /// Streams the snapshot into `path` as it arrives, never holding it in memory, and cuts the
    /// download at `snapshotBytesMax`.
    public func snapshot(storage: String, into path: String, progress: @escaping (Int64, Int64) -> Void = { _, _ in }) throws -> Int64 {
        let request = makeRequest("GET", "sync/v1/snapshot", headers: [SyncProtocol.storageHeader: storage])
        let file = try FileAppender(creating: path)
        defer { try? file.close() }
        let download = SnapshotDownload(file: file, bytesMax: limits.snapshotBytesMax, progress: progress)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = limits.syncRequestTimeoutSeconds   // between two pieces
        let session = URLSession(configuration: configuration, delegate: download, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        task.resume()
        // The overall cap, enforced here: FoundationNetworking on Linux arms only the idle timer,
        // which every piece of data resets, so a trickle would otherwise hold the sync for ever.
        if download.done.wait(timeout: .now() + limits.snapshotDownloadSecondsMax) == .timedOut {
            download.timedOut = true
            task.cancel()
            download.done.wait()   // the delegate's last call, after which the file is no longer written
        }
        if download.timedOut {
            throw SyncError(status: 0, "the snapshot download took over \(Int(limits.snapshotDownloadSecondsMax)) s",
                            hint: "the client pulls the log instead; raise snapshotDownloadSecondsMax for a slow link")
        }
        if download.overLimit {
            throw SyncError(status: 413, "the upstream's snapshot is over \(limits.snapshotBytesMax) bytes", hint: "raise snapshotBytesMax, or pull the log")
        }
        if download.status != 0 && download.status != 200 { throw HTTPTransport.refusal(status: download.status, body: [UInt8](download.errorBody)) }
        if let failure = download.failure {
            throw SyncError(status: 0, "the snapshot download from \(baseURL.absoluteString) failed: \(failure.localizedDescription)",
                            hint: "the client pulls the log instead")
        }
        guard let through = download.through, through >= 0 else {
            throw SyncError(status: 0, "the snapshot came without a valid \(SyncProtocol.snapshotThroughHeader) header")
        }
        guard download.expected < 0 || download.received == download.expected else {
            throw SyncError(status: 0, "the snapshot ended after \(download.received) of \(download.expected) bytes", hint: "the client pulls the log instead")
        }
        try SnapshotChecksum.check(download.hasher.finalize(), against: download.checksumHeader)
        try file.close()   // the last piece written out: the file is whole once this returns
        return through
    }

    public func digest(reporting local: (digest: String, cursor: Int64)?) throws -> DigestResponse {
        let headers = local.map { [SyncProtocol.digestHeader: $0.digest, SyncProtocol.cursorHeader: String($0.cursor)] } ?? [:]
        return try DigestResponse(try json(try send("GET", "sync/v1/digest", headers: headers)))
    }
}

/// Receives a snapshot piece by piece into a file, counting bytes against the limit.
final class SnapshotDownload: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    /// Written on the session's delegate queue only, closed by the caller once `done` is signalled.
    let file: FileAppender
    let bytesMax: Int64
    let done = DispatchSemaphore(value: 0)
    var status = 0
    var through: Int64?
    var expected: Int64 = -1
    var received: Int64 = 0
    var overLimit = false
    var timedOut = false
    var failure: (any Error)?
    var checksumHeader: String?
    /// The body's checksum, computed as it arrives (no second pass over the file).
    var hasher = XXHash64()
    /// The start of an error response's body, for its problem detail.
    var errorBody = Data()

    /// Told the bytes received and expected every `progressStepBytes`.
    let progress: (Int64, Int64) -> Void
    private var reportedAt: Int64 = 0
    static let progressStepBytes: Int64 = 32 * 1024 * 1024

    init(file: FileAppender, bytesMax: Int64, progress: @escaping (Int64, Int64) -> Void) {
        self.file = file
        self.bytesMax = bytesMax
        self.progress = progress
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        status = http?.statusCode ?? 0
        through = (http?.value(forHTTPHeaderField: SyncProtocol.snapshotThroughHeader)).flatMap { Int64($0) }
        expected = response.expectedContentLength
        checksumHeader = http?.value(forHTTPHeaderField: SyncProtocol.snapshotChecksumHeader)
        if status == 200 && expected > bytesMax {
            overLimit = true
            completionHandler(.cancel)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard status == 200 else {
            if errorBody.count < 64 * 1024 { errorBody.append(data.prefix(64 * 1024 - errorBody.count)) }
            return
        }
        received += Int64(data.count)
        if received > bytesMax {
            overLimit = true
            dataTask.cancel()
            return
        }
        data.withUnsafeBytes { hasher.update($0) }
        if received - reportedAt >= SnapshotDownload.progressStepBytes {
            reportedAt = received
            progress(received, expected)
        }
        do { try data.withUnsafeBytes { try file.append($0) } } catch {
            failure = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if failure == nil, !overLimit { failure = error }
        done.signal()
    }
}
