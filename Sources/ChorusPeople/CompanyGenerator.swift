import ChorusCore
import ChorusReplica

/// Generates a deterministic company from a seed: offices with locale-fitting names, tribes of
/// squads with chapters and guilds, people with ESCO skills and goals, feedback and praise,
/// quarterly objectives, opportunities (with company bets ranked) and a career framework.
/// The same seed gives the same company, byte for byte (`chorus seed`, demos, tests, benchmarks).
public struct CompanyGenerator {
    public struct Office: Sendable {
        public let name: String
        public let timezone: String
        public let givenNames: [String]
        public let familyNames: [String]
    }

    public static let offices: [Office] = [
        Office(name: "Stockholm", timezone: "Europe/Stockholm",
               givenNames: ["Astrid", "Linnea", "Elsa", "Maja", "Ebba", "Erik", "Lars", "Oskar", "Nils", "Johan", "Sofia", "Anders", "Karin", "Henrik", "Ingrid"],
               familyNames: ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Lindqvist"]),
        Office(name: "New York", timezone: "America/New_York",
               givenNames: ["Olivia", "Emma", "Ava", "Mia", "Liam", "Noah", "Ethan", "Mason", "Aiden", "Chloe", "Jayden", "Grace", "Marcus", "Zoe", "Isaac"],
               familyNames: ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez"]),
        Office(name: "London", timezone: "Europe/London",
               givenNames: ["Amelia", "Isla", "Poppy", "Harry", "George", "Oliver", "Freddie", "Alfie", "Florence", "Arthur", "Imogen", "Rory"],
               familyNames: ["Taylor", "Davies", "Evans", "Thomas", "Roberts", "Walker", "Wright", "Hughes", "Edwards", "Green"]),
        Office(name: "São Paulo", timezone: "America/Sao_Paulo",
               givenNames: ["Ana", "Beatriz", "Larissa", "Gabriel", "Lucas", "Matheus", "Rafael", "Juliana", "Camila", "Thiago", "Bruna", "Felipe"],
               familyNames: ["Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Rodrigues", "Almeida", "Nascimento", "Lima"]),
        Office(name: "Tokyo", timezone: "Asia/Tokyo",
               givenNames: ["Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Mei", "Riku", "Sakura", "Kaito", "Yuna"],
               familyNames: ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato"]),
        Office(name: "Berlin", timezone: "Europe/Berlin",
               givenNames: ["Lena", "Hannah", "Mia", "Lukas", "Leon", "Finn", "Jonas", "Emilia", "Paul", "Clara", "Felix", "Marie"],
               familyNames: ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"]),
    ]

    /// Skills people have and opportunities ask for: ESCO preferred labels (resolved at generation).
    public static let skillLabels = [
        "Python (computer programming)", "SQL", "Java (computer programming)", "JavaScript", "Swift (computer programming)",
        "machine learning", "data mining", "statistics", "user interface design", "project management", "manage a team",
        "negotiate with stakeholders", "give constructive feedback", "coach employees", "ICT system integration",
        "cloud technologies", "DevOps", "data models", "marketing principles", "write technical documentation",
    ]

    public struct Sizes: Sendable {
        public var people: Int
        public var offices: Int
        public init(people: Int, offices: Int) {
            self.people = people
            self.offices = offices
        }
    }

    /// One record to write.
    public typealias Write = (collection: String, record: String, changes: [Change])

    public let sizes: Sizes
    public let seed: UInt64
    let taxonomy: SkillTaxonomy

    public init(sizes: Sizes, seed: UInt64, taxonomy: SkillTaxonomy = .esco) {
        self.sizes = Sizes(people: max(1, sizes.people), offices: max(1, min(sizes.offices, CompanyGenerator.offices.count)))
        self.seed = seed
        self.taxonomy = taxonomy
    }

    /// Every record of the company, in a fixed order.
    public func generate() -> [Write] {
        var rng = Generator(seed: seed)
        var writes: [Write] = []
        let skills = CompanyGenerator.skillLabels.map { taxonomy.resolve($0).id }
        let offices = Array(CompanyGenerator.offices.prefix(sizes.offices))
        // Teams: tribes of about 40-90 people, squads of 5-10, a chapter per discipline, a few guilds.
        let squadCount = max(1, sizes.people / 8)
        let tribeCount = max(1, squadCount / 8)
        let departmentCount = max(1, tribeCount / 3)
        for department in 0..<departmentCount {
            writes.append(("teams", "dept-\(department)", [.put(field: "name", value: .string(CompanyGenerator.departments[department % CompanyGenerator.departments.count])),
                                                          .put(field: "kind", value: "department")]))
        }
        for tribe in 0..<tribeCount {
            writes.append(("teams", "tribe-\(tribe)", [.put(field: "name", value: .string("Tribe \(tribe + 1)")), .put(field: "kind", value: "tribe"),
                                                       .put(field: "parent", value: .string("dept-\(tribe % departmentCount)")),
                                                       .put(field: "mission", value: .string("Own area \(tribe + 1) of the product")),
                                                       .add(field: "leads", element: "p-\(tribe)")]))
        }
        for squad in 0..<squadCount {
            writes.append(("teams", "squad-\(squad)", [.put(field: "name", value: .string("Squad \(squad + 1)")), .put(field: "kind", value: "squad"),
                                                       .put(field: "parent", value: .string("tribe-\(squad % tribeCount)"))]))
        }
        let chapters = ["backend", "frontend", "data", "design", "product"]
        for chapter in chapters {
            writes.append(("teams", "chapter-\(chapter)", [.put(field: "name", value: .string("\(chapter.capitalized) chapter")), .put(field: "kind", value: "chapter")]))
        }
        let guilds = ["web", "ml", "accessibility", "security"]
        for guild in guilds {
            writes.append(("teams", "guild-\(guild)", [.put(field: "name", value: .string("\(guild.capitalized) guild")), .put(field: "kind", value: "guild")]))
        }
        // People.
        for index in 0..<sizes.people {
            let office = offices[index % offices.count]
            let name = "\(rng.pick(office.givenNames)) \(rng.pick(office.familyNames))"
            let (title, role) = rng.pick(CompanyGenerator.titles)
            var changes: [Change] = [
                .put(field: "name", value: .string(name)),
                .put(field: "email", value: .string("person\(index)@example.com")),
                .put(field: "title", value: .string(title)), .put(field: "role", value: .string(role)),
                .put(field: "office", value: .string(office.name)),
                .put(field: "timezone", value: .string(office.timezone)),
                .put(field: "squad", value: .string("squad-\(index % squadCount)")),
                .put(field: "tribe", value: .string("tribe-\((index % squadCount) % tribeCount)")),
                .put(field: "chapter", value: .string("chapter-\(rng.pick(chapters))")),
                .put(field: "hoursPerWeekAvailable", value: .integer(Int64(rng.int(12)))),
                .put(field: "openToMentoring", value: .bool(rng.chance(0.3))),
            ]
            if index > 0 { changes.append(.put(field: "manager", value: .string("p-\(rng.int(max(1, index / 8 + 1)))"))) }
            for skill in Set((0..<(2 + rng.int(4))).map { _ in rng.pick(skills) }).sorted() {
                changes.append(.mapSet(field: "skills", key: skill, value: .integer(Int64(1 + rng.int(5)))))
            }
            changes.append(.add(field: "developmentGoals", element: rng.pick(skills)))
            if rng.chance(0.4) { changes.append(.add(field: "guilds", element: "guild-\(rng.pick(guilds))")) }
            for entry in 0..<(1 + rng.int(2)) {
                let from = 2010 + rng.int(12)
                changes.append(.mapSet(field: "experience", key: "x\(entry + 1)", value: .object([
                    "title": .string(rng.pick(["Engineer", "Analyst", "Consultant", "Designer", "Team Lead"])),
                    "organisation": .string(rng.pick(["Northwind", "Contoso", "Initech", "Globex", "Umbrella Music"])),
                    "from": .string(String(from)), "to": .string(String(from + 1 + rng.int(4))),
                    "skills": .array([.string(rng.pick(skills))])])))
            }
            for ability in 0..<CompanyGenerator.abilities.count where rng.chance(0.6) {
                changes.append(.mapSet(field: "careerSteps", key: "ability-\(ability)", value: .integer(Int64(1 + rng.int(3)))))
            }
            writes.append(("people", "p-\(index)", changes))
        }
        // Built-in badges.
        for (id, name, icon, description) in CompanyGenerator.badges {
            writes.append(("badges", id, [.put(field: "name", value: .string(name)), .put(field: "icon", value: .string(icon)),
                                          .put(field: "description", value: .string(description)), .put(field: "isCustom", value: false)]))
        }
        // Feedback and recognition.
        for index in 0..<(sizes.people / 2) where sizes.people > 1 {
            let from = rng.int(sizes.people), to = (from + 1 + rng.int(sizes.people - 1)) % sizes.people
            let kind = rng.pick(["feedback", "praise", "thanks"])
            let visibility = kind == "feedback" ? rng.pick(["private", "privateAndManager", "managerOnly"]) : rng.pick(["public", "public", "public", "private"])
            var changes: [Change] = [
                .put(field: "from", value: .string("p-\(from)")), .put(field: "to", value: .string("p-\(to)")), .put(field: "kind", value: .string(kind)),
                .put(field: "body", value: .string(rng.pick(kind == "feedback" ? CompanyGenerator.feedbackTexts : CompanyGenerator.praiseTexts))),
                .put(field: "visibility", value: .string(visibility)),
            ]
            if visibility == "public" {
                if rng.chance(0.4) { changes.append(.put(field: "badge", value: .string(rng.pick(CompanyGenerator.badges).0))) }
                for comment in 0..<rng.int(3) {
                    changes.append(.append(field: "comments", value: .object([
                        "author": .string("p-\(rng.int(sizes.people))"), "body": .string(rng.pick(["Well deserved!", "So true.", "+1, great work", "Agreed!"])),
                        "at": .integer(CompanyGenerator.epochMilliseconds + Int64(index * 1000 + comment))])))
                }
                let highFives = rng.int(6)
                if highFives > 0 { changes.append(.increment(field: "highFives", by: Int64(highFives))) }
            }
            writes.append(("feedback", "fb-\(index)", changes))
        }
        // Objectives: one per person and per team, this quarter.
        for index in 0..<sizes.people {
            writes.append(("objectives", "obj-p-\(index)", [
                .put(field: "ownerKind", value: "person"), .put(field: "owner", value: .string("p-\(index)")), .put(field: "quarter", value: "2026-Q4"),
                .put(field: "title", value: .string(rng.pick(["Ship the new onboarding", "Learn the data platform", "Mentor a new joiner", "Cut build times in half"]))),
                .put(field: "progress", value: .integer(Int64(rng.int(101)))), .put(field: "visibility", value: "public"), .put(field: "status", value: "published"),
                .mapSet(field: "keyResults", key: "kr1", value: .object(["title": "Agreed with my manager", "target": 1, "current": .integer(Int64(rng.int(2)))])),
            ]))
        }
        let teamObjectives = (0..<departmentCount).map { ("department", "dept-\($0)") } + (0..<tribeCount).map { ("team", "tribe-\($0)") }
            + (0..<squadCount).map { ("team", "squad-\($0)") }
        for (kind, owner) in teamObjectives {
            var changes: [Change] = [
                .put(field: "ownerKind", value: .string(kind)), .put(field: "owner", value: .string(owner)), .put(field: "quarter", value: "2026-Q4"),
                .put(field: "title", value: .string(rng.pick(CompanyGenerator.teamObjectiveTitles))), .put(field: "visibility", value: "public"),
                .put(field: "status", value: "published"),
            ]
            var progress = 0
            let results = 2 + rng.int(2)
            for result in 1...results {
                let target = 10 * (1 + rng.int(10)), current = rng.int(target + 1)
                progress += current * 100 / target
                changes.append(.mapSet(field: "keyResults", key: "kr\(result)", value: .object([
                    "title": .string(rng.pick(CompanyGenerator.keyResultTitles)), "target": .integer(Int64(target)), "current": .integer(Int64(current))])))
            }
            changes.append(.put(field: "progress", value: .integer(Int64(progress / results))))
            writes.append(("objectives", "obj-\(owner)", changes))
        }
        // Opportunities, a top-10 of company bets among them.
        let opportunityCount = max(3, sizes.people / 20), betCount = min(10, opportunityCount / 3)
        for index in 0..<opportunityCount {
            let kind = index < betCount ? "companyBet" : rng.pick(["role", "project", "mentorship"])
            // Drawn in the order they always were, so a seed gives the company it gave before.
            let owner = rng.int(sizes.people), hours = 2 + rng.int(14), location = rng.chance(0.6) ? "remote" : "office"
            var changes: [Change] = [
                .put(field: "kind", value: .string(kind)), .put(field: "title", value: .string("\(kind == "companyBet" ? "Bet" : "Opportunity") \(index + 1)")),
                .put(field: "owner", value: .string("p-\(owner)")), .put(field: "hoursPerWeek", value: .integer(Int64(hours))),
                .put(field: "location", value: .string(location)), .put(field: "status", value: "open"),
                .put(field: "description", value: .string(rng.pick(CompanyGenerator.opportunityTexts))),
            ]
            // One in an office says which: its owner's (people are spread over offices by index).
            if location == "office" { changes.append(.put(field: "office", value: .string(offices[owner % offices.count].name))) }
            if kind == "companyBet" { changes.append(.put(field: "betRank", value: .integer(Int64(index + 1)))) }
            for skill in Set((0..<(1 + rng.int(3))).map { _ in rng.pick(skills) }).sorted() {
                changes.append(.mapSet(field: "requiredSkills", key: skill, value: .object([
                    "minLevel": .integer(Int64(1 + rng.int(4))), "weight": .integer(Int64(1 + rng.int(3))), "mustHave": .bool(rng.chance(0.25))])))
            }
            changes.append(.add(field: "learnableSkills", element: rng.pick(skills)))
            writes.append(("opportunities", "opp-\(index)", changes))
        }
        // The career framework (003): abilities with milestones, examples and role requirements,
        // and observations as evidence.
        for (index, (ability, description)) in CompanyGenerator.abilities.enumerated() {
            var changes: [Change] = [.put(field: "name", value: .string(ability)), .put(field: "description", value: .string(description))]
            for (milestone, (title, text)) in CompanyGenerator.milestones.enumerated() {
                changes.append(.mapSet(field: "milestones", key: String(milestone + 1), value: .object(["title": .string(title), "description": .string(text)])))
                if milestone < 4 {
                    changes.append(.mapSet(field: "examples", key: "e\(milestone + 1)", value: .object([
                        "milestone": .integer(Int64(milestone + 1)), "text": .string(CompanyGenerator.examples[(index + milestone) % CompanyGenerator.examples.count])])))
                }
            }
            for (role, minimum) in [("developer", 1), ("product owner", 1), ("coach", 1), ("designer", index % 2 + 1)] {
                changes.append(.mapSet(field: "roleRequirements", key: role, value: .integer(Int64(minimum))))
            }
            writes.append(("abilities", "ability-\(index)", changes))
        }
        for index in 0..<(sizes.people / 4) where sizes.people > 1 {
            let person = 1 + rng.int(sizes.people - 1)
            writes.append(("observations", "obs-\(index)", [
                // The last ability is never observed, on purpose: the framework's health report then has something to flag.
                .put(field: "person", value: .string("p-\(person)")), .put(field: "ability", value: .string("ability-\(rng.int(CompanyGenerator.abilities.count - 1))")),
                .put(field: "milestone", value: .integer(Int64(1 + rng.int(3)))), .put(field: "author", value: .string("p-\(rng.int(person))")),
                .put(field: "body", value: .string(rng.pick(CompanyGenerator.examples))), .put(field: "visibility", value: "public"),
            ]))
        }
        return writes
    }

    /// SplitMix64: the generator's own, so output never depends on the test helpers.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ bound: Int) -> Int { Int.random(in: 0..<bound, using: &self) }
        mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
        mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }
    }
}
