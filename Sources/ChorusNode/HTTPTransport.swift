import ChorusCore
import ChorusSync
import ChorusReplica
import HTTPClient
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The sync transport over HTTP: `HTTPClient` for a plain `http://` upstream, where every byte
/// read is bounded before it is read; URLSession (FoundationNetworking) for `https://`, bounded by
/// the answer's head as far as URLSession allows (`BoundedAnswers`).
public final class HTTPTransport: SyncTransport, @unchecked Sendable {
    public let baseURL: URL
    let token: String
    let replica: ReplicaID
    let limits: Limits
    /// The one client its requests go through, made for this upstream's scheme.
    let client: Client
    let wallClock: any WallClock

    enum Client {
        /// A plain `http://` upstream.
        case plain(HTTPClient)
        /// `https://`, or a proxy the environment names, with the delegate bounding its answers.
        case urlSession(URLSession, BoundedAnswers)
    }

    /// - Parameters:
    ///   - baseURL: the upstream, e.g. `http://127.0.0.1:7420`.
    ///   - token: the bearer token the upstream issued for this replica.
    ///   - usingURLSession: URLSession for a plain `http://` upstream too (`https://` always uses
    ///     it), so tests exercise that path without TLS.
    /// Who asks through a transport, for the words of its errors.
    public enum Caller: Sendable {
        case sync, admin

        /// The node a refusal came from, in its words: an admin command's node (`--remote`) is
        /// not this replica's upstream.
        public var answering: String { self == .admin ? "the node" : "the upstream" }
    }
    /// Who asks through this transport.
    public let caller: Caller

    public init(baseURL: URL, token: String, replica: ReplicaID, limits: Limits, wallClock: any WallClock = SystemClock(), usingURLSession: Bool = false,
                caller: Caller = .sync) {
        self.caller = caller
        self.wallClock = wallClock
        self.baseURL = baseURL
        self.token = token
        self.replica = replica
        self.limits = limits
        // A node makes a transport for every sync: only the client it uses is made.
        if !usingURLSession, baseURL.scheme?.lowercased() == "http", let host = baseURL.host, !host.isEmpty, !HTTPTransport.proxied(host) {
            var clientLimits = HTTPClient.Limits()
            clientLimits.idleSeconds = limits.syncRequestTimeoutSeconds
            client = .plain(HTTPClient(host: host, port: UInt16(exactly: baseURL.port ?? 80) ?? 80, limits: clientLimits))
        } else {
            let configuration = URLSessionConfiguration.ephemeral
            configuration.timeoutIntervalForRequest = limits.syncRequestTimeoutSeconds
            configuration.timeoutIntervalForResource = limits.syncAnswerSecondsMax
            configuration.httpMaximumConnectionsPerHost = 2
            let answers = BoundedAnswers()
            client = .urlSession(URLSession(configuration: configuration, delegate: answers, delegateQueue: nil), answers)
        }
    }

    deinit {
        if case .urlSession(let session, _) = client { session.finishTasksAndInvalidate() }
    }

    /// A node's URL as an operator gives it (`chorus join`, `serve --upstream`, `--remote`):
    /// http(s) with a host; a port past 65535 was cut to another (80), where whoever listens would
    /// be sent the token, and credentials in it would be written in the replica, its logs and every
    /// sync's output.
    /// Longest URL of a node (`join`, `serve --upstream`, `--remote`), in bytes: a request's
    /// target is its path and query, within a request line of `requestLineBytesMax` (8 KiB).
    public static let nodeURLBytesMax = 2048
    /// How long an exchange cut at its deadline waits for its cancelled task to end before it
    /// lets the task's answer go (URLSession, the HTTPS path).
    static let cancelWaitSecondsMax = 30.0

