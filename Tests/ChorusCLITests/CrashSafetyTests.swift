import XCTest
import Foundation
import ChorusCore
import ChorusReplica
import ChorusTesting

/// Nothing acknowledged is ever lost: `chorus` processes killed with SIGKILL at random moments
/// while writing and importing restart consistent.
final class CrashSafetyTests: XCTestCase {
    func test_sigkillDuringWritesAndImports_losesNothingAcknowledged() throws {
        let folder = try TemporaryDirectory(prefix: "chorus-crash")
        defer { folder.remove() }
        let data = folder.appending("replica")
        XCTAssertEqual(try ChorusProcess.run(["init", "--name", "victim", "--data", data]).status, 0)

        // A large bundle from another replica, to import while being killed.
        let source = folder.appending("source")
        var generator = SystemRandomNumberGenerator()
        let sourceReplica = try Replica.create(at: .directory(source), name: "source",
                                               configuration: ReplicaFactory.configuration(clock: SystemClock(), synchronous: .off), using: &generator)
        for batch in 0..<40 {
            for index in 0..<50 {
                try sourceReplica.write(collection: "people", record: "import-\(batch)-\(index)",
                                        [.put(field: "name", value: .string("Person \(index)")), .add(field: "guilds", element: "g\(index % 5)")])
            }
        }
        let bundlePath = folder.appending("big.bundle")
        XCTAssertTrue(FileManager.default.createFile(atPath: bundlePath, contents: nil))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: bundlePath))
        let header = try sourceReplica.exportBundle { try handle.write(contentsOf: Data($0)) }
        try handle.close()

        let seed = UInt64(ProcessInfo.processInfo.environment["CHORUS_SEED"] ?? "") ?? UInt64.random(in: 0..<1_000_000)
        var rng = SeededGenerator(seed: seed)
        var acknowledged: [OperationID] = []
        var importsCompleted = 0
        let cycles = 30
        for cycle in 0..<cycles {
            if cycle % 3 == 2 {
                // Imports take longer: some are killed mid-transaction, some finish.
                let delay = 50 + rng.int(1200)
                let (output, finished) = try ChorusProcess.runAndKill(["import", bundlePath, "--data", data], afterMilliseconds: delay)
                if finished && output.contains("imported") { importsCompleted += 1 }
            } else {
                let delay = 30 + rng.int(250)
                let (output, _) = try ChorusProcess.runAndKill(["stress", "1000000", "--data", data], afterMilliseconds: delay)
                acknowledged += output.split(separator: "\n").compactMap { line in
                    line.hasPrefix("ack ") && line.count > 4 ? OperationID(String(line.dropFirst(4))) : nil
                }
            }
            let check = try ChorusProcess.run(["check", "--data", data])
            XCTAssertEqual(check.status, 0, "seed \(seed), cycle \(cycle): \(check.standardOutput) \(check.standardError)")
        }
        XCTAssertGreaterThan(acknowledged.count, 0, "the writer should have acknowledged something")

        let replica = try Replica.open(at: .directory(data), configuration: ReplicaFactory.configuration(clock: SystemClock(), synchronous: .full))
        let lost = try acknowledged.filter { try !replica.hasOperation($0) }
        XCTAssertEqual(lost, [], "seed \(seed): acknowledged operations lost after SIGKILL")
        XCTAssertEqual(try replica.invariantViolations(), [], "seed \(seed)")

        // Finish the import, then re-import: nothing is applied twice.
        let finish = try ChorusProcess.run(["import", bundlePath, "--json", "--data", data])
        XCTAssertEqual(finish.status, 0, finish.standardError)
        let again = try JSONParser().parse(try ChorusProcess.run(["import", bundlePath, "--json", "--data", data]).standardOutput)
        XCTAssertEqual(again["applied"], 0)
        XCTAssertEqual(again["duplicates"], .integer(Int64(header.operations)))
        print("crash safety: \(cycles) SIGKILL cycles, \(acknowledged.count) acknowledged writes all present, \(importsCompleted) imports finished before the kill (seed \(seed))")
    }
}
