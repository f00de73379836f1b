/// An incremental HTTP/1.1 request parser: fed bytes as they arrive, it yields complete requests.
///
/// It holds no socket and does no I/O, so tests feed it any split of any input. It is strict in the
/// ways that stop request smuggling (RFC 9112 section 6 and 11.2): a request with both
/// Content-Length and Transfer-Encoding, duplicate or differing Content-Length, obs-fold header
/// continuation lines, bare CR, or a malformed length is refused with 400 and the connection must be
/// closed. Chunked request bodies are not supported: they are refused with 411, so chunk-size
/// attacks never reach a decoder. Limits are given by `Configuration`.
public struct HTTPParser {
    public struct Configuration: Sendable {
        /// Request line, in bytes (414 beyond). Default 8 KiB.
        public var requestLineBytesMax = 8 * 1024
        /// One header line, in bytes (431 beyond). Default 8 KiB.
        public var headerLineBytesMax = 8 * 1024
        /// All header lines together, in bytes (431 beyond). Default 32 KiB.
        public var headerBytesMax = 32 * 1024
        /// Number of header fields (431 beyond). Default 100.
        public var headerCountMax = 100
        /// The body limit for a request, decided from its head (per route). Default 1 MiB (413 beyond).
        public var bodyBytesMax: @Sendable (HTTPRequestHead) -> Int = { _ in 1024 * 1024 }
        /// A refusal of a request from its head and its body's announced length, before any of
        /// the body is read (a sync push with no token at all): the server answers it and closes,
        /// so no one holds a connection and its body budget by announcing a body nothing will
        /// take. Default: none.
        public var headRefusal: @Sendable (HTTPRequestHead, Int) -> HTTPParseError? = { _, _ in nil }
        public init() {}
    }

    /// What the parser produced from the bytes fed so far.
    public enum Event: Sendable {
        /// The head of a request is complete (the body may still be arriving): timers change.
        case head(HTTPRequestHead)
        /// A whole request.
        case request(HTTPRequest)
        /// The bytes after the requests before it are malformed: answer with this status and close.
        /// Always the last event; the parser stays failed.
        case failure(HTTPParseError)
    }

    enum State {
        case requestLine
        case headers(method: String, target: String, minor: Int)
        case body(HTTPRequestHead, remaining: Int)
        case failed
    }

    public let configuration: Configuration
    private var state: State = .requestLine
    /// Bytes fed and not yet consumed start at `consumed`: lines are taken by moving the offset,
    /// and the consumed bytes are dropped once per `feed`. Removing each line from the front of
    /// the buffer moved the rest of the request once per header line (callgrind, a no-op sync).
    private var buffer: [UInt8] = []
    private var consumed = 0
    private var headers: [(name: String, value: String)] = []
    private var headerBytes = 0
    private var body: [UInt8] = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Whether some bytes of a request have arrived and its head is not complete yet.
    public var isInsideHead: Bool {
        switch state {
        case .requestLine: return consumed < buffer.count
        case .headers: return true
        default: return false
        }
    }

    /// Whether a body is being read.
    public var isInsideBody: Bool { if case .body = state { return true }; return false }

    /// Bytes of the body being read that have arrived (0 outside a body).
    public var bodyBytesReceived: Int { isInsideBody ? body.count : 0 }

    /// The most a body's buffer is given ahead of its bytes.
    static let bodyBytesReservedMax = 64 * 1024

