import ChorusCore
import ChorusPeople
import ChorusReplica

enum SeedCommand: Command {
    static let spec = CommandSpec("seed", "fill the replica with a deterministic, realistic company",
        details: """
        Offices with names fitting each locale, tribes of squads, chapters and guilds, people with ESCO
        skills and development goals, feedback and praise, this quarter's objectives, opportunities with
        a top-10 of company bets, and a career framework. The same --seed gives the same company.
        """,
        options: [.data, .json,
                  OptionSpec(name: "--people", valueName: "N", help: "people (default 100, at most 1000000)"),
                  OptionSpec(name: "--offices", valueName: "K", help: "offices, 1 to \(CompanyGenerator.offices.count) (default 3)"),
                  OptionSpec(name: "--seed", valueName: "S", help: "seed (default 1)"),
                  OptionSpec(name: "--again", valueName: nil, help: "seed a replica that already holds people (their records are written over)")])

    static func run(_ context: CommandContext) throws -> Int32 {
        guard let people = Int(context.arguments.value("--people") ?? "100"), (1...1_000_000).contains(people) else {
            throw context.usageError("--people must be 1 to 1000000")
        }
        guard let offices = Int(context.arguments.value("--offices") ?? "3"), (1...CompanyGenerator.offices.count).contains(offices) else {
            throw context.usageError("--offices must be 1 to \(CompanyGenerator.offices.count)")
        }
        guard let seed = UInt64(context.arguments.value("--seed") ?? "1") else { throw context.usageError("--seed must be a non-negative integer") }
        let replica = try context.openReplica()
        // A second company over the first writes every seeded record again (thousands of
        // operations that sync everywhere): said, not done, unless asked for.
        let held = try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM people WHERE _deleted = 0") } ?? 0
        if held > 0 && !context.arguments.flag("--again") {
            throw ChorusError(.invalidState, "this replica already holds \(held) \(held == 1 ? "person" : "people"); seeding writes a company over them",
                              hint: "seed a new folder (`chorus init --data DIR`), or pass --again to write it once more")
        }
        let writes = CompanyGenerator(sizes: .init(people: people, offices: offices), seed: seed).generate()
        var operations = 0
        var start = 0
        // Progress at each tenth, as import's: a line every 500 records was 6,000 lines for a
        // million people (a read-only audit).
        var reportedTenths = 0
        while start < writes.count {
            let chunk = Array(writes[start..<min(start + 500, writes.count)])
            operations += try replica.writeMany(chunk, by: "seed").count
            start += chunk.count
            let tenths = start * 10 / writes.count
            if writes.count > 2000 && !context.isJSON && tenths > reportedTenths && start < writes.count {
                reportedTenths = tenths
                context.output.error("seeded \(start) of \(writes.count) records...")
            }
        }
        if context.isJSON {
            context.output.json(.object(["records": .integer(Int64(writes.count)), "operations": .integer(Int64(operations))]))
        } else {
            context.output.print("seeded \(writes.count) records (\(people) people in \(offices) offices) with \(operations) operations")
        }
        return 0
    }
}
