// An experiment as configuration: a base run config, variants that set dotted config paths on
// it, seeds, a budget. Strict like run configs: an unknown field of the spec, or an unknown path
// in a variant's `set`, is an error naming it (with a "did you mean" from the config decoder).
import Foundation
import MMORun
import Yams

/// Why a spec cannot be used; names the file and the field.
public struct ExperimentError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, with the file and field named.
    public var description: String
    /// An error with a message.
    public init(_ message: String) { description = message }
}

/// Any JSON / YAML value: the right-hand side of a variant's `set`.
public enum ConfigValue: Codable, Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([ConfigValue])
    case object([String: ConfigValue])

    /// Decodes whichever kind of value the document holds (bool before numbers, integers before
    /// reals).
    public init(from decoder: Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: SpecKey.self) {
            var object: [String: ConfigValue] = [:]
            for key in keyed.allKeys { object[key.stringValue] = try keyed.decode(ConfigValue.self, forKey: key) }
            self = .object(object)
            return
        }
        if var list = try? decoder.unkeyedContainer() {
            var array: [ConfigValue] = []
            while !list.isAtEnd { array.append(try list.decode(ConfigValue.self)) }
            self = .array(array)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let u = try? c.decode(UInt64.self) {
            self = .uint(u)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    /// Encodes the value as the same kind.
    public func encode(to encoder: Encoder) throws {
        switch self {
        case .object(let o):
            var c = encoder.container(keyedBy: SpecKey.self)
            for (k, v) in o { try c.encode(v, forKey: SpecKey(k)) }
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for v in a { try c.encode(v) }
        default:
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case .bool(let b): try c.encode(b)
            case .int(let i): try c.encode(i)
            case .uint(let u): try c.encode(u)
            case .double(let d): try c.encode(d)
            case .string(let s): try c.encode(s)
            default: break
            }
        }
    }

    /// The value as written in JSON (for plans and messages).
    public var description: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
    }
}

struct SpecKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// How many runs train at once: `auto` (two at once with one BLAS thread each when there are two
/// cores and two runs), or a number.
public enum Parallelism: Equatable, Sendable, CustomStringConvertible {
    case auto
    case fixed(Int)

    /// `auto` or a positive integer.
    public init?(_ text: String) {
        if text == "auto" {
            self = .auto
        } else if let n = Int(text), n >= 1, n <= 64 {
            self = .fixed(n)
        } else {
            return nil
        }
    }

    /// `auto` or the number.
    public var description: String {
        switch self {
        case .auto: return "auto"
        case .fixed(let n): return "\(n)"
        }
    }

    /// Runs at once and BLAS threads per run for `runs` runs on `cores` cores; `threads`
    /// overrides the per-run thread count.
    public func resolve(runs: Int, cores: Int, threads: Int?) -> (lanes: Int, threads: Int) {
        let cores = max(1, cores)
        let lanes: Int
        switch self {
        case .auto: lanes = max(1, min(2, cores, runs))
        case .fixed(let n): lanes = max(1, min(n, max(1, runs)))
        }
        return (lanes, threads ?? max(1, cores / lanes))
    }
}

/// One variant: a name (its runs are `<name>-seed<N>`) and the config paths it sets.
public struct VariantSpec: Equatable, Sendable {
    /// The run-folder prefix: ASCII letters, digits, `-`, `_`.
    public var name: String
    /// Dotted config paths (`optimizer.gradientSharing`, `models[1].weight`) and their values,
    /// applied in path order.
    public var set: [String: ConfigValue]

    /// A variant setting `set` on the base.
    public init(name: String, set: [String: ConfigValue]) {
        self.name = name
        self.set = set
    }
}

