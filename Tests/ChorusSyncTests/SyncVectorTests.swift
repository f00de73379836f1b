import XCTest
import ChorusCore
import ChorusSync
import ChorusTesting

/// The messages of Protocol/sync-v1.md, checked against Protocol/vectors/sync-messages.json.
final class SyncVectorTests: XCTestCase {
    func test_validMessages_decodeAsSpecified() throws {
        let vectors = try ProtocolVectors.load("sync-messages.json")
        XCTAssertGreaterThanOrEqual(vectors.count, 6)
        for vector in vectors {
            let name = vector["name"]?.stringValue ?? "?"
            let body = Array(try XCTUnwrap(vector["body"]?.stringValue).utf8)
            let expect = try XCTUnwrap(vector["expect"])
            switch vector["message"]?.stringValue {
            case "pushRequest":
                let push = try PushRequest.decode(body, limits: .default)
                XCTAssertEqual(push.replica.hex, expect["replica"]?.stringValue, name)
                XCTAssertEqual(push.through, expect["through"]?.integerValue, name)
                XCTAssertEqual(push.relayed.map { JSONValue.string($0.hex) }, expect["relayed"]?.arrayValue, name)
                XCTAssertEqual(push.operations.map { JSONValue.string($0.id.description) }, expect["operationIDs"]?.arrayValue, name)
                let texts = push.operations.map(OperationCodec().canonicalText)
                XCTAssertEqual(PushRequest.encode(replica: push.replica, through: push.through, relayed: push.relayed, operationTexts: texts), body,
                               "\(name): our encoder produces the vector's exact bytes")
            case "pushResponse":
                let response = try PushResponse(try JSONParser().parse(body))
                XCTAssertEqual(Int64(response.applied), expect["applied"]?.integerValue, name)
                XCTAssertEqual(Int64(response.duplicates), expect["duplicates"]?.integerValue, name)
                XCTAssertEqual(response.through, expect["through"]?.integerValue, name)
                XCTAssertEqual(response.server.replica.hex, expect["serverReplica"]?.stringValue, name)
                XCTAssertEqual(Int64(response.server.wall), expect["serverWall"]?.integerValue, name)
                XCTAssertEqual(response.json.canonicalBytes, body, "\(name): canonical")
            case "pullResponse":
                let response = try PullResponse.decode(body, limits: .default)
                XCTAssertEqual(response.next, expect["next"]?.integerValue, name)
                XCTAssertEqual(response.hasMore, expect["hasMore"]?.boolValue, name)
                XCTAssertEqual(response.nextOperation?.description, expect["nextOperation"]?.stringValue, name)
                XCTAssertEqual(response.operations.map { JSONValue.string($0.id.description) }, expect["operationIDs"]?.arrayValue, name)
                let texts = response.operations.map(OperationCodec().canonicalText)
                XCTAssertEqual(PullResponse.encode(operationTexts: texts, next: response.next, nextOperation: response.nextOperation, hasMore: response.hasMore,
                                                   server: response.server), body, name)
            case "info":
                let info = try InfoResponse(try JSONParser().parse(body))
                XCTAssertEqual(info.protocolVersions.map { JSONValue.integer(Int64($0)) }, expect["protocolVersions"]?.arrayValue, name)
                XCTAssertEqual(info.snapshot?.storage, expect["snapshot"]?["storage"]?.stringValue, name)
                XCTAssertEqual(info.snapshot?.through, expect["snapshot"]?["through"]?.integerValue, name)
                XCTAssertEqual(info.compactedThrough, expect["compactedThrough"]?.integerValue ?? 0, name)
                XCTAssertEqual(info.logEnd, expect["logEnd"]?.integerValue, name)
                XCTAssertEqual(info.person, expect["person"]?.stringValue, name)
                XCTAssertEqual(info.relay, expect["relay"] == true, name)
                XCTAssertEqual(info.ownOperations.map { ranges in JSONValue.array(ranges.intervals.map { .array([.integer(Int64($0.first)), .integer(Int64($0.last))]) }) },
                               expect["ownOperations"], name)
                XCTAssertEqual(info.ownLatest.map { JSONValue.object(["counter": .integer(Int64($0.counter)), "hash": .string(XXHash64.hex($0.hash))]) },
                               expect["ownLatest"], name)
                XCTAssertEqual(info.json.canonicalBytes, body, name)
            case "digest":
                let digest = try DigestResponse(try JSONParser().parse(body))
                XCTAssertEqual(digest.digest, expect["digest"]?.stringValue, name)
                XCTAssertEqual(digest.through, expect["through"]?.integerValue, name)
                XCTAssertEqual(digest.json.canonicalBytes, body, name)
            default:
                XCTFail("unknown message kind in \(name)")
            }
        }
    }

    func test_invalidMessages_areRefused() throws {
        let document = try JSONParser().parse(Array(try String(contentsOfFile: ProtocolVectors.directory + "/sync-messages.json", encoding: .utf8).utf8))
        let invalid = try XCTUnwrap(document["invalid"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(invalid.count, 5)
        for vector in invalid {
            let body = Array(try XCTUnwrap(vector["body"]?.stringValue).utf8)
            switch vector["message"]?.stringValue {
            case "pushRequest": XCTAssertThrowsError(try PushRequest.decode(body, limits: .default), vector["name"]?.stringValue ?? "")
            case "pullResponse": XCTAssertThrowsError(try PullResponse.decode(body, limits: .default), vector["name"]?.stringValue ?? "")
            case "info": XCTAssertThrowsError(try InfoResponse(try JSONParser().parse(body)), vector["name"]?.stringValue ?? "")
            case "digest": XCTAssertThrowsError(try DigestResponse(try JSONParser().parse(body)), vector["name"]?.stringValue ?? "")
            default: XCTFail("unknown message kind")
            }
        }
    }
}
