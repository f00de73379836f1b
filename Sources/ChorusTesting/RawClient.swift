import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP client for HTTP tests: sends exact bytes and reads what comes back.
public final class RawClient {
    public let fd: Int32
    /// The status line and body of the last response read (for diagnostics).
    public private(set) var lastStatusLine: String?
    /// Bytes received but not yet returned (pipelined responses).
    private var pending: [UInt8] = []

    /// `from`: the local address to connect from (another loopback address, `127.0.0.2`, is
    /// another client to a server counting by address).
    public init(port: UInt16, host: String = "127.0.0.1", from source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { close(fd); throw POSIXError(.EADDRNOTAVAIL) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    public func send(_ text: String) { send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) { _ = sendReporting(bytes) }

    /// Sends all of `bytes`; false when the peer closed or reset the connection first.
    public func sendReporting(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Reads until the peer closes or `timeoutSeconds` pass with nothing new.
    public func readUntilClosed(timeoutSeconds: Int = 20) -> String {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads exactly `count` bytes (nil if the peer closes first or the read times out).
    public func readExactly(_ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while pending.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            pending.append(contentsOf: buffer[0..<n])
        }
        let result = Array(pending[..<count])
        pending.removeFirst(count)
        return result
    }

    /// Reads a message head up to the blank line, keeping what follows for later reads.
    public func readHead() -> String? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                pending.removeFirst(end.upperBound)
                return head
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            pending.append(contentsOf: buffer[0..<n])
        }
    }

    /// Reads one response (head plus Content-Length body).
    public func readResponse() -> (status: Int, headers: String, body: String)? {
        guard let head = readHead() else { lastStatusLine = "the connection ended before a full head (errno \(errno))"; return nil }
        let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        guard let body = readExactly(length) else { lastStatusLine = "\(head.prefix(40)): the body ended early"; return nil }
        let text = String(decoding: body, as: UTF8.self)
        lastStatusLine = String(head.prefix(40)) + " " + text.prefix(200)
        return (Int(head.split(separator: " ")[1]) ?? 0, head, text)
    }
}
