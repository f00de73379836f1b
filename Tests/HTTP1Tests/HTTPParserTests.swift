import XCTest
import HTTP1

/// The HTTP/1.1 request parser, with no sockets: every split of every input gives the same result.
final class HTTPParserTests: XCTestCase {
    static let corpus: [String] = [
        "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /sync/v1/push HTTP/1.1\r\nHost: hub\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":[1,2]}",
        "GET /sync/v1/pull?after=10&limit=5 HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer x\r\n\r\nGET /a HTTP/1.1\r\nHost: b\r\n\r\n",
        "\r\nGET / HTTP/1.0\r\n\r\n",
        "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-Empty:\r\n\r\n",
        // Found by the fuzzer: a good request, then garbage. The good one parses however it is split.
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nCST \u{FF}\u{FF}\n",
    ]

    /// Parses `input` fed in pieces; returns the requests or the error.
    func parse(_ pieces: [[UInt8]], configuration: HTTPParser.Configuration = .init()) -> Result<[HTTPRequest], HTTPParseError> {
        let (requests, failure) = parseAll(pieces, configuration: configuration)
        if let failure { return .failure(failure) }
        return .success(requests)
    }

    /// Requests parsed and the failure that ended parsing, if any.
    func parseAll(_ pieces: [[UInt8]], configuration: HTTPParser.Configuration = .init()) -> ([HTTPRequest], HTTPParseError?) {
        var parser = HTTPParser(configuration: configuration)
        var requests: [HTTPRequest] = []
        for piece in pieces {
            for event in parser.feed(piece) {
                switch event {
                case .request(let r): requests.append(r)
                case .failure(let error): return (requests, error)
                case .head: break
                }
            }
        }
        return (requests, nil)
    }

    func describe(_ pieces: [[UInt8]]) -> String {
        let (requests, failure) = parseAll(pieces)
        return requests.map { "\($0.head.method) \($0.head.target) \($0.head.headers.map { "\($0.name)=\($0.value)" }) \($0.body)" }.joined(separator: "|")
            + (failure.map { " error \($0.status)" } ?? "")
    }

    func test_everySplitOffset_givesTheSameResult() {
        for text in Self.corpus + Self.attacks.map(\.0) {
            let bytes = Array(text.utf8)
            let whole = describe([bytes])
            for offset in 0...bytes.count {
                XCTAssertEqual(describe([Array(bytes[..<offset]), Array(bytes[offset...])]), whole, "split at \(offset) of \(text.debugDescription)")
            }
            XCTAssertEqual(describe(bytes.map { [$0] }), whole, "byte by byte: \(text.debugDescription)")
        }
    }

    func test_corpus_parsesAsExpected() throws {
        let requests = try parse([Array(Self.corpus[2].utf8)]).get()
        XCTAssertEqual(requests.count, 2, "pipelined requests both parse")
        XCTAssertEqual(requests[0].head.path, "/sync/v1/pull")
        XCTAssertEqual(requests[0].head.query, ["after": "10", "limit": "5"])
        let push = try parse([Array(Self.corpus[1].utf8)]).get()[0]
        XCTAssertEqual(String(decoding: push.body, as: UTF8.self), "{\"a\":[1,2]}")
        XCTAssertEqual(push.head.header("content-type"), "application/json")
        let old = try parse([Array(Self.corpus[3].utf8)]).get()[0]
        XCTAssertFalse(old.head.keepAlive, "HTTP/1.0 closes by default")
        XCTAssertTrue(push.head.keepAlive)
    }

    /// Framing attacks (RFC 9112 section 6 and 11): refused with 400 (411 for chunked bodies).
    static let attacks: [(String, Int)] = [
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n", 400),
        ("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: a\n\n", 400),
        ("GET / HTTP/1.1\r\nX-Other: a\r\n\r\n", 400),   // no Host in HTTP/1.1 (RFC 9112 section 3.2)
        ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),   // two Hosts: which site is meant
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nBad\u{01}Name: a\r\n\r\n", 400),
        ("GET /  HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", 411),
    ]

    func test_framingAttacks_areRefused() {
        for (text, status) in Self.attacks {
            guard case .failure(let error) = parse([Array(text.utf8)]) else {
                XCTFail("accepted \(text.debugDescription)")
                continue
            }
            XCTAssertEqual(error.status, status, text.debugDescription)
        }
    }

    func test_limits_eachWithItsStatus() {
        let longTarget = "GET /" + String(repeating: "a", count: 8 * 1024) + " HTTP/1.1\r\n\r\n"
        if case .failure(let e) = parse([Array(longTarget.utf8)]) { XCTAssertEqual(e.status, 414) } else { XCTFail("long target accepted") }

        let longHeader = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 8 * 1024) + "\r\n\r\n"
        if case .failure(let e) = parse([Array(longHeader.utf8)]) { XCTAssertEqual(e.status, 431) } else { XCTFail("long header accepted") }

        let manyHeaders = "GET / HTTP/1.1\r\n" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        if case .failure(let e) = parse([Array(manyHeaders.utf8)]) { XCTAssertEqual(e.status, 431) } else { XCTFail("101 headers accepted") }

        let bigHeaders = "GET / HTTP/1.1\r\n" + (0..<5).map { "X-\($0): \(String(repeating: "b", count: 7000))\r\n" }.joined() + "\r\n"
        if case .failure(let e) = parse([Array(bigHeaders.utf8)]) { XCTAssertEqual(e.status, 431) } else { XCTFail("35 KB of headers accepted") }

        var configuration = HTTPParser.Configuration()
        configuration.bodyBytesMax = { head in head.path == "/big" ? 100 : 10 }
        let small = "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
        if case .failure(let e) = parse([Array(small.utf8)], configuration: configuration) { XCTAssertEqual(e.status, 413) } else { XCTFail("body over limit accepted") }
        let big = "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
        XCTAssertEqual(try parse([Array(big.utf8)], configuration: configuration).get().count, 1, "the limit is per route")
    }

    /// Empty lines before a request line are skipped however many arrive at once (each once cost
    /// a call deeper: half a million of them overflowed the stack).
    func test_emptyLinesBeforeARequest_areSkipped_manyInOneFeed() {
        let flood = String(repeating: "\r\n", count: 500_000) + "GET /after HTTP/1.1\r\nHost: h\r\n\r\n"
        let requests = try? parse([Array(flood.utf8)]).get()
        XCTAssertEqual(requests?.map(\.head.path), ["/after"])
    }

    func test_afterAnError_theParserStaysFailed() {
        var parser = HTTPParser()
        guard case .failure? = parser.feed(Array("GET / HTTP/1.1\nX".utf8)).last else { return XCTFail("bare LF accepted") }
        guard case .failure? = parser.feed(Array("GET / HTTP/1.1\r\n\r\n".utf8)).last else { return XCTFail("parser recovered") }
    }

    /// Header names match without regard to ASCII case only; `Connection` is a list of options;
    /// the path stops at the first `?`.
    func test_headerLookup_connectionOptions_andPath() {
        func head(_ target: String, minor: Int = 1, _ headers: [(String, String)]) -> HTTPRequestHead {
            HTTPRequestHead(method: "GET", target: target, minorVersion: minor, headers: headers.map { (name: $0.0, value: $0.1) })
        }
        let request = head("/sync/v1/pull?after=3&limit=5?x", [("content-LENGTH", "7"), ("X-Chorus-Replica", "ab"), ("Connection", "Keep-Alive")])
        XCTAssertEqual(request.header("Content-Length"), "7")
        XCTAssertEqual(request.header("x-chorus-replica"), "ab")
        XCTAssertNil(request.header("Content-Lengt"))
        XCTAssertNil(head("/", [("Ｘ-Chorus-Replica", "ab")]).header("x-chorus-replica"), "only ASCII letters fold")
        XCTAssertEqual(request.path, "/sync/v1/pull")
        XCTAssertEqual(request.query, ["after": "3", "limit": "5?x"])
        XCTAssertEqual(head("/plain", []).path, "/plain")
        XCTAssertEqual(head("/q?a=1&&b&c=%41+x&d=\u{E9}&a=2&=v", []).query, ["a": "2", "b": "", "c": "A x", "d": "\u{E9}", "": "v"],
                       "empty pairs skipped, a key alone is empty, later duplicates win")
        XCTAssertEqual(head("/q", []).query, [:])
        XCTAssertEqual(head("/q?", []).query, [:])
        // What a node refuses (400) before any route reads the query.
        XCTAssertEqual(head("/q?a=1&&b&c=%41+x&d=\u{E9}&a=2&=v", []).queryProblem, "the query parameter a is given twice: give it once")
        XCTAssertEqual(head("/q?q=ana%20py&bad=%zz", []).queryProblem, "the query parameter bad holds a % not followed by two hex digits: write a % as %25")
        XCTAssertEqual(head("/q?x=%4", []).queryProblem, "the query parameter x holds a % not followed by two hex digits: write a % as %25")
        XCTAssertEqual(head("/q?x%2=1", []).queryProblem, "the query parameter x%2 holds a % not followed by two hex digits: write a % as %25")
        XCTAssertNil(head("/q?x=%41%4a&y=100%25", []).queryProblem)
        XCTAssertNil(head("/q", []).queryProblem)
        XCTAssertTrue(head("/", minor: 0, [("Connection", "Keep-Alive")]).keepAlive)
        XCTAssertTrue(head("/", minor: 0, [("connection", "Upgrade ,\tkeep-alive")]).keepAlive)
        XCTAssertFalse(head("/", minor: 0, [("Connection", "keep-alive-ish")]).keepAlive, "options are whole tokens")
        XCTAssertFalse(head("/", [("Connection", "TE, Close")]).keepAlive)
        XCTAssertTrue(head("/", [("Connection", "closed")]).keepAlive, "options are whole tokens")
        XCTAssertTrue(head("/", []).keepAlive, "HTTP/1.1 keeps the connection by default")
    }

    func test_percentDecoding_keepsInvalidEscapes_andPlusOnlyInQueries() {
        XCTAssertEqual(percentDecode("a%20b+c"), "a b c")
        XCTAssertEqual(percentDecode("a%20b+c", plusAsSpace: false), "a b+c")
        XCTAssertEqual(percentDecode("100%zz%4"), "100%zz%4", "an invalid escape is kept, not dropped")
        XCTAssertEqual(percentDecode("plain-text_ü"), "plain-text_ü", "nothing to decode: the same text")
        XCTAssertEqual(percentDecode("a+b", plusAsSpace: false), "a+b")
        XCTAssertEqual(HTTPRequestHead(method: "GET", target: "/x?q=ana%20py&bad=%zz", minorVersion: 1, headers: []).query, ["q": "ana py", "bad": "%zz"])
    }

    func test_responseSerialisation_setsContentLength() {
        let response = HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
        XCTAssertEqual(String(decoding: response.serialized(keepAlive: true), as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}")
    }
}
