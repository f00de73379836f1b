import XCTest
import ChorusCore
import ChorusPeople
import ChorusTesting

final class SkillTaxonomyTests: XCTestCase {
    let taxonomy = SkillTaxonomy.esco

    func test_shipsESCO_withLabelsSynonymsAndGroups() {
        XCTAssertGreaterThan(taxonomy.skills.count, 13_000)
        let python = taxonomy.resolve("Python (computer programming)")
        XCTAssertFalse(python.isCustom)
        XCTAssertEqual(taxonomy.resolve("python3").id, python.id, "an alternative label resolves to the same skill")
        XCTAssertEqual(taxonomy.resolve("  PYTHON3 ").id, python.id, "case and spacing do not matter")
        XCTAssertEqual(taxonomy.resolve("python").id, python.id, "a label's short form, without its qualifier, resolves when unambiguous")
        XCTAssertEqual(taxonomy.resolve(python.id), python, "an ESCO id resolves to itself")
        XCTAssertTrue(python.groups.contains("S5.6.1"))
        XCTAssertNotNil(taxonomy.groupNames["S5"])
    }

    func test_unknownText_isACustomSkill() {
        let skill = taxonomy.resolve("Chorus internals")
        XCTAssertTrue(skill.isCustom)
        XCTAssertEqual(skill.id, "custom:chorus internals")
        XCTAssertEqual(taxonomy.resolve("chorus  INTERNALS").id, skill.id)
    }

    func test_relatedSkills_shareAGroupFamily() {
        let python = taxonomy.resolve("Python (computer programming)")
        let related = taxonomy.skills.values.filter { taxonomy.areRelated($0, python) }
        XCTAssertFalse(related.isEmpty)
        XCTAssertFalse(taxonomy.areRelated(python, python), "a skill is not related to itself")
        XCTAssertFalse(taxonomy.areRelated(python, taxonomy.resolve("custom thing")), "custom skills have no group")
    }
}

final class MatchingTests: XCTestCase {
    let matcher = Matcher()
    let taxonomy = SkillTaxonomy.esco
    var python: String { taxonomy.resolve("Python (computer programming)").id }
    var sql: String { taxonomy.resolve("SQL").id }

    /// Records that arrive by sync are not checked as API writes are: a level of 1e300 and hours
    /// of Int.min once trapped converting or subtracting, stopping the node on its next match.
    func test_extremeSyncedNumbers_areClamped_notTrapped() {
        XCTAssertEqual(Requirement.level(1e300), 5)
        XCTAssertEqual(Requirement.level(-1e300), 1)
        XCTAssertEqual(Requirement.level(nil), 1)
        XCTAssertEqual(Requirement.level(3.4), 3)
        let opportunity = OpportunityProfile(id: "o", record: ["requiredSkills": .object(["python": .object(["minLevel": .double(1e300), "weight": .double(1e300)])]),
                                                               "hoursPerWeek": .integer(Int64.max)], taxonomy: .esco)
        XCTAssertEqual(opportunity.required.first?.minLevel, 5)
        XCTAssertEqual(opportunity.hoursPerWeek, 168)
        let candidate = Candidate(id: "c", skills: [:], goals: [], hoursPerWeek: Int.min)
        XCTAssertEqual(candidate.hoursPerWeek, 0)
        let match = Matcher().match(candidate, opportunity)
        XCTAssertTrue(match.score.isFinite)
        XCTAssertTrue(match.explanations.contains { $0.text.contains("168 short") }, "\(match.explanations.map(\.text))")
    }

    /// Whoever posted an opportunity is never matched to it, from either side (an opportunity
    /// asking for nothing once ranked its own poster first, at full skill fit).
    func test_thePoster_isNeverMatchedToTheirOwnOpportunity() {
        let own = OpportunityProfile(id: "o-own", required: [], learnable: [], hoursPerWeek: nil, owner: "a")
        let other = OpportunityProfile(id: "o-other", required: [], learnable: [], hoursPerWeek: nil, owner: "b")
        let poster = Candidate(id: "a", skills: [python: 5], goals: [], hoursPerWeek: 40)
        let colleague = Candidate(id: "c", skills: [:], goals: [], hoursPerWeek: 40)
        XCTAssertEqual(matcher.rank([poster, colleague], for: own).map(\.candidate), ["c"])
        XCTAssertEqual(matcher.rank([own, other], for: poster).map(\.opportunity), ["o-other"])
        XCTAssertEqual(OpportunityProfile(id: "o", record: ["owner": "a"], taxonomy: taxonomy).owner, "a", "read from the record")
    }

