import ChorusCore
import ChorusPeople
import ChorusReplica

enum InsightsCommand: Command {
    static let spec = CommandSpec("insights", "for the people team: team sizes, skills supply against demand, career framework health",
        details: """
        Computed locally from this replica. Tribes over about 100 people (time to split); squads
        outside 5-10 people; for each skill open opportunities ask for, how many people have it at the
        level asked, by office and tribe; and for each ability of the career framework, how many roles
        use it, observations referencing it, people at a milestone, and whether it went two years
        without an update.
        """,
        options: [.data, .json])

    static func run(_ context: CommandContext) throws -> Int32 {
        let replica = try context.openReplica()
        let insights = try Insights.compute(replica, now: replica.configuration.wallClock.nowMilliseconds())
        if context.isJSON {
            context.output.json(insights.json)
            return 0
        }
        let flaggedTribes = insights.tribes.filter { $0.flag != nil }, flaggedSquads = insights.squads.filter { $0.flag != nil }
        context.output.print("Teams: \(insights.tribes.count) tribes, \(insights.squads.count) squads")
        for team in flaggedTribes + flaggedSquads { context.output.print("  \(team.name) (\(team.team)): \(team.people) people, \(team.flag!)") }
        if flaggedTribes.isEmpty && flaggedSquads.isEmpty { context.output.print("  every tribe is under 100 people and every squad has 5-10") }
        context.output.print("\nSkills asked for by open opportunities (demand) against people who have them at that level (supply):")
        context.output.print(Format.table([["SKILL", "DEMAND", "SUPPLY", "BY OFFICE"]] + insights.skills.prefix(20).map { skill in
            [Format.value(.string(skill.label), width: 40), String(skill.demand), String(skill.supply),
             skill.supplyByOffice.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")]
        }))
        context.output.print("\nCareer framework health:")
        context.output.print(Format.table([["ABILITY", "ROLES", "OBSERVATIONS", "AT A MILESTONE", "FLAGS"]] + insights.abilities.map { ability in
            [Format.value(.string(ability.name), width: 36), String(ability.roles), String(ability.observations), String(ability.peopleWithMilestone),
             ability.flags.joined(separator: "; ")]
        }))
        return 0
    }
}
