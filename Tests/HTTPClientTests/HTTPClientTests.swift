import XCTest
import Foundation
import HTTP1
import HTTPServer
import ChorusTesting
@testable import HTTPClient

/// The HTTP client on real sockets on 127.0.0.1: against our server, and against a scripted one
/// that misbehaves. Every byte it reads is bounded before it is read, every wait by the deadline.
final class HTTPClientTests: XCTestCase {
    func makeServer(_ adjust: (inout HTTPServer.Configuration) -> Void = { _ in }) throws -> HTTPServer {
        var configuration = HTTPServer.Configuration()
        configuration.port = 0
        adjust(&configuration)
        let server = HTTPServer(configuration: configuration) { request, _ in
            HTTPResponse(status: request.head.path == "/missing" ? 404 : 200, headers: [("Content-Type", "text/plain")],
                         body: Array("\(request.head.method) \(request.head.target) \(request.body.count) \(request.head.header("X-Test") ?? "")".utf8))
        }
        try server.start()
        addTeardownBlock { server.shutdown(graceSeconds: 1) }
        return server
    }

    func get(_ client: HTTPClient, _ target: String, seconds: Double = 5, bytesMax: Int64 = 1 << 20) throws(HTTPClientError) -> HTTPClient.Response {
        try client.exchange(method: "GET", target: target, headers: [("X-Test", "yes")], body: nil, seconds: seconds) { _, _ in .upTo(bytesMax) }
    }

    func test_exchangesWithOurServer_keepTheConnection_andSendAgainWhenTheServerClosedIt() throws {
        let server = try makeServer { $0.keepAliveIdleSeconds = 0.3 }
        let client = HTTPClient(host: "127.0.0.1", port: server.port)
        let first = try get(client, "/a?b=c")
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(String(decoding: first.body, as: UTF8.self), "GET /a?b=c 0 yes")
        let posted = try client.exchange(method: "POST", target: "/p", headers: [], body: Array("hello".utf8), seconds: 5) { _, _ in .upTo(100) }
        XCTAssertEqual(String(decoding: posted.body, as: UTF8.self), "POST /p 5 ")
        XCTAssertEqual(client.idleConnectionCount, 1, "one connection, kept for the next request")
        Thread.sleep(forTimeInterval: 0.8)   // the server closes it meanwhile
        XCTAssertEqual(try get(client, "/again").status, 200, "sent again on a fresh connection")
        XCTAssertEqual(try get(client, "/missing").status, 404)
        let named = HTTPClient(host: "localhost", port: server.port)
        XCTAssertEqual(try get(named, "/by-name").status, 200, "names resolve")
    }

    func test_anAnswerSentBeforeTheRequestWasWhole_isRead_notLostToTheBrokenPipe() throws {
        let server = try makeServer()   // bodies over 1 MiB are refused with 413 on their head
        let client = HTTPClient(host: "127.0.0.1", port: server.port)
        var refused = 0
        for _ in 0..<5 {
            let response = try? client.exchange(method: "POST", target: "/p", headers: [], body: [UInt8](repeating: 120, count: 16 << 20), seconds: 10) { _, _ in .upTo(1 << 16) }
            if response?.status == 413 { refused += 1 }
        }
        // The server closes with the body unread, so its kernel may reset the connection and
        // throw the answer away before it is read; most of the time it arrives.
        XCTAssertGreaterThan(refused, 0, "the 413 was read though the request could not be sent whole")
    }