    /// The audit counts the chances a group had: a member who posted an opportunity had none for
    /// it, so a group of posters is not found "never selected" for what it could not be selected for.
    func test_biasAudit_countsOnlyTheChancesAGroupHad() {
        let opportunities = (0..<3).map { OpportunityProfile(id: "o\($0)", required: [], learnable: [], hoursPerWeek: nil, owner: "poster") }
        let candidates = ["poster", "b1", "b2"].map { Candidate(id: $0, skills: [:], goals: [], hoursPerWeek: 10) }
        let groups = ["poster": "a", "b1": "b", "b2": "b"]
        let report = BiasAudit.run(candidates: candidates, opportunities: opportunities, groups: groups, topK: 1) { _, _ in 1 }
        XCTAssertEqual(report.rates.first { $0.group == "a" }?.chances, 0, "the poster is never ranked for their own")
        XCTAssertEqual(report.rates.first { $0.group == "b" }?.chances, 6)
        XCTAssertEqual(report.impactRatio, 1, "a group with no chance is not compared")
        XCTAssertTrue(report.passesFourFifths)
    }

    func test_components_andExplanations() {
        let opportunity = OpportunityProfile(id: "o1", required: [Requirement(skill: python, minLevel: 3, weight: 2), Requirement(skill: sql, minLevel: 2)],
                                             learnable: [taxonomy.resolve("machine learning").id], hoursPerWeek: 8)
        let perfect = Candidate(id: "a", skills: [python: 4, sql: 2], goals: [taxonomy.resolve("machine learning").id], hoursPerWeek: 8)
        let match = matcher.match(perfect, opportunity)
        XCTAssertEqual(match.skillFit, 1)
        XCTAssertEqual(match.availability, 1)
        XCTAssertEqual(match.growthFit, 1, "the person's one goal is taught: all they asked for")
        XCTAssertEqual(match.score, 5, accuracy: 1e-9)
        XCTAssertTrue(match.explanations.contains { $0.kind == .teachesGoal })

        let short = Candidate(id: "b", skills: [python: 2], goals: [], hoursPerWeek: 4)
        let shortMatch = matcher.match(short, opportunity)
        XCTAssertTrue(shortMatch.explanations.contains { $0.kind == .oneLevelShort && $0.skill == python })
        XCTAssertTrue(shortMatch.explanations.contains { $0.kind == .notEnoughHours })
        let sqlRelated = taxonomy.areRelated(taxonomy.resolve(sql), taxonomy.resolve(python))
        XCTAssertEqual(shortMatch.skillFit, (2 * 0.6 + (sqlRelated ? 0.3 : 0)) / 3, accuracy: 1e-9, "weighted: python one level short, SQL missing")
        XCTAssertFalse(shortMatch.improvements.isEmpty)
        XCTAssertTrue(shortMatch.improvements.allSatisfy { $0.scoreAfter > shortMatch.score }, "every improvement raises the score")
        XCTAssertTrue(shortMatch.improvements.contains { $0.text.contains("reach level 3") })
    }

    /// Growth fit is a share of the person's goals, full credit at two taught.
    func test_growthFit_isTheShareOfTheGoalsTaught_fullCreditAtTwo() {
        let goals = ["machine learning", "statistics", "data mining"].map { taxonomy.resolve($0).id }
        let teachesOne = OpportunityProfile(id: "o1", required: [], learnable: [goals[0]], hoursPerWeek: nil)
        let teachesTwo = OpportunityProfile(id: "o2", required: [], learnable: Set(goals.prefix(2)), hoursPerWeek: nil)
        func growth(_ wants: Int, _ opportunity: OpportunityProfile) -> Double {
            matcher.match(Candidate(id: "a", skills: [:], goals: Set(goals.prefix(wants)), hoursPerWeek: nil), opportunity).growthFit
        }
        XCTAssertEqual(growth(1, teachesOne), 1, "one goal of one")
        XCTAssertEqual(growth(2, teachesOne), 0.5, "one of two")
        XCTAssertEqual(growth(3, teachesOne), 0.5, "one of three: full credit is at two")
        XCTAssertEqual(growth(3, teachesTwo), 1, "two of three")
        XCTAssertEqual(growth(0, teachesTwo), 0, "no goals, nothing to grow into")
    }

