// How each model's objective turns into batch targets, and the random streams masking draws
// from: the trainer, the evaluator and the tools share these so that a checkpoint's validation
// numbers are reproduced exactly by `mmo-eval`.
import MMOCore
import MMOData
import MMOModels

extension ModelConfig {
    /// The targets this model's batches need: labels, 80/10/10 masking at 15% with the scheme's
    /// mask token (masked LM), or next tokens (causal LM).
    public var targetRule: TargetRule {
        switch objective {
        case .classification: return .labels
        case .clm: return .causal
        case .mlm:
            // `validate` admits mlm only for BERT and RoBERTa, whose schemes have a mask token.
            guard let rule = MaskingRule(scheme: SpecialTokenScheme(family), vocabularySize: vocabSize) else {
                preconditionFailure("masked LM for a scheme without a mask token")
            }
            return .masked(rule)
        }
    }
}

/// Names of the masking streams (spec §9, `rng`).
public enum MaskingStreams {
    /// The training masks of model `name`: `mlm/<name>`, advanced by every training batch and
    /// saved in each checkpoint.
    public static func training(model name: String) -> String { "mlm/\(name)" }
    /// The validation masks: `mlm/validation` of the run seed, restarted at every evaluation, so
    /// every evaluation (and `mmo-eval`) masks the same positions the same way, for every model.
    public static let validation = "mlm/validation"

    /// A fresh validation stream of `seed`.
    public static func validationRNG(seed: UInt64) -> PhiloxRNG { PhiloxRNG(seed: seed, stream: validation) }
}
