import XCTest
import ChorusCore
import ChorusSync
import HTTP1
@testable import HTTPServer
@testable import ChorusNode

/// A fault of the node's own (its database, its files) is told in full to its operator and to a
/// client on its machine; anyone else gets a reference the operator finds in the access log. The
/// detail named SQL and file paths to whoever asked, a page's anonymous reader included.
final class NodeFaultAnswerTests: XCTestCase {
    private let secret = "SQLite error 11: database disk image is malformed (in: SELECT value FROM fields) at /srv/chorus/secret-folder/chorus.sqlite"

    private func body(_ response: HTTPResponse) -> String { String(decoding: response.body, as: UTF8.self) }

    func test_aStorageFault_toAnotherMachine_saysOnlyAReference_whichTheLogNamesWithTheDetail() throws {
        let fault = SyncError(ChorusError(.storage, secret, hint: "restore it from a backup"))
        XCTAssertTrue(fault.isNodeFault)
        let answered = NodeRouter.answer(fault.response, to: "192.0.2.7:40000")
        XCTAssertEqual(answered.status, 500)
        let text = body(answered)
        XCTAssertFalse(text.contains("secret-folder") || text.contains("SELECT") || text.contains("backup"), text)
        let reference = try XCTUnwrap(answered.logAnnotations[Problem.referenceAnnotation])
        XCTAssertEqual(reference.count, 12)
        XCTAssertTrue(text.contains("reference \(reference)"), text)
        XCTAssertEqual(answered.logAnnotations["error"], String(secret.prefix(300)), "the operator's log keeps what failed")
        XCTAssertEqual(answered.header("X-Content-Type-Options"), "nosniff")
        XCTAssertEqual(answered.header("Content-Type"), "application/problem+json")
    }

    func test_aStorageFault_toThisMachine_saysWhatFailed_withTheSameReference() throws {
        let fault = SyncError(ChorusError(.storage, secret, hint: "restore it from a backup"))
        let answered = NodeRouter.answer(fault.response, to: "127.0.0.1:40000")
        let text = body(answered)
        XCTAssertTrue(text.contains("secret-folder") && text.contains("restore it from a backup"), text)
        let reference = try XCTUnwrap(answered.logAnnotations[Problem.referenceAnnotation])
        XCTAssertTrue(text.contains("reference \(reference)"), text)
    }

    /// Behind nginx on the node's machine, every request comes from 127.0.0.1: one from a
    /// trusted proxy is anyone's, and told the reference only.
    func test_aStorageFault_throughAProxyOnThisMachine_saysOnlyAReference() throws {
        let fault = SyncError(ChorusError(.storage, secret))
        let text = body(NodeRouter.answer(fault.response, to: "127.0.0.1:40000", proxies: ["127.0.0.1"]))
        XCTAssertFalse(text.contains("secret-folder"), text)
        XCTAssertTrue(text.contains("reference"), text)
    }

    func test_aRetryableFault_staysA503_thatSaysToRetry() throws {
        let busy = SyncError(ChorusError(.storage, "SQLite error 13: database or disk is full (in: INSERT INTO oplog)", hint: "free space", isRetryable: true))
        let answered = NodeRouter.answer(busy.response, to: "192.0.2.7:40000")
        XCTAssertEqual(answered.status, 503)
        XCTAssertFalse(body(answered).contains("INSERT"), body(answered))
        XCTAssertTrue(body(answered).contains("retry later"), body(answered))
    }

    func test_anUnexpectedError_isRedactedToo_andTheRequestsOwnMistakesAreNot() {
        struct Thrown: Error, CustomStringConvertible { var description: String { "opened /etc/chorus/private.key" } }
        let text = body(NodeRouter.answer(Problem.internalError(Thrown()), to: "192.0.2.7:40000"))
        XCTAssertFalse(text.contains("private.key"), text)
        let refusal = SyncError(ChorusError(.invalidValue, "title is longer than 200 characters"))
        XCTAssertFalse(refusal.isNodeFault)
        XCTAssertTrue(body(NodeRouter.answer(refusal.response, to: "192.0.2.7:40000")).contains("longer than 200"), "a refusal of the request says why, to anyone")
    }
}