    /// Hours not given count half, and the match says so: full credit let anyone clear their hours
    /// to outscore people who gave theirs, with no line saying why the score moved.
    func test_hoursNotGiven_countHalf_areExplained_andSayingThemRaisesTheMatch() {
        let opportunity = OpportunityProfile(id: "o", required: [Requirement(skill: python, minLevel: 2)], learnable: [], hoursPerWeek: 6)
        func match(_ hours: Int?) -> Match { matcher.match(Candidate(id: "a", skills: [python: 3], goals: [], hoursPerWeek: hours), opportunity) }
        XCTAssertEqual(match(nil).availability, Matcher.hoursNotGivenCredit)
        XCTAssertLessThan(match(nil).score, match(6).score, "clearing one's hours never beats giving enough")
        XCTAssertGreaterThan(match(nil).score, match(0).score)
        XCTAssertEqual(match(nil).explanations.last?.kind, .hoursNotGiven)
        XCTAssertEqual(match(nil).explanations.last?.text, "needs 6 hours a week; you have not said how many you have (half credit)")
        let raise = try? XCTUnwrap(match(nil).improvements.first)
        XCTAssertEqual(raise?.text, "say how many hours a week you have (6 asked)")
        XCTAssertEqual(raise?.scoreAfter ?? 0, match(6).score, accuracy: 1e-9)
        let noHoursAsked = OpportunityProfile(id: "o", required: [], learnable: [], hoursPerWeek: nil)
        XCTAssertEqual(matcher.match(Candidate(id: "a", skills: [:], goals: [], hoursPerWeek: nil), noHoursAsked).availability, 1, "nothing asked, nothing short")
    }

    func test_missingMustHave_halvesTheScore_andIsExplained() {
        let opportunity = OpportunityProfile(id: "o", required: [Requirement(skill: python, minLevel: 2, mustHave: true)], learnable: [], hoursPerWeek: nil)
        let match = matcher.match(Candidate(id: "c", skills: [:], goals: [], hoursPerWeek: nil), opportunity)
        XCTAssertTrue(match.explanations.contains { $0.kind == .missingMustHave || $0.kind == .relatedSkill })
        let without = matcher.match(Candidate(id: "c", skills: [taxonomy.resolve("knitting").id: 5], goals: [], hoursPerWeek: nil), opportunity)
        XCTAssertLessThanOrEqual(without.score, 5 * 0.15 * 0.5 + 1e-9)
    }

    /// A related skill counts for a little, but does not make up a must-have: the score is halved
    /// as the guide says, and the explanation says both. It once cancelled the halving.
    func test_aRelatedSkill_doesNotMakeUpAMustHave() {
        let python = taxonomy.resolve("Python (computer programming)")
        let related = taxonomy.skills.values.filter { taxonomy.areRelated($0, python) }.map(\.id).sorted()[0]
        let must = OpportunityProfile(id: "o", required: [Requirement(skill: python.id, minLevel: 2, mustHave: true)], learnable: [], hoursPerWeek: nil)
        let may = OpportunityProfile(id: "o", required: [Requirement(skill: python.id, minLevel: 2)], learnable: [], hoursPerWeek: nil)
        let candidate = Candidate(id: "c", skills: [related: 3], goals: [], hoursPerWeek: nil)
        let (mustMatch, mayMatch) = (matcher.match(candidate, must), matcher.match(candidate, may))
        XCTAssertEqual(mustMatch.skillFit, 0.3, accuracy: 1e-9, "the partial credit stays")
        XCTAssertEqual(mustMatch.score, mayMatch.score * Matcher.mustHavePenalty, accuracy: 1e-9, "halved")
        let explained = mustMatch.explanations.first { $0.skill == python.id }
        XCTAssertEqual(explained?.kind, .missingMustHave)
        XCTAssertTrue(explained?.text.contains("must-have, missing (you have the related skill") ?? false, explained?.text ?? "")
        XCTAssertEqual(mustMatch.improvements.first?.text, "reach level 2 in \(python.label)", "the must-have is the best step")
    }

