import XCTest
@testable import chorus_bench

/// `chorus-bench` reads every argument before any work (`BenchArguments`): a full run is minutes,
/// so a value missing or malformed, an option the chosen run would not use, or two runs at once is
/// refused at once, and what is accepted is what the run uses.
final class BenchArgumentsTests: XCTestCase {
    func parsed(_ arguments: String) throws -> BenchArguments {
        try BenchArguments.parse(arguments.split(separator: " ").map(String.init)).get()
    }

    func refusal(_ arguments: String) -> String? {
        guard case .failure(let refusal) = BenchArguments.parse(arguments.split(separator: " ").map(String.init)) else { return nil }
        return refusal.message
    }

    func test_accepted_runsWhatWasAsked() throws {
        XCTAssertEqual(try parsed(""), BenchArguments())
        XCTAssertEqual(try parsed("--quick").quick, true)
        XCTAssertEqual(try parsed("--write-docs").docs, "Docs/performance.md")
        XCTAssertEqual(try parsed("--write-docs --docs /tmp/run.md").docs, "/tmp/run.md")
        XCTAssertEqual(try parsed("--docs /tmp/run.md --write-docs --quick").docs, "/tmp/run.md")
        let merge = try parsed("--only-merge --people 10000 --repetitions 5")
        XCTAssertEqual(merge.mode, .merge)
        XCTAssertEqual(merge.number("--people", default: 200), 10_000)
        XCTAssertEqual(merge.number("--repetitions", default: 1), 5)
        XCTAssertEqual(merge.number("--writes", default: 300), 300, "absent: the default")
        XCTAssertEqual(try parsed("--only-scale --history 1000000 --seconds 2").number("--history", default: 0), 1_000_000)
        XCTAssertEqual(try parsed("--only-write --writes 50").mode, .write)
        XCTAssertNil(try parsed("--quick").docs, "no docs written unless asked")
    }

    func test_refused_beforeAnyWork_sayingWhy() {
        let refused: [(String, String)] = [
            ("--quik", "unknown argument --quik"),
            ("--write-docs --docs", "--docs needs a file"),
            ("--write-docs --docs --quick", "--docs needs a file"),
            ("--docs /tmp/x.md", "give both"),
            ("--people abc", "--people needs a whole number"),
            ("--only-merge --people", "--people needs a whole number"),
            ("--only-merge --people 0", "from 1 to 1000000"),
            ("--only-merge --people -5", "from 1 to 1000000"),
            ("--only-scale --history 1000001", "from 1 to 1000000"),
            ("--people 10000", "the full run has its own sizes"),
            ("--quick --repetitions 3", "the full run has its own sizes"),
            ("--only-merge --writes 10", "--writes does not size --only-merge"),
            ("--only-write --people 10", "--people does not size --only-write"),
            ("--only-merge --quick", "go with the full run"),
            ("--only-bootstrap --write-docs", "go with the full run"),
            ("--only-merge --only-bootstrap", "cannot run together"),
        ]
        for (arguments, expected) in refused {
            let message = refusal(arguments)
            XCTAssertNotNil(message, "\(arguments): refused")
            XCTAssertTrue(message?.contains(expected) ?? false, "\(arguments): \(message ?? "accepted")")
        }
    }
}
