// What one optimizer step did, for logging: per model its learning rate, gradient norm and skip
// status; which periodic mechanisms ran; optional cross-model gradient similarities (§5.2); timings.
import MMOCore

/// Per-model outcome of one step.
public struct ModelStepReport: Sendable, Equatable {
    /// The model's name.
    public var name: String
    /// Learning rate `lr_i` of this step (also computed for a skipped model, which does not use it).
    public var learningRate: Double
    /// Global L2 norm of the accumulated gradient after dividing by `accumulationSteps`, before
    /// clipping and sharing; non-finite when the gradient holds NaN or Inf.
    public var gradientNorm: Double
    /// Whether clipping scaled the gradient down this step.
    public var clipped: Bool
    /// Whether the non-finite guard skipped this model (no update, left out of sharing and sync).
    public var skipped: Bool
    /// Steps skipped in a row, this one included.
    public var consecutiveSkips: Int
    /// Convergence rate `r_i` after this step (Alg. 3).
    public var convergenceRate: Double
}

/// Cosine similarity between two models' gradients of one parameter kind, before mixing.
///
/// Over every compatibility group of that kind holding both models, the n-th tensor of model A is
/// paired with the n-th tensor of model B (registration order, so layer l with layer l); the
/// cosine is that of the concatenated pairs: `Σ⟨g_A, g_B⟩ / √(Σ|g_A|² · Σ|g_B|²)`.
public struct GradientSimilarity: Sendable, Equatable {
    /// Parameter kind the pairs belong to.
    public var kind: ParameterKind
    /// Index of the first model (lower index).
    public var modelA: Int
    /// Index of the second model.
    public var modelB: Int
    /// The cosine; nil when not computed this step (logging off, a model skipped, a zero gradient).
    public var cosine: Double?
}

/// Wall-clock seconds each phase of the step took.
public struct StepTimings: Sendable, Equatable {
    /// Dividing by `accumulationSteps`, norms, the non-finite check and clipping.
    public var clip: Double = 0
    /// Cross-model gradient similarities (0 when logging is off).
    public var similarity: Double = 0
    /// Gradient sharing (Alg. 1) on its own: 0 since sharing runs inside the fused pass timed
    /// as `adamW`.
    public var sharing: Double = 0
    /// Per-model learning rates.
    public var learningRate: Double = 0
    /// The fused element pass: clipping, gradient sharing, AdamW and (on its steps) parameter
    /// synchronization.
    public var adamW: Double = 0
    /// Parameter synchronization (Alg. 2) on its own: 0 since it runs inside the fused pass.
    public var sync: Double = 0
    /// Loss recording and convergence estimation (Alg. 3).
    public var convergence: Double = 0

    /// Sum of all phases.
    public var total: Double { clip + similarity + sharing + learningRate + adamW + sync + convergence }
}

/// The outcome of one `MultiModelOptimizer.step`.
public struct StepReport: Sendable, Equatable {
    /// The 1-based step just completed.
    public var step: Int
    /// One entry per model, in the optimizer's order.
    public var models: [ModelStepReport]
    /// Whether gradient sharing ran this step (enabled and `step % shareEvery == 0`).
    public var gradientsShared: Bool
    /// Whether parameter synchronization ran this step (enabled and `step % syncEvery == 0`).
    public var parametersSynchronized: Bool
    /// Whether convergence rates were updated this step (`step % convergenceEvery == 0`).
    public var convergenceUpdated: Bool
    /// One entry per (kind, model pair) that shares at least one group; cosines are nil unless
    /// `logGradientSimilarity` is on.
    public var similarities: [GradientSimilarity]
    /// Time spent per phase.
    public var timings: StepTimings
}