/// An experiment spec (`mmo-experiment SPEC.yaml`).
public struct ExperimentSpec: Sendable {
    /// The experiment's name (run configs are named `<name>-<variant>`).
    public var name: String
    /// The base run config's path, resolved against the spec file's folder.
    public var base: String
    /// Seeds, each run once per variant.
    public var seeds: [UInt64]
    /// The variants, in spec order.
    public var variants: [VariantSpec]
    /// Budget: epochs of every run (overrides the base's `training.epochs`).
    public var epochs: Int?
    /// Budget: optimizer steps of every run (overrides epochs).
    public var maxSteps: Int?
    /// Validation accuracy for "steps to target" (first evaluation at or above it).
    public var target: Double?
    /// Runs at once.
    public var parallel: Parallelism
    /// BLAS threads per run (default: cores / runs at once).
    public var threads: Int?
    /// Dotted config paths set on the base for every variant, before the variant's own `set`
    /// (the study's common settings: budget-related warm-up, evaluation interval, data options).
    public var common: [String: ConfigValue] = [:]
    /// The spec file's path.
    public var file: String

    static let fields = ["name", "base", "seeds", "variants", "epochs", "maxSteps", "target", "parallel", "threads", "set"]
    static let variantFields = ["name", "set"]

    /// Reads and checks a spec (YAML, or JSON by extension / content).
    public static func load(path: String) throws -> ExperimentSpec {
        let data: Data
        do {
            data = try readFile(path, what: "experiment spec")
        } catch let error as FileReadError {
            throw ExperimentError(error.description)
        }
        let value: ConfigValue
        let ext = (path as NSString).pathExtension.lowercased()
        let looksJSON = data.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{")
        do {
            if ext == "json" || (ext != "yaml" && ext != "yml" && looksJSON) {
                value = try JSONDecoder().decode(ConfigValue.self, from: data)
            } else {
                value = try YAMLDecoder().decode(ConfigValue.self, from: String(decoding: data, as: UTF8.self))
            }
        } catch {
            throw ExperimentError("\(path): does not parse as \(ext == "json" || looksJSON ? "JSON" : "YAML"): \(error)")
        }
        return try parse(value, file: path)
    }

    /// Checks a parsed document field by field.
    static func parse(_ document: ConfigValue, file: String) throws -> ExperimentSpec {
        func fail(_ field: String, _ reason: String) -> ExperimentError {
            ExperimentError("\(file): field '\(field)': \(reason)")
        }
        guard case .object(let top) = document else { throw ExperimentError("\(file): expected a mapping with fields \(fields.joined(separator: ", "))") }
        try rejectUnknown(top.keys, known: fields, at: "", file: file)
        func string(_ key: String) throws -> String? {
            guard let v = top[key] else { return nil }
            guard case .string(let s) = v else { throw fail(key, "expected a string, got \(v)") }
            return s
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let v = top[key] else { return nil }
            guard case .int(let i) = v else { throw fail(key, "expected an integer, got \(v)") }
            if !range.contains(i) { throw fail(key, "\(i) is outside the allowed range \(range.lowerBound)…\(range.upperBound)") }
            return i
        }
        guard let name = try string("name"), !name.isEmpty else { throw fail("name", "required field is missing") }
        guard let base = try string("base") else { throw fail("base", "required field is missing (the run config the variants start from, relative to the spec)") }
        guard case .array(let seedValues)? = top["seeds"], !seedValues.isEmpty else {
            throw fail("seeds", "required: a non-empty list of integers, e.g. [42, 43, 44]")
        }
        var seeds: [UInt64] = []
        for (i, v) in seedValues.enumerated() {
            switch v {
            case .int(let s) where s >= 0: seeds.append(UInt64(s))
            case .uint(let s): seeds.append(s)
            default: throw fail("seeds[\(i)]", "expected a non-negative integer, got \(v)")
            }
            if seeds.dropLast().contains(seeds.last!) { throw fail("seeds[\(i)]", "seed \(seeds.last!) is listed twice") }
        }
        guard case .array(let variantValues)? = top["variants"], !variantValues.isEmpty else {
            throw fail("variants", "required: a non-empty list of {name, set}")
        }
        var variants: [VariantSpec] = []
        for (i, v) in variantValues.enumerated() {
            guard case .object(let o) = v else { throw fail("variants[\(i)]", "expected a mapping {name, set}") }
            try rejectUnknown(o.keys, known: variantFields, at: "variants[\(i)].", file: file)
            guard case .string(let vname)? = o["name"] else { throw fail("variants[\(i)].name", "required: a string") }
            let allowed = !vname.isEmpty && vname.utf8.count <= 64
                && vname.unicodeScalars.allSatisfy { ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "-" || $0 == "_" }
            if !allowed { throw fail("variants[\(i)].name", "'\(vname)' must be 1–64 ASCII letters, digits, '-' or '_' (it names run folders)") }
            if vname.range(of: "-seed[0-9]+$", options: .regularExpression) != nil {
                throw fail("variants[\(i)].name", "'\(vname)' must not end in -seedN (run folders are <variant>-seed<N>)")
            }
            if variants.contains(where: { $0.name == vname }) { throw fail("variants[\(i)].name", "'\(vname)' is used twice") }
            var set: [String: ConfigValue] = [:]
            switch o["set"] {
            case nil, .null?: break
            case .object(let s)?: set = s
            case let other?: throw fail("variants[\(i)].set", "expected a mapping of dotted config paths to values, got \(other)")
            }
            variants.append(VariantSpec(name: vname, set: set))
        }
        let epochs = try integer("epochs", ConfigLimits.range("training.epochs"))
        let maxSteps = try integer("maxSteps", ConfigLimits.range("training.maxSteps"))
        let threads = try integer("threads", ConfigLimits.range("training.threads"))
        var target: Double?
        switch top["target"] {
        case nil: break
        case .double(let d)?: target = d
        case .int(let i)?: target = Double(i)
        case let other?: throw fail("target", "expected a number in [0, 1], got \(other)")
        }
        if let t = target, !(0...1).contains(t) { throw fail("target", "expected a number in [0, 1], got \(t)") }
        var parallel = Parallelism.auto
        switch top["parallel"] {
        case nil: break
        case .string(let s)?:
            guard let p = Parallelism(s) else { throw fail("parallel", "expected auto, 1 or 2, got '\(s)'") }
            parallel = p
        case .int(let n)?:
            guard let p = Parallelism("\(n)") else { throw fail("parallel", "expected auto or a number 1…64, got \(n)") }
            parallel = p
        case let other?: throw fail("parallel", "expected auto, 1 or 2, got \(other)")
        }
        var common: [String: ConfigValue] = [:]
        switch top["set"] {
        case nil, .null?: break
        case .object(let o)?: common = o
        case let other?: throw fail("set", "expected a mapping of dotted config paths to values (applied to every variant), got \(other)")
        }
        let folder = (file as NSString).deletingLastPathComponent
        let basePath = base.hasPrefix("/") || folder.isEmpty ? base : ((folder as NSString).appendingPathComponent(base) as NSString).standardizingPath
        return ExperimentSpec(
            name: name, base: basePath, seeds: seeds, variants: variants, epochs: epochs, maxSteps: maxSteps, target: target,
            parallel: parallel, threads: threads, common: common, file: file)
    }

    static func rejectUnknown<S: Sequence>(_ keys: S, known: [String], at prefix: String, file: String) throws where S.Element == String {
        for key in keys.sorted() where !known.contains(key) {
            var hint = "known fields: \(known.joined(separator: ", "))"
            if let guess = known.min(by: { distance($0, key) < distance($1, key) }), distance(guess, key) <= 3 {
                hint = "did you mean '\(guess)'? " + hint
            }
            throw ExperimentError("\(file): field '\(prefix)\(key)': unknown field; \(hint)")
        }
    }

    /// The base config, read with the run configs' strict decoder.
    public func baseConfig() throws -> RunConfig {
        do {
            return try RunConfig.load(path: base)
        } catch let error as ConfigError {
            throw ExperimentError("\(file): base: \(error)")
        }
    }

    /// The run config of `variant` (before the seed): the base with the variant's paths set and
    /// the budget applied, decoded back through the strict config decoder (unknown paths, types
    /// and ranges are errors naming the path).
    public func config(of variant: VariantSpec, base: RunConfig) throws -> RunConfig {
        var config = base
        config.name = "\(name)-\(variant.name)"
        if let epochs {
            config.training.epochs = epochs
            config.training.maxSteps = nil
        }
        if let maxSteps { config.training.maxSteps = maxSteps }
        var document = try JSONDecoder().decode(ConfigValue.self, from: JSONEncoder().encode(config))
        for path in common.keys.sorted() {
            do {
                try ConfigPath.set(path, to: common[path]!, in: &document)
            } catch let error as ExperimentError {
                throw ExperimentError("\(file): set '\(path)': \(error.description)")
            }
        }
        for path in variant.set.keys.sorted() {
            do {
                try ConfigPath.set(path, to: variant.set[path]!, in: &document)
            } catch let error as ExperimentError {
                throw ExperimentError("\(file): variant '\(variant.name)': set '\(path)': \(error.description)")
            }
        }
        // Through a file so that the run configs' own loader (and its messages) applies.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mmo-experiment-\(getpid())-\(UUID().uuidString.prefix(8)).json")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try JSONEncoder().encode(document).write(to: scratch)
        do {
            return try RunConfig.load(path: scratch.path)
        } catch let error as ConfigError {
            let paths = (common.keys.sorted() + variant.set.keys.sorted()).joined(separator: ", ")
            throw ExperimentError("\(file): variant '\(variant.name)' (set \(paths)): field '\(error.field)': \(error.reason)")
        }
    }
}

/// Dotted paths into a config document: `optimizer.gradientSharing`, `models[1].weight`.
enum ConfigPath {
    enum Segment: Equatable {
        case key(String)
        case index(Int)
    }

