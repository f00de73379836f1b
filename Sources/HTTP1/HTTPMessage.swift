/// An HTTP/1.x request head: request line and header fields.
public struct HTTPRequestHead: Equatable, Sendable {
    public let method: String
    /// The request target as sent (origin form: path and query).
    public let target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public let minorVersion: Int
    /// Header fields in order; names as sent.
    public let headers: [(name: String, value: String)]

    /// The path without the query.
    public let path: String
    /// Query parameters, percent-decoded; of a duplicate, the later value (a node refuses the
    /// request for it: `queryProblem`).
    public let query: [String: String]
    /// Why the query is not one a client should send, or nil: a parameter given twice (which
    /// value counts would be the server's guess), or a `%` not followed by two hex digits. A
    /// node answers it 400 before any route reads the query.
    public let queryProblem: String?

    /// Splits the target into its path and query once, here: the router, the access log and the
    /// handlers each asked for them again, and parsing the query twice was a tenth of a no-op
    /// sync's instructions (callgrind, `chorus serve` under wrk).
    public init(method: String, target: String, minorVersion: Int, headers: [(name: String, value: String)]) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
        (path, query, queryProblem) = HTTPRequestHead.split(target)
    }

    public static func == (a: HTTPRequestHead, b: HTTPRequestHead) -> Bool {
        a.method == b.method && a.target == b.target && a.minorVersion == b.minorVersion
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { HTTPRequestHead.asciiCaseInsensitiveEqual($0.name, name) }?.value
    }

    /// Whether a header appears more than once (matched case-insensitively). A header that says
    /// who is asking (a token, a replica id, a person) must appear once: read by its first value,
    /// a repeated one lets whoever adds a header before a proxy's choose which one counts.
    public func repeats(_ name: String) -> Bool {
        var seen = false
        for header in headers where HTTPRequestHead.asciiCaseInsensitiveEqual(header.name, name) {
            if seen { return true }
            seen = true
        }
        return false
    }

    /// Whether two names are equal ignoring ASCII case, as header names and connection options
    /// compare (RFC 9110 5.1), compared in place: lowercasing both made two strings per header per
    /// lookup (callgrind, a no-op sync).
    static func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
        // Lengths first: most names compared differ in length, and a native string knows its own.
        guard a.utf8.count == b.utf8.count else { return false }
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                for index in 0..<x.count where asciiLower(x[index]) != asciiLower(y[index]) { return false }
                return true
            }
        }
    }

    private static func asciiLower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// The target's path and its query parameters, on the bytes: `?`, `&` and `=` are single
    /// bytes, never inside a character, and splitting the characters walked grapheme boundaries.
    static func split(_ target: String) -> (path: String, query: [String: String], problem: String?) {
        var target = target
        return target.withUTF8 { bytes in
            guard let mark = bytes.firstIndex(of: UInt8(ascii: "?")) else { return (String(decoding: bytes, as: UTF8.self), [:], nil) }
            var query: [String: String] = [:]
            var problem: String?
            var start = mark + 1
            while start <= bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
                if end > start {
                    var equals = start
                    while equals < end && bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                    let key = percentDecode(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<equals]), as: UTF8.self))
                    let value = equals < end ? String(decoding: UnsafeBufferPointer(rebasing: bytes[(equals + 1)..<end]), as: UTF8.self) : ""
                    if query.updateValue(percentDecode(value), forKey: key) != nil, problem == nil {
                        problem = "the query parameter \(key.prefix(64)) is given twice: give it once"
                    }
                    if problem == nil, !hasValidEscapes(bytes[start..<end]) {
                        problem = "the query parameter \(key.prefix(64)) holds a % not followed by two hex digits: write a % as %25"
                    }
                }
                start = end + 1
            }
            return (String(decoding: UnsafeBufferPointer(rebasing: bytes[..<mark]), as: UTF8.self), query, problem)
        }
    }

    /// Whether every `%` in `bytes` is followed by two hex digits.
    static func hasValidEscapes(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, isHexDigit(bytes[index + 1]), isHexDigit(bytes[index + 2]) else { return false }
                index += 3
            } else {
                index += 1
            }
        }
        return true
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// Whether the connection stays open after this request (HTTP/1.1 default yes, 1.0 default no).
    public var keepAlive: Bool {
        // The header is a comma-separated list of options (RFC 9110 7.6.1).
        let options = (header("Connection") ?? "").split(separator: ",").map { String($0.trimmingASCIISpaces()) }
        if options.contains(where: { HTTPRequestHead.asciiCaseInsensitiveEqual($0, "close") }) { return false }
        return minorVersion >= 1 || options.contains(where: { HTTPRequestHead.asciiCaseInsensitiveEqual($0, "keep-alive") })
    }
}

