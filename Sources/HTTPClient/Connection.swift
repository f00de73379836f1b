#if canImport(Glibc)
import Glibc
#endif

/// A response's status line and headers.
struct ResponseHead {
    let minorVersion: Int
    let status: Int
    let headers: [(name: String, value: String)]
}

/// One socket of an exchange: writes the request, reads the head within `headBytesMax`, then
/// exactly the body's length. Every wait is bounded by the idle time and the exchange's deadline.
struct Connection {
    let fd: Int32
    let limits: HTTPClient.Limits
    let deadline: Deadline
    /// Bytes read past the head, the start of the body.
    private var pending: [UInt8] = []
    private var closed = false
    /// The server sent more than the body it announced: the connection cannot be used again.
    private(set) var hasExtraBytes = false
    /// Bytes read from the socket so far: a kept connection is sent the request again only when
    /// none of an answer was read.
    private(set) var bytesRead = 0
    /// Sending the request failed: whatever was answered, the connection is not used again.
    var sendFailed = false

    /// Whether the connection may serve another request: nothing left over, nothing failed.
    var isReusable: Bool { !closed && !sendFailed && !hasExtraBytes && pending.isEmpty }

    init(fd: Int32, limits: HTTPClient.Limits, deadline: Deadline) {
        self.fd = fd
        self.limits = limits
        self.deadline = deadline
    }

