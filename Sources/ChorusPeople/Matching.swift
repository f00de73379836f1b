import ChorusCore

/// Everything matching may know about a person: skills with levels, the skills of their past
/// roles, development goals and hours available. Names, gender, pronouns, office, manager and
/// tenure are not here, nor when or where a role was (dates stand in for age), so no score can
/// depend on them (tested counterfactually in `MatchingTests`).
public struct Candidate: Sendable, Equatable {
    public let id: String
    /// Skill id (ESCO or custom) to level 1-5.
    public let skills: [String: Int]
    /// Skill ids the person wants to grow.
    public let goals: Set<String>
    public let hoursPerWeek: Int?
    /// Skill id to the title of a past role that used it (`people.experience`; the first title in
    /// byte order, for a stable text): a skill used there but not among `skills` counts as level 1.
    public let experienced: [String: String]

    public init(id: String, skills: [String: Int], goals: Set<String>, hoursPerWeek: Int?, experienced: [String: String] = [:]) {
        self.id = id
        self.skills = skills
        self.goals = goals
        self.hoursPerWeek = hoursPerWeek.map(Requirement.hours)
        self.experienced = experienced
    }

    /// Skill ids of past roles' skills, each with the title of a role that used it (the least in
    /// byte order), from `people.experience` values (`{"title", "skills": [text]}`).
    public static func experienced(_ entries: [JSONValue], taxonomy: SkillTaxonomy) -> [String: String] {
        var found: [String: String] = [:]
        for entry in entries {
            guard let title = entry["title"]?.stringValue else { continue }
            for skill in entry["skills"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                let id = taxonomy.resolve(skill).id
                if found[id].map({ title.utf8.lexicographicallyPrecedes($0.utf8) }) ?? true { found[id] = title }
            }
        }
        return found
    }

    /// Reads only `skills`, `developmentGoals` and `hoursPerWeekAvailable` of a people record
    /// (`chorus get --json` form), resolving free-text skills through the taxonomy.
    public init(id: String, profile: [String: JSONValue], taxonomy: SkillTaxonomy) {
        var skills: [String: Int] = [:]
        for (name, level) in profile["skills"]?.objectValue ?? [:] {
            // Two names of one skill (typed "sql" and its ESCO id): the higher level counts, as in
            // `MatchingData`, not whichever came last.
            if let level = level.integerValue {
                let id = taxonomy.resolve(name).id
                skills[id] = max(skills[id] ?? 1, Int(max(1, min(5, level))))
            }
        }
        let goals = Set((profile["developmentGoals"]?.arrayValue ?? []).compactMap(\.stringValue).map { taxonomy.resolve($0).id })
        self.init(id: id, skills: skills, goals: goals, hoursPerWeek: profile["hoursPerWeekAvailable"]?.integerValue.map(Int.init),
                  experienced: Candidate.experienced(Array((profile["experience"]?.objectValue ?? [:]).values), taxonomy: taxonomy))
    }
}

/// A required skill of an opportunity.
public struct Requirement: Sendable, Equatable {
    public let skill: String
    public let minLevel: Int
    public let weight: Double
    public let mustHave: Bool

    public init(skill: String, minLevel: Int, weight: Double = 1, mustHave: Bool = false) {
        self.skill = skill
        self.minLevel = max(1, min(5, minLevel))
        // A weight no one could write (0, negative, not finite: arrived by sync unchecked) counts
        // as the default 1: at 0 a requirement counted for nothing, and with every weight 0 the
        // skill fit was full while the text said "missing" (a read-only audit).
        self.weight = weight.isFinite && weight > 0 ? min(10, weight) : 1
        self.mustHave = mustHave
    }

    /// One requirement per skill, in the order first met: two keys naming one skill (typed "sql"
    /// beside its ESCO id, written at two offices) counted its weight twice and explained it twice.
    /// Merged, the higher level, the higher weight, and a must-have if either is.
    public static func merged(_ requirements: [Requirement]) -> [Requirement] {
        var order: [String] = [], bySkill: [String: Requirement] = [:]
        for requirement in requirements {
            guard let seen = bySkill[requirement.skill] else {
                order.append(requirement.skill)
                bySkill[requirement.skill] = requirement
                continue
            }
            bySkill[requirement.skill] = Requirement(skill: requirement.skill, minLevel: max(seen.minLevel, requirement.minLevel),
                                                     weight: max(seen.weight, requirement.weight), mustHave: seen.mustHave || requirement.mustHave)
        }
        return order.map { bySkill[$0]! }
    }