    /// Scores are shown to a hundredth from the millionths the ranking compares: two it takes as
    /// equal never show apart (1.37 listed above 1.38).
    func test_shownScores_roundFromWhatTheRankingCompares() {
        XCTAssertEqual(Match.shown(1.375 - 1e-12), Match.shown(1.375 + 1e-12))
        XCTAssertEqual(Match.shown(1.375 - 1e-12), 1.38)
        XCTAssertEqual(Match.shown(0), 0)
        XCTAssertEqual(Match.shown(5), 5)
        XCTAssertEqual(Match.shown(2.004999), 2.0)
        let (below, above) = (Matcher.RankKey(score: 1.375 - 1e-12, opportunity: "o", candidate: "a"),
                              Matcher.RankKey(score: 1.375 + 1e-12, opportunity: "o", candidate: "a"))
        XCTAssertFalse(below < above || above < below, "the ranking takes them as equal")
    }

    func test_relatedSkill_getsPartialCredit() {
        let python = taxonomy.resolve("Python (computer programming)")
        let related = taxonomy.skills.values.filter { taxonomy.areRelated($0, python) }.map(\.id).sorted()[0]
        let opportunity = OpportunityProfile(id: "o", required: [Requirement(skill: python.id, minLevel: 2)], learnable: [], hoursPerWeek: nil)
        let match = matcher.match(Candidate(id: "c", skills: [related: 3], goals: [], hoursPerWeek: nil), opportunity)
        XCTAssertEqual(match.skillFit, 0.3, accuracy: 1e-9)
        XCTAssertTrue(match.explanations.contains { $0.kind == .relatedSkill })
        // The related skill named is the one the person knows best.
        let other = taxonomy.skills.values.filter { taxonomy.areRelated($0, python) }.map(\.id).sorted()[1]
        let named = matcher.match(Candidate(id: "c", skills: [related: 1, other: 4], goals: [], hoursPerWeek: nil), opportunity)
        XCTAssertTrue(named.explanations.contains { $0.kind == .relatedSkill && $0.text.hasSuffix(taxonomy.skills[other]!.label) }, "\(named.explanations)")
    }

    /// Knowing the skill itself, even a little, never counts less than knowing a related one
    /// (found: level 2 of 4 ranked below two hundred people who knew only a related skill).
    func test_theSkillBelowItsLevel_countsMoreThanARelatedSkill() {
        let python = taxonomy.resolve("Python (computer programming)")
        let related = taxonomy.skills.values.filter { taxonomy.areRelated($0, python) }.map(\.id).sorted()[0]
        let opportunity = OpportunityProfile(id: "o", required: [Requirement(skill: python.id, minLevel: 5)], learnable: [], hoursPerWeek: nil)
        let relatedFit = matcher.match(Candidate(id: "r", skills: [related: 5], goals: [], hoursPerWeek: nil), opportunity).skillFit
        var previous = relatedFit
        for level in 1...5 {
            let fit = matcher.match(Candidate(id: "c", skills: [python.id: level], goals: [], hoursPerWeek: nil), opportunity).skillFit
            XCTAssertGreaterThan(fit, previous, "level \(level) of 5 counts more than level \(level - 1) (or a related skill)")
            previous = fit
        }
        XCTAssertEqual(matcher.match(Candidate(id: "c", skills: [python.id: 2], goals: [], hoursPerWeek: nil), opportunity).skillFit, 0.3 + 0.3 * 2 / 5, accuracy: 1e-9)
    }

    /// Two keys naming one skill (typed at one office, an ESCO id at another) are one
    /// requirement, the stricter, and one skill of the person's, the higher level; a weight no
    /// one could write counts as the default.
    func test_twoNamesOfOneSkill_countOnce_andAnUnwritableWeightCountsAsOne() {
        let opportunity = OpportunityProfile(id: "o", required: [Requirement(skill: sql, minLevel: 2, weight: 2),
                                                                 Requirement(skill: python, minLevel: 2),
                                                                 Requirement(skill: sql, minLevel: 4, weight: 1, mustHave: true)],
                                             learnable: [], hoursPerWeek: nil)
        XCTAssertEqual(opportunity.required, [Requirement(skill: sql, minLevel: 4, weight: 2, mustHave: true), Requirement(skill: python, minLevel: 2)])
        let match = matcher.match(Candidate(id: "c", skills: [sql: 4, python: 2], goals: [], hoursPerWeek: nil), opportunity)
        XCTAssertEqual(match.explanations.filter { $0.skill == sql }.count, 1, "explained once")
        XCTAssertEqual(match.skillFit, 1)
        let person = Candidate(id: "c", profile: ["skills": .object(["SQL": .integer(1), sql: .integer(4)])], taxonomy: taxonomy)
        XCTAssertEqual(person.skills, [sql: 4], "the higher level, whichever name came last")
        for weight in [0.0, -3, .nan, .infinity] {
            XCTAssertEqual(Requirement(skill: sql, minLevel: 1, weight: weight).weight, 1, "\(weight)")
        }
        let zero = OpportunityProfile(id: "z", required: [Requirement(skill: sql, minLevel: 3, weight: 0)], learnable: [], hoursPerWeek: nil)
        XCTAssertEqual(matcher.match(Candidate(id: "c", skills: [:], goals: [], hoursPerWeek: nil), zero).skillFit, 0, "missing is not a full fit")
    }