    mutating func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    /// Waits until the socket is ready for `events`, or throws when the idle time or the
    /// deadline passes first.
    private func wait(_ events: Int32, _ doing: String) throws(HTTPClientError) {
        while true {
            if deadline.isPast { throw HTTPClientError(.timedOut, "the exchange took longer than its deadline while \(doing)") }
            var waiter = pollfd(fd: fd, events: Int16(events), revents: 0)
            let ready = poll(&waiter, 1, deadline.pollMilliseconds(idleSeconds: limits.idleSeconds))
            if ready > 0 { return }
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw HTTPClientError(.closed, "poll failed: \(String(cString: strerror(errno)))") }
            if deadline.isPast { throw HTTPClientError(.timedOut, "the exchange took longer than its deadline while \(doing)") }
            throw HTTPClientError(.stalled, "nothing came for \(limits.idleSeconds) s while \(doing)")
        }
    }

    func write(_ bytes: [UInt8]) throws(HTTPClientError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent > 0 { offset += sent; continue }
            if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { try wait(POLLOUT, "sending the request"); continue }
            if sent < 0 && errno == EINTR { continue }
            throw HTTPClientError(.closed, "the connection closed while sending the request\(sent < 0 ? ": \(String(cString: strerror(errno)))" : "")")
        }
    }

    /// Reads into `buffer`, waiting as needed: the count read, 0 at the connection's end.
    private mutating func read(into buffer: UnsafeMutableRawBufferPointer, _ doing: String) throws(HTTPClientError) -> Int {
        // Checked on every read, not only before a wait: a body that streams steadily past the
        // deadline is cut too.
        if deadline.isPast { throw HTTPClientError(.timedOut, "the exchange took longer than its deadline while \(doing)") }
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { bytesRead += count; return count }
            if errno == EAGAIN || errno == EWOULDBLOCK { try wait(POLLIN, doing); continue }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return 0 }
            throw HTTPClientError(.closed, "reading failed while \(doing): \(String(cString: strerror(errno)))")
        }
    }

    /// The response's head. With `allowingClosedBeforeAnyByte`, nil when the connection ends
    /// before a first byte (a kept connection the server closed meanwhile).
    mutating func readHead(allowingClosedBeforeAnyByte: Bool) throws(HTTPClientError) -> ResponseHead? {
        // Interim answers (1xx: 100 Continue, 103 Early Hints) come before the final one: skipped,
        // a few at most.
        for _ in 0..<Connection.interimHeadsMax {
            guard let head = try readOneHead(allowingClosedBeforeAnyByte: allowingClosedBeforeAnyByte) else { return nil }
            if head.status >= 200 || head.status == 101 { return head }
        }
        throw HTTPClientError(.malformed, "the response began with over \(Connection.interimHeadsMax) interim (1xx) heads")
    }

    static let interimHeadsMax = 8

    private mutating func readOneHead(allowingClosedBeforeAnyByte: Bool) throws(HTTPClientError) -> ResponseHead? {
        // What came after the previous head (an interim one's) starts this one.
        var head = pending
        pending = []
        if let end = Connection.blankLine(in: head, from: 0), end <= limits.headBytesMax {
            pending = Array(head[(end + 4)...])
            return try Connection.parseHead(head[..<end])
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let count = try read(into: chunk, "reading the response's head")
            if count == 0 {
                if bytesRead == 0 && allowingClosedBeforeAnyByte { return nil }
                throw HTTPClientError(.closed, head.isEmpty ? "the connection closed before a response" : "the connection closed in the middle of the response's head")
            }
            let searchFrom = max(0, head.count - 3)
            head.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
            if let end = Connection.blankLine(in: head, from: searchFrom), end <= limits.headBytesMax {
                pending = Array(head[(end + 4)...])
                return try Connection.parseHead(head[..<end])
            }
            if head.count > limits.headBytesMax {
                throw HTTPClientError(.malformed, "the response's head is over \(limits.headBytesMax) bytes")
            }
        }
    }

    /// Reads exactly `length` bytes of body, handing them to `sink` as they come.
    mutating func readBody(length: Int64, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var left = length
        if !pending.isEmpty {
            let taken = Int(min(Int64(pending.count), left))
            try pending.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<taken])) }
            left -= Int64(taken)
            hasExtraBytes = pending.count > taken
            pending = []
        }
        guard left > 0 else { return }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 1)
        defer { chunk.deallocate() }
        while left > 0 {
            let wanted = Int(min(Int64(chunk.count), left))
            let count = try read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<wanted]), "reading the response's body")
            if count == 0 { throw HTTPClientError(.closed, "the connection closed after \(length - left) of the body's \(length) bytes") }
            try sink(UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
            left -= Int64(count)
        }
    }

    /// Where the head's blank line (CR LF CR LF) starts, searching from `start`.
    static func blankLine(in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var index = start
        while index + 3 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// `HTTP/1.x SSS reason` and `name: value` lines; no folded lines, no bytes outside visible
    /// ASCII and tab in a name or value but for obs-text in values.
    static func parseHead(_ bytes: ArraySlice<UInt8>) throws(HTTPClientError) -> ResponseHead {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == 13 ? line.dropLast() : line
        }
        guard let statusLine = lines.first, statusLine.count >= 12 else { throw HTTPClientError(.malformed, "the response's status line is too short") }
        let start = Array(statusLine.prefix(12))
        guard Array(start[0..<7]) == Array("HTTP/1.".utf8), start[7] == UInt8(ascii: "0") || start[7] == UInt8(ascii: "1"), start[8] == 32,
              start[9...11].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              statusLine.count == 12 || statusLine[statusLine.startIndex + 12] == 32 else {
            throw HTTPClientError(.malformed, "the response's status line is not HTTP/1.x: \(String(decoding: statusLine.prefix(40), as: UTF8.self))")
        }
        let status = start[9...11].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                throw HTTPClientError(.malformed, "a response header line has no name")
            }
            let name = line[line.startIndex..<colon]
            guard name.allSatisfy({ $0 > 32 && $0 < 127 }) else { throw HTTPClientError(.malformed, "a response header's name is malformed") }
            let value = line[(colon + 1)...].drop { $0 == 32 || $0 == 9 }
            guard value.allSatisfy({ $0 == 9 || $0 >= 32 && $0 != 127 }) else { throw HTTPClientError(.malformed, "a response header's value holds control bytes") }
            var trimmed = value
            while let last = trimmed.last, last == 32 || last == 9 { trimmed = trimmed.dropLast() }
            headers.append((String(decoding: name, as: UTF8.self), String(decoding: trimmed, as: UTF8.self)))
        }
        return ResponseHead(minorVersion: start[7] == UInt8(ascii: "1") ? 1 : 0, status: status, headers: headers)
    }
}
