// The interfaces the trainer, evaluator and tools use for every family and head: a trainable
// model (forward → mean loss, backward), refined by the sequence classifier (logits per
// sequence) and the language model (logits per predicted token position).
import MMOCore

/// A transformer with hand-written backward that the trainer can optimise.
///
/// Use: `forward(batch, training:)` → `backward()` (accumulates into `parameters.gradients`,
/// so calling the pair once per micro-batch sums gradients) → optimizer step →
/// `parameters.zeroGradients()`.
public protocol TrainableModel: AnyObject {
    /// The architecture (family, sizes and objective).
    var config: ModelConfig { get }
    /// Parameters and gradients (one contiguous buffer each), in registration order. A tied
    /// tensor (an LM decoder sharing the word embeddings) is one entry: both uses add their
    /// gradients into it.
    var parameters: ParameterStore { get }
    /// The dropout stream; saved in checkpoints so that a resumed run draws the same masks.
    var dropoutRNG: PhiloxRNG { get set }

    /// Runs the model on `batch`; returns its mean loss (cross-entropy over the batch's
    /// sequences for a classifier, over its predicted token positions for a language model).
    /// With `training == false` dropout is off. Buffers grow on the first call for a larger
    /// shape and are reused afterwards: a steady-state call allocates nothing.
    func forward(_ batch: TokenBatch, training: Bool) -> Float

    /// Adds the gradient of the last forward's mean loss to `parameters.gradients` (a
    /// classifier: the gradient its `logitGradient` holds, which callers may add terms to).
    func backward()
}

/// A transformer sequence classifier (`…ForSequenceClassification`): reads `batch.labels`.
public protocol SequenceClassifier: TrainableModel {
    /// Logits of the last forward, row-major `(batchSize, numLabels)`.
    var logits: UnsafePointer<Float> { get }
    /// d(loss)/d(logits) of the last forward, row-major `(batchSize, numLabels)`: `forward` sets
    /// it to the gradient of its mean cross-entropy, and `backward` propagates whatever it holds,
    /// so a caller may add the gradient of a further loss on the logits in between (knowledge
    /// distillation, mutual learning) without a second pass through the model.
    var logitGradient: UnsafeMutablePointer<Float> { get }
}

/// A transformer language model (`…ForMaskedLM`, `GPT2LMHeadModel`): reads `batch.targets` and
/// predicts the target at every position that has one (`TokenBatch.ignoredTarget` elsewhere);
/// the vocabulary projection runs on those positions only.
public protocol LanguageModel: TrainableModel {
    /// Positions the last forward predicted (its loss is the mean over them; 0 gives loss 0).
    var predictionCount: Int { get }
    /// Logits of the last forward, row-major `(predictionCount, vocabSize)`, one row per
    /// predicted position in batch order (b, then t). Valid until `backward()`, which reuses
    /// the memory for the logits' gradient.
    var logits: UnsafePointer<Float> { get }
}
