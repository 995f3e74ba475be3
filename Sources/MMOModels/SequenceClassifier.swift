// The one interface the trainer, evaluator and tools use for every family.
import MMOCore

/// A transformer sequence classifier with hand-written backward.
///
/// Use: `forward(batch, training:)` → `backward()` (accumulates into `parameters.gradients`,
/// so calling the pair once per micro-batch sums gradients) → optimizer step →
/// `parameters.zeroGradients()`.
public protocol SequenceClassifier: AnyObject {
    /// The architecture.
    var config: ModelConfig { get }
    /// Parameters and gradients (one contiguous buffer each), in registration order.
    var parameters: ParameterStore { get }
    /// Logits of the last forward, row-major `(batchSize, numLabels)`.
    var logits: UnsafePointer<Float> { get }
    /// d(loss)/d(logits) of the last forward, row-major `(batchSize, numLabels)`: `forward` sets
    /// it to the gradient of its mean cross-entropy, and `backward` propagates whatever it holds,
    /// so a caller may add the gradient of a further loss on the logits in between (knowledge
    /// distillation, mutual learning) without a second pass through the model.
    var logitGradient: UnsafeMutablePointer<Float> { get }
    /// The dropout stream; saved in checkpoints so that a resumed run draws the same masks.
    var dropoutRNG: PhiloxRNG { get set }

    /// Runs the model on `batch`; returns the mean cross-entropy over the batch. With
    /// `training == false` dropout is off. Buffers grow on the first call for a larger shape
    /// and are reused afterwards: a steady-state call allocates nothing.
    func forward(_ batch: TokenBatch, training: Bool) -> Float

    /// Adds to `parameters.gradients` the gradient that `logitGradient` holds (after `forward`
    /// alone: that of the last forward's mean cross-entropy).
    func backward()
}
