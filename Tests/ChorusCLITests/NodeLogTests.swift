import XCTest
import Foundation
import ChorusCore
import ChorusTesting

/// The node's log on standard output never stops the node: a real `chorus serve` whose output
/// pipe nobody reads (a paused `chorus serve | less`).
final class NodeLogTests: XCTestCase {
    var folder: TemporaryDirectory!

    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "chorus-log") }
    override func tearDown() { folder.remove() }

    func test_aNodeWhoseLogIsNotRead_keepsAnswering_andThenSaysHowManyLinesItDropped() throws {
        let node = try ServeProcess(data: folder.appending("office"))
        // Killed, not stopped: a node stuck writing its log would never finish stopping.
        defer { node.kill() }
        node.pauseReadingLog()

        // Far more request lines than a pipe holds (64 KiB, about 150 bytes a line): every
        // request must still be answered, each within the client's 20 s read timeout.
        var sent = 0
        for _ in 0..<6 {
            let client = try RawClient(port: node.port)
            for _ in 0..<500 {
                client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = client.readResponse()
                XCTAssertEqual(response?.status, 200, "request \(sent + 1) while the log is not read: \(client.lastStatusLine ?? "")")
                guard response?.status == 200 else { return }
                sent += 1
            }
        }

        // Read again: the first line the node gets out is the notice of what it dropped, and
        // every request is either in the log or counted in the notice.
        node.resumeReadingLog()
        let client = try RawClient(port: node.port)
        func requestLines() -> Int { node.log.filter { $0.contains("\"event\":\"request\"") }.count }
        func droppedCount() -> Int? {
            node.log.lazy.compactMap { line -> Int? in
                guard line.contains("\"event\":\"log_lines_dropped\""), let json = try? JSONParser().parse(line),
                      case .integer(let count)? = json["count"] else { return nil }
                return Int(count)
            }.first
        }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 200)
            sent += 1
            usleep(50_000)
            if let dropped = droppedCount(), dropped + requestLines() == sent { break }
        }
        let dropped = try XCTUnwrap(droppedCount(), "no notice of dropped lines in the log: \(node.log.suffix(3))")
        XCTAssertGreaterThan(dropped, 0)
        XCTAssertEqual(dropped + requestLines(), sent, "every request is logged or counted as dropped")
        let notice = try XCTUnwrap(node.log.firstIndex { $0.contains("log_lines_dropped") })
        XCTAssertTrue(node.log[(notice + 1)...].contains { $0.contains("\"event\":\"request\"") }, "the log goes on after the notice")
    }
}