    /// A level (1 to 5) from whatever number a record holds. The API checks what people write
    /// (`DomainRules`), but records also arrive by sync from other replicas, unchecked: a level of
    /// 1e300 once trapped converting to an integer, stopping the node on its next match.
    public static func level(_ number: Double?) -> Int {
        guard let number, number.isFinite else { return 1 }
        return Int(max(1, min(5, number.rounded())))
    }

    /// Hours a week, within the 168 a week has, for the same reason (`asked - free` overflowed).
    public static func hours(_ hours: Int) -> Int { max(0, min(168, hours)) }
}

/// What matching reads about an opportunity.
public struct OpportunityProfile: Sendable, Equatable {
    public let id: String
    public let required: [Requirement]
    /// Skill ids a person can learn there.
    public let learnable: Set<String>
    public let hoursPerWeek: Int?
    /// Who posted it: never matched to their own opportunity.
    public let owner: String?
    /// `open`, `filled` or `closed` (none given reads as open): people are still ranked for one
    /// that is filled or closed, for its owner's reference, and the answer says it is no longer open.
    public let status: String

    /// Whether the person `candidate` is ranked for it: anyone but who posted it.
    public func ranks(_ candidate: String) -> Bool { candidate != owner }

    public init(id: String, required: [Requirement], learnable: Set<String>, hoursPerWeek: Int?, owner: String? = nil, status: String = "open") {
        self.id = id
        self.required = Requirement.merged(required)
        self.learnable = learnable
        self.hoursPerWeek = hoursPerWeek.map(Requirement.hours)
        self.owner = owner
        self.status = status
    }

    /// From an opportunities record: `requiredSkills` (skill -> {minLevel, weight, mustHave}),
    /// `learnableSkills`, `hoursPerWeek`.
    public init(id: String, record: [String: JSONValue], taxonomy: SkillTaxonomy) {
        let required = (record["requiredSkills"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { name, spec in
            Requirement(skill: taxonomy.resolve(name).id, minLevel: Requirement.level(spec["minLevel"]?.numberValue),
                        weight: spec["weight"]?.numberValue ?? 1, mustHave: spec["mustHave"]?.boolValue ?? false)
        }
        let learnable = Set((record["learnableSkills"]?.arrayValue ?? []).compactMap(\.stringValue).map { taxonomy.resolve($0).id })
        self.init(id: id, required: required, learnable: learnable, hoursPerWeek: record["hoursPerWeek"]?.integerValue.map(Int.init),
                  owner: record["owner"]?.stringValue, status: record["status"]?.stringValue ?? "open")
    }
}

/// One reason behind a score, as shown to people.
public struct Explanation: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case matched, oneLevelShort, belowLevel, relatedSkill, missing, missingMustHave, noSkillAsked, teachesGoal, availability, notEnoughHours,
             hoursNotGiven, fromExperience
    }
    public let kind: Kind
    public let skill: String?
    public let text: String
}

/// A change that would raise the score, with the score it would give.
public struct Improvement: Sendable, Equatable {
    public let text: String
    public let scoreAfter: Double
}

/// A scored match with its explanation.
public struct Match: Sendable {
    public let candidate: String
    public let opportunity: String
    /// 0 to 5.
    public let score: Double
    public let skillFit: Double
    public let growthFit: Double
    public let availability: Double
    public let explanations: [Explanation]
    public let improvements: [Improvement]

    /// A score as shown, to a hundredth: rounded from the millionths the ranking compares
    /// (`Matcher.RankKey`), so two scores the ranking takes as equal (sums of the same parts in
    /// another order, apart in their last bits) never show as 1.37 above 1.38.
    public static func shown(_ score: Double) -> Double {
        let millionths = Int64((score * 1_000_000).rounded())
        return Double((millionths + 5_000) / 10_000) / 100
    }

    public var json: JSONValue {
        .object([
            "person": .string(candidate), "opportunity": .string(opportunity), "score": .double(Match.shown(score)),
            "components": .object(["skillFit": .double((skillFit * 1000).rounded() / 1000), "growthFit": .double((growthFit * 1000).rounded() / 1000),
                                   "availability": .double((availability * 1000).rounded() / 1000)]),
            "explanations": .array(explanations.map { .object(["kind": .string($0.kind.rawValue), "skill": $0.skill.map(JSONValue.string) ?? .null, "text": .string($0.text)]) }),
            "improvements": .array(improvements.map { .object(["text": .string($0.text), "scoreAfter": .double(Match.shown($0.scoreAfter))]) }),
        ])
    }
}

