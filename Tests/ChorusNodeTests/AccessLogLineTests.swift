import XCTest
import ChorusCore
import ChorusTesting
@testable import HTTPServer
@testable import ChorusNode

/// The access log's line is written straight out; it must be, byte for byte, the canonical JSON
/// object of its members, whatever the request and its annotations hold.
final class AccessLogLineTests: XCTestCase {
    /// The line as the general writer gives it: the standard members, each annotation replacing
    /// the member of its name, as one object's canonical text.
    private func reference(_ entry: HTTPServer.LogEntry, time: UInt64) -> String {
        var members: [String: JSONValue] = [
            "event": "request", "time": .integer(Int64(time)), "method": .string(entry.method), "path": .string(entry.path),
            "status": .integer(Int64(entry.status)), "bytes": .integer(Int64(entry.bytes)),
            "ms": .double((entry.milliseconds * 100).rounded() / 100), "remote": .string(entry.remote),
        ]
        for (key, value) in entry.annotations { members[key] = .string(value) }
        return JSONValue.object(members).canonicalText
    }

    func test_aRequestsLine_isTheCanonicalObjectOfItsMembers() {
        let entry = HTTPServer.LogEntry(method: "GET", path: "/sync/v1/pull", status: 200, bytes: 171, milliseconds: 0.123456,
                                        remote: "127.0.0.1:50000", annotations: ["peer": "laptop"])
        XCTAssertEqual(AccessLogLine.text(entry, time: 1_796_312_391_910),
                       #"{"bytes":171,"event":"request","method":"GET","ms":0.12,"path":"/sync/v1/pull","peer":"laptop","remote":"127.0.0.1:50000","status":200,"time":1796312391910}"#)
    }

    func test_anyEntryAndAnnotations_giveTheGeneralWritersLine() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let texts = ["", "a", "GET", "/p?x=\"1\"", "é\n\u{1}", "日本🙂", "\\"]
        let keys = ["peer", "bytes", "event", "ms", "time", "a", "zz", "", "m", "method", "path2", "é", "Z"]
        for _ in 0..<500 {
            var annotations: [String: String] = [:]
            for _ in 0..<rng.int(4) { annotations[rng.pick(keys)] = rng.pick(texts) }
            let entry = HTTPServer.LogEntry(method: rng.pick(texts), path: rng.pick(texts), status: rng.int(600),
                                            bytes: rng.int(1 << 20), milliseconds: Double(rng.int(1_000_000)) / 997,
                                            remote: rng.pick(texts), annotations: annotations)
            let time = UInt64(rng.int(1 << 42))
            XCTAssertEqual(AccessLogLine.text(entry, time: time), reference(entry, time: time), "seed \(seed)")
        }
    }
}
