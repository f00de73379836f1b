import ChorusCore
import ChorusReplica
import Foundation

/// An opportunity as someone posts it from the command line or a form: free-text skills resolved
/// to ESCO, every value checked by `DomainRules`, the poster its owner.
public struct Posting: Sendable, Equatable {
    public var title: String
    public var kind = "project"
    public var description: String?
    /// `SKILL[:LEVEL[:WEIGHT]][:must]`, e.g. `python:3:must`; the level defaults to 1, the weight to 1.
    public var requiredSkills: [String] = []
    public var learnableSkills: [String] = []
    public var hoursPerWeek: Int64?
    public var location = "remote"
    public var office: String?
    public var betRank: Int64?

    public init(title: String) { self.title = title }

    /// Most skills one posting asks for or teaches.
    public static let skillsMax = 30

    /// The changes that create the posting, owned by `owner`.
    public func changes(owner: String, taxonomy: SkillTaxonomy = .esco) throws(ChorusError) -> [Change] {
        guard !title.trimmingCharacters(in: .whitespaces).isEmpty else { throw ChorusError(.invalidValue, "an opportunity needs a title") }
        if let problem = DomainRules.officeProblem(location: location, office: office) { throw ChorusError(.invalidValue, problem, hint: "add --office NAME") }
        guard requiredSkills.count <= Posting.skillsMax, learnableSkills.count <= Posting.skillsMax else {
            throw ChorusError(.invalidValue, "at most \(Posting.skillsMax) required and \(Posting.skillsMax) learnable skills")
        }
        var changes: [Change] = [.put(field: "title", value: .string(title)), .put(field: "kind", value: .string(kind)),
                                 .put(field: "owner", value: .string(owner)), .put(field: "location", value: .string(location)),
                                 .put(field: "status", value: "open")]
        if let description { changes.append(.put(field: "description", value: .string(description))) }
        if let hoursPerWeek { changes.append(.put(field: "hoursPerWeek", value: .integer(hoursPerWeek))) }
        if let office { changes.append(.put(field: "office", value: .string(office))) }
        if let betRank { changes.append(.put(field: "betRank", value: .integer(betRank))) }
        // Two names of one skill ("python" and "python3") with two values: one would be dropped
        // unseen (the API refuses it alike). The same value twice is one.
        var named: [String: (text: String, value: JSONValue)] = [:]
        for text in requiredSkills {
            var parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let mustHave = parts.last?.lowercased() == "must"
            if mustHave { parts.removeLast() }
            guard let name = parts.first, !name.isEmpty, parts.count <= 3 else {
                throw ChorusError(.invalidValue, "required skill \(text.prefix(80)): write SKILL[:LEVEL[:WEIGHT]][:must]", hint: "e.g. python:3:must")
            }
            // Said in the words written (not as the stored map entry, under the skill's ESCO id).
            guard let level = parts.count > 1 ? Int64(parts[1]) : 1, (1...5).contains(level),
                  let weight = parts.count > 2 ? Double(parts[2]) : 1, weight > 0, weight <= 10 else {
                throw ChorusError(.invalidValue, "required skill \(text.prefix(80)): LEVEL is a whole number 1 to 5 and WEIGHT a number above 0, at most 10",
                                  hint: "e.g. sql:2:3, or python:3:must")
            }
            let id = taxonomy.resolve(name).id
            let value = JSONValue.object(["minLevel": .integer(level), "weight": weight.rounded() == weight && abs(weight) < 1e6 ? .integer(Int64(weight)) : .double(weight),
                                          "mustHave": .bool(mustHave)])
            if let first = named[id] {
                if first.value == value { continue }
                throw ChorusError(.invalidValue, "required skills \(first.text.prefix(80)) and \(text.prefix(80)) name the same skill (\(taxonomy.resolve(name).label)) with two values",
                                  hint: "give it once")
            }
            named[id] = (text, value)
            changes.append(.mapSet(field: "requiredSkills", key: id, value: value))
        }
        for name in learnableSkills where !name.trimmingCharacters(in: .whitespaces).isEmpty {
            changes.append(.add(field: "learnableSkills", element: taxonomy.resolve(name.trimmingCharacters(in: .whitespaces)).id))
        }
        try DomainRules.check(changes, in: PeopleSchema.current.collection("opportunities")!)
        return changes
    }
}
