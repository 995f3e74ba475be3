// The MultiModelOptimizer (paper §3) over N models known only as `ParameterStore`s. One `step`
// runs DESIGN.md's order exactly: divide accumulated gradients → clip per model → share (Alg. 1)
// → per-model LR (Eq. 1) → AdamW → synchronize (Alg. 2) → convergence (Alg. 3). Groups, moments
// and scratch space are allocated at construction; a step allocates nothing.
import Foundation
import MMOCore

/// One model handed to the optimizer.
public struct OptimizedModel {
    /// Name used in reports, state and errors (e.g. `bert`).
    public var name: String
    /// The model's parameters and accumulated gradients.
    public var store: ParameterStore
    /// Model weight `w_i` (§3.5): its share in sharing and sync averages and its LR ratio.
    public var weight: Double

    /// A model called `name` with weight `weight` over `store`.
    public init(name: String, store: ParameterStore, weight: Double) {
        self.name = name
        self.store = store
        self.weight = weight
    }
}

/// The list of models cannot be optimized together.
public enum OptimizerSetupError: Error, Equatable, CustomStringConvertible {
    /// The model list is empty.
    case noModels
    /// Two models share a name.
    case duplicateModelName(String)
    /// A model weight is not a finite number > 0.
    case invalidWeight(model: String, weight: Double)

    /// What went wrong and what to do, naming the field or model.
    public var description: String {
        switch self {
        case .noModels: return "optimizer: no models were given; list at least one model."
        case .duplicateModelName(let name):
            return "optimizer: two models are called `\(name)`; give every model a distinct name."
        case .invalidWeight(let model, let weight):
            return "optimizer: model `\(model)` has weight \(weight); weights must be finite and > 0."
        }
    }
}

/// Joint AdamW over several models with gradient sharing, parameter synchronization, adaptive
/// per-model learning rates and a non-finite guard.
///
/// Usage per step: each model's backward pass adds into `store.gradients` for
/// `config.accumulationSteps` micro-batches; then `step(losses:)`; then `zeroGradients()`.
public final class MultiModelOptimizer: LaneJob {
    /// The validated configuration.
    public let config: OptimizerConfig
    /// The models, in the order of every per-model array.
    public let models: [OptimizedModel]
    /// Compatibility groups at `config.granularity` (keys with ≥ 2 models), computed once.
    public let groups: [CompatibilityGroup]
    /// Optimizer steps completed; the next step is `completedSteps + 1`.
    public internal(set) var completedSteps = 0
    /// Micro-batches recorded with `recordMicroBatch()` since the last step.
    public internal(set) var microStep = 0

    // MARK: Per-model state
    let expAvg: [FloatBuffer]
    let expAvgSq: [FloatBuffer]
    /// AdamW steps taken per model (a skipped step does not count, as in PyTorch with no grad).
    var adamSteps: [Int]
    var consecutiveSkips: [Int]
    var totalSkips: [Int]
    var convergence: ConvergenceEstimator

    // MARK: Precomputed layout and scratch
    let weights: [Double]
    let meanWeight: Double
    private let valueBase: [UnsafeMutablePointer<Float>]
    private let gradientBase: [UnsafeMutablePointer<Float>]
    /// Alg. 1 / Alg. 2 mixing over `groups` (shared with offline synchronization).
    private let mixer: GroupMixer
    /// Per model, maximal runs of consecutive tensors with the same weight-decay flag.
    private let decayRuns: [[(offset: Int, count: Int, decays: Bool)]]
    private let similarityPlan: SimilarityPlan
    private var similarityDot: [Double]
    private var similarityA: [Double]
    private var similarityB: [Double]
    private var active: [Bool]
    private var report: StepReport
    /// Lanes for the element-wise phases (nil: the caller alone); see `use(pool:)`.
    public private(set) var pool: WorkerPool?
    /// Per model, the squared-norm partial of every `FlatKernels.block` of its gradient.
    private let blockPartials: [UnsafeMutablePointer<Double>]
    /// Per model, this step's clip factor (1: none) and AdamW scalars (with / without decay).
    private var clipFactor: [Float]
    private var stepScalars: [(decay: AdamW.Scalars, noDecay: AdamW.Scalars)]
    /// The element-wise phase `runLane` performs.
    private enum Phase { case divideAndNorm, clip, adamW }
    private var phase = Phase.divideAndNorm
    private var divisor: Float = 1