    /// A skill used in a past role and not listed among the person's skills counts as level 1,
    /// and the text names the role; one listed counts at its level, whatever the roles say.
    func test_aSkillUsedInAPastRole_countsAsLevelOne_andSaysWhere() {
        let profile: [String: JSONValue] = ["experience": .object([
            "x2": .object(["title": "Data analyst", "skills": ["Python3", "SQL"]]),
            "x1": .object(["title": "Backend engineer", "from": "2012", "skills": ["python"]])])]
        let person = Candidate(id: "c", profile: profile, taxonomy: taxonomy)
        XCTAssertEqual(person.experienced, [python: "Backend engineer", sql: "Data analyst"], "the least title in byte order, whatever the key order")
        let easy = OpportunityProfile(id: "o1", required: [Requirement(skill: python, minLevel: 1)], learnable: [], hoursPerWeek: nil)
        let match = matcher.match(person, easy)
        XCTAssertEqual(match.skillFit, 1)
        XCTAssertEqual(match.explanations.map(\.kind), [.fromExperience])
        XCTAssertEqual(match.explanations.first?.text, "Python (computer programming): used in the role Backend engineer, counted as level 1; needs 1")
        let hard = OpportunityProfile(id: "o2", required: [Requirement(skill: python, minLevel: 3, mustHave: true)], learnable: [], hoursPerWeek: nil)
        let stretched = matcher.match(person, hard)
        XCTAssertEqual(stretched.skillFit, 0.3 + 0.3 / 3, accuracy: 1e-9, "as level 1 below its level")
        XCTAssertFalse(stretched.explanations.contains { $0.kind == .missingMustHave }, "used is not missing")
        XCTAssertGreaterThan(stretched.score, matcher.match(Candidate(id: "c", skills: [:], goals: [], hoursPerWeek: nil), hard).score)
        // What would raise a match keeps the roles: the hours alone raise this one, the must-have
        // held from a role still held (read without the roles, it was missing, and no hours helped).
        let busy = Candidate(id: "c", skills: [:], goals: [], hoursPerWeek: 5, experienced: person.experienced)
        let needsHours = OpportunityProfile(id: "o3", required: [Requirement(skill: python, minLevel: 1, mustHave: true)], learnable: [], hoursPerWeek: 10)
        let withHours = matcher.match(busy, needsHours)
        XCTAssertEqual(withHours.improvements.map(\.text), ["make 5 more hours a week available"])
        XCTAssertEqual(withHours.improvements.first?.scoreAfter ?? 0, 3.75, accuracy: 1e-9)
        let listed = Candidate(id: "c", skills: [python: 4], goals: [], hoursPerWeek: nil, experienced: person.experienced)
        XCTAssertEqual(matcher.match(listed, hard).explanations.map(\.kind), [.matched], "a listed level counts as listed")
    }

    /// An opportunity that asks for no skill says why everyone fits it.
    func test_anOpportunityAskingForNoSkill_explainsItsFit() {
        let open = OpportunityProfile(id: "o", required: [], learnable: [], hoursPerWeek: nil)
        let match = matcher.match(Candidate(id: "c", skills: [python: 3], goals: [], hoursPerWeek: nil), open)
        XCTAssertEqual(match.skillFit, 1)
        XCTAssertEqual(match.explanations.map(\.kind), [.noSkillAsked])
    }

