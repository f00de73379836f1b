import XCTest
import Foundation
import ChorusCore
import ChorusNode
#if canImport(Glibc)
import Glibc
#endif

/// The node's log writer on real descriptors: it never blocks, and its reader always gets whole
/// lines, told how many were dropped.
final class LineWriterTests: XCTestCase {
    /// A connected pair of stream sockets with small buffers, so a long line is taken in part.
    func smallSocketPair() throws -> (writer: Int32, reader: Int32) {
        var pair: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        var size: Int32 = 4096
        setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        return (pair[0], pair[1])
    }

    /// Everything the reader can read now.
    func drain(_ fd: Int32) -> String {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { break }
            all += buffer[0..<count]
        }
        return String(decoding: all, as: UTF8.self)
    }

    func test_aLineCutByAFullReader_isEndedBeforeTheNotice_andTheLogGoesOnInWholeLines() throws {
        let (writer, reader) = try smallSocketPair()
        defer { close(writer); close(reader) }
        let log = LineWriter(descriptor: writer, droppedNotice: { "dropped \($0)" })
        let long = String(repeating: "x", count: 200_000)

        // On another thread, so a write that blocked would fail the test instead of hanging it.
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            log.write(long)        // taken in part, then cut: dropped
            log.write("second")    // the reader is still full: dropped
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "a write blocked on a reader that does not read")
        let before = drain(reader)
        XCTAssertTrue(before.hasPrefix("xxxx"), "part of the long line went out")
        XCTAssertFalse(before.contains("\n"), "nothing after the cut line yet")

        log.write("third")
        let after = drain(reader)
        let lines = (before + after).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.count, 4, "\(lines.map { $0.prefix(20) })")
        XCTAssertTrue(lines[0].allSatisfy { $0 == "x" } && lines[0].count < long.count, "the cut line stands alone")
        XCTAssertEqual(Array(lines.dropFirst()), ["dropped 2", "third", ""])
    }

    func test_aPipeNobodyReads_dropsLinesWithoutBlocking_andCountsThem() throws {
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&ends), 0)
        defer { close(ends[0]); close(ends[1]) }
        let log = LineWriter(descriptor: ends[1])
        let line = String(repeating: "y", count: 100)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for _ in 0..<2_000 { log.write(line) }  // 200 KB into a 64 KB pipe
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "a write blocked on a full pipe")

        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        func readAll() { while true { let n = read(ends[0], &buffer, buffer.count); if n <= 0 { break }; text += buffer[0..<n] } }
        readAll()
        log.write("last")
        readAll()
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
        let kept = lines.filter { $0 == line }.count
        let notice = try XCTUnwrap(lines.first { $0.contains("log_lines_dropped") })
        let count = try XCTUnwrap(JSONParser().parse(notice)["count"]?.integerValue)
        XCTAssertEqual(kept + Int(count), 2_000, "every line is either out whole or counted")
        XCTAssertEqual(lines.last, "last")
        XCTAssertEqual(lines.count, kept + 2, "nothing but whole lines, the notice and the last line")
    }
}