    /// Builds the optimizer: validates `config` and the models, groups compatible tensors and
    /// allocates zeroed moments. Throws `OptimizerConfigError` or `OptimizerSetupError`.
    public init(models: [OptimizedModel], config: OptimizerConfig) throws {
        try config.validate()
        guard !models.isEmpty else { throw OptimizerSetupError.noModels }
        var seen = Set<String>()
        for model in models {
            guard seen.insert(model.name).inserted else {
                throw OptimizerSetupError.duplicateModelName(model.name)
            }
            guard model.weight.isFinite && model.weight > 0 else {
                throw OptimizerSetupError.invalidWeight(model: model.name, weight: model.weight)
            }
        }
        self.config = config
        self.models = models
        let n = models.count
        groups = CompatibilityGroup.groups(models: models.map(\.store.specs), granularity: config.granularity)
        expAvg = models.map { FloatBuffer(count: $0.store.totalCount) }
        expAvgSq = models.map { FloatBuffer(count: $0.store.totalCount) }
        adamSteps = Array(repeating: 0, count: n)
        consecutiveSkips = Array(repeating: 0, count: n)
        totalSkips = Array(repeating: 0, count: n)
        convergence = ConvergenceEstimator(models: n, window: config.convergenceWindow)
        weights = models.map(\.weight)
        meanWeight = weights.reduce(0, +) / Double(n)
        valueBase = models.map { $0.store.values.pointer }
        gradientBase = models.map { $0.store.gradients.pointer }

        mixer = GroupMixer(groups: groups, offsets: models.map(\.store.offsets), weights: weights)

        decayRuns = models.map { model in
            var runs: [(offset: Int, count: Int, decays: Bool)] = []
            for (t, spec) in model.store.specs.enumerated() {
                if let last = runs.last, last.decays == spec.weightDecay {
                    runs[runs.count - 1].count += spec.count
                } else {
                    runs.append((model.store.offsets[t], spec.count, spec.weightDecay))
                }
            }
            return runs
        }

        similarityPlan = SimilarityPlan(groups: groups, offsets: models.map(\.store.offsets))
        let entries = similarityPlan.entries.count
        similarityDot = Array(repeating: 0, count: entries)
        similarityA = Array(repeating: 0, count: entries)
        similarityB = Array(repeating: 0, count: entries)
        active = Array(repeating: true, count: n)
        blockPartials = models.map { model in
            let blocks = max(1, (model.store.totalCount + FlatKernels.block - 1) / FlatKernels.block)
            let p = UnsafeMutablePointer<Double>.allocate(capacity: blocks)
            p.initialize(repeating: 0, count: blocks)
            return p
        }
        clipFactor = Array(repeating: 1, count: n)
        let unit = AdamW.Scalars(learningRate: 0, step: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, decays: false)
        stepScalars = Array(repeating: (unit, unit), count: n)
        report = StepReport(
            step: 0,
            models: models.map {
                ModelStepReport(
                    name: $0.name, learningRate: 0, gradientNorm: 0, clipped: false, skipped: false,
                    consecutiveSkips: 0, convergenceRate: 1)
            },
            gradientsShared: false, parametersSynchronized: false, convergenceUpdated: false,
            similarities: similarityPlan.entries, timings: StepTimings())
    }

    deinit {
        for p in blockPartials { p.deallocate() }
    }

    /// Runs the element-wise phases (gradient norms, clipping, sharing, AdamW, sync) split across
    /// `pool`'s lanes. Every lane works on whole 4096-element blocks of each buffer and the norm
    /// partials are added in block order, so results are bit-identical for any lane count.
    public func use(pool: WorkerPool?) {
        self.pool = pool
        if let pool { mixer.reserve(lanes: pool.lanes) }
    }

    // MARK: - Queries

    /// Convergence rates `r_i` (Alg. 3), one per model.
    public var convergenceRates: [Double] { convergence.rates }

    /// Index of the first model skipped more than `config.maxConsecutiveSkips` times in a row,
    /// if any: the trainer should stop with a checkpoint and name `models[index].name`.
    public var modelOverSkipLimit: Int? {
        consecutiveSkips.firstIndex { $0 > config.maxConsecutiveSkips }
    }

