import XCTest
@testable import ChorusCLI

/// Tables and cut values as a terminal draws them: names hold emoji, CJK and combining accents.
final class TerminalTextTests: XCTestCase {
    func test_columns_countWideCharactersAndEmojiTwice_andMarksNever() {
        XCTAssertEqual(TerminalText.columns("Zoe"), 3)
        XCTAssertEqual(TerminalText.columns("Zoe\u{0308}"), 3, "a combining accent takes no column")
        XCTAssertEqual(TerminalText.columns("山田"), 4)
        XCTAssertEqual(TerminalText.columns("🚀"), 2)
        XCTAssertEqual(TerminalText.columns("👩🏽‍💻"), 2, "a joined sequence is one picture")
        XCTAssertEqual(TerminalText.columns("🇸🇪"), 2)
        XCTAssertEqual(TerminalText.columns("محمد"), 4)
        XCTAssertEqual(TerminalText.columns("a\u{200B}b"), 2)
    }

    /// Cells were cut at their UTF-16 length: "Zoë Amélie Nguyễn" lost its end, an emoji became "�".
    func test_table_padsByColumns_andNeverCutsACell() {
        let rows = [["NAME", "TITLE"], ["Zoe\u{0308} Ame\u{0301}lie Nguye\u{0302}\u{0303}n", "Engineer"], ["山田太郎", "Lead"], ["Olivia 👩🏽‍💻", "Coach"]]
        let lines = Format.table(rows).split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[1].hasPrefix("Zoe\u{0308} Ame\u{0301}lie Nguye\u{0302}\u{0303}n"), lines[1])
        XCTAssertTrue(lines[3].hasPrefix("Olivia 👩🏽‍💻"), lines[3])
        XCTAssertFalse(lines.joined().contains("\u{FFFD}"))
        // The second column starts at the same terminal column on every line.
        let starts = lines.enumerated().map { index, line -> Int in
            let title = rows[index][1]
            return TerminalText.columns(String(line.dropLast(title.count)))
        }
        XCTAssertEqual(Set(starts).count, 1, "aligned: \(starts)\n\(lines.joined(separator: "\n"))")
    }

    func test_cut_keepsWholeCharacters_withinTheColumns() {
        XCTAssertEqual(TerminalText.cut("short", toColumns: 10), "short")
        XCTAssertEqual(TerminalText.cut("🚀🚀🚀🚀", toColumns: 5), "🚀🚀…")
        XCTAssertEqual(TerminalText.cut("наблюдаемость", toColumns: 8), "наблюда…")
        XCTAssertEqual(TerminalText.cut("Zoe\u{0308}Zoe\u{0308}Zoe\u{0308}", toColumns: 5), "Zoe\u{0308}Z…")
        XCTAssertLessThanOrEqual(TerminalText.columns(TerminalText.cut("山田太郎山田太郎", toColumns: 7)), 7)
        XCTAssertEqual(Format.value("Senior Engineer 🚀👩🏽‍💻 Zoë", width: 60), "Senior Engineer 🚀👩🏽‍💻 Zoë", "a value within its width is whole")
    }

    /// Numbers and times as data or a remote node gives them: any replica may sync a progress
    /// of 1e19 or a resolution time of -1; printing them trapped (`Int(1e19)`, `UInt64(-1)`).
    func test_percentsAndTimesFromData_outOfRange_printWithoutTrapping() {
        XCTAssertEqual(Format.percent(42.7), "42%")
        XCTAssertEqual(Format.percent(1e19), "1e+19%")
        XCTAssertEqual(Format.percent(.nan), "nan%")
        XCTAssertEqual(Format.time(unixMilliseconds: -1), "?")
        XCTAssertEqual(Format.time(unixMilliseconds: 0), "1970-01-01T00:00:00.000Z")
    }
}
