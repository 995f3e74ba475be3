// Errors of the model layer: what was wrong and what to do about it.

/// An error building or feeding a model.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// A `ModelConfig` field is out of range.
    case invalidConfig(field: String, message: String)
    /// A config of one family was given to another family's initialiser.
    case wrongFamily(expected: ModelFamily, got: ModelFamily)
    /// A config with another objective (head) was given to this class's initialiser.
    case wrongObjective(expected: ModelObjective, got: ModelObjective)
    /// A batch does not fit the model (too long, a token or label out of range).
    case invalidBatch(message: String)

    /// What went wrong and what to do.
    public var description: String {
        switch self {
        case .invalidConfig(let field, let message):
            return "model config: `\(field)` \(message)"
        case .wrongFamily(let expected, let got):
            return "model config: family is `\(got.rawValue)` but this initialiser builds `\(expected.rawValue)`; use makeClassifier(config:seed:) to pick the class from the config"
        case .wrongObjective(let expected, let got):
            return "model config: objective is `\(got.rawValue)` but this initialiser builds a `\(expected.rawValue)` model; use makeModel(config:seed:) to pick the class from the config"
        case .invalidBatch(let message):
            return "batch: \(message)"
        }
    }
}
