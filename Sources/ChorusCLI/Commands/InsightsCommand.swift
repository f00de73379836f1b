import ChorusCore
import ChorusPeople
import ChorusReplica

enum InsightsCommand: Command {
    static let spec = CommandSpec("insights", "for the people team: team sizes, skills supply against demand, career framework health",
        details: """
        Computed locally from this replica. Tribes over about 100 people (time to split) or with
        none; squads outside 5-10 people; how many people are in no tribe or squad listed; for each
        skill open opportunities ask for, how many people have it at the lowest level asked, by
        office and tribe (the 20 widest gaps; --json lists every skill); and for each ability of the
        career framework, how many roles use it, public observations of people here referencing it,
        people at a milestone, and whether it went two years without a value written.
        """,
        options: [.data, .json])

    /// Skills shown in the table, widest gaps first: the rest are counted below it.
    static let skillRowsMax = 20

    static func run(_ context: CommandContext) throws -> Int32 {
        let replica = try context.openReplica()
        let insights = try Insights.compute(replica, now: replica.configuration.wallClock.nowMilliseconds())
        if context.isJSON {
            context.output.json(insights.json)
            return 0
        }
        let flaggedTribes = insights.tribes.filter { $0.flag != nil }, flaggedSquads = insights.squads.filter { $0.flag != nil }
        context.output.print("Teams: \(Format.counted(insights.tribes.count, "tribe")), \(Format.counted(insights.squads.count, "squad"))")
        for team in flaggedTribes + flaggedSquads { context.output.print("  \(team.name) (\(team.team)): \(team.people) people, \(team.flag!)") }
        if flaggedTribes.isEmpty && flaggedSquads.isEmpty {
            context.output.print("  no tribe is empty or over \(Insights.tribeSplitAt) people, and every squad has \(Insights.squadSizes.lowerBound)-\(Insights.squadSizes.upperBound)")
        }
        // The sizes leave these out: a person whose team is gone or unknown is in none of them.
        for (count, kind) in [(insights.withoutTribe, "tribe"), (insights.withoutSquad, "squad")] where count > 0 {
            context.output.print("  \(count) \(count == 1 ? "person is" : "people are") in no \(kind) listed here (none named, or one deleted or unknown)")
        }
        context.output.print("\nSkills asked for by open opportunities (demand) against people who have them at the lowest level asked (supply):")
        context.output.print(Format.table([["SKILL", "DEMAND", "LEVEL", "SUPPLY", "BY OFFICE"]] + insights.skills.prefix(skillRowsMax).map { skill in
            [Format.value(.string(skill.label), width: 40), String(skill.demand), String(skill.level), String(skill.supply),
             skill.supplyByOffice.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")]
        }))
        if insights.skills.count > skillRowsMax {
            context.output.print("... and \(insights.skills.count - skillRowsMax) more skills with smaller gaps (--json lists every one)")
        }
        context.output.print("\nCareer framework health:")
        context.output.print(Format.table([["ABILITY", "ROLES", "OBSERVATIONS", "AT A MILESTONE", "FLAGS"]] + insights.abilities.map { ability in
            [Format.value(.string(ability.name), width: 36), String(ability.roles), String(ability.observations), String(ability.peopleWithMilestone),
             ability.flags.joined(separator: "; ")]
        }))
        return 0
    }
}
