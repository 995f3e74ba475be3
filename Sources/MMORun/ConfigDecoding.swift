// Decoding helpers that make configs forgiving where it is safe (omitted fields take defaults)
// and strict where it matters (unknown fields are errors, so a typo never silently does nothing).
import Foundation
import MMOData
import MMOModels
import MMOOptim
import Yams

/// A coding key for any string, used to list the keys a document really contains.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// Why a configuration could not be used; names the file and the field.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The config file's path as given (or `config` for a config built in code).
    public var file: String
    /// Dotted path of the offending field (`training.batchSize`, `models[1].name`); empty when
    /// the problem is the whole file (missing, unreadable, not JSON/YAML).
    public var field: String
    /// What is wrong and, where it helps, what is allowed.
    public var reason: String

    /// An error about `field` of `file`.
    public init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }

    /// `file: field 'field': reason`, or `file: reason` when no field is named.
    public var description: String {
        field.isEmpty ? "\(file): \(reason)" : "\(file): field '\(field)': \(reason)"
    }
}

extension Decoder {
    /// Throws if the object being decoded has keys outside `known`, suggesting the closest.
    func rejectUnknownKeys(_ known: [String]) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !known.contains(key.stringValue) {
            let guess = known.min { editDistance($0, key.stringValue) < editDistance($1, key.stringValue) }
            var hint = "known fields: \(known.joined(separator: ", "))"
            if let guess, editDistance(guess, key.stringValue) <= 3 { hint = "did you mean '\(guess)'? " + hint }
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: codingPath + [key], debugDescription: "unknown field; \(hint)"))
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where j <= b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// The values of the config fields that take one of a fixed set of words, named in the error when
/// a file gives another word (`family: bart`).
let enumeratedFieldChoices: [String: [String]] = [
    "family": ModelFamily.allCases.map(\.rawValue),
    "size": ModelSize.allCases.map(\.rawValue),
    "source": DataConfig.Source.allCases.map(\.rawValue),
    "format": TextFileFormat.allCases.map(\.rawValue),
    "granularity": SharingGranularity.allCases.map(\.rawValue),
    "sharingGate": SharingGate.allCases.map(\.rawValue),
]

/// Renders a `DecodingError` as a `ConfigError` naming the dotted field path.
func configError(file: String, _ error: Error) -> ConfigError {
    func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }
    switch error {
    case let e as ConfigError: return e
    case DecodingError.keyNotFound(let key, let ctx):
        return ConfigError(file: file, field: path(ctx.codingPath + [key]), reason: "required field is missing")
    case DecodingError.typeMismatch(let type, let ctx):
        return ConfigError(file: file, field: path(ctx.codingPath), reason: "expected \(describe(type)); \(ctx.debugDescription)")
    case DecodingError.valueNotFound(let type, let ctx):
        return ConfigError(file: file, field: path(ctx.codingPath), reason: "expected \(describe(type)), found null")
    case DecodingError.dataCorrupted(let ctx):
        var reason = ctx.debugDescription
        if let underlying = ctx.underlyingError { reason += " (\(underlying))" }
        if let field = ctx.codingPath.last?.stringValue, let choices = enumeratedFieldChoices[field], !reason.hasPrefix("unknown field") {
            reason += "; expected one of: \(choices.joined(separator: ", "))"
        }
        return ConfigError(file: file, field: path(ctx.codingPath), reason: reason)
    default:
        return ConfigError(file: file, field: "", reason: "\(error)")
    }
}

private func describe(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type, is UInt64.Type: return "an integer"
    case is Float.Type, is Double.Type: return "a number"
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    default: return "\(type)"
    }
}

/// Decodes a JSON or YAML document (chosen by extension; content sniffed otherwise).
func decodeDocument<T: Decodable>(_ type: T.Type, data: Data, file: String) throws -> T {
    let ext = (file as NSString).pathExtension.lowercased()
    let looksJSON = data.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) == UInt8(ascii: "{")
    do {
        if ext == "json" || (ext != "yaml" && ext != "yml" && looksJSON) {
            return try JSONDecoder().decode(T.self, from: data)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, field: "", reason: "not UTF-8 text")
        }
        return try YAMLDecoder().decode(T.self, from: text)
    } catch let error as DecodingError {
        throw configError(file: file, error)
    } catch let error as ConfigError {
        throw error
    } catch {
        throw ConfigError(file: file, field: "", reason: "does not parse as \(ext == "json" || looksJSON ? "JSON" : "YAML"): \(error)")
    }
}
