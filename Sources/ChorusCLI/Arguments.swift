import ChorusCore

/// One option a command accepts.
struct OptionSpec {
    let name: String          // "--data"
    let valueName: String?    // "DIR"; nil for a flag
    let help: String

    static let data = OptionSpec(name: "--data", valueName: "DIR", help: "replica folder (default: $CHORUS_DATA or ./chorus-data)")
    static let json = OptionSpec(name: "--json", valueName: nil, help: "print machine-readable JSON")
}

/// A command's declaration: what `--help` prints and what the parser accepts.
struct CommandSpec {
    let name: String
    let summary: String
    /// Positional part of the usage line, e.g. "COLLECTION ID FIELD=VALUE...".
    let arguments: String
    let details: String
    let options: [OptionSpec]
    /// Positional argument count bounds.
    let positionalMin: Int
    let positionalMax: Int

    init(_ name: String, _ summary: String, arguments: String = "", details: String = "", options: [OptionSpec] = [],
         positional: ClosedRange<Int> = 0...0) {
        self.name = name
        self.summary = summary
        self.arguments = arguments
        self.details = details
        self.options = options
        self.positionalMin = positional.lowerBound
        self.positionalMax = positional.upperBound
    }

    var usage: String {
        let optionText = options.map { option in option.valueName.map { "[\(option.name) \($0)]" } ?? "[\(option.name)]" }.joined(separator: " ")
        return ["chorus", name, arguments, optionText].filter { !$0.isEmpty }.joined(separator: " ")
    }

    var help: String {
        var text = "\(summary)\n\nusage: \(usage)\n"
        if !details.isEmpty { text += "\n\(details)\n" }
        text += "\noptions:\n"
        for option in options + [OptionSpec(name: "--help", valueName: nil, help: "show this help")] {
            let left = option.valueName.map { "\(option.name) \($0)" } ?? option.name
            text += "  \(left.padding(toLength: max(20, left.count + 2), withPad: " ", startingAt: 0))\(option.help)\n"
        }
        return text
    }
}

/// A usage mistake: exit code 2, with the command's usage line.
struct UsageError: Error {
    let message: String
    let command: CommandSpec?
}

/// Parsed command line: positionals in order, options by name.
struct ParsedArguments {
    var positional: [String] = []
    var values: [String: String] = [:]
    var flags: Set<String> = []
    var wantsHelp = false

    func value(_ name: String) -> String? { values[name] }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// Parses `arguments` against `spec`. `--` ends options (for values that start with a dash).
    static func parse(_ arguments: [String], spec: CommandSpec) throws(UsageError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var index = 0
        var optionsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            // `-h` asks for help wherever it stands (it was taken as an argument, and every
            // command but the top level answered it with a usage error); after `--` it is a value.
            if !optionsEnded && argument == "-h" { parsed.wantsHelp = true; continue }
            if optionsEnded || !argument.hasPrefix("--") || argument == "-" {
                parsed.positional.append(argument)
                continue
            }
            if argument == "--" { optionsEnded = true; continue }
            if argument == "--help" { parsed.wantsHelp = true; continue }
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            guard let option = spec.options.first(where: { $0.name == name }) else {
                throw UsageError(message: "unknown option \(name) for `chorus \(spec.name)`", command: spec)
            }
            // Once each: which of two values was meant is not the command's to guess (the last
            // one silently counted).
            if parsed.values[name] != nil || parsed.flags.contains(name) {
                throw UsageError(message: "\(name) is given twice: give it once", command: spec)
            }
            if option.valueName == nil {
                guard inlineValue == nil else { throw UsageError(message: "\(name) takes no value", command: spec) }
                parsed.flags.insert(name)
            } else {
                if let inlineValue {
                    parsed.values[name] = inlineValue
                } else {
                    guard index < arguments.count else {
                        throw UsageError(message: "\(name) needs a value (\(option.valueName!))", command: spec)
                    }
                    // The next option is not this one's value: `status --data --json` read the
                    // folder `--json`, and its hint said to `init --data --json`. A value that
                    // does start so is given with `=`.
                    let next = arguments[index]
                    if next == "--help" || next == "--" || spec.options.contains(where: { $0.name == next.split(separator: "=", maxSplits: 1).first.map(String.init) }) {
                        throw UsageError(message: "\(name) needs a value (\(option.valueName!)) before \(next) (a value that starts with -- is given as \(name)=VALUE)", command: spec)
                    }
                    parsed.values[name] = arguments[index]
                    index += 1
                }
            }
        }
        if parsed.wantsHelp { return parsed }
        guard parsed.positional.count >= spec.positionalMin else {
            throw UsageError(message: "missing arguments: expected \(spec.arguments)", command: spec)
        }
        guard parsed.positional.count <= spec.positionalMax else {
            throw UsageError(message: "too many arguments: expected \(spec.arguments.isEmpty ? "none" : spec.arguments)", command: spec)
        }
        return parsed
    }
}

/// Parses a command-line VALUE: JSON, or a bare word taken as a string.
///
/// Text starting like a JSON object, array or string (`{`, `[`, `"`) must be valid JSON; a number,
/// `true`, `false` and `null` are JSON; anything else is a string. So `title=Engineer` and
/// `title='"Engineer"'` agree, `level=4` is the number 4, and `quarter=2026-Q4` (a digit first,
/// but no number) is the string it reads as.
func parseValueArgument(_ text: String, limits: Limits = .default) throws(ChorusError) -> JSONValue {
    let parser = JSONParser(depthMax: limits.jsonDepthMax, bytesMax: limits.valueBytesMax * 2)
    guard let first = text.unicodeScalars.first else { return .string("") }
    let looksLikeJSON = "{[\"".unicodeScalars.contains(first)
    do {
        return try parser.parse(text)
    } catch {
        if looksLikeJSON {
            throw ChorusError(.malformedInput, "value \(text.prefix(60)) is not valid JSON: \(error.reason) (at byte \(error.offset))",
                              hint: "quote JSON strings as '\"text\"'; a bare word with no quotes is taken as a string")
        }
        // A number too large for JSON (1e400) was taken for a string, and the field's check then
        // said "got string": said as what it is.
        if Double(text)?.isFinite == false, text.unicodeScalars.allSatisfy({ "0123456789+-.eE".unicodeScalars.contains($0) }) {
            throw ChorusError(.invalidValue, "value \(text.prefix(60)) is a number out of range", hint: "give a number up to about 1.8e308, or quote it as '\"text\"' for a string")
        }
        return .string(text)
    }
}
