import XCTest
import ChorusCore
import ChorusReplica
import ChorusSync
import ChorusTesting
import ChorusNode
import HTTP1

/// A laptop's node acts for its owner (`--owner`) only for requests from the machine it runs on,
/// whatever they name in `Host`: listening beyond loopback, it gave anyone on the network who sent
/// `Host: localhost` the owner's private feedback and their writes (a read-only audit).
final class OwnerIdentityTests: XCTestCase {
    private func api() throws -> PeopleAPI {
        let clock = ManualClock(milliseconds: 1_790_000_000_000)
        let replica = try ReplicaFactory.memory(name: "laptop", clock: clock, seed: 41)
        try replica.write(collection: "people", record: "p-1", [.put(field: "name", value: "Ada")])
        var identity = IdentityPolicy()
        identity.owner = "p-1"
        return PeopleAPI(executor: ReplicaExecutor(replica), limits: .default, identity: identity)
    }

    private func request(_ method: String, _ target: String, body: String = "") -> HTTPRequest {
        var headers: [(name: String, value: String)] = [("Host", "localhost:7420")]
        if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
        return HTTPRequest(head: HTTPRequestHead(method: method, target: target, minorVersion: 1, headers: headers), body: Array(body.utf8))
    }

    func test_theOwnersIdentity_isOnlyForRequestsFromThisMachine() throws {
        let api = try api()
        let write = #"{"title":"Lead"}"#
        let fromElsewhere = api.handle(request("PATCH", "/api/v1/people/p-1", body: write), remote: "203.0.113.9:50000")
        XCTAssertEqual(fromElsewhere.status, 403)
        XCTAssertTrue(String(decoding: fromElsewhere.body, as: UTF8.self).contains("only for requests from this machine"),
                      String(decoding: fromElsewhere.body, as: UTF8.self))
        XCTAssertEqual(api.handle(request("PATCH", "/api/v1/people/p-1", body: write), remote: "127.0.0.1:50000").status, 200, "from this machine")
    }
}