    static func parse(_ path: String) throws -> [Segment] {
        var segments: [Segment] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var rest = Substring(part)
            let keyEnd = rest.firstIndex(of: "[") ?? rest.endIndex
            let key = rest[..<keyEnd]
            if key.isEmpty { throw ExperimentError("'\(path)' is not a dotted config path (empty field name)") }
            segments.append(.key(String(key)))
            rest = rest[keyEnd...]
            while !rest.isEmpty {
                guard rest.first == "[", let close = rest.firstIndex(of: "]"), let i = Int(rest[rest.index(after: rest.startIndex)..<close]), i >= 0
                else { throw ExperimentError("'\(path)' has a malformed index (write models[1].weight)") }
                segments.append(.index(i))
                rest = rest[rest.index(after: close)...]
            }
        }
        return segments
    }

    /// Sets `path` in `document`; a missing last key is created (the strict decoder then rejects
    /// it if the config has no such field), a missing intermediate object too.
    static func set(_ path: String, to value: ConfigValue, in document: inout ConfigValue) throws {
        let segments = try parse(path)
        try set(segments[...], value, &document, done: "")
    }

    private static func set(_ segments: ArraySlice<Segment>, _ value: ConfigValue, _ node: inout ConfigValue, done: String) throws {
        guard let first = segments.first else {
            node = value
            return
        }
        switch (first, node) {
        case (.key(let k), .object(var o)):
            var child = o[k] ?? .object([:])
            try set(segments.dropFirst(), value, &child, done: done.isEmpty ? k : "\(done).\(k)")
            o[k] = child
            node = .object(o)
        case (.key(let k), .null):
            var child = ConfigValue.object([:])
            try set(segments.dropFirst(), value, &child, done: done.isEmpty ? k : "\(done).\(k)")
            node = .object([k: child])
        case (.index(let i), .array(var a)):
            guard i < a.count else { throw ExperimentError("'\(done)' has \(a.count) entries; index \(i) is out of range") }
            try set(segments.dropFirst(), value, &a[i], done: "\(done)[\(i)]")
            node = .array(a)
        case (.key(let k), _):
            throw ExperimentError("'\(done)' is \(node), not an object with fields (cannot set '\(k)' in it)")
        case (.index(let i), _):
            throw ExperimentError("'\(done)' is not a list (cannot index [\(i)])")
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
func distance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