    /// What to tell the operator of a node URL that is plain http to another machine: its token,
    /// and every operation (private feedback among them), would cross the network readable by
    /// anyone on the way. nil for https, and for loopback (this machine's traffic never leaves it).
    public static func clearTextWarning(_ text: String) -> String? {
        guard let url = URL(string: text), url.scheme?.lowercased() == "http", let host = url.host,
              !IdentityPolicy.isLoopbackName(IdentityPolicy.hostName(host)) else { return nil }
        return "warning: \(text.prefix(200)) is plain http to another machine: the token and every operation (private feedback too) cross the network unencrypted; "
            + "put TLS in front of that node (Docs/guides/run-a-hub.md, section 3) and give its https:// URL, unless the network between is yours alone"
    }

    public static func nodeURL(_ text: String) throws -> URL {
        guard text.utf8.count <= nodeURLBytesMax else {
            throw ChorusError(.limitExceeded, "the URL is \(text.utf8.count) bytes, over the limit of \(nodeURLBytesMax) (nodeURLBytesMax)", hint: "give the node's address, e.g. http://hub.example:7420")
        }
        guard let parsed = URL(string: text), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw ChorusError(.malformedInput, "\(text.prefix(100)) is not an http(s) URL", hint: "e.g. http://hub.example:7420")
        }
        if let port = parsed.port, !(1...65535).contains(port) {
            throw ChorusError(.malformedInput, "\(text.prefix(100)) names port \(port), outside 1 to 65535", hint: "e.g. http://hub.example:7420")
        }
        if parsed.user != nil || parsed.password != nil {
            throw ChorusError(.malformedInput, "the URL holds a user or password; the token file is what authenticates",
                              hint: "give the URL without `user:password@`")
        }
        return parsed
    }

    /// Reads and checks a token file: 64 hex digits, surrounding whitespace ignored.
    public static func readToken(path: String, limits: Limits) throws -> String {
        guard let size = PlainFile.size(path) else {
            throw ChorusError(.storage, "cannot read the token file \(path)", hint: "give the file `chorus replicas add` output was saved to")
        }
        // A plain file, through links (a secret mounted as one): a device such as /dev/zero reads
        // as empty here (size 0) and without end.
        if let what = PlainFile.notPlain(path) {
            throw ChorusError(.storage, "the token file \(path) is \(what), not a plain file", hint: "give the file `chorus replicas add --token-file` wrote")
        }
        guard size <= limits.tokenFileBytesMax else {
            throw ChorusError(.limitExceeded, "the token file \(path) is \(size) bytes, over \(limits.tokenFileBytesMax)", hint: "it should hold one 64-hex-digit token")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ChorusError(.storage, "cannot read the token file \(path)", hint: "check its permissions: the user running chorus must be able to read it")
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
        for (name, value) in requestHeaders(headers) { request.setValue(value, forHTTPHeaderField: name) }
        return request
    }

    /// Whether requests to `host` go through a proxy the environment names (`http_proxy`,
    /// `all_proxy`), which
    /// URLSession (libcurl) honours, with `no_proxy`, and `HTTPClient` does not. Loopback never.
    static func proxied(_ host: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard !["127.0.0.1", "localhost", "::1"].contains(host.lowercased()) else { return false }
        return ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"].contains { !(environment[$0] ?? "").isEmpty }
    }

    /// The headers every sync request carries (protocol section 2), then `extra`.
    /// A snapshot request's headers: the storage version, and the least sequence the copy must
    /// reach when there is one (`Chorus-Snapshot-Reaching`, protocol 4.6).
    public static func snapshotHeaders(storage: String, reaching: Int64) -> [String: String] {
        var headers = [SyncProtocol.storageHeader: storage]
        if reaching > 0 { headers[SyncProtocol.snapshotReachingHeader] = String(reaching) }
        return headers
    }

    func requestHeaders(_ extra: [String: String]) -> [(String, String)] {
        var headers = [("Authorization", "Bearer \(token)"), (SyncProtocol.versionHeader, String(SyncProtocol.versions.last!)),
                       (SyncProtocol.replicaHeader, replica.hex), (SyncProtocol.clockHeader, String(wallClock.nowMilliseconds())),
                       // Bodies as they are: a compressed one's size is not known before it is read.
                       ("Accept-Encoding", "identity")]
        headers += extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return headers
    }

    /// A non-2xx answer as an error, with the problem's detail and hint when the body is one.
    public static func refusal(status: Int, body: [UInt8], from answering: String = Caller.sync.answering) -> SyncError {
        let problem = try? JSONParser().parse(body)
        let problemDetail = problem?["detail"]?.stringValue
        // A body that is no problem (a proxy's page before a node that is down) in a few words,
        // never the page itself.
        let detail = problemDetail ?? HTTPTransport.describe(body)
        // A fault of the upstream's own (5xx) is its operator's to mend: its hint ("the disk is full;
        // free space and retry") read as if it were about this machine.
        let hint = problem?["hint"]?.stringValue.map { status >= 500 ? "on \(answering): \($0); ask its operator if it lasts" : $0 }
        if (300..<400).contains(status) {
            return SyncError(status: status, "\(answering) answered \(status), a redirect, which Chorus does not follow: the token would go wherever it points",
                             hint: "give the URL of the node itself (where the redirect leads, if that is it), or have the proxy in front of it pass /sync/ and /admin/ through")
        }
        // Every refusal of a Chorus node is a problem body, so one without is a web server's or
        // a proxy's at that address (its page was the error, and `--json` said `recordNotFound`).
        // Not for statuses a proxy in front of a node answers itself; and an empty body only where
        // a node's is always short (a missing route): a long one (a 409 listing thousands of ids)
        // is dropped unread past `errorBodyBytesMax`, and is a node's.
        let foreign = problemDetail == nil && status < 500 && ![401, 403, 407, 408, 413, 429].contains(status)
            && (!body.isEmpty || [404, 405].contains(status))
        guard !foreign else {
            var error = SyncError(status: status, "\(answering) answered \(status) with \(detail), not as a Chorus node answers: the URL does not lead to one",
                                  hint: "check the URL: the node's address and port as `chorus serve` prints them, with nothing after them; a proxy in front of the node must pass /sync/ and /admin/ through to it")
            error.answeredByOther = true
            return error
        }
        return SyncError(status: status, "\(answering) answered \(status): \(detail)", hint: hint)
    }

    /// What a body that is not a Chorus problem is, in a few words: its first line, cut short.
    static func describe(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(HTTPTransport.quotedBodyBytesMax), as: UTF8.self)
        let line = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !line.isEmpty else { return "an empty body" }
        let printable = String(line.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(HTTPTransport.quotedBodyCharactersMax).map(Character.init))
        let kind = line.lowercased().hasPrefix("<!doctype html") || line.lowercased().hasPrefix("<html") ? "a web page" : "a body"
        return "\(kind) starting \"\(printable)\(line.count > HTTPTransport.quotedBodyCharactersMax ? "..." : "")\""
    }

    /// Bytes of a foreign body read to describe it, and characters of its first line quoted.
    static let quotedBodyBytesMax = 512, quotedBodyCharactersMax = 60

    /// Whether a sync error recorded as `lastError` (`refusal`'s text) was the upstream refusing
    /// this node (a 4xx but 408 and 429: a token, writes it will not take, a clock ahead), not
    /// failing to answer: the page says "refused", where "offline" would send its people looking
    /// at the network.
    public static func isRefusal(_ lastError: String) -> Bool {
        // A redirect is refused for good too: no retry follows it (`refusal`).
        if lastError.contains(", a redirect, which Chorus does not follow") { return true }
        guard let range = lastError.range(of: " answered 4") else { return false }
        let status = lastError[range.upperBound...].prefix(3)
        return status.count == 3 && status.prefix(2).allSatisfy(\.isNumber) && status.last == ":" && !["08:", "29:"].contains(String(status))
    }

    func send(_ method: String, _ path: String, query: [URLQueryItem] = [], body: [UInt8]? = nil, headers: [String: String] = [:]) throws -> [UInt8] {
        let (session, answers): (URLSession, BoundedAnswers)
        switch client {
        case .plain(let plain): return try sendPlain(plain, method, path, query: query, body: body, headers: headers)
        case .urlSession(let chosen, let bounded): (session, answers) = (chosen, bounded)
        }
        var request = makeRequest(method, path, query: query, headers: headers)
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let answer = BoundedAnswers.Answer(bytesMax: limits.syncAnswerBytesMax)
        let task = session.dataTask(with: request)
        answers.expect(answer, from: task)
        task.resume()
        // The overall cap, enforced here: FoundationNetworking on Linux arms only the idle timer,
        // which every piece of an answer resets, so a trickle would otherwise hold the sync for ever.
        if answer.done.wait(timeout: .now() + limits.syncAnswerSecondsMax) == .timedOut {
            answer.timedOut = true
            task.cancel()
            // A cancelled task may go on receiving for long (over a gigabyte, measured): not
            // waited for past `cancelWaitSecondsMax`, its answer is let go, and what comes after
            // finds none to write to.
            if answer.done.wait(timeout: .now() + HTTPTransport.cancelWaitSecondsMax) == .timedOut { answers.abandon(task) }
        }
        // The same errors, in the same words, as the plain client's (`failure`).
        let failed: HTTPClientError? = answer.timedOut ? HTTPClientError(.timedOut, "the whole answer did not come within the deadline")
            : answer.overLimit ? HTTPClientError(.tooLarge, "its Content-Length is over the bound")
            : answer.unframed ? HTTPClientError(.unframed, "its size was not known before reading it")
            : answer.failure.map { HTTPClientError(.cannotConnect, $0.localizedDescription) }
        if let failed {
            throw failure(failed, "\(method) /\(path)", secondsMax: limits.syncAnswerSecondsMax, bytesMax: Int64(limits.syncAnswerBytesMax))
        }
        guard answer.status != 0 else { throw SyncError(status: 0, "no HTTP response from \(baseURL.absoluteString)") }
        guard (200..<300).contains(answer.status) else { throw HTTPTransport.refusal(status: answer.status, body: answer.body, from: caller.answering) }
        return answer.body
    }

    func json(_ bytes: [UInt8]) throws -> JSONValue {
        do { return try JSONParser(bytesMax: limits.syncAnswerBytesMax).parse(bytes) } catch {
            throw SyncError(status: 0, "the upstream sent malformed JSON: \(error)")
        }
    }

    public func info(ownOperations: Bool) throws -> InfoResponse {
        try InfoResponse(try json(try send("GET", "sync/v1/info", query: ownOperations ? [URLQueryItem(name: SyncProtocol.ownOperationsQuery, value: "1")] : [])))
    }

    public func push(body: [UInt8]) throws -> PushResponse { try PushResponse(try json(try send("POST", "sync/v1/push", body: body))) }

    public func pull(after: Int64, afterOperation: OperationID?, limit: Int, waitingToPush: Int64, committed: Int64, own: Bool) throws -> PullResponse {
        var query = [URLQueryItem(name: "after", value: String(after)), URLQueryItem(name: "limit", value: String(limit))]
        if let afterOperation { query.append(URLQueryItem(name: "afterOperation", value: afterOperation.description)) }
        if own { query.append(URLQueryItem(name: SyncProtocol.ownOperationsQuery, value: "1")) }
        let bytes = try send("GET", "sync/v1/pull", query: query,
                             headers: [SyncProtocol.pendingHeader: String(waitingToPush), SyncProtocol.cursorHeader: String(committed)])
        return try PullResponse.decode(bytes, limits: limits)
    }

    /// Streams the snapshot into `path` as it arrives, never holding it in memory, and cuts the
    /// download at `snapshotBytesMax`.
    public func snapshot(storage: String, reaching: Int64 = 0, into path: String, progress: @escaping (Int64, Int64) -> Void = { _, _ in }) throws -> Int64 {
        let headers = HTTPTransport.snapshotHeaders(storage: storage, reaching: reaching)
        if case .plain(let plain) = client { return try snapshotPlain(plain, headers: headers, into: path, progress: progress) }
        let request = makeRequest("GET", "sync/v1/snapshot", headers: headers)
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
            // The delegate's last call, after which the file is no longer written; not waited for
            // past `cancelWaitSecondsMax` (a cancelled task may go on receiving): the download is
            // let go instead, and writes nothing more.
            if download.done.wait(timeout: .now() + HTTPTransport.cancelWaitSecondsMax) == .timedOut { download.abandon() }
        }
        let failed: HTTPClientError? = download.timedOut ? HTTPClientError(.timedOut, "the whole snapshot did not come within the deadline")
            : download.overLimit ? HTTPClientError(.tooLarge, "its Content-Length is over the bound")
            : download.unframed ? HTTPClientError(.unframed, "its size was not known before reading it") : nil
        if let failed { throw snapshotFailure(failed) }
        if download.status != 0 && download.status != 200 { throw HTTPTransport.refusal(status: download.status, body: [UInt8](download.errorBody), from: caller.answering) }
        if let failure = download.failure {
            throw SyncError(status: 0, "the snapshot download from \(baseURL.absoluteString) failed: \(failure.localizedDescription)",
                            hint: "the client pulls the log instead")
        }
        guard let through = download.through, through >= 0 else {
            throw SyncError(status: 0, "the snapshot came without a valid \(SyncProtocol.snapshotThroughHeader) header")
        }
        guard download.received == download.expected else {
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

/// The session's delegate for every answer but a snapshot's: a body is read only when its head
/// gives its length within the bound (`syncAnswerBytesMax`; for an error answer
/// `errorBodyBytesMax`, enough for a problem detail), so an upstream that sends without end costs
/// this node at most the bound, not its memory. An error answer beyond its bound keeps its status.
final class BoundedAnswers: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    /// One request's answer. Written on the delegate queue until `done` is signalled, then read by
    /// the thread that sent the request.
    final class Answer: @unchecked Sendable {
        let bytesMax: Int
        let done = DispatchSemaphore(value: 0)
        var status = 0
        var body: [UInt8] = []
        var overLimit = false
        var timedOut = false
        /// An error answer's body was cut at `errorBodyBytesMax`: its cancellation is not a failure.
        var cut = false
        /// A successful answer came without a length, or compressed: its size is not known
        /// before it is read, so it is not.
        var unframed = false
        var failure: (any Error)?

        init(bytesMax: Int) { self.bytesMax = bytesMax }
    }

    static let errorBodyBytesMax = 64 * 1024

    /// What to do with an answer's body, judged on its head.
    enum Verdict { case take, overLimit, unframed, statusOnly }

    /// Judged on the head, the earliest URLSession allows (it does not hold the body back while
    /// the delegate decides, and a cancelled task goes on receiving into the delegate queue: over
    /// a gigabyte on loopback, measured, before it stopped). A body is taken only when its head
    /// gives a length within the bound (`bytesMax` for a success, `errorBodyBytesMax` for an error, whose status is kept
    /// either way) and no compression, which would make the length say nothing of what is read.
    static func judge(_ response: URLResponse, bytesMax: Int64) -> Verdict {
        let http = response as? HTTPURLResponse
        let status = http?.statusCode ?? 0
        let length = response.expectedContentLength
        let encoding = http?.value(forHTTPHeaderField: "Content-Encoding").map { $0.lowercased() }
        let framed = length >= 0 && (encoding == nil || encoding == "identity")
        if (200..<300).contains(status) { return !framed ? .unframed : length > bytesMax ? .overLimit : .take }
        return framed && length <= Int64(errorBodyBytesMax) ? .take : .statusOnly
    }
    private let lock = NSLock()
    private var answers: [Int: Answer] = [:]

    /// Registers `answer` for `task`'s callbacks; called before the task is resumed.
    func expect(_ answer: Answer, from task: URLSessionTask) {
        lock.withLock { answers[task.taskIdentifier] = answer }
    }

    private func answer(_ task: URLSessionTask) -> Answer? {
        lock.withLock { answers[task.taskIdentifier] }
    }

    /// Lets go of `task`'s answer: its later callbacks find none.
    func abandon(_ task: URLSessionTask) {
        _ = lock.withLock { answers.removeValue(forKey: task.taskIdentifier) }
    }

    /// A redirect is not followed: URLSession would send it every header of the request, the
    /// token among them, to whatever host and scheme it names. The 3xx is the answer (`refusal`).
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let answer = answer(dataTask) else { return completionHandler(.cancel) }
        answer.status = (response as? HTTPURLResponse)?.statusCode ?? 0
        switch BoundedAnswers.judge(response, bytesMax: Int64(answer.bytesMax)) {
        case .take: break
        case .overLimit: answer.overLimit = true
        case .unframed: answer.unframed = true
        case .statusOnly: answer.cut = true
        }
        if answer.unframed || answer.overLimit || answer.cut { return completionHandler(.cancel) }
        if response.expectedContentLength > 0 { answer.body.reserveCapacity(Int(response.expectedContentLength)) }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let answer = answer(dataTask), !answer.overLimit, !answer.cut, !answer.unframed else { return }
        let isError = !(200..<300).contains(answer.status)
        let room = (isError ? BoundedAnswers.errorBodyBytesMax : answer.bytesMax) - answer.body.count
        answer.body.append(contentsOf: data.prefix(max(0, room)))
        if data.count > room {
            if isError { answer.cut = true } else { answer.overLimit = true }
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let answer = lock.withLock({ answers.removeValue(forKey: task.taskIdentifier) }) else { return }
        if !answer.overLimit, !answer.cut, !answer.unframed, !answer.timedOut { answer.failure = error }
        answer.done.signal()
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
    /// Refused on the head: no length, or compressed (`BoundedAnswers.judge`).
    var unframed = false
    /// An error answer whose body is not read.
    var statusOnly = false
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

    /// A redirect is not followed: URLSession would send it every header of the request, the
    /// token among them, to whatever host and scheme it names. The 3xx is the answer (`refusal`).
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        status = http?.statusCode ?? 0
        through = (http?.value(forHTTPHeaderField: SyncProtocol.snapshotThroughHeader)).flatMap { Int64($0) }
        expected = response.expectedContentLength
        checksumHeader = http?.value(forHTTPHeaderField: SyncProtocol.snapshotChecksumHeader)
        switch BoundedAnswers.judge(response, bytesMax: bytesMax) {
        case .take: break
        case .overLimit: overLimit = true
        case .unframed: unframed = true
        case .statusOnly: statusOnly = true
        }
        if overLimit || unframed || statusOnly { return completionHandler(.cancel) }
        completionHandler(.allow)
    }

    /// Set once the caller stopped waiting (`abandon`): nothing more is written to `file`.
    private let abandonLock = NSLock()
    private var abandoned = false

    /// Stops every later write to `file`, waiting for one under way.
    func abandon() { abandonLock.withLock { abandoned = true } }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        abandonLock.withLock {
            guard !abandoned else { return dataTask.cancel() }
            take(data, dataTask)
        }
    }

    private func take(_ data: Data, _ dataTask: URLSessionDataTask) {
        guard status == 200 else {
            if errorBody.count < BoundedAnswers.errorBodyBytesMax { errorBody.append(data.prefix(BoundedAnswers.errorBodyBytesMax - errorBody.count)) }
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
        if failure == nil, !overLimit, !unframed, !statusOnly { failure = error }
        done.signal()
    }
}