    /// Learning rate of model `i` at 1-based step `t` from the current convergence rate.
    public func learningRate(model i: Int, step t: Int) -> Double {
        LearningRateSchedule.learningRate(
            step: t, config: config, convergenceRate: convergence.rates[i], weight: weights[i],
            meanWeight: meanWeight)
    }

    // MARK: - Step

    /// Notes that one more micro-batch has been accumulated into the gradients (optional; keeps
    /// `microStep` in the state meaningful for a checkpoint taken inside an accumulation).
    public func recordMicroBatch() {
        precondition(microStep < config.accumulationSteps, "more micro-batches than accumulationSteps")
        microStep += 1
    }

    /// Sets every model's gradients to zero (after a step, before the next accumulation).
    public func zeroGradients() {
        for model in models { model.store.zeroGradients() }
    }

    /// One optimizer step. `losses[i]` is model i's loss for this step (mean over micro-batches);
    /// the gradients hold the sum over `config.accumulationSteps` micro-batches.
    ///
    /// A model whose loss or gradient holds NaN or Inf is skipped: its parameters, moments,
    /// AdamW step count, loss history and rate are untouched and it takes no part in sharing or
    /// synchronization. Its gradient buffer is left divided (and garbage); zero it as usual.
    @discardableResult
    public func step(losses: [Float]) -> StepReport {
        precondition(losses.count == models.count, "step: \(losses.count) losses for \(models.count) models")
        precondition(
            microStep == 0 || microStep == config.accumulationSteps,
            "step after \(microStep) of \(config.accumulationSteps) micro-batches")
        let t = completedSteps + 1
        var clock = Stopwatch()
        report.step = t

        // 1. Accumulated sum → mean, global norm, non-finite guard, clipping.
        let divisor = Float(config.accumulationSteps)
        self.divisor = divisor
        runPhase(.divideAndNorm)
        var anyClipped = false
        for i in models.indices {
            let count = models[i].store.totalCount
            var sumSquares = 0.0
            for b in 0..<((count + FlatKernels.block - 1) / FlatKernels.block) { sumSquares += blockPartials[i][b] }
            let norm = sumSquares.squareRoot()
            let ok = losses[i].isFinite && norm.isFinite
            active[i] = ok
            var clipped = false
            clipFactor[i] = 1
            if ok, let maxNorm = config.maxGradientNorm {
                // torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6), applied when < 1.
                let coefficient = Float(maxNorm) / (Float(norm) + 1e-6)
                if coefficient < 1 {
                    clipFactor[i] = coefficient
                    clipped = true
                    anyClipped = true
                }
            }
            report.models[i].gradientNorm = norm
            report.models[i].clipped = clipped
            report.models[i].skipped = !ok
        }
        if anyClipped { runPhase(.clip) }
        report.timings.clip = clock.lap()

        // Cross-model similarity of the gradients as they are before mixing (§5.2).
        if config.logGradientSimilarity { computeSimilarities() }
        report.timings.similarity = clock.lap()

        // 2. Gradient sharing (Alg. 1).
        let share = config.gradientSharing && t % config.shareEvery == 0
        if share { mixGroups(gradientBase, coefficient: config.sharingCoefficient, gated: config.sharingGate == .agreement) }
        report.gradientsShared = share
        report.timings.sharing = clock.lap()

        // 3. Per-model learning rates (Eq. 1).
        for i in models.indices { report.models[i].learningRate = learningRate(model: i, step: t) }
        report.timings.learningRate = clock.lap()

        // 4. AdamW, PyTorch semantics, on the models that passed the guard; element-wise, so
        // each lane takes its blocks of every decay run.
        for i in models.indices where active[i] {
            adamSteps[i] += 1
            let lr = report.models[i].learningRate
            stepScalars[i] = (scalars(lr: lr, step: adamSteps[i], decays: true), scalars(lr: lr, step: adamSteps[i], decays: false))
        }
        runPhase(.adamW)
        report.timings.adamW = clock.lap()

        // 5. Parameter synchronization (Alg. 2).
        let sync = config.parameterSync && t % config.syncEvery == 0
        if sync { mixGroups(valueBase, coefficient: config.syncCoefficient) }
        report.parametersSynchronized = sync
        report.timings.sync = clock.lap()

        // 6. Convergence estimation (Alg. 3) and skip counters.
        let updateRates = t % config.convergenceEvery == 0
        for i in models.indices {
            if active[i] {
                convergence.record(losses[i], model: i)
                if updateRates { convergence.update(model: i) }
                consecutiveSkips[i] = 0
            } else {
                consecutiveSkips[i] += 1
                totalSkips[i] += 1
            }
            report.models[i].consecutiveSkips = consecutiveSkips[i]
            report.models[i].convergenceRate = convergence.rates[i]
        }
        report.convergenceUpdated = updateRates
        report.timings.convergence = clock.lap()

        completedSteps = t
        microStep = 0
        return report
    }