/// Scores people against opportunities, 0 to 5, from published components (Docs/guides/read-a-match.md):
///
///     score = 5 * (0.6 * skillFit + 0.25 * growthFit + 0.15 * availability), halved if a must-have is missing
///
/// - skill fit: per required skill, weighted: 1 at or above the level, 0.6 one level short,
///   0.3 + 0.3 x level / required further below (a skill used in a past role, not listed among the
///   person's skills, counts as level 1), 0.3 for a related skill in the same ESCO group
///   family, 0 missing (knowing the skill a little never counts less than a related one); 1 when
///   the opportunity asks for no skill (it is open to anyone, and says so);
/// - growth fit: the share of the person's development goals the opportunity teaches, full credit
///   at two (one goal of one taught is 1; one of three is 0.5);
/// - availability: hours available over hours asked, at most 1; 1 when the opportunity asks no
///   hours; `hoursNotGivenCredit` when the person has not said (full credit let anyone clear their
///   hours to outscore people who gave them honestly, and nothing said why).
public struct Matcher: Sendable {
    public let taxonomy: SkillTaxonomy
    public static let skillWeight = 0.6, growthWeight = 0.25, availabilityWeight = 0.15
    public static let mustHavePenalty = 0.5
    /// Availability when the opportunity asks for hours and the person has not said how many they
    /// have: half, between having none (0) and having enough (1), and the match says so.
    public static let hoursNotGivenCredit = 0.5

    public init(taxonomy: SkillTaxonomy = .esco) { self.taxonomy = taxonomy }

    func label(_ id: String) -> String { taxonomy.skills[id]?.label ?? (id.hasPrefix("custom:") ? String(id.dropFirst(7)) : id) }

    /// The match with its explanation and what would raise it.
    public func match(_ candidate: Candidate, _ opportunity: OpportunityProfile) -> Match {
        withImprovements(evaluate(candidate, opportunity), candidate, opportunity)
    }

    /// The score alone (with its explanation): what rankings and the bias audit compare, without
    /// working out what would raise each match.
    public func score(_ candidate: Candidate, _ opportunity: OpportunityProfile) -> Double {
        evaluate(candidate, opportunity).score
    }

    /// The score and explanation alone. `related`: the skill families of the keys met so far in
    /// this ranking, worked out once each.
    func evaluate(_ candidate: Candidate, _ opportunity: OpportunityProfile, related: RelatedSkills? = nil) -> Match {
        let related = related ?? RelatedSkills(taxonomy)
        var explanations: [Explanation] = []
        var weighted = 0.0, totalWeight = 0.0
        var missingMustHave = false
        for requirement in opportunity.required {
            totalWeight += requirement.weight
            let name = label(requirement.skill)
            // Used in a past role, not listed among their skills: level 1, and the text says where.
            if candidate.skills[requirement.skill] == nil, let role = candidate.experienced[requirement.skill] {
                weighted += requirement.weight * Matcher.credit(level: 1, of: requirement.minLevel)
                explanations.append(Explanation(kind: .fromExperience, skill: requirement.skill,
                                                text: "\(name): used in the role \(role), counted as level 1; needs \(requirement.minLevel)"))
                continue
            }
            if let level = candidate.skills[requirement.skill] {
                weighted += requirement.weight * Matcher.credit(level: level, of: requirement.minLevel)
                if level >= requirement.minLevel {
                    explanations.append(Explanation(kind: .matched, skill: requirement.skill, text: "\(name): level \(level), needs \(requirement.minLevel)"))
                } else if level == requirement.minLevel - 1 {
                    explanations.append(Explanation(kind: .oneLevelShort, skill: requirement.skill, text: "\(name): one level short (\(level) of \(requirement.minLevel))"))
                } else {
                    explanations.append(Explanation(kind: .belowLevel, skill: requirement.skill, text: "\(name): level \(level), needs \(requirement.minLevel)"))
                }
                continue
            }
            // The related skill the person knows best is the one named (then by id, for a stable text).
            // A related skill counts for a little, but does not make up a must-have: the score is
            // halved all the same (the guide's rule), and the text says both.
            if let related = candidate.skills.filter({ related.areRelated($0.key, requirement.skill) })
                .min(by: { ($1.value, $0.key) < ($0.value, $1.key) })?.key {
                weighted += requirement.weight * 0.3
                if requirement.mustHave {
                    missingMustHave = true
                    explanations.append(Explanation(kind: .missingMustHave, skill: requirement.skill,
                                                    text: "\(name): must-have, missing (you have the related skill \(label(related)))"))
                } else {
                    explanations.append(Explanation(kind: .relatedSkill, skill: requirement.skill, text: "\(name): you have the related skill \(label(related))"))
                }
            } else if requirement.mustHave {
                missingMustHave = true
                explanations.append(Explanation(kind: .missingMustHave, skill: requirement.skill, text: "\(name): must-have, missing"))
            } else {
                explanations.append(Explanation(kind: .missing, skill: requirement.skill, text: "\(name): missing"))
            }
        }
        let skillFit = totalWeight > 0 ? weighted / totalWeight : 1
        if opportunity.required.isEmpty {
            explanations.append(Explanation(kind: .noSkillAsked, skill: nil, text: "asks for no particular skill: open to anyone"))
        }
        let taught = candidate.goals.intersection(opportunity.learnable).sorted()
        for skill in taught {
            explanations.append(Explanation(kind: .teachesGoal, skill: skill, text: "teaches \(label(skill)), which you want to learn"))
        }
        // A share of the person's goals, full credit at two: one goal of one taught is all they asked for.
        let growthFit = candidate.goals.isEmpty || opportunity.learnable.isEmpty ? 0 : min(1, Double(taught.count) / Double(min(candidate.goals.count, 2)))
        var availability = 1.0
        if let asked = opportunity.hoursPerWeek, asked > 0 {
            if let free = candidate.hoursPerWeek {
                availability = min(1, Double(max(0, free)) / Double(asked))
                explanations.append(Explanation(kind: availability >= 1 ? .availability : .notEnoughHours, skill: nil,
                                                text: free >= asked ? "needs \(asked) hours a week; you have \(free)" : "needs \(asked) hours a week; you have \(free) (\(asked - free) short)"))
            } else {
                availability = Matcher.hoursNotGivenCredit
                explanations.append(Explanation(kind: .hoursNotGiven, skill: nil, text: "needs \(asked) hours a week; you have not said how many you have (half credit)"))
            }
        }
        let score = Matcher.score(skillFit: skillFit, growthFit: growthFit, availability: availability, missingMustHave: missingMustHave)
        return Match(candidate: candidate.id, opportunity: opportunity.id, score: score, skillFit: skillFit, growthFit: growthFit,
                     availability: availability, explanations: explanations, improvements: [])
    }

