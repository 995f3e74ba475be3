// Every knob of the MultiModelOptimizer (paper §3, §4.4; DESIGN.md "one optimizer step") with its
// default, decoding that fills absent fields with those defaults, and validation naming the field.

/// How parameters are grouped into compatibility keys for gradient sharing and synchronization.
public enum SharingGranularity: String, Codable, CaseIterable, Sendable {
    /// `(kind, shape)`: the paper's classification (Alg. 1, line 4). The default.
    case paper
    /// `(role, shape)`: only parameters with the same function inside their module are mixed.
    case role
    /// `(role, block index, shape)`: as `role`, and only between the same transformer block.
    case layer
}

/// Which pairs of a compatibility group gradient sharing mixes.
public enum SharingGate: String, Codable, CaseIterable, Sendable {
    /// Every pair (Alg. 1). The default.
    case none
    /// Only pairs whose gradients agree (cosine > 0): a tensor's average runs over itself and the
    /// members whose gradient has a positive dot product with its own (docs/RESULTS.md, "Our
    /// mechanism").
    case agreement
}

/// Hyper-parameters of the MultiModelOptimizer. Defaults are the paper's (§4.4) where it gives
/// one; `convergenceWindow`, `convergenceEvery`, `totalSteps` and `maxConsecutiveSkips` are ours.
///
/// Every mechanism has its own switch so that baselines and ablations are configuration only:
/// `independentBaseline` turns sharing, synchronization and adaptive rates off.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// Base learning rate `lr` of the per-model formula (§3.4, Eq. 1). Paper: 3e-5.
    public var learningRate: Double = 3e-5
    /// AdamW β1 (first-moment decay). Paper: 0.9.
    public var beta1: Double = 0.9
    /// AdamW β2 (second-moment decay). Paper: 0.999.
    public var beta2: Double = 0.999
    /// AdamW ε added to the bias-corrected `√v`. Paper: 1e-8.
    public var epsilon: Double = 1e-8
    /// Decoupled weight decay, applied only to parameters whose spec has `weightDecay`. Paper: 0.01.
    public var weightDecay: Double = 0.01
    /// Micro-batches summed into the gradients before one step; the sum is divided by this. Paper: 2.
    public var accumulationSteps: Int = 2
    /// Linear warm-up length: `warmup(t) = min(1, t / warmupSteps)`; 0 disables warm-up. Paper: 100.
    public var warmupSteps: Int = 100
    /// Step at which the cosine decay reaches its floor. If it is not larger than `warmupSteps`
    /// there is no decay phase (the decay factor stays 1).
    public var totalSteps: Int = 1000
    /// Floor of the cosine decay factor, as a fraction of the base rate. DESIGN: 0.1.
    public var minLearningRateRatio: Double = 0.1
    /// Per-model global gradient-norm clip (PyTorch `clip_grad_norm_`); nil disables clipping.
    public var maxGradientNorm: Double? = nil
    /// Gradient sharing (Alg. 1) on or off.
    public var gradientSharing: Bool = true
    /// Sharing coefficient α in `∇p ← (1 − α)∇p + αG`, in [0, 1]. Paper: 0.2.
    public var sharingCoefficient: Double = 0.2
    /// Share gradients on steps `t` with `t % shareEvery == 0`. Default: every step.
    public var shareEvery: Int = 1
    /// Which pairs sharing mixes: all (`none`, the paper) or only agreeing ones (`agreement`).
    public var sharingGate: SharingGate = .none
    /// Parameter synchronization (Alg. 2) on or off.
    public var parameterSync: Bool = true
    /// Synchronization coefficient β in `p ← (1 − β)p + β·avg`, in [0, 1]. Paper: 0.1.
    public var syncCoefficient: Double = 0.1
    /// Synchronize on steps `t` with `t % syncEvery == 0`. Paper: 10.
    public var syncEvery: Int = 10
    /// Adaptive learning rates on or off: when off, the convergence factor `clamp(1/r, 0.5, 1.5)`
    /// and the weight ratio `w_i / mean(w)` are both 1; warm-up and cosine decay stay.
    public var adaptiveLearningRate: Bool = true
    /// Number of most recent losses the convergence slope is fitted to (Alg. 3's `w`); at least 2.
    public var convergenceWindow: Int = 10
    /// Update the convergence rates on steps `t` with `t % convergenceEvery == 0`.
    public var convergenceEvery: Int = 10
    /// Compatibility-key granularity for sharing and synchronization. Paper: `paper`.
    public var granularity: SharingGranularity = .paper
    /// A model whose loss or gradients are non-finite is skipped for that step; more than this many
    /// consecutive skips of one model is reported (`MultiModelOptimizer.modelOverSkipLimit`) so
    /// the trainer can stop with a checkpoint.
    public var maxConsecutiveSkips: Int = 10
    /// Compute per-kind cross-model gradient cosine similarities before mixing (§5.2) each step.
    public var logGradientSimilarity: Bool = false

    /// The paper's configuration (§4.4).
    public init() {}

    /// The independent baseline of §4.3 run jointly: no sharing, no synchronization, no adaptive
    /// rates; AdamW, warm-up and cosine decay as in the full method.
    public static var independentBaseline: OptimizerConfig {
        var config = OptimizerConfig()
        config.gradientSharing = false
        config.parameterSync = false
        config.adaptiveLearningRate = false
        return config
    }

    // MARK: - Decoding with defaults

    private enum CodingKeys: String, CodingKey {
        case learningRate, beta1, beta2, epsilon, weightDecay, accumulationSteps, warmupSteps
        case totalSteps, minLearningRateRatio, maxGradientNorm, gradientSharing, sharingCoefficient
        case shareEvery, sharingGate, parameterSync, syncCoefficient, syncEvery, adaptiveLearningRate
        case convergenceWindow, convergenceEvery, granularity, maxConsecutiveSkips
        case logGradientSimilarity
    }

    /// Decodes a config; absent fields take their defaults (a config file names only what differs).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = OptimizerConfig()
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? d.beta1
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? d.beta2
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? d.epsilon
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        accumulationSteps =
            try c.decodeIfPresent(Int.self, forKey: .accumulationSteps) ?? d.accumulationSteps
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        totalSteps = try c.decodeIfPresent(Int.self, forKey: .totalSteps) ?? d.totalSteps
        minLearningRateRatio =
            try c.decodeIfPresent(Double.self, forKey: .minLearningRateRatio) ?? d.minLearningRateRatio
        maxGradientNorm = try c.decodeIfPresent(Double.self, forKey: .maxGradientNorm)
        gradientSharing = try c.decodeIfPresent(Bool.self, forKey: .gradientSharing) ?? d.gradientSharing
        sharingCoefficient =
            try c.decodeIfPresent(Double.self, forKey: .sharingCoefficient) ?? d.sharingCoefficient
        shareEvery = try c.decodeIfPresent(Int.self, forKey: .shareEvery) ?? d.shareEvery
        sharingGate = try c.decodeIfPresent(SharingGate.self, forKey: .sharingGate) ?? d.sharingGate
        parameterSync = try c.decodeIfPresent(Bool.self, forKey: .parameterSync) ?? d.parameterSync
        syncCoefficient = try c.decodeIfPresent(Double.self, forKey: .syncCoefficient) ?? d.syncCoefficient
        syncEvery = try c.decodeIfPresent(Int.self, forKey: .syncEvery) ?? d.syncEvery
        adaptiveLearningRate =
            try c.decodeIfPresent(Bool.self, forKey: .adaptiveLearningRate) ?? d.adaptiveLearningRate
        convergenceWindow =
            try c.decodeIfPresent(Int.self, forKey: .convergenceWindow) ?? d.convergenceWindow
        convergenceEvery = try c.decodeIfPresent(Int.self, forKey: .convergenceEvery) ?? d.convergenceEvery
        granularity = try c.decodeIfPresent(SharingGranularity.self, forKey: .granularity) ?? d.granularity
        maxConsecutiveSkips =
            try c.decodeIfPresent(Int.self, forKey: .maxConsecutiveSkips) ?? d.maxConsecutiveSkips
        logGradientSimilarity =
            try c.decodeIfPresent(Bool.self, forKey: .logGradientSimilarity) ?? d.logGradientSimilarity
    }

    // MARK: - Validation

    /// Checks every field; throws `OptimizerConfigError` naming the first invalid one.
    public func validate() throws {
        func require(_ ok: Bool, _ field: String, _ value: Any, _ requirement: String) throws {
            if !ok {
                throw OptimizerConfigError(field: field, value: "\(value)", requirement: requirement)
            }
        }
        try require(learningRate.isFinite && learningRate >= 0, "learningRate", learningRate, "a finite number ≥ 0")
        try require(beta1 >= 0 && beta1 < 1, "beta1", beta1, "in [0, 1)")
        try require(beta2 >= 0 && beta2 < 1, "beta2", beta2, "in [0, 1)")
        try require(epsilon.isFinite && epsilon > 0, "epsilon", epsilon, "a finite number > 0")
        try require(weightDecay.isFinite && weightDecay >= 0, "weightDecay", weightDecay, "a finite number ≥ 0")
        try require(accumulationSteps >= 1, "accumulationSteps", accumulationSteps, "an integer ≥ 1")
        try require(warmupSteps >= 0, "warmupSteps", warmupSteps, "an integer ≥ 0")
        try require(totalSteps >= 1, "totalSteps", totalSteps, "an integer ≥ 1")
        try require(
            minLearningRateRatio >= 0 && minLearningRateRatio <= 1, "minLearningRateRatio",
            minLearningRateRatio, "in [0, 1]")
        if let norm = maxGradientNorm {
            try require(norm.isFinite && norm > 0, "maxGradientNorm", norm, "a finite number > 0, or absent to disable clipping")
        }
        try require(
            sharingCoefficient >= 0 && sharingCoefficient <= 1, "sharingCoefficient", sharingCoefficient,
            "in [0, 1] (the paper uses 0.2)")
        try require(shareEvery >= 1, "shareEvery", shareEvery, "an integer ≥ 1")
        try require(
            syncCoefficient >= 0 && syncCoefficient <= 1, "syncCoefficient", syncCoefficient,
            "in [0, 1] (the paper uses 0.1)")
        try require(syncEvery >= 1, "syncEvery", syncEvery, "an integer ≥ 1")
        try require(convergenceWindow >= 2, "convergenceWindow", convergenceWindow, "an integer ≥ 2 (a slope needs two losses)")
        try require(convergenceEvery >= 1, "convergenceEvery", convergenceEvery, "an integer ≥ 1")
        try require(maxConsecutiveSkips >= 0, "maxConsecutiveSkips", maxConsecutiveSkips, "an integer ≥ 0")
    }
}

/// An `OptimizerConfig` field holds a value outside its allowed range.
public struct OptimizerConfigError: Error, Equatable, CustomStringConvertible {
    /// The config field, e.g. `sharingCoefficient`.
    public var field: String
    /// The rejected value as written.
    public var value: String
    /// What the field must be.
    public var requirement: String

    /// What went wrong and what to do, naming the field or model.
    public var description: String {
        "optimizer config field `\(field)` is \(value); it must be \(requirement). Fix it in the run config."
    }
}