    /// Equal scores are not ordered by id (ids follow onboarding order: the longest-serving would
    /// fill every top ten), but by a number fixed for each pair: the same on every run, and
    /// different from one opportunity to the next.
    func test_equalScores_areNotRankedByID() {
        let people = (0..<30).map { Candidate(id: String(format: "p-%02d", $0), skills: [python: 3], goals: [], hoursPerWeek: 10) }
        func top(_ opportunity: String) -> [String] {
            let profile = OpportunityProfile(id: opportunity, required: [Requirement(skill: python, minLevel: 3)], learnable: [], hoursPerWeek: nil)
            let ranked = matcher.rank(people.shuffled(), for: profile)
            XCTAssertEqual(Set(ranked.map(\.score)).count, 1, "all equal")
            return ranked.prefix(10).map(\.candidate)
        }
        let first = top("opp-a")
        XCTAssertNotEqual(first, people.prefix(10).map(\.id), "not the first ten ids")
        XCTAssertEqual(top("opp-a"), first, "the same each time, whatever order the people come in")
        XCTAssertNotEqual(top("opp-b"), first, "another opportunity orders them otherwise")
        // The bias audit counts the top people are shown: the matcher's order among equals.
        let groups = Dictionary(uniqueKeysWithValues: people.map { ($0.id, first.contains($0.id) ? "shown" : "not") })
        let opportunity = OpportunityProfile(id: "opp-a", required: [Requirement(skill: python, minLevel: 3)], learnable: [], hoursPerWeek: nil)
        let audit = BiasAudit.run(candidates: people, opportunities: [opportunity], groups: groups, topK: 10) { matcher.match($0, $1).score }
        XCTAssertEqual(audit.rates.first { $0.group == "shown" }?.selections, 10, "\(audit.rates)")
        // Equal is equal to a millionth: the same parts summed in another order differ in their
        // last bits ((1 + 0.6) + 0.3 against 0.3 + (1 + 0.6)), and that noise once decided.
        let (met, short, related) = (1.0, 0.6, 0.3)
        XCTAssertNotEqual((met + short) + related, (related + met) + short, "the noise")
        func key(_ score: Double) -> Matcher.RankKey { Matcher.RankKey(score: score, opportunity: "o", candidate: "c") }
        XCTAssertEqual(key((met + short) + related), key((related + met) + short))
        XCTAssertEqual(key(2.6500000000000004), key(2.6499999999999995))
        XCTAssertNotEqual(key(2.65), key(2.66))
    }

    /// Changing a person's name, office, pronouns or manager changes no score, over many generated people.
    func test_counterfactualInvariance_namesOfficesPronounsManagers() {
        var rng = SeededGenerator(seed: 42)
        let pool = taxonomy.skills.keys.sorted().prefix(60).map { $0 }
        let opportunities = (0..<20).map { index in
            OpportunityProfile(id: "o\(index)", record: [
                "requiredSkills": .object(Dictionary((0..<3).map { _ in
                    (rng.pick(pool), JSONValue.object(["minLevel": .integer(Int64(1 + rng.int(5))), "weight": .integer(Int64(1 + rng.int(3))),
                                                       "mustHave": .bool(rng.chance(0.3))]))
                }, uniquingKeysWith: { a, _ in a })),
                "learnableSkills": .array((0..<2).map { _ in .string(rng.pick(pool)) }),
                "hoursPerWeek": .integer(Int64(4 + rng.int(16))),
            ], taxonomy: taxonomy)
        }
        for index in 0..<300 {
            var profile: [String: JSONValue] = [
                "name": .string("Person \(index)"), "office": .string(rng.pick(["Stockholm", "New York", "London"])),
                "pronouns": .string(rng.pick(["she/her", "he/him", "they/them"])), "manager": .string("p-\(rng.int(50))"),
                "skills": .object(Dictionary((0..<4).map { _ in (rng.pick(pool), JSONValue.integer(Int64(1 + rng.int(5)))) },
                                             uniquingKeysWith: { a, _ in a })),
                "developmentGoals": .array((0..<2).map { _ in .string(rng.pick(pool)) }),
                "hoursPerWeekAvailable": .integer(Int64(rng.int(20))),
                "experience": .object(["x1": .object(["title": "Engineer", "organisation": "Globex", "from": "1990", "to": "1998",
                                                      "skills": .array([.string(rng.pick(pool))])])]),
            ]
            let before = opportunities.map { matcher.match(Candidate(id: "p\(index)", profile: profile, taxonomy: taxonomy), $0).score }
            profile["name"] = .string("Someone Else \(index)")
            profile["office"] = .string("Sydney")
            profile["pronouns"] = .string("xe/xem")
            profile["manager"] = .string("p-999")
            // When and where a past role was would stand in for age: only its skills count.
            if case .object(var roles)? = profile["experience"], case .object(var role)? = roles["x1"] {
                role["from"] = "2019"; role["to"] = "2024"; role["organisation"] = "Initech"; role["title"] = "Analyst"
                roles["x1"] = .object(role)
                profile["experience"] = .object(roles)
            }
            let after = opportunities.map { matcher.match(Candidate(id: "p\(index)", profile: profile, taxonomy: taxonomy), $0).score }
            XCTAssertEqual(before, after, "person \(index)")
        }
    }
}

