// Per-token targets of the pretraining objectives, written into a `TokenBatch` after the data
// layer has filled its ids.
//
// Masked LM follows Hugging Face's `DataCollatorForLanguageModeling` (mlm_probability 0.15):
// every real token that is not a special of the template (the prefix / suffix / pad / mask ids) is
// selected with probability 0.15; a selected token becomes the mask token with probability 0.8, a
// uniformly random vocabulary id with probability 0.1 (HF draws `randint(len(tokenizer))`,
// specials included), and stays unchanged otherwise; its target is the original token, every
// other position has none. The draws come from a caller-owned Philox stream (saved in the
// checkpoint), per token in batch order: one uniform for the selection, and for a selected token
// one uniform for the 80/10/10 choice and, for a random replacement, one id.
//
// Causal LM (`GPT2LMHeadModel`'s shifted labels): position t's target is token t + 1 of the same
// sequence; the last real token and padding have none.
import MMOCore

/// The masked-LM rule and the ids it needs.
public struct MaskingRule: Hashable, Sendable {
    /// Probability that a maskable token is selected (0.15).
    public var probability: Float = 0.15
    /// The mask token's id.
    public var maskID: Int32
    /// Ids never selected: the template's specials, padding and the mask token.
    public var specialIDs: [Int32]
    /// Vocabulary size (random replacements are drawn from `0..<vocabularySize`).
    public var vocabularySize: Int

    /// The rule for a special-token scheme of the word tokenizer over `vocabularySize` ids;
    /// nil for a scheme without a mask token (GPT-2).
    public init?(scheme: SpecialTokenScheme, vocabularySize: Int) {
        guard let mask = scheme.maskID else { return nil }
        maskID = mask
        specialIDs = [scheme.padID, mask] + [scheme.prefixID, scheme.suffixID].compactMap { $0 }
        self.vocabularySize = vocabularySize
    }

    /// Masks `batch` in place (its ids must be filled): rewrites the selected ids and sets
    /// `targets`. Returns the number of selected positions. Allocates nothing.
    @discardableResult
    public func apply(to batch: TokenBatch, rng: inout PhiloxRNG) -> Int {
        let T = batch.sequenceLength
        var selected = 0
        for b in 0..<batch.batchSize {
            let length = Int(batch.lengths[b])
            for t in 0..<T {
                let i = b * T + t
                batch.targets[i] = TokenBatch.ignoredTarget
                let id = batch.inputIDs[i]
                if t >= length || specialIDs.contains(id) { continue }
                guard rng.uniform() < probability else { continue }
                batch.targets[i] = id
                selected += 1
                let choice = rng.uniform()
                if choice < 0.8 {
                    batch.inputIDs[i] = maskID
                } else if choice < 0.9 {
                    batch.inputIDs[i] = Int32(rng.nextInt(below: vocabularySize))
                }
            }
        }
        return selected
    }
}

/// Causal-LM targets: token t + 1 of each sequence at position t.
public enum CausalTargets {
    /// Sets `batch.targets` from its ids and lengths. Returns the number of predicted positions.
    @discardableResult
    public static func apply(to batch: TokenBatch) -> Int {
        let T = batch.sequenceLength
        var count = 0
        for b in 0..<batch.batchSize {
            let length = Int(batch.lengths[b])
            for t in 0..<T {
                let i = b * T + t
                if t + 1 < length {
                    batch.targets[i] = batch.inputIDs[i + 1]
                    count += 1
                } else {
                    batch.targets[i] = TokenBatch.ignoredTarget
                }
            }
        }
        return count
    }
}

/// What a model's batches need besides ids and lengths: nothing (classification reads the
/// labels), masked-LM masking, or causal-LM targets.
public enum TargetRule: Hashable, Sendable {
    /// Classification: labels only.
    case labels
    /// Masked LM with this rule (draws from the caller's stream).
    case masked(MaskingRule)
    /// Causal LM: next-token targets.
    case causal

    /// Prepares `batch` (ids filled) for its model; returns the positions to predict (0 for
    /// `labels`). Only `masked` draws from `rng`.
    @discardableResult
    public func apply(to batch: TokenBatch, rng: inout PhiloxRNG) -> Int {
        switch self {
        case .labels: return 0
        case .masked(let rule): return rule.apply(to: batch, rng: &rng)
        case .causal: return CausalTargets.apply(to: batch)
        }
    }

    /// Whether batches draw from a masking stream (which checkpoints must save).
    public var drawsRandomly: Bool { if case .masked = self { return true } else { return false } }
}
