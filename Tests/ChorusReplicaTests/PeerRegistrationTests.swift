import XCTest
import ChorusCore
import ChorusTesting
import ChorusReplica

/// Registering a replica and putting its token where its operator finds it are one step: what
/// the second throws registers nothing (a kill between them left a name registered with a token
/// nobody had, and the name could not be taken again).
final class PeerRegistrationTests: XCTestCase {
    func test_aTokenNotPutInPlace_registersNothing_andTheNameCanBeTakenAgain() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 13)
        let hub = try Replica.create(at: .directory(folder.path), name: "hub", using: &rng)
        struct DiskFull: Error {}
        XCTAssertThrowsError(try hub.addPeer(name: "lap", role: .replica) { _ in throw DiskFull() })
        XCTAssertEqual(try hub.peers().map(\.name), [], "nothing registered")
        var given: String?
        let token = try hub.addPeer(name: "lap", role: .replica) { given = $0 }
        XCTAssertEqual(given, token, "told the token it registers, before its commit")
        XCTAssertEqual(try hub.peers().map(\.name), ["lap"])
    }
}
