import XCTest
import ChorusCore
import ChorusPeople
import ChorusReplica
import ChorusTesting

final class CompanyGeneratorTests: XCTestCase {
    func replica(seed: UInt64, people: Int) throws -> Replica {
        let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_790_000_000_000), seed: 1)
        try replica.writeMany(CompanyGenerator(sizes: .init(people: people, offices: 3), seed: seed).generate(), by: "seed")
        return replica
    }

    func test_sameSeed_sameCompany_differentSeed_differentCompany() throws {
        let a = try replica(seed: 5, people: 80), b = try replica(seed: 5, people: 80), c = try replica(seed: 6, people: 80)
        XCTAssertEqual(try a.digest(), try b.digest())
        XCTAssertNotEqual(try a.digest(), try c.digest())
    }

    func test_company_hasEveryKindOfData_andRealisticTeamSizes() throws {
        let replica = try replica(seed: 9, people: 160)
        for collection in ["people", "teams", "feedback", "objectives", "opportunities", "abilities", "badges", "observations"] {
            XCTAssertFalse(try replica.list(collection: collection).isEmpty, collection)
        }
        let squadSizes = try replica.withDatabase { try $0.query("SELECT squad, count(*) FROM people GROUP BY squad").compactMap { $0.integer(1) } }
        XCTAssertTrue(squadSizes.allSatisfy { (5...10).contains($0) }, "squads of 5 to 10: \(squadSizes)")
        let bets = try replica.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM opportunities WHERE betRank BETWEEN 1 AND 10") }
        XCTAssertEqual(bets, 2, "a third of the 8 opportunities are ranked company bets (at most ten)")
        let large = try self.replica(seed: 9, people: 2000)
        XCTAssertEqual(try large.withDatabase { try $0.queryScalarInteger("SELECT count(*) FROM opportunities WHERE betRank BETWEEN 1 AND 10") }, 10, "a top ten")
        let selfFeedback = try replica.withDatabase { try $0.queryScalarInteger(#"SELECT count(*) FROM feedback WHERE "from" = "to""#) }
        XCTAssertEqual(selfFeedback, 0, "nobody gives themselves feedback")
        let candidates = try MatchingData.candidates(replica)
        XCTAssertEqual(candidates.count, 160)
        XCTAssertTrue(candidates.allSatisfy { !$0.skills.isEmpty })
        let escoShare = Double(candidates.flatMap(\.skills.keys).filter { !$0.hasPrefix("custom:") }.count) / Double(candidates.flatMap(\.skills.keys).count)
        XCTAssertGreaterThan(escoShare, 0.5, "most generated skills are ESCO skills")
        let matches = Matcher().rank(candidates, for: try XCTUnwrap(try MatchingData.opportunities(replica).first))
        XCTAssertTrue(matches.allSatisfy { (0...5).contains($0.score) })
        // A ranking cut at a limit is the whole ranking's first so many, what would raise each
        // match included (worked out for those kept only).
        let matcher = Matcher()
        func key(_ match: Match) -> Matcher.RankKey { Matcher.RankKey(score: match.score, opportunity: match.opportunity, candidate: match.candidate) }
        let opportunities = try MatchingData.opportunities(replica)
        for opportunity in opportunities.prefix(5) {
            let whole = candidates.filter { opportunity.ranks($0.id) }.map { matcher.match($0, opportunity) }.sorted { key($0) < key($1) }
            XCTAssertEqual(matcher.rank(candidates, for: opportunity, limit: 7).map(\.json), whole.prefix(7).map(\.json), opportunity.id)
        }
        for candidate in candidates.prefix(5) {
            let whole = opportunities.filter { $0.ranks(candidate.id) }.map { matcher.match(candidate, $0) }.sorted { key($0) < key($1) }
            XCTAssertEqual(matcher.rank(opportunities, for: candidate, limit: 4).map(\.json), whole.prefix(4).map(\.json), candidate.id)
            for match in whole {
                let opportunity = try XCTUnwrap(opportunities.first { $0.id == match.opportunity })
                XCTAssertEqual(matcher.score(candidate, opportunity), match.score, "the audit's score is the match's")
            }
        }
    }
}

/// An opportunity whose end date has passed is matched to no one, whatever its status says.
final class EndedOpportunityTests: XCTestCase {
    func test_dates_areTheUTCDayOfAWallTime() {
        for (milliseconds, date) in [(UInt64(0), "1970-01-01"), (951_782_400_000, "2000-02-29"), (1_796_601_600_000 - 1, "2026-12-06"),
                                     (1_796_601_600_000, "2026-12-07"), (4_107_542_400_000, "2100-03-01"), (946_598_400_000, "1999-12-31")] {
            XCTAssertEqual(DomainRules.date(unixMilliseconds: milliseconds), date, "\(milliseconds)")
        }
        XCTAssertTrue(DomainRules.hasEnded(endDate: "2026-12-06", today: "2026-12-07"))
        XCTAssertFalse(DomainRules.hasEnded(endDate: "2026-12-07", today: "2026-12-07"), "the last day still counts")
        XCTAssertFalse(DomainRules.hasEnded(endDate: nil, today: "2026-12-07"))
        XCTAssertFalse(DomainRules.hasEnded(endDate: "someday", today: "2026-12-07"), "not a date: not known to have ended")
    }

    func test_anOpportunityThatEnded_isNotMatched_butIsListedWithTheClosed() throws {
        let replica = try ReplicaFactory.memory(clock: ManualClock(milliseconds: 1_796_601_600_000 + 3_600_000), seed: 1)
        for (id, end) in [("o-ended", "2026-12-06"), ("o-today", "2026-12-07"), ("o-none", nil)] {
            var changes: [Change] = [.put(field: "title", value: .string(id)), .put(field: "status", value: "open")]
            if let end { changes.append(.put(field: "endDate", value: .string(end))) }
            try replica.write(collection: "opportunities", record: id, changes)
        }
        XCTAssertEqual(try MatchingData.opportunities(replica).map(\.id), ["o-none", "o-today"])
        XCTAssertEqual(try MatchingData.opportunities(replica, includeClosed: true).map(\.id), ["o-ended", "o-none", "o-today"])
    }
}