    // MARK: - Mechanisms

    private func scalars(lr: Double, step: Int, decays: Bool) -> AdamW.Scalars {
        AdamW.Scalars(
            learningRate: lr, step: step, beta1: config.beta1, beta2: config.beta2,
            epsilon: config.epsilon, weightDecay: config.weightDecay, decays: decays)
    }

    /// Alg. 1 (on gradients) or Alg. 2 (on values) over the models active this step.
    private func mixGroups(_ base: [UnsafeMutablePointer<Float>], coefficient: Double, gated: Bool = false) {
        mixer.mix(base, coefficient: coefficient, active: active, pool: pool, gated: gated)
    }

    private func runPhase(_ phase: Phase) {
        self.phase = phase
        if let pool { pool.run(self) } else { runLane(0, of: 1) }
    }

    /// Lane `lane` of `lanes` of the current phase: its blocks of every model's buffers.
    public func runLane(_ lane: Int, of lanes: Int) {
        switch phase {
        case .divideAndNorm:
            for i in models.indices {
                let count = models[i].store.totalCount
                let (lo, hi) = FlatKernels.slice(count, lane: lane, of: lanes)
                FlatKernels.divideAndBlockSums(gradientBase[i], count, divisor: divisor, lo: lo, hi: hi, into: blockPartials[i])
            }
        case .clip:
            for i in models.indices where clipFactor[i] != 1 {
                let (lo, hi) = FlatKernels.slice(models[i].store.totalCount, lane: lane, of: lanes)
                FlatKernels.scale(gradientBase[i] + lo, hi - lo, by: clipFactor[i])
            }
        case .adamW:
            for i in models.indices where active[i] {
                for run in decayRuns[i] {
                    let (lo, hi) = FlatKernels.slice(run.count, lane: lane, of: lanes)
                    if hi == lo { continue }
                    let offset = run.offset + lo
                    AdamW.update(
                        parameters: valueBase[i] + offset, gradients: gradientBase[i] + offset,
                        expAvg: expAvg[i].pointer + offset, expAvgSq: expAvgSq[i].pointer + offset,
                        count: hi - lo, scalars: run.decays ? stepScalars[i].decay : stepScalars[i].noDecay)
                }
            }
        }
    }

    private func computeSimilarities() {
        for e in similarityDot.indices {
            similarityDot[e] = 0
            similarityA[e] = 0
            similarityB[e] = 0
        }
        for pair in similarityPlan.pairs {
            let entry = similarityPlan.entries[pair.entry]
            guard active[entry.modelA] && active[entry.modelB] else { continue }
            let r = FlatKernels.dotAndNorms(
                gradientBase[entry.modelA] + pair.offsetA, gradientBase[entry.modelB] + pair.offsetB, pair.count)
            similarityDot[pair.entry] += r.dot
            similarityA[pair.entry] += r.aa
            similarityB[pair.entry] += r.bb
        }
        for e in similarityDot.indices {
            let entry = similarityPlan.entries[e]
            let defined =
                active[entry.modelA] && active[entry.modelB] && similarityA[e] > 0 && similarityB[e] > 0
            report.similarities[e].cosine =
                defined ? similarityDot[e] / (similarityA[e] * similarityB[e]).squareRoot() : nil
        }
    }
}

/// Seconds between successive `lap()` calls on the monotonic clock (no allocation).
struct Stopwatch {
    private var last = Stopwatch.now()

    /// Seconds since the previous lap (or since creation).
    mutating func lap() -> Double {
        let now = Stopwatch.now()
        defer { last = now }
        return now - last
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