final class BiasAuditTests: XCTestCase {
    /// A ratio that says nothing is no pass: when every top k holds everyone ranked, or when no
    /// one labelled was ever selected (the ratio read 1 in both, and the audit passed).
    func test_aRatioThatSaysNothing_isNoVerdict_notAPass() {
        let people = (0..<6).map { Candidate(id: "p-\($0)", skills: [:], goals: [], hoursPerWeek: nil) }
        let opportunity = OpportunityProfile(id: "o", required: [], learnable: [], hoursPerWeek: nil)
        let groups = ["p-0": "a", "p-1": "a", "p-2": "b", "p-3": "b"]
        let everyone = BiasAudit.run(candidates: people, opportunities: [opportunity], groups: groups, topK: 6) { _, _ in 1 }
        XCTAssertEqual(everyone.impactRatio, 1)
        XCTAssertNotNil(everyone.noVerdict)
        XCTAssertFalse(everyone.passesFourFifths)
        let unlabelledOnTop = BiasAudit.run(candidates: people, opportunities: [opportunity], groups: groups, topK: 2) { person, _ in
            ["p-4", "p-5"].contains(person.id) ? 5 : 1
        }
        XCTAssertTrue(unlabelledOnTop.noVerdict?.contains("no one with a group label") ?? false, "\(String(describing: unlabelledOnTop.noVerdict))")
        XCTAssertFalse(unlabelledOnTop.passesFourFifths)
        let fair = BiasAudit.run(candidates: people, opportunities: [opportunity], groups: groups, topK: 2) { person, _ in
            ["p-0", "p-2"].contains(person.id) ? 5 : 1
        }
        XCTAssertNil(fair.noVerdict)
        XCTAssertTrue(fair.passesFourFifths)
    }

    /// The audit passes the real matcher on data where skills do not depend on the group, and
    /// catches a deliberately biased scorer.
    func test_fourFifths_passesTheMatcher_andCatchesABiasedScorer() {
        var rng = SeededGenerator(seed: 7)
        let taxonomy = SkillTaxonomy.esco
        let pool = taxonomy.skills.keys.sorted().prefix(30).map { $0 }
        let candidates = (0..<600).map { index in
            Candidate(id: "p\(index)", skills: Dictionary((0..<5).map { _ in (rng.pick(pool), 1 + rng.int(5)) }, uniquingKeysWith: max),
                      goals: [rng.pick(pool)], hoursPerWeek: rng.int(20))
        }
        let groups = Dictionary(uniqueKeysWithValues: candidates.map { ($0.id, rng.chance(0.5) ? "A" : "B") })
        let opportunities = (0..<40).map { index in
            OpportunityProfile(id: "o\(index)", required: (0..<3).map { _ in Requirement(skill: rng.pick(pool), minLevel: 1 + rng.int(5)) },
                               learnable: [rng.pick(pool)], hoursPerWeek: 4 + rng.int(12))
        }
        let matcher = Matcher(taxonomy: taxonomy)
        let fair = BiasAudit.run(candidates: candidates, opportunities: opportunities, groups: groups, topK: 60) { matcher.match($0, $1).score }
        XCTAssertTrue(fair.passesFourFifths, "impact ratio \(fair.impactRatio), rates \(fair.rates)")
        let biased = BiasAudit.run(candidates: candidates, opportunities: opportunities, groups: groups, topK: 60) { candidate, opportunity in
            matcher.match(candidate, opportunity).score + (groups[candidate.id] == "A" ? 1.0 : 0)
        }
        XCTAssertFalse(biased.passesFourFifths, "the biased scorer must be caught: ratio \(biased.impactRatio)")
    }
}