    /// Feeds bytes; returns the events they complete, in order. Requests complete before a
    /// malformed one are returned before its `.failure`, whatever way the bytes were split.
    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        if case .failed = state { return [.failure(HTTPParseError(status: 400, reason: "the connection already had a malformed request"))] }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        do {
            while let event = try step() { events.append(event) }
        } catch {
            var error = error
            // Refused once its request line was read (a head over a limit, ambiguous framing, no
            // `Host`): the refusal names the request, for the log.
            if case .headers(let method, let target, _) = state {
                error.method = method
                error.path = String(target.prefix { $0 != "?" })
            }
            state = .failed
            buffer = []
            consumed = 0
            events.append(.failure(error))
        }
        if consumed == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            consumed = 0
        } else if consumed > 0 {
            buffer.removeFirst(consumed)
            consumed = 0
        }
        return events
    }

    /// Consumes what it can from the buffer; nil when it needs more bytes.
    /// A loop, not a recursion: a feed of empty lines before a request line, each skipped, once
    /// went one call deeper per line (found by review).
    private mutating func step() throws(HTTPParseError) -> Event? {
        while true {
            switch state {
            case .failed:
                return nil
            case .requestLine:
                guard let line = try takeLine(max: configuration.requestLineBytesMax, status: 414, what: "request line") else { return nil }
                if line.isEmpty && headers.isEmpty && body.isEmpty {
                    // RFC 9112 2.2: a server SHOULD ignore at least one empty line before a request line.
                    continue
                }
                let (method, target, minor) = try parseRequestLine(line)
                state = .headers(method: method, target: target, minor: minor)
                headers = []
                headerBytes = 0
                continue
            case .headers(let method, let target, let minor):
                guard let line = try takeLine(max: configuration.headerLineBytesMax, status: 431, what: "header line") else { return nil }
                if line.isEmpty {
                    let head = HTTPRequestHead(method: method, target: target, minorVersion: minor, headers: headers)
                    // RFC 9112 section 3.2: an HTTP/1.1 request without `Host` is answered 400
                    // (a node acting for its owner reads who asks by it).
                    if minor >= 1, !headers.contains(where: { HTTPRequestHead.asciiCaseInsensitiveEqual($0.name, "host") }) {
                        throw HTTPParseError(status: 400, reason: "an HTTP/1.1 request needs a Host header")
                    }
                    // And one with two is answered 400 too: which names the site is not the
                    // server's to guess (it was read as a wrong host, a 403 about DNS rebinding).
                    if head.repeats("Host") { throw HTTPParseError(status: 400, reason: "a request names one Host, not two") }
                    let length = try bodyLength(head)
                    if let refusal = configuration.headRefusal(head, length) { throw refusal }
                    let limit = configuration.bodyBytesMax(head)
                    guard length <= limit else {
                        throw HTTPParseError(status: 413, reason: "body of \(length) bytes is over this route's limit of \(limit)")
                    }
                    state = .body(head, remaining: length)
                    body = []
                    // Grown as bytes arrive, not reserved whole: a head alone must not cost its
                    // announced length (the server budgets the bytes actually received).
                    body.reserveCapacity(min(length, HTTPParser.bodyBytesReservedMax))
                    return .head(head)
                }
                headerBytes += line.count + 2
                guard headerBytes <= configuration.headerBytesMax else {
                    throw HTTPParseError(status: 431, reason: "headers are over \(configuration.headerBytesMax) bytes")
                }
                guard headers.count < configuration.headerCountMax else {
                    throw HTTPParseError(status: 431, reason: "more than \(configuration.headerCountMax) header fields")
                }
                headers.append(try parseHeader(line))
                continue
            case .body(let head, let remaining):
                let take = min(remaining, buffer.count - consumed)
                if take > 0 {
                    body.append(contentsOf: buffer[consumed..<(consumed + take)])
                    consumed += take
                }
                if remaining - take > 0 {
                    state = .body(head, remaining: remaining - take)
                    return nil
                }
                let request = HTTPRequest(head: head, body: body)
                body = []
                state = .requestLine
                headers = []
                return .request(request)
            }
        }
    }

    /// Takes one CRLF-terminated line from the buffer (without the CRLF, sharing the buffer's
    /// storage), or nil if incomplete.
    private mutating func takeLine(max: Int, status: Int, what: String) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        // Scanned through a buffer pointer: checked indexing of the array was most of the time.
        let start = consumed
        let scan = buffer.withUnsafeBufferPointer { bytes -> (end: Int, fault: String?) in
            var index = start
            while index < bytes.count {
                let byte = bytes[index]
                if byte <= 0x0D {
                    if byte == 0x0D {
                        guard index + 1 < bytes.count else { break }
                        return bytes[index + 1] == 0x0A ? (index, nil) : (index, "bare CR in the \(what)")
                    }
                    if byte == 0x0A { return (index, "bare LF in the \(what): lines must end with CRLF") }
                    if byte == 0 { return (index, "NUL byte in the \(what)") }
                }
                index += 1
                if index - start > max { return (index, "") }
            }
            return (-1, nil)
        }
        if let fault = scan.fault { throw HTTPParseError(status: fault.isEmpty ? status : 400, reason: fault.isEmpty ? "\(what) is over \(max) bytes" : fault) }
        if scan.end >= 0 {
            consumed = scan.end + 2
            return buffer[start..<scan.end]
        }
        if buffer.count - start > max { throw HTTPParseError(status: status, reason: "\(what) is over \(max) bytes") }
        return nil
    }

    /// The bytes of an HTTP token (RFC 9110 5.6.2), as two bit masks: bytes 0 to 63, then 64 to
    /// 127. A `Set<UInt8>` hashed every byte of every method and header name.
    private static let tokenMasks: (low: UInt64, high: UInt64) = {
        var masks: (low: UInt64, high: UInt64) = (0, 0)
        for byte in "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8 {
            if byte < 64 { masks.low |= 1 << UInt64(byte) } else { masks.high |= 1 << UInt64(byte - 64) }
        }
        return masks
    }()

    static func isTokenByte(_ byte: UInt8) -> Bool {
        byte < 64 ? tokenMasks.low >> UInt64(byte) & 1 == 1 : byte < 128 && tokenMasks.high >> UInt64(byte - 64) & 1 == 1
    }

    /// `METHOD SP TARGET SP VERSION`: exactly two spaces. Found by index, with no array of parts.
    private func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (String, String, Int) {
        guard let firstSpace = line.firstIndex(of: 0x20), let secondSpace = line[(firstSpace + 1)...].firstIndex(of: 0x20),
              !line[(secondSpace + 1)...].contains(0x20) else {
            throw HTTPParseError(status: 400, reason: "malformed request line")
        }
        let method = line[line.startIndex..<firstSpace], target = line[(firstSpace + 1)..<secondSpace], version = line[(secondSpace + 1)...]
        guard !method.isEmpty, !target.isEmpty else { throw HTTPParseError(status: 400, reason: "malformed request line") }
        guard method.allSatisfy(HTTPParser.isTokenByte) else {
            throw HTTPParseError(status: 400, reason: "malformed method")
        }
        guard target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw HTTPParseError(status: 400, reason: "malformed request target") }
        let minor: Int
        if version.elementsEqual("HTTP/1.1".utf8) {
            minor = 1
        } else if version.elementsEqual("HTTP/1.0".utf8) {
            minor = 0
        } else {
            if version.starts(with: "HTTP/".utf8) { throw HTTPParseError(status: 505, reason: "only HTTP/1.0 and HTTP/1.1 are supported") }
            throw HTTPParseError(status: 400, reason: "malformed HTTP version")
        }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), minor)
    }

    private func parseHeader(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (name: String, value: String) {
        if line.first == 0x20 || line.first == 0x09 {
            throw HTTPParseError(status: 400, reason: "obsolete line folding (obs-fold) is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
            throw HTTPParseError(status: 400, reason: "malformed header line")
        }
        let name = line[line.startIndex..<colon]
        guard name.allSatisfy(HTTPParser.isTokenByte) else {
            throw HTTPParseError(status: 400, reason: "malformed header name (no whitespace before the colon)")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
        while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError(status: 400, reason: "control character in a header value")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// The body length from Content-Length, refusing every ambiguous framing.
    private func bodyLength(_ head: HTTPRequestHead) throws(HTTPParseError) -> Int {
        let lengths = head.headers.filter { HTTPRequestHead.asciiCaseInsensitiveEqual($0.name, "content-length") }.map(\.value)
        let hasTransferEncoding = head.headers.contains { HTTPRequestHead.asciiCaseInsensitiveEqual($0.name, "transfer-encoding") }
        if hasTransferEncoding && !lengths.isEmpty {
            throw HTTPParseError(status: 400, reason: "both Content-Length and Transfer-Encoding: ambiguous framing")
        }
        if hasTransferEncoding {
            if head.minorVersion == 0 { throw HTTPParseError(status: 400, reason: "Transfer-Encoding in an HTTP/1.0 request") }
            throw HTTPParseError(status: 411, reason: "chunked request bodies are not supported: send Content-Length")
        }
        guard let text = lengths.first else { return 0 }
        guard lengths.count == 1 else {
            throw HTTPParseError(status: 400, reason: "Content-Length given \(lengths.count) times")
        }
        guard !text.isEmpty, text.utf8.count <= 15, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int(text) else {
            throw HTTPParseError(status: 400, reason: "malformed Content-Length")
        }
        return length
    }
}

/// A request the parser refused: the status to answer with. The connection must be closed after.
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let reason: String
    /// The refused request's method and path, when its request line was read.
    public var method: String?
    public var path: String?
    /// For a 401: the `WWW-Authenticate` challenge the answer carries (RFC 9110 11.6.1).
    public var challenge: String?
    public var description: String { "\(status): \(reason)" }

    public init(status: Int, reason: String, challenge: String? = nil) {
        self.status = status
        self.reason = reason
        self.challenge = challenge
    }
}
