import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusNode
import ChorusTesting
import HTTP1
import HTTPServer

/// A client bounds what it reads of its upstream (Protocol/sync-v1.md section 6): an answer with
/// no length or one over `syncAnswerBytesMax` is refused on its head, one trickled a byte at a
/// time is cut at `syncAnswerSecondsMax`, and the sync fails with an error that says so, having
/// changed nothing. Over real sockets, through a proxy that misbehaves in the upstream's place.
final class UpstreamAnswerBoundsTests: HubAndClientsTestCase {
    override var folderPrefix: String { "chorus-answer-bounds" }

    func test_anEndlessOrTrickledAnswer_isCut_theSyncFailsSaying_andChangesNothing() throws {
        try checkBounds(usingURLSession: false)
    }

    /// The https path, URLSession, over plain http: the trickle is cut at the same cap. (An
    /// endless body is not tried: a cancelled URLSession task goes on receiving into memory for
    /// seconds, a gigabyte and more on loopback, which is why plain http has a client of its own.)
    func test_overURLSession_aTrickledAnswerIsCutToo() throws {
        try checkBounds(usingURLSession: true)
    }

    /// An upstream's refusal keeps its words; a fault of its own (5xx) says whose it is, so a
    /// hint such as "the disk is full" is not read as being about this machine.
    func test_anUpstreamsFault_saysItIsTheUpstreams() throws {
        let body = Array(#"{"detail":"cannot write","hint":"the disk is full; free space and retry"}"#.utf8)
        let fault = HTTPTransport.refusal(status: 500, body: body)
        XCTAssertEqual(fault.hint, "on the upstream: the disk is full; free space and retry; ask its operator if it lasts")
        XCTAssertEqual(fault.message, "the upstream answered 500: cannot write")
        XCTAssertEqual(HTTPTransport.refusal(status: 409, body: body).hint, "the disk is full; free space and retry", "a refusal's hint is the client's to follow")
    }

    /// A URL that leads to a web server, not a Chorus node (a wrong port, a proxy's location
    /// that does not pass /sync/ through): the error says so, quotes a line of the page, not the
    /// whole page, and a script reads `unreachable`, where it read `recordNotFound` with the HTML
    /// as the message. Over a real socket, by both clients; a node's own 404 keeps its words.
    func test_aURLThatIsNotAChorusNode_saysSo_withoutThePage() throws {
        var configuration = HTTPServer.Configuration()
        configuration.port = 0
        let page = "<!DOCTYPE HTML>\n<html lang=\"en\"><head><title>Directory listing</title></head>\n" + String(repeating: "<li>file</li>\n", count: 200)
        for (status, body) in [(404, page), (404, ""), (405, "Method Not Allowed\n")] {
            let foreign = HTTPServer(configuration: configuration) { _, _ in
                HTTPResponse(status: status, headers: [("Content-Type", "text/html")], body: Array(body.utf8))
            }
            let port = try foreign.start()
            defer { foreign.shutdown(graceSeconds: 1) }
            for usingURLSession in [false, true] {
                let transport = clientTransport(port: port, usingURLSession: usingURLSession)
                XCTAssertThrowsError(try transport.info(ownOperations: false), "\(status), URLSession: \(usingURLSession)") { error in
                    guard let error = error as? SyncError else { return XCTFail("\(error)") }
                    XCTAssertTrue(error.message.contains("answered \(status) with"), error.message)
                    XCTAssertTrue(error.message.contains("not as a Chorus node answers"), error.message)
                    XCTAssertFalse(error.message.contains("<li>"), "the page is not the error: \(error.message)")
                    XCTAssertLessThan(error.message.count, 300, error.message)
                    XCTAssertEqual(error.code, .unreachable)
                    XCTAssertTrue(error.hint?.contains("check the URL") == true, "\(error.hint ?? "no hint")")
                }
            }
        }
        XCTAssertTrue(HTTPTransport.refusal(status: 404, body: Array(page.utf8)).message.contains("a web page starting \"<!DOCTYPE HTML>"))
        let own = HTTPTransport.refusal(status: 404, body: Array(#"{"detail":"no route /sync/v2/info","status":404}"#.utf8))
        XCTAssertEqual(own.message, "the upstream answered 404: no route /sync/v2/info")
        XCTAssertEqual(own.code, .recordNotFound, "a Chorus node's own refusal keeps its code")
    }

    /// An upstream that redirects (a sign-on gateway, a proxy sending http to https elsewhere)
    /// is refused with a 3xx that says so, by both clients: URLSession would have followed it,
    /// sending the token to whatever host it named.
    func test_aRedirect_isNotFollowed_theTokenGoesNowhereElse() throws {
        final class Reached: @unchecked Sendable {
            let lock = NSLock()
            var requests: [String] = []
        }
        let reached = Reached()
        var configuration = HTTPServer.Configuration()
        configuration.port = 0
        let elsewhere = HTTPServer(configuration: configuration) { request, _ in
            reached.lock.withLock { reached.requests.append("\(request.head.method) \(request.head.path) \(request.head.header("Authorization") ?? "no token")") }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
        }
        let elsewherePort = try elsewhere.start()
        defer { elsewhere.shutdown(graceSeconds: 1) }
        for status in [302, 307] {
            let redirecting = HTTPServer(configuration: configuration) { request, _ in
                HTTPResponse(status: status, headers: [("Location", "http://127.0.0.1:\(elsewherePort)\(request.head.target)"), ("Content-Type", "text/html")],
                             body: Array("<a>moved</a>".utf8))
            }
            let port = try redirecting.start()
            defer { redirecting.shutdown(graceSeconds: 1) }
            for usingURLSession in [false, true] {
                let transport = clientTransport(port: port, usingURLSession: usingURLSession)
                XCTAssertThrowsError(try transport.info(ownOperations: false), "\(status), URLSession: \(usingURLSession)") { error in
                    XCTAssertTrue("\(error)".contains("answered \(status), a redirect, which Chorus does not follow"), "\(error)")
                }
                XCTAssertThrowsError(try transport.push(body: Array(#"{"operations":[]}"#.utf8)), "\(status), URLSession: \(usingURLSession)")
            }
        }
        XCTAssertEqual(reached.lock.withLock { reached.requests }, [], "nothing went to where the redirect pointed")
    }

    /// A client of the server on `port`, over plain http, by our client or URLSession.
    func clientTransport(port: UInt16, usingURLSession: Bool) -> HTTPTransport {
        HTTPTransport(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: String(repeating: "ab", count: 32),
                      replica: ReplicaID(hex: "0123456789abcdef0123456789abcdef")!, limits: limits, wallClock: clock,
                      usingURLSession: usingURLSession)
    }

    func checkBounds(usingURLSession: Bool) throws {
        let node = try servedHub(steps: 50)
        defer { node.stop(graceSeconds: 1) }
        let proxy = try FaultProxy(upstreamPort: node.port, seed: 7)
        defer { proxy.stop() }
        proxy.faultProbability = 0

        let laptop = try durable("laptop", seed: 1_003)
        try laptop.perform { try $0.setUpstream(url: "http://127.0.0.1:\(proxy.port)", tokenFile: "/dev/null") }
        let token = try node.executor.perform { try $0.addPeer(name: "laptop", role: .replica) }
        var clientLimits = limits
        clientLimits.syncRequestTimeoutSeconds = 1   // a whole answer within 4 s
        let transport = HTTPTransport(baseURL: URL(string: "http://127.0.0.1:\(proxy.port)")!, token: token,
                                      replica: laptop.perform { $0.id }, limits: clientLimits, wallClock: clock, usingURLSession: usingURLSession)
        let session = SyncSession(executor: laptop, transport: transport, limits: clientLimits, wallClock: clock)
        let before = try digest(laptop)

        // Refused on the head, before any of the body is read: no length, or a length over the bound.
        for (fault, refusal) in [(FaultProxy.Fault.endlessAnswer, "without a Content-Length"),
                                 (.oversizedAnswer, "over \(clientLimits.syncAnswerBytesMax) bytes")] where !usingURLSession {
            proxy.scheduledFaults = [fault]
            XCTAssertThrowsError(try session.run(compareDigests: false)) { error in
                XCTAssertTrue("\(error)".contains(refusal), "\(fault): \(error)")
            }
            // The connection is closed: the proxy can send no more.
            Thread.sleep(forTimeInterval: 0.3)
            let sent = proxy.endlessBytesSent
            Thread.sleep(forTimeInterval: 0.3)
            XCTAssertEqual(proxy.endlessBytesSent, sent, "\(fault): the client closed the connection")
            XCTAssertLessThan(sent, 64 * 1024 * 1024, "\(fault): at most socket buffers' worth was sent")
        }

        proxy.scheduledFaults = [.trickledAnswer]
        let started = Date()
        XCTAssertThrowsError(try session.run(compareDigests: false)) { error in
            XCTAssertTrue("\(error)".contains("took over 4 s to answer"), "\(error) after \(Date().timeIntervalSince(started)) s")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "cut at the cap, not when the trickle ends")
        XCTAssertEqual(try digest(laptop), before, "a failed sync changed nothing")
        XCTAssertEqual(try laptop.perform { try $0.upstream()?.pullCursor }, 0)

        // The same client, answered whole, syncs as ever.
        let report = try session.run(compareDigests: true)
        XCTAssertEqual(report.digestMatches, true)
        XCTAssertGreaterThan(report.pullApplied, 0)
    }
}