    /// A required skill's share of its weight at `level` against the `minLevel` asked: 1 at or
    /// above it, 0.6 one level short, 0.3 + 0.3 x level / required further below. A level listed
    /// and one counted from a past role (level 1) take it alike.
    static func credit(level: Int, of minLevel: Int) -> Double {
        level >= minLevel ? 1 : level == minLevel - 1 ? 0.6 : 0.3 + 0.3 * Double(level) / Double(minLevel)
    }

    static func score(skillFit: Double, growthFit: Double, availability: Double, missingMustHave: Bool) -> Double {
        let raw = 5 * (skillWeight * skillFit + growthWeight * growthFit + availabilityWeight * availability)
        return min(5, max(0, missingMustHave ? raw * mustHavePenalty : raw))
    }

    /// What would raise the match: each unmet requirement reached, or the hours made available.
    func improvements(_ candidate: Candidate, _ opportunity: OpportunityProfile, current: Double) -> [Improvement] {
        var result: [Improvement] = []
        for requirement in opportunity.required where (candidate.skills[requirement.skill] ?? 0) < requirement.minLevel {
            var skills = candidate.skills
            skills[requirement.skill] = requirement.minLevel
            let better = evaluate(Candidate(id: candidate.id, skills: skills, goals: candidate.goals, hoursPerWeek: candidate.hoursPerWeek,
                                            experienced: candidate.experienced), opportunity)
            if better.score > current + 0.005 {
                result.append(Improvement(text: "reach level \(requirement.minLevel) in \(label(requirement.skill))", scoreAfter: better.score))
            }
        }
        if let asked = opportunity.hoursPerWeek, asked > 0, (candidate.hoursPerWeek ?? -1) < asked {
            let better = evaluate(Candidate(id: candidate.id, skills: candidate.skills, goals: candidate.goals, hoursPerWeek: asked,
                                            experienced: candidate.experienced), opportunity)
            let text = candidate.hoursPerWeek.map { "make \(asked - $0) more \(asked - $0 == 1 ? "hour" : "hours") a week available" } ?? "say how many hours a week you have (\(asked) asked)"
            if better.score > current + 0.005 { result.append(Improvement(text: text, scoreAfter: better.score)) }
        }
        return result.sorted { $0.scoreAfter > $1.scoreAfter }
    }

