// The MultiModelOptimizer (paper §3) over N models known only as `ParameterStore`s. One `step`
// runs DESIGN.md's order exactly: divide accumulated gradients → clip per model → share (Alg. 1)
// → per-model LR (Eq. 1) → AdamW → synchronize (Alg. 2) → convergence (Alg. 3). Groups, moments
// and scratch space are allocated at construction; a step allocates nothing.
//
// Element-wise, the step is two passes over memory: one reading the gradients (mean, norms,
// non-finite check; per model, on that model's lane right after its backward when the caller
// uses `finishBackward(model:)`), then one fused pass that per chunk of a compatibility group
// clips, shares, runs AdamW and synchronizes (tensors outside groups: clip + AdamW). Every
// tensor is in at most one group and every operation is element-wise, so doing the phases chunk
// by chunk performs exactly the Float operations of doing them one after the other over whole
// buffers.
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
/// `config.accumulationSteps` micro-batches; optionally `finishBackward(model:)` on that model's
/// lane; then `step(losses:)`; then `zeroGradients()` (unless `zeroesGradients`).
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
    /// Per model, whether `finishBackward(model:)` has already divided and normed its gradient
    /// this step (raw memory: each model's lane writes its own flag).
    private let normed: UnsafeMutablePointer<Bool>
    /// Lanes of `pool` the element-wise phases use (see `use(pool:lanes:)`).
    private var phaseLanes = 1
    /// Per model, this step's clip factor (1: none) and AdamW scalars (with / without decay).
    private var clipFactor: [Float]
    private var stepScalars: [(decay: AdamW.Scalars, noDecay: AdamW.Scalars)]
    /// The element-wise phase `runLane` performs.
    private enum Phase { case divideAndNorm, clip, update }
    /// Per model, maximal runs of consecutive tensors in no group, with their weight-decay flag.
    private let soloRuns: [[(offset: Int, count: Int, decays: Bool)]]
    /// Per group member (the mixer's member order), its tensor's weight-decay flag.
    private let memberDecays: [Bool]
    /// This step's sharing and synchronization coefficients, fixed before the fused pass.
    private var shareCoefficients: GroupMixer.Coefficients
    private var syncCoefficients: GroupMixer.Coefficients
    /// Per lane, `FusedUpdate.chunk` Floats: a group chunk's weighted sum.
    private var laneScratch: [FloatBuffer] = [FloatBuffer(count: FusedUpdate.chunk)]
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

        var grouped = models.map { Array(repeating: false, count: $0.store.specs.count) }
        for group in groups { for member in group.members { grouped[member.model][member.tensor] = true } }
        soloRuns = models.indices.map { m in
            let store = models[m].store
            var runs: [(offset: Int, count: Int, decays: Bool)] = []
            for (t, spec) in store.specs.enumerated() where !grouped[m][t] {
                if let last = runs.last, last.decays == spec.weightDecay, last.offset + last.count == store.offsets[t] {
                    runs[runs.count - 1].count += spec.count
                } else {
                    runs.append((store.offsets[t], spec.count, spec.weightDecay))
                }
            }
            return runs
        }
        memberDecays = groups.flatMap { group in
            group.members.map { models[$0.model].store.specs[$0.tensor].weightDecay }
        }
        shareCoefficients = GroupMixer.Coefficients(groups: groups.count)
        syncCoefficients = GroupMixer.Coefficients(groups: groups.count)

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
        normed = .allocate(capacity: n)
        normed.initialize(repeating: false, count: n)
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
        normed.deinitialize(count: models.count)
        normed.deallocate()
    }

    /// Runs the element-wise phases (gradient norms, clipping, sharing, AdamW, sync) split across
    /// `lanes` (default: all) of `pool`'s lanes. Every lane works on whole 4096-element blocks of
    /// each buffer and the norm partials are added in block order, so results are bit-identical
    /// for any lane count. The phases stream memory: give one lane per core (three model lanes on
    /// two cores would leave a third slice running alone at the end of every phase).
    public func use(pool: WorkerPool?, lanes: Int? = nil) {
        self.pool = pool
        phaseLanes = min(pool?.lanes ?? 1, max(1, lanes ?? pool?.lanes ?? 1))
        if let pool {
            mixer.reserve(lanes: pool.lanes)
            while laneScratch.count < pool.lanes { laneScratch.append(FloatBuffer(count: FusedUpdate.chunk)) }
        }
    }

    /// Divides model `i`'s accumulated gradient by `config.accumulationSteps` and takes its
    /// norm partials now, on the calling thread, instead of in `step`'s first pass. Call it on
    /// model `i`'s own lane right after its last backward of the step: the models finish their
    /// backward at different times, so the pass over a finished model's gradient (a read of
    /// 21 MB for a `small` model) runs while the others still compute, off the step's critical
    /// path. Same blocks, same order: the bits of the step do not change. Touches only model
    /// `i`'s buffers and flag, so the models' lanes may call it concurrently.
    public func finishBackward(model i: Int) {
        precondition(i >= 0 && i < models.count, "finishBackward: no model \(i)")
        let count = models[i].store.totalCount
        FlatKernels.divideAndBlockSums(
            gradientBase[i], count, divisor: Float(config.accumulationSteps), lo: 0, hi: count, into: blockPartials[i])
        normed[i] = true
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

    /// When true, `step` leaves every model's gradients at zero: the fused pass stores 0 where it
    /// read each gradient (instead of the clipped, shared gradient), so the separate zeroing pass
    /// over the buffers (`zeroGradients`) is not needed. Parameters and moments get the same bits
    /// either way. The trainer sets it; callers that read the gradients after `step` leave it
    /// false (the default).
    public var zeroesGradients = false

    /// Sets every model's gradients to zero (after a step, before the next accumulation).
    public func zeroGradients() {
        for model in models { model.store.zeroGradients() }
    }

    /// One optimizer step. `losses[i]` is model i's loss for this step (mean over micro-batches);
    /// the gradients hold the sum over `config.accumulationSteps` micro-batches.
    ///
    /// A model whose loss or gradient holds NaN or Inf is skipped: its parameters, moments,
    /// AdamW step count, loss history and rate are untouched and it takes no part in sharing or
    /// synchronization. Its gradient buffer is left divided (and garbage); zero it as usual (with
    /// `zeroesGradients` every buffer, this one included, is zero when `step` returns).
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
        var unnormed = false
        for i in models.indices where !normed[i] { unnormed = true }
        if unnormed { runPhase(.divideAndNorm) }
        for i in models.indices { normed[i] = false }
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
        // The similarities read the clipped gradients before mixing: then clipping is done in
        // place first and the fused pass scales by 1.
        if anyClipped && config.logGradientSimilarity {
            runPhase(.clip)
            for i in models.indices { clipFactor[i] = 1 }
        }
        report.timings.clip = clock.lap()

        // Cross-model similarity of the gradients as they are before mixing (§5.2).
        if config.logGradientSimilarity { computeSimilarities() }
        report.timings.similarity = clock.lap()

        // 2.–5. Per-model learning rates (Eq. 1), then one fused pass: clip, gradient sharing
        // (Alg. 1), AdamW with PyTorch semantics on the models that passed the guard, parameter
        // synchronization (Alg. 2). The coefficients of both mixes are fixed here, before it.
        let share = config.gradientSharing && t % config.shareEvery == 0
        let sync = config.parameterSync && t % config.syncEvery == 0
        // The agreement gate averages per member over the members it agrees with, from dot
        // products of the clipped, unmixed gradients: that mix runs on its own, on clipped
        // gradients in place, and the fused pass then only runs AdamW and sync.
        let gated = share && config.sharingGate == .agreement
        if gated {
            if anyClipped && !config.logGradientSimilarity {
                runPhase(.clip)
                for i in models.indices { clipFactor[i] = 1 }
            }
            mixer.mix(gradientBase, coefficient: config.sharingCoefficient, active: active, pool: pool, lanes: phaseLanes, gated: true)
        }
        report.timings.sharing = clock.lap()
        mixer.coefficients(share && !gated ? config.sharingCoefficient : 0, active: active, into: &shareCoefficients)
        mixer.coefficients(sync ? config.syncCoefficient : 0, active: active, into: &syncCoefficients)
        for i in models.indices { report.models[i].learningRate = learningRate(model: i, step: t) }
        for i in models.indices where active[i] {
            adamSteps[i] += 1
            let lr = report.models[i].learningRate
            stepScalars[i] = (scalars(lr: lr, step: adamSteps[i], decays: true), scalars(lr: lr, step: adamSteps[i], decays: false))
        }
        report.timings.learningRate = clock.lap()
        runPhase(.update)
        if zeroesGradients {
            // The fused pass visits only the models that passed the guard.
            for i in models.indices where !active[i] { models[i].store.zeroGradients() }
        }
        report.gradientsShared = share
        report.parametersSynchronized = sync
        report.timings.adamW = clock.lap()
        report.timings.sync = 0

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

    private func runPhase(_ phase: Phase) {
        self.phase = phase
        if let pool, phaseLanes > 1 { pool.run(self, lanes: phaseLanes) } else { runLane(0, of: 1) }
    }

    /// Lane `lane` of `lanes` of the current phase: its blocks of every model's buffers.
    public func runLane(_ lane: Int, of lanes: Int) {
        switch phase {
        case .divideAndNorm:
            for i in models.indices where !normed[i] {
                let count = models[i].store.totalCount
                let (lo, hi) = FlatKernels.slice(count, lane: lane, of: lanes)
                FlatKernels.divideAndBlockSums(gradientBase[i], count, divisor: divisor, lo: lo, hi: hi, into: blockPartials[i])
            }
        case .clip:
            for i in models.indices where clipFactor[i] != 1 {
                let (lo, hi) = FlatKernels.slice(models[i].store.totalCount, lane: lane, of: lanes)
                FlatKernels.scale(gradientBase[i] + lo, hi - lo, by: clipFactor[i])
            }
        case .update:
            updateLane(lane, of: lanes)
        }
    }

    /// Lane `lane` of the fused pass: its blocks of every group, then of every solo run.
    private func updateLane(_ lane: Int, of lanes: Int) {
        let sum = laneScratch[lane].pointer
        for g in groups.indices {
            let members = mixer.groupStart[g]..<mixer.groupStart[g + 1]
            let (lo, hi) = FlatKernels.slice(mixer.groupElements[g], lane: lane, of: lanes)
            if hi == lo { continue }
            if !shareCoefficients.mixes[g] && !syncCoefficients.mixes[g] {
                // Neither mix applies: each active member is a solo tensor this step.
                for k in members where active[mixer.memberModel[k]] {
                    soloUpdate(model: mixer.memberModel[k], offset: mixer.memberOffset[k] + lo, count: hi - lo, decays: memberDecays[k])
                }
                continue
            }
            var start = lo
            while start < hi {
                let n = min(FusedUpdate.chunk, hi - start)
                groupChunk(g, members: members, at: start, count: n, sum: sum)
                start += n
            }
        }
        for i in models.indices where active[i] {
            for run in soloRuns[i] {
                let (lo, hi) = FlatKernels.slice(run.count, lane: lane, of: lanes)
                if hi > lo { soloUpdate(model: i, offset: run.offset + lo, count: hi - lo, decays: run.decays) }
            }
        }
    }

    /// Clip + AdamW of `count` elements of model `i` from `offset` (the gradient is written back
    /// clipped, as `step` documents, or zeroed with `zeroesGradients`).
    @inline(__always)
    private func soloUpdate(model i: Int, offset: Int, count: Int, decays: Bool) {
        let g = gradientBase[i] + offset
        if clipFactor[i] != 1 { FlatKernels.scale(g, count, by: clipFactor[i]) }
        let scalars = decays ? stepScalars[i].decay : stepScalars[i].noDecay
        if zeroesGradients {
            AdamW.updateAndZero(
                parameters: valueBase[i] + offset, gradients: g, expAvg: expAvg[i].pointer + offset,
                expAvgSq: expAvgSq[i].pointer + offset, count: count, scalars: scalars)
        } else {
            AdamW.update(
                parameters: valueBase[i] + offset, gradients: g, expAvg: expAvg[i].pointer + offset,
                expAvgSq: expAvgSq[i].pointer + offset, count: count, scalars: scalars)
        }
    }

    /// One chunk `[start, start + n)` of group `g`'s elements: clip and share the active members'
    /// gradients (Alg. 1), AdamW on each, then synchronize their values (Alg. 2), with the
    /// coefficients fixed for this step. `sum` holds at least `n` Floats.
    private func groupChunk(_ g: Int, members: Range<Int>, at start: Int, count n: Int, sum: UnsafeMutablePointer<Float>) {
        let memberModel = mixer.memberModel
        let memberOffset = mixer.memberOffset
        if shareCoefficients.mixes[g] {
            var first = true
            for k in members where active[memberModel[k]] {
                let i = memberModel[k]
                FusedUpdate.accumulateScaled(
                    into: sum, gradientBase[i] + memberOffset[k] + start, n, scale: clipFactor[i],
                    weight: Float(weights[i]), first: first)
                first = false
            }
            FlatKernels.divide(sum, n, by: shareCoefficients.totalWeight[g])
        }
        for k in members where active[memberModel[k]] {
            let i = memberModel[k]
            let offset = memberOffset[k] + start
            let scalars = memberDecays[k] ? stepScalars[i].decay : stepScalars[i].noDecay
            if shareCoefficients.mixes[g] {
                FusedUpdate.shareAndAdamW(
                    parameters: valueBase[i] + offset, gradients: gradientBase[i] + offset,
                    expAvg: expAvg[i].pointer + offset, expAvgSq: expAvgSq[i].pointer + offset, average: sum,
                    count: n, scale: clipFactor[i], keep: shareCoefficients.keep[g], take: shareCoefficients.take[g],
                    scalars: scalars, zeroing: zeroesGradients)
            } else {
                soloUpdate(model: i, offset: offset, count: n, decays: memberDecays[k])
            }
        }
        if syncCoefficients.mixes[g] {
            var first = true
            for k in members where active[memberModel[k]] {
                FlatKernels.accumulate(
                    into: sum, valueBase[memberModel[k]] + memberOffset[k] + start, n,
                    weight: Float(weights[memberModel[k]]), first: first)
                first = false
            }
            FlatKernels.divide(sum, n, by: syncCoefficients.totalWeight[g])
            for k in members where active[memberModel[k]] {
                FlatKernels.mix(
                    valueBase[memberModel[k]] + memberOffset[k] + start, sum, n, keep: syncCoefficients.keep[g],
                    take: syncCoefficients.take[g])
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
