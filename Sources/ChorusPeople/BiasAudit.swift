/// Adverse-impact audit of recommendations: selection rates of the top-k people per opportunity by
/// a group label that only the audit sees (matching never does), and the four-fifths ratio.
///
/// A group's selection rate is (times its members were in a top k) / (members x opportunities, less
/// the opportunities its members posted, for which they are never ranked). The
/// ratio is the lowest rate over the highest; under 0.8 fails the four-fifths rule (US EEOC
/// Uniform Guidelines, 29 CFR 1607.4(D)), a signal to investigate, not a verdict.
public struct BiasAudit: Sendable {
    /// Fewer people than this in a group, and its rate moves by chance more than the four-fifths
    /// rule can tell from bias (30, the usual floor for reading a proportion): the audit says so.
    public static let groupMembersForAVerdictMin = 30

    public struct GroupRate: Sendable, Equatable {
        public let group: String
        public let members: Int
        public let selections: Int
        /// Member-opportunity pairs in which a member could be selected.
        public let chances: Int
        public let rate: Double
    }

    public struct Report: Sendable {
        public let rates: [GroupRate]
        public let topK: Int
        public let opportunities: Int
        /// Whether every top k held everyone ranked for its opportunity: every rate is then the
        /// same by construction, and the ratio says nothing of the ranking.
        public var everyoneSelected = false
        /// Lowest rate over highest among the groups that had a chance (1 when there is one or no selection).
        public var impactRatio: Double {
            let values = rates.filter { $0.chances > 0 }.map(\.rate)
            guard let high = values.max(), high > 0, let low = values.min() else { return 1 }
            return low / high
        }
        /// Why the ratio says nothing here (nil: it does): no one labelled was ever selected (the
        /// ratio read 1, a pass), or every top k held everyone (a read-only audit found both passed).
        public var noVerdict: String? {
            if everyoneSelected { return "every top \(topK) holds everyone ranked, so every group's rate is the same by construction: choose a --top below the number of people" }
            if !rates.contains(where: { $0.chances > 0 && $0.selections > 0 }) {
                return "no one with a group label was in any top \(topK), so there are no rates to compare: label the people the ranking selects, or raise --top"
            }
            return nil
        }
        /// The four-fifths rule is met, and the ratio says something (`noVerdict` is nil).
        public var passesFourFifths: Bool { noVerdict == nil && impactRatio >= 0.8 }
    }

    /// - Parameters:
    ///   - scorer: how people are scored for an opportunity (the real matcher, or anything under test).
    ///   - groups: person id to group label; people without a label are left out of the rates.
    public static func run(candidates: [Candidate], opportunities: [OpportunityProfile], groups: [String: String], topK: Int,
                           scorer: (Candidate, OpportunityProfile) -> Double) -> Report {
        var selections: [String: Int] = [:]
        var everyoneSelected = !opportunities.isEmpty
        for opportunity in opportunities {
            // As the matcher ranks them: the person who posted it is not among its candidates.
            // In the matcher's order (`Matcher.RankKey`), so the top counted is the top shown.
            let ranked = candidates.filter { opportunity.ranks($0.id) }
                .map { ($0.id, Matcher.RankKey(score: scorer($0, opportunity), opportunity: opportunity.id, candidate: $0.id)) }
                .sorted { $0.1 < $1.1 }
            for (id, _) in ranked.prefix(topK) { if let group = groups[id] { selections[group, default: 0] += 1 } }
            if ranked.count > topK { everyoneSelected = false }
        }
        var members: [String: Int] = [:]
        for candidate in candidates { if let group = groups[candidate.id] { members[group, default: 0] += 1 } }
        // The chances a group's members had: each member for each opportunity they did not post
        // (a poster is never ranked for their own).
        var chances = members.mapValues { $0 * opportunities.count }
        let ids = Set(candidates.map(\.id))
        for opportunity in opportunities {
            if let owner = opportunity.owner, ids.contains(owner), let group = groups[owner] { chances[group, default: 0] -= 1 }
        }
        let rates = members.keys.sorted().map { group in
            GroupRate(group: group, members: members[group]!, selections: selections[group, default: 0], chances: chances[group] ?? 0,
                      rate: Double(selections[group, default: 0]) / Double(max(1, chances[group] ?? 0)))
        }
        var report = Report(rates: rates, topK: topK, opportunities: opportunities.count)
        report.everyoneSelected = everyoneSelected
        return report
    }
}
