import ChorusCore
import ChorusSync
import HTTPClient
import Foundation

/// The transport's exchanges with a plain `http://` upstream, through `HTTPClient`: an answer's
/// body is read only when its `Content-Length` is within `syncAnswerBytesMax` (a snapshot's within
/// `snapshotBytesMax`), and each exchange ends by its deadline however the bytes trickle.
extension HTTPTransport {
    /// The request target: the base URL's path (an upstream behind a proxy may have one), the
    /// endpoint, the query.
    func target(_ path: String, query: [URLQueryItem]) -> String {
        var components = URLComponents(url: baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query }
        let encodedPath = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return components.percentEncodedQuery.map { "\(encodedPath)?\($0)" } ?? encodedPath
    }

    /// The bound for an answer's body, from its head: a success's (`isSuccess`, any 2xx unless
    /// told) up to `bytesMax`; any other's problem detail when short, or nothing (the status
    /// says enough).
    static func bodyBound(_ bytesMax: Int64, isSuccess: @escaping (Int) -> Bool = { (200..<300).contains($0) })
        -> (Int, [(name: String, value: String)]) -> HTTPClient.BodyBound {
        return { status, headers in
            if isSuccess(status) { return .upTo(bytesMax) }
            let length = HTTPClient.contentLength(headers) ?? Int64.max
            return length <= Int64(BoundedAnswers.errorBodyBytesMax) ? .upTo(length) : .skip
        }
    }

    func sendPlain(_ client: HTTPClient, _ method: String, _ path: String, query: [URLQueryItem], body: [UInt8]?, headers: [String: String]) throws -> [UInt8] {
        var extra = headers
        if body != nil { extra["Content-Type"] = "application/json" }
        let response: HTTPClient.Response
        do {
            response = try client.exchange(method: method, target: target(path, query: query), headers: requestHeaders(extra), body: body,
                                           seconds: limits.syncAnswerSecondsMax, bound: HTTPTransport.bodyBound(Int64(limits.syncAnswerBytesMax)))
        } catch {
            throw failure(error, "\(method) /\(path)", secondsMax: limits.syncAnswerSecondsMax, bytesMax: Int64(limits.syncAnswerBytesMax))
        }
        guard (200..<300).contains(response.status) else { throw HTTPTransport.refusal(status: response.status, body: response.body, from: caller.answering) }
        return response.body
    }

    /// Streams the snapshot into `path` as it arrives (its checksum computed on the way), never
    /// holding it in memory.
    func snapshotPlain(_ client: HTTPClient, headers: [String: String], into path: String, progress: (Int64, Int64) -> Void) throws -> Int64 {
        let file = try FileAppender(creating: path)
        defer { try? file.close() }
        var hasher = XXHash64()
        var status = 0
        var expected: Int64 = -1
        var received: Int64 = 0
        var reportedAt: Int64 = 0
        var errorBody: [UInt8] = []
        // Only a 200 is a snapshot: any other answer's body is an error's, a problem detail at most.
        let bound = HTTPTransport.bodyBound(limits.snapshotBytesMax, isSuccess: { $0 == 200 })
        let head: (status: Int, headers: [(name: String, value: String)])
        do {
            head = try client.exchange(method: "GET", target: target("sync/v1/snapshot", query: []),
                                       headers: requestHeaders(headers), body: nil,
                                       seconds: limits.snapshotDownloadSecondsMax, bound: { answered, headers in
                status = answered
                expected = HTTPClient.contentLength(headers) ?? -1
                return bound(answered, headers)
            }, into: { piece in
                guard status == 200 else { return errorBody.append(contentsOf: piece) }
                hasher.update(piece)
                try file.append(piece)
                received += Int64(piece.count)
                if received - reportedAt >= SnapshotDownload.progressStepBytes {
                    reportedAt = received
                    progress(received, expected)
                }
            })
        } catch where error.kind == .sink {
            throw error.underlying ?? error
        } catch {
            throw snapshotFailure(error)
        }
        guard head.status == 200 else { throw HTTPTransport.refusal(status: head.status, body: errorBody, from: caller.answering) }
        let header = { (name: String) in head.headers.first { $0.name.lowercased() == name.lowercased() }?.value }
        guard let through = header(SyncProtocol.snapshotThroughHeader).flatMap({ Int64($0) }), through >= 0 else {
            throw SyncError(status: 0, "the snapshot came without a valid \(SyncProtocol.snapshotThroughHeader) header")
        }
        try SnapshotChecksum.check(hasher.finalize(), against: header(SyncProtocol.snapshotChecksumHeader))
        try file.close()   // the last piece written out: the file is whole once this returns
        return through
    }

