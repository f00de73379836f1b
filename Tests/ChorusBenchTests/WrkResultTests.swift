import XCTest
@testable import chorus_bench

/// P4 reads wrk's report (`Wrk.swift`): the rate and two latency percentiles, in whatever unit wrk
/// chose for each, and a report of failed responses or socket errors must fail the run rather than
/// be taken as a fast server. The reports below are wrk 4.1's, as Debian's package prints them.
final class WrkResultTests: XCTestCase {
    static let healthy = """
        Running 1s test @ http://127.0.0.1:18099/healthz
          2 threads and 8 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency   186.27us  120.69us   2.58ms   87.60%
            Req/Sec    20.67k     2.45k   23.77k    63.64%
          Latency Distribution
             50%  163.00us
             75%  220.00us
             90%  297.00us
             99%  567.00us
          45202 requests in 1.10s, 4.74MB read
        Requests/sec:  41086.23
        Transfer/sec:      4.31MB
        """

    func test_aHealthyReport_givesTheRateAndThePercentiles_inSeconds() throws {
        let result = try WrkResult(parsing: Self.healthy)
        XCTAssertEqual(result.rate, 41086.23, accuracy: 0.001)
        XCTAssertEqual(result.p50, 163e-6, accuracy: 1e-12)
        XCTAssertEqual(result.p99, 567e-6, accuracy: 1e-12, "the 99% line, not the 90% or the Max column")
    }

    func test_percentiles_inMillisecondsAndSeconds() throws {
        let report = Self.healthy.replacingOccurrences(of: "50%  163.00us", with: "50%    1.48ms")
            .replacingOccurrences(of: "99%  567.00us", with: "99%    2.01s")
        let result = try WrkResult(parsing: report)
        XCTAssertEqual(result.p50, 1.48e-3, accuracy: 1e-12)
        XCTAssertEqual(result.p99, 2.01, accuracy: 1e-12)
        XCTAssertEqual(WrkResult.seconds("812.00us")!, 812e-6, accuracy: 1e-12)
        XCTAssertNil(WrkResult.seconds("12.0m"), "minutes are no unit wrk prints for a percentile")
    }

    func test_failedResponses_orSocketErrors_failTheRun() {
        let failed = Self.healthy.replacingOccurrences(of: "Requests/sec:", with: "  Non-2xx or 3xx responses: 38803\nRequests/sec:")
        XCTAssertThrowsError(try WrkResult(parsing: failed)) { XCTAssertTrue("\($0)".contains("failed responses"), "\($0)") }
        let socket = Self.healthy.replacingOccurrences(of: "Requests/sec:", with: "  Socket errors: connect 0, read 3, write 0, timeout 5\nRequests/sec:")
        XCTAssertThrowsError(try WrkResult(parsing: socket)) { XCTAssertTrue("\($0)".contains("socket errors"), "\($0)") }
    }

    func test_aReportWithoutItsFigures_failsTheRun() {
        let cut = Self.healthy.components(separatedBy: "\n").prefix(8).joined(separator: "\n")
        XCTAssertThrowsError(try WrkResult(parsing: cut), "no 99% line and no rate")
        XCTAssertThrowsError(try WrkResult(parsing: Self.healthy.replacingOccurrences(of: "41086.23", with: "fast")))
        XCTAssertThrowsError(try WrkResult(parsing: ""))
    }
}
