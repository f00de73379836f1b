import Foundation

/// One skill of the taxonomy: an ESCO v1.1.1 skill or a custom one.
public struct Skill: Hashable, Sendable {
    /// ESCO's id (a UUID), or `custom:<label>` for a skill ESCO does not have.
    public let id: String
    public let label: String
    /// ESCO skill group codes (`S5.6.1`, `K0613`); empty for custom skills.
    public let groups: [String]
    public var isCustom: Bool { id.hasPrefix("custom:") }
}

/// The ESCO v1.1.1 skills Chorus ships (`Taxonomy/esco-skills.tsv`, see its NOTICE), with free-text
/// resolution by preferred and alternative labels.
///
/// Loaded once, lazily, from the module's resources: about 13,400 skills and 82,700 alternative labels.
public final class SkillTaxonomy: @unchecked Sendable {
    public private(set) var skills: [String: Skill] = [:]
    private var byLabel: [String: String] = [:]
    private var shortForms: [String: [String]] = [:]
    public private(set) var groupNames: [String: String] = [:]

    /// The shipped taxonomy.
    public static let esco: SkillTaxonomy = {
        let taxonomy = SkillTaxonomy()
        if let url = Bundle.module.url(forResource: "esco-skills", withExtension: "tsv"),
           let text = try? String(contentsOf: url, encoding: .utf8) {
            taxonomy.load(skills: text)
        }
        if let url = Bundle.module.url(forResource: "esco-groups", withExtension: "tsv"),
           let text = try? String(contentsOf: url, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
                if parts.count >= 2 { taxonomy.groupNames[String(parts[0])] = String(parts[1]) }
            }
        }
        return taxonomy
    }()

    public init() {}

    /// Starts loading the shipped taxonomy in the background, once, so the first request that
    /// needs a skill label does not wait for it (about 19 MB, so not on nodes nobody browses).
    public static func warmUp() { _ = warming }
    private static let warming: Void = { DispatchQueue.global(qos: .utility).async { _ = esco.skills.count } }()

    /// Loads lines of `id \t preferred \t alt|alt \t group,group`.
    public func load(skills text: String) {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard parts.count >= 4 else { continue }
            let id = String(parts[0]), preferred = String(parts[1])
            let groups = parts[3].split(separator: ",").map(String.init)
            skills[id] = Skill(id: id, label: preferred, groups: groups)
            byLabel[SkillTaxonomy.normalise(preferred)] = id
            for alternative in parts[2].split(separator: "|") {
                let key = SkillTaxonomy.normalise(String(alternative))
                if byLabel[key] == nil { byLabel[key] = id }
            }
            if let open = preferred.range(of: " ("), preferred.hasSuffix(")") {
                shortForms[SkillTaxonomy.normalise(String(preferred[..<open.lowerBound])), default: []].append(id)
            }
        }
        // "Python (computer programming)" is what people mean by "python": a label's short form
        // resolves too, unless it is a label of its own or names more than one skill.
        for (key, ids) in shortForms where ids.count == 1 && byLabel[key] == nil { byLabel[key] = ids[0] }
        shortForms = [:]
    }

    /// Lower case, single spaces, no surrounding space: the form labels are matched in.
    public static func normalise(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    /// A skill for free text: an ESCO id, a label or a synonym resolves to the ESCO skill; anything
    /// else becomes a custom skill (allowed: not every skill is in ESCO).
    public func resolve(_ text: String) -> Skill {
        if let skill = skills[text] { return skill }
        let key = SkillTaxonomy.normalise(text)
        if let id = byLabel[key], let skill = skills[id] { return skill }
        if text.hasPrefix("custom:") { return Skill(id: text, label: String(text.dropFirst(7)), groups: []) }
        return Skill(id: "custom:\(key)", label: text.trimmingCharacters(in: .whitespaces), groups: [])
    }

    /// Skills whose label or synonym starts with `text` (or has a word that does), shortest label
    /// first: the suggestions a form offers while someone types a skill.
    public func suggest(_ text: String, limit: Int = 10) -> [Skill] {
        let key = SkillTaxonomy.normalise(text)
        guard key.count >= 1 else { return [] }
        var best: [String: (rank: Int, skill: Skill)] = [:]
        for (label, id) in byLabel {
            let rank: Int
            if label.hasPrefix(key) { rank = 0 } else if label.contains(" " + key) { rank = 1 } else { continue }
            guard let skill = skills[id] else { continue }
            if let known = best[id], known.rank <= rank { continue }
            best[id] = (rank, skill)
        }
        return best.values.sorted { ($0.rank, $0.skill.label.count, $0.skill.label) < ($1.rank, $1.skill.label.count, $1.skill.label) }
            .prefix(max(0, limit)).map(\.skill)
    }

    /// The family of a group code: `S5.6.1` -> `S5.6`, `K0613` -> `K061`.
    static func family(_ code: String) -> String {
        if let dot = code.lastIndex(of: "."), code.filter({ $0 == "." }).count >= 2 { return String(code[..<dot]) }
        if code.first == "K" && code.count > 4 { return String(code.prefix(4)) }
        return code
    }

    /// Whether two different skills sit in the same skill group family (for partial credit).
    public func areRelated(_ a: Skill, _ b: Skill) -> Bool {
        guard a.id != b.id, !a.groups.isEmpty, !b.groups.isEmpty else { return false }
        return !Set(a.groups.map(SkillTaxonomy.family)).isDisjoint(with: b.groups.map(SkillTaxonomy.family))
    }
}