    /// A snapshot download's failure, through either client: the client pulls the log instead.
    func snapshotFailure(_ error: HTTPClientError) -> SyncError {
        switch error.kind {
        case .timedOut:
            var failure = SyncError(status: 0, "the snapshot download took over \(Int(limits.snapshotDownloadSecondsMax)) s (\(error.message))",
                                    hint: "the client pulls the log instead; raise snapshotDownloadSecondsMax for a slow link")
            failure.remedy = "raise snapshotDownloadSecondsMax (\(Int(limits.snapshotDownloadSecondsMax)) s) for this link"
            return failure
        case .tooLarge:
            var failure = SyncError(status: 413, "the upstream's snapshot is over \(limits.snapshotBytesMax) bytes", hint: "raise snapshotBytesMax, or pull the log")
            failure.remedy = "raise snapshotBytesMax (\(limits.snapshotBytesMax) bytes)"
            return failure
        default:
            return failure(error, "GET /sync/v1/snapshot", secondsMax: limits.snapshotDownloadSecondsMax, bytesMax: limits.snapshotBytesMax)
        }
    }

    /// An exchange's failure as the error an operator reads, in the words of whoever asked
    /// (`caller`): a sync's upstream, whose changes wait for the next sync, or a node an admin
    /// command asks.
    func failure(_ error: HTTPClientError, _ exchange: String, secondsMax: Double, bytesMax: Int64) -> SyncError {
        let node = "\(caller == .sync ? "the upstream" : "the node") \(baseURL.absoluteString)"
        switch error.kind {
        case .timedOut:
            return SyncError(status: 0, "\(node) took over \(Int(secondsMax)) s to answer \(exchange) (\(error.message))",
                             hint: caller == .sync ? "the link or the upstream is too slow; changes are kept and sent at the next sync (syncRequestTimeoutSeconds sets the wait)"
                                 : "the link or the node is too slow; try again")
        case .stalled:
            // Not "took over" the deadline: it said it of a node silent for the idle time only.
            return SyncError(status: 0, "\(node) stopped answering \(exchange): \(error.message)",
                             hint: caller == .sync ? "the upstream, or something between (a proxy), holds the connection without answering; changes are kept and sent at the next sync"
                                 : "the node, or something between (a proxy), holds the connection without answering; try again")
        case .tooLarge:
            return SyncError(status: 0, "\(node) answered \(exchange) with over \(bytesMax) bytes, more than a pull page and its envelope",
                             hint: "check that the URL is a Chorus node's; if its pullPageBytesMax is larger than this node's, raise this node's to match")
        case .unframed:
            return SyncError(status: 0, "\(node) answered \(exchange) without a Content-Length, or compressed: \(error.message)",
                             hint: "Chorus nodes always send Content-Length: if a proxy stands between, have it pass answers on as they are (no chunking, no compression on /sync/)")
        case .malformed:
            return SyncError(status: 0, "\(node) sent a malformed answer to \(exchange): \(error.message)",
                             hint: "check that the URL is a Chorus node's")
        case .cannotConnect where error.message.contains("wrong version number"):
            // TLS spoken to a node that answers in plain HTTP: OpenSSL's words alone say little.
            return SyncError(status: 0, "\(baseURL.absoluteString) did not answer in TLS (\(error.message))",
                             hint: "a node speaks plain HTTP unless a proxy terminates TLS in front of it (Docs/guides/run-a-hub.md, section 3): use http://, or the proxy's address")
        case .cannotConnect, .closed, .sink:
            return SyncError(status: 0, "cannot reach \(node): \(error.message)",
                             hint: caller == .sync ? "check the URL and that the upstream is running; changes are kept and sent when it is back"
                                 : "check the URL (--remote) and that `chorus serve` runs there")
        }
    }
}
