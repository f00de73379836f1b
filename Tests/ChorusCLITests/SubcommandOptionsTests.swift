import XCTest
@testable import ChorusCLI

/// The options a subcommand does not take are refused (`CommandContext.refuseOptions`): each
/// table names every option of its command but those that go with all.
final class SubcommandOptionsTests: XCTestCase {
    func test_theTables_nameEveryOptionButTheCommonOnes() {
        let common: Set<String> = ["--data", "--json"]
        XCTAssertEqual(Set(OpportunitiesCommand.spec.options.map(\.name)).subtracting(common), Set(OpportunitiesCommand.optionsOf.keys))
        XCTAssertEqual(Set(FeedbackCommand.spec.options.map(\.name)).subtracting(common.union(["--as"])), Set(FeedbackCommand.optionsOf.keys))
    }
}