    /// People for an opportunity, best first; never the person who posted it. Equal scores are
    /// ordered by `tieBreak`, not by id: ids follow onboarding order, so by id the longest-serving
    /// of thirty people with the same score would fill the top ten of every opportunity.
    ///
    /// `limit`: the first so many. Everyone is scored; what would raise a match is worked out for
    /// those kept only: for every person it was most of a request's time, and one opportunity
    /// asking for many skills held the node's one queue for minutes (a read-only audit).
    public func rank(_ candidates: [Candidate], for opportunity: OpportunityProfile, limit: Int = .max) -> [Match] {
        let related = RelatedSkills(taxonomy)
        let scored = candidates.filter { opportunity.ranks($0.id) }.map { ($0, opportunity, evaluate($0, opportunity, related: related)) }
        return Matcher.ranked(scored, \.2).prefix(limit).map { withImprovements($0.2, $0.0, $0.1) }
    }

    /// Opportunities for a person, best first; never those they posted. `limit` as above.
    public func rank(_ opportunities: [OpportunityProfile], for candidate: Candidate, limit: Int = .max) -> [Match] {
        let related = RelatedSkills(taxonomy)
        let scored = opportunities.filter { $0.ranks(candidate.id) }.map { (candidate, $0, evaluate(candidate, $0, related: related)) }
        return Matcher.ranked(scored, \.2).prefix(limit).map { withImprovements($0.2, $0.0, $0.1) }
    }

    /// `base` with what would raise it.
    func withImprovements(_ base: Match, _ candidate: Candidate, _ opportunity: OpportunityProfile) -> Match {
        Match(candidate: base.candidate, opportunity: base.opportunity, score: base.score, skillFit: base.skillFit,
              growthFit: base.growthFit, availability: base.availability, explanations: base.explanations,
              improvements: improvements(candidate, opportunity, current: base.score))
    }

    /// Items holding a match, best first by the match's `RankKey` (made once an item).
    static func ranked<Item>(_ items: [Item], _ match: KeyPath<Item, Match>) -> [Item] {
        items.map { ($0, RankKey(score: $0[keyPath: match].score, opportunity: $0[keyPath: match].opportunity, candidate: $0[keyPath: match].candidate)) }
            .sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// Where a pair (person, opportunity) with a score stands in a ranking: higher score first;
    /// equal scores by `tieBreak`, then by ids. Scores are compared to a millionth: sums of the
    /// same parts in another order differ in their last bits, and that noise, not the pair's
    /// number, decided among equals. The bias audit ranks by it too, so it counts the top shown.
    public struct RankKey: Comparable, Sendable {
        let score: Int64, tie: UInt64, candidate: String, opportunity: String

        public init(score: Double, opportunity: String, candidate: String) {
            self.score = Int64((score * 1_000_000).rounded())
            self.tie = Matcher.tieBreak(opportunity: opportunity, candidate: candidate)
            (self.candidate, self.opportunity) = (candidate, opportunity)
        }

        public static func < (a: RankKey, b: RankKey) -> Bool {
            if a.score != b.score { return a.score > b.score }
            return (a.tie, a.candidate, a.opportunity) < (b.tie, b.candidate, b.opportunity)
        }
    }

    /// A number for the pair (person, opportunity) that orders equal scores: fixed for the pair,
    /// so rankings are the same on every replica and run, and unrelated to the order of ids,
    /// so no one is ahead among equals for when they joined, and differently for each opportunity.
    static func tieBreak(opportunity: String, candidate: String) -> UInt64 {
        var hasher = XXHash64()
        hasher.update(Array(opportunity.utf8) + [0] + Array(candidate.utf8))
        return hasher.finalize()
    }
}

/// The skill families of the skill keys one ranking meets, worked out once each: resolving a key
/// and building its families for every (person, requirement) pair was most of a ranking's work.
/// Used on one thread at a time (one ranking).
final class RelatedSkills {
    private let taxonomy: SkillTaxonomy
    private var known: [String: (id: String, families: Set<String>)] = [:]

    init(_ taxonomy: SkillTaxonomy) { self.taxonomy = taxonomy }

    private func skill(_ key: String) -> (id: String, families: Set<String>) {
        if let found = known[key] { return found }
        let skill = taxonomy.resolve(key)
        let entry = (id: skill.id, families: Set(skill.groups.map(SkillTaxonomy.family)))
        known[key] = entry
        return entry
    }

    /// `SkillTaxonomy.areRelated` of the two keys' skills: different skills sharing a family.
    func areRelated(_ a: String, _ b: String) -> Bool {
        let x = skill(a), y = skill(b)
        return x.id != y.id && !x.families.isEmpty && !x.families.isDisjoint(with: y.families)
    }
}
