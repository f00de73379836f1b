import ChorusCore
import ChorusReplica

extension DomainRules {
    /// Checks the values a write's changes set (registers and map keys) in `collection`, as every
    /// way of writing does (the API, the CLI's generic writes, a posting). A field the collection
    /// does not declare, or a value of another JSON type, is left to the replica, which refuses
    /// it in its own words.
    public static func check(_ changes: [Change], in collection: CollectionSchema) throws(ChorusError) {
        for change in changes {
            let (name, key, value): (String, String?, JSONValue)
            switch change {
            case .put(let field, let given): (name, key, value) = (field, nil, given)
            case .mapSet(let field, let mapKey, let given):
                (name, key, value) = (field, mapKey, given)
                // A blank key shows as nothing (a skill with no name): never made, by any way of writing.
                if isBlank(mapKey) { throw ChorusError(.invalidValue, "\(collection.name).\(field): a key must not be blank (only spaces or invisible characters)") }
            case .add(let field, let element):
                if isBlank(element) { throw ChorusError(.invalidValue, "\(collection.name).\(field): an element must not be blank (only spaces or invisible characters)") }
                continue
            default: continue
            }
            guard let field = collection.field(name), field.valueType.accepts(value) else { continue }
            try check(collection: collection.name, field: field, key: key, value: value)
        }
    }
}