/// Percent-decodes URL text; `plusAsSpace` for query strings (form encoding). An invalid escape
/// is kept as it is rather than dropped.
public func percentDecode(_ text: String, plusAsSpace: Bool = true) -> String {
    // Most names and values have nothing to decode (a sync pull's `after` and `limit`).
    guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusAsSpace && $0 == UInt8(ascii: "+")) }) else { return text }
    var bytes: [UInt8] = []
    var rest = Array(text.utf8)[...]
    while let byte = rest.popFirst() {
        if byte == UInt8(ascii: "%"), rest.count >= 2, let value = UInt8(String(decoding: rest.prefix(2), as: UTF8.self), radix: 16) {
            bytes.append(value)
            rest = rest.dropFirst(2)
        } else if plusAsSpace && byte == UInt8(ascii: "+") {
            bytes.append(UInt8(ascii: " "))
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A complete request: head and body.
public struct HTTPRequest: Sendable {
    public let head: HTTPRequestHead
    public let body: [UInt8]
    public init(head: HTTPRequestHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }
}

/// A body too large to hold in memory (a sync snapshot), sent in pieces after the head. The
/// server reads it with `read` until `length` bytes have gone.
public protocol HTTPBodySource: AnyObject, Sendable {
    /// The body's length in bytes, sent as `Content-Length`.
    var length: Int64 { get }
    /// Fills the start of `buffer` with the next bytes; returns how many (0 at the end, or on an
    /// error, after which the connection is closed short of `length`).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int
}

/// A response to serialise.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// When set, the body is this source's bytes (sent by the server after the head) and `body` is empty.
    public var bodySource: (any HTTPBodySource)?
    /// Extra fields for the access log (never sent): e.g. the authenticated peer's name.
    public var logAnnotations: [String: String] = [:]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, matched case-insensitively (a client reading a response).
    public func header(_ name: String) -> String? {
        headers.first { HTTPRequestHead.asciiCaseInsensitiveEqual($0.name, name) }?.value
    }

    /// The body's length: the source's when there is one.
    public var contentLength: Int64 { bodySource?.length ?? Int64(body.count) }

    /// The bytes on the wire, with Content-Length always set and Connection as asked (the head
    /// only when the body comes from `bodySource`, or with `headOnly`: the answer to a HEAD,
    /// whose Content-Length is the GET's and whose body is never sent, RFC 9110 section 9.3.2).
    public func serialized(keepAlive: Bool, headOnly: Bool = false) -> [UInt8] {
        // Appended as bytes: interpolating strings and lowercasing every header name twice were
        // most of writing a no-op sync's response (callgrind).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128 + body.count)
        bytes.append(contentsOf: "HTTP/1.1 ".utf8)
        bytes.append(contentsOf: String(status).utf8)
        bytes.append(0x20)
        bytes.append(contentsOf: HTTPResponse.reason(status).utf8)
        bytes.append(contentsOf: "\r\n".utf8)
        for (name, value) in headers where !HTTPRequestHead.asciiCaseInsensitiveEqual(name, "content-length")
            && !HTTPRequestHead.asciiCaseInsensitiveEqual(name, "connection") {
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: value.utf8)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        bytes.append(contentsOf: "Content-Length: ".utf8)
        bytes.append(contentsOf: String(contentLength).utf8)
        bytes.append(contentsOf: keepAlive ? "\r\nConnection: keep-alive\r\n\r\n".utf8 : "\r\nConnection: close\r\n\r\n".utf8)
        if !headOnly { bytes.append(contentsOf: body) }
        return bytes
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 426: return "Upgrade Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (optional whitespace in HTTP lists).
    /// Trimmed by bytes: a space followed by a combining mark is one character, but only the space goes.
    func trimmingASCIISpaces() -> Substring {
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = utf8.firstIndex(where: { !isSpace($0) }), let last = utf8.lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first..<utf8.index(after: last)]
    }
}