    func test_aBodyOverItsBound_orOfUnknownSize_isNotRead() throws {
        for (answer, kind) in [("HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n", HTTPClientError.Kind.tooLarge),
                               ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", .unframed),
                               ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .unframed),
                               ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Encoding: gzip\r\n\r\n", .unframed),
                               ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n", .unframed),
                               ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", .unframed),
                               ("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 40_000) + "\r\n\r\n", .malformed),
                               ("HTTP/2 200\r\n\r\n", .malformed),
                               ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly some", .closed)] {
            let server = try ScriptedServer { connection in
                connection.write(answer)
                // A server that goes on sending: the client must stop reading. (Cut short, the
                // last answer's connection closes instead.)
                if kind != .closed { connection.writeForever() }
            }
            let started = Date()
            XCTAssertThrowsError(try get(HTTPClient(host: "127.0.0.1", port: server.port), "/", bytesMax: 4096)) { error in
                XCTAssertEqual((error as? HTTPClientError)?.kind, kind, "\(answer.prefix(60)): \(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 3)
            server.stop()
            XCTAssertLessThan(server.bytesWritten, 64 * 1024 * 1024, "at most socket buffers' worth was sent before the client closed")
        }
    }

    func test_aTrickledAnswer_endsAtTheDeadline_andASilentOneAtTheIdleTime() throws {
        let trickle = try ScriptedServer { connection in
            connection.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in 0..<1000 { connection.write("x"); usleep(20_000) }
        }
        defer { trickle.stop() }
        var started = Date()
        XCTAssertThrowsError(try get(HTTPClient(host: "127.0.0.1", port: trickle.port), "/", seconds: 1)) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .timedOut, "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "cut at the deadline, though bytes kept coming")

        let silent = try ScriptedServer { _ in sleep(5) }
        defer { silent.stop() }
        var limits = HTTPClient.Limits()
        limits.idleSeconds = 0.3
        started = Date()
        XCTAssertThrowsError(try get(HTTPClient(host: "127.0.0.1", port: silent.port, limits: limits), "/", seconds: 60)) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .stalled, "\(error)")
            XCTAssertTrue("\(error)".contains("nothing came for 0.3 s"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func test_anErrorAnswer_keepsItsStatus_withItsBodyOnlyWhenTheBoundAllows() throws {
        let server = try ScriptedServer { connection in
            connection.write("HTTP/1.1 503 Busy\r\nContent-Length: 5000000\r\n\r\n")
            connection.writeForever()
        }
        defer { server.stop() }
        let head = try HTTPClient(host: "127.0.0.1", port: server.port).exchange(method: "GET", target: "/", headers: [], body: nil, seconds: 5,
                                                                                 bound: { status, _ in status == 200 ? .upTo(100) : .skip }, into: { _ in XCTFail("no body read") })
        XCTAssertEqual(head.status, 503)
    }

    func test_aKeptConnection_isSentTheRequestAgain_onlyWhenNothingOfAnAnswerCame() throws {
        let server = try ScriptedServer { connection in
            connection.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            guard connection.readRequestHead() else { return }
            connection.write("HTTP/1.1 200 OK\r\n")   // part of a head, then the connection ends
        }
        defer { server.stop() }
        let client = HTTPClient(host: "127.0.0.1", port: server.port)
        XCTAssertEqual(try get(client, "/first").body, Array("ok".utf8))
        XCTAssertThrowsError(try get(client, "/second")) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .closed, "\(error)")
        }
        XCTAssertEqual(server.requestsSeen, 2, "the second request was not sent again after part of its answer came")
    }

    func test_interimAnswersAreSkipped_andAnErrorOfUnknownSizeKeepsItsStatus() throws {
        let interim = try ScriptedServer { connection in
            connection.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        }
        defer { interim.stop() }
        let answer = try get(HTTPClient(host: "127.0.0.1", port: interim.port), "/")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.body, Array("ok".utf8))

        let chunkedError = try ScriptedServer { connection in
            connection.write("HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        }
        defer { chunkedError.stop() }
        let refused = try get(HTTPClient(host: "127.0.0.1", port: chunkedError.port), "/")
        XCTAssertEqual(refused.status, 502, "a proxy's chunked error keeps its status")
        XCTAssertEqual(refused.body, [], "its body is not read")
    }

    func test_nothingListening_isCannotConnect() throws {
        let server = try ScriptedServer { _ in }
        let port = server.port
        server.stop()
        XCTAssertThrowsError(try get(HTTPClient(host: "127.0.0.1", port: port), "/")) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .cannotConnect, "\(error)")
        }
        XCTAssertThrowsError(try get(HTTPClient(host: "no-such-host.invalid", port: 80), "/")) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .cannotConnect, "\(error)")
        }
    }

    func test_statusLines_andHeaders_areParsedStrictly() throws {
        let head = try Connection.parseHead(ArraySlice("HTTP/1.0 204 No Content\r\nA: b \r\nC-D:\te".utf8))
        XCTAssertEqual(head.status, 204)
        XCTAssertEqual(head.minorVersion, 0)
        XCTAssertEqual(head.headers.map { "\($0.name)=\($0.value)" }, ["A=b", "C-D=e"])
        for bad in ["HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 200 OK\r\n: no name", "HTTP/1.1 200 OK\r\nA b: c", "HTTP/1.1 200 OK\r\nA: b\u{1}c", "ICY 200 OK"] {
            XCTAssertThrowsError(try Connection.parseHead(ArraySlice(bad.utf8)), bad)
        }
        XCTAssertEqual(HTTPClient.contentLength([("content-length", "12"), ("Content-Length", "12")]), 12)
        XCTAssertNil(HTTPClient.contentLength([("Content-Length", "+12")]))
        XCTAssertNil(HTTPClient.contentLength([("Content-Length", "99999999999999999999")]))
    }
}

/// A server on 127.0.0.1 that reads each request's head, then runs a script on the connection.
final class ScriptedServer: @unchecked Sendable {
    final class Peer: @unchecked Sendable {
        let fd: Int32
        let server: ScriptedServer
        init(fd: Int32, server: ScriptedServer) { self.fd = fd; self.server = server }

        @discardableResult
        func write(_ text: String) -> Bool { write(Array(text.utf8)) }

        @discardableResult
        func write(_ bytes: [UInt8]) -> Bool {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { return false }
                offset += sent
                server.lock.withLock { server.written += sent }
            }
            return true
        }

        /// Reads the next request's head (its body is not read); false when the client closed.
        func readRequestHead() -> Bool {
            guard ScriptedServer.readHead(fd) else { return false }
            server.lock.withLock { server.requests += 1 }
            return true
        }

        /// Sends spaces until the client closes the connection.
        func writeForever() {
            let piece = [UInt8](repeating: 32, count: 64 * 1024)
            while write(piece) {}
        }
    }

    let port: UInt16
    private let listener: Int32
    fileprivate let lock = NSLock()
    fileprivate var written = 0
    fileprivate var requests = 0
    var bytesWritten: Int { lock.withLock { written } }
    /// Request heads read, over every connection.
    var requestsSeen: Int { lock.withLock { requests } }

    /// Reads one request head, a byte at a time (so nothing after it is taken).
    static func readHead(_ fd: Int32) -> Bool {
        var seen: [UInt8] = []
        var byte: UInt8 = 0
        while !(seen.count >= 4 && Array(seen.suffix(4)) == [13, 10, 13, 10]) {
            guard recv(fd, &byte, 1, 0) == 1 else { return false }
            seen.append(byte)
        }
        return true
    }

    init(script: @escaping @Sendable (Peer) -> Void) throws {
        let (listener, port) = LoopbackListener.open(backlog: 16)
        self.listener = listener
        self.port = port
        Thread.detachNewThread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                Thread.detachNewThread { [self] in
                    defer { close(fd) }
                    guard ScriptedServer.readHead(fd) else { return }
                    lock.withLock { requests += 1 }
                    script(Peer(fd: fd, server: self))
                }
            }
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
