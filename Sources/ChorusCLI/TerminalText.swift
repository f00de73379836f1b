/// How wide text shows in a terminal, in columns, so tables line up and a cut never splits a
/// character: people's names and titles hold emoji, CJK, combining accents.
///
/// Tables padded with `padding(toLength:)`, which counts UTF-16 units, cut the end off a cell
/// holding an emoji or a combining accent ("Zoë Amélie Nguy"), split surrogate pairs into "�",
/// and took a CJK character, which a terminal draws two columns wide, for one. A character
/// (a grapheme cluster) is measured here as a terminal draws it: two columns for East Asian wide
/// and fullwidth characters and for emoji, none for a cluster of only zero-width characters, one
/// otherwise. (Terminals differ at the edges, such as emoji with a text-style default: those
/// count one, as most draw them.)
enum TerminalText {
    /// The columns `text` takes.
    static func columns(_ text: String) -> Int {
        text.reduce(0) { $0 + columns($1) }
    }

    /// The columns one character takes: 0, 1 or 2.
    static func columns(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if scalars.allSatisfy(isZeroWidth) { return 0 }
        if isWide(first.value) { return 2 }
        // An emoji drawn as a picture: one whose default is, or any with the emoji selector, or a
        // sequence (flags, skin tones, families joined by ZWJ).
        if first.properties.isEmojiPresentation { return 2 }
        if first.properties.isEmoji, scalars.count > 1,
           scalars.contains(where: { $0.value == 0xFE0F || $0.value == 0x200D || (0x1F3FB...0x1F3FF).contains($0.value) || (0x1F1E6...0x1F1FF).contains($0.value) }) {
            return 2
        }
        return 1
    }

    /// `text` followed by spaces to `width` columns; never cut.
    static func padded(_ text: String, to width: Int) -> String {
        let used = columns(text)
        return used >= width ? text : text + String(repeating: " ", count: width - used)
    }

    /// `text` cut to at most `width` columns, whole characters only, ending in "…" when cut.
    static func cut(_ text: String, toColumns width: Int) -> String {
        guard columns(text) > width else { return text }
        var kept = "", used = 0
        for character in text {
            let next = columns(character)
            if used + next > width - 1 { break }
            kept.append(character)
            used += next
        }
        return kept + "…"
    }

    static func isZeroWidth(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return true
        default: return (0x200B...0x200F).contains(scalar.value) || (0x2060...0x2064).contains(scalar.value) || scalar.value == 0xFEFF
        }
    }

    /// East Asian Wide and Fullwidth ranges (Unicode's EastAsianWidth.txt, W and F, condensed):
    /// Hangul Jamo, CJK radicals to Yi, Hangul syllables, CJK compatibility, vertical and small
    /// forms, fullwidth forms, and the supplementary ideographic planes.
    static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
             0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1B000...0x1B2FF, 0x1F200...0x1F2FF, 0x20000...0x3FFFD:
            return true
        default:
            return false
        }
    }
}
