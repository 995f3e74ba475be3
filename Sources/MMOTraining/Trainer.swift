// The joint training loop, in nanoGPT's order: for each optimizer step, accumulate micro-batches
// (forward + backward of every model on the same examples) → optimizer step (clip → share → LR →
// AdamW → sync → convergence, inside MultiModelOptimizer) → log → periodic eval → checkpoint.
// Everything the loop depends on is in the checkpoint, so `resume` continues bit-exactly.
import Foundation
import MMOCore
import MMOData
import MMOModels
import MMOOptim
import MMORun
import MMOAnalysis

/// The end of `Trainer.run`.
public struct RunSummary: Sendable {
    public enum Reason: String, Sendable { case finished, interrupted, diverged }
    /// What stopped an interrupted run: a signal (SIGINT / SIGTERM) or `--stop-at`.
    public enum Stop: String, Sendable {
        case signal = "interrupted"
        case stopAt = "stop-at"
    }
    public var reason: Reason
    /// Set when `reason` is `interrupted`.
    public var stoppedBy: Stop?
    public var step: Int
    public var lastCheckpoint: URL?
    public var lastEval: [String: EvalResult]
    public var best: [String: BestRecord]
    public var seconds: Double
}

/// A joint training run over several classifiers.
public final class Trainer: LaneJob {
    public let config: RunConfig
    public let run: RunDirectory
    public let names: [String]
    public let models: [any TrainableModel]
    public let optimizer: MultiModelOptimizer
    public let tokenizer: WordTokenizer
    /// Each model's tokenizer (the run's word tokenizer, or the one of its `init` source).
    public let modelTokenizers: [ModelTokenizer]
    /// For each model initialised from a source (`models[].init`): what was loaded.
    public let initializations: [InitializationReport?]
    public let labelNames: [String]
    public internal(set) var progress: TrainingProgress
    public internal(set) var lastEval: [String: EvalResult] = [:]
    public internal(set) var best: [String: BestRecord] = [:]
    /// The checkpoint this run last saved or was resumed from (lineage of the next save).
    public internal(set) var parent: CheckpointState.Lineage.Parent?
    /// Things the caller should tell the user (e.g. a resume with another thread count).
    public internal(set) var warnings: [String] = []
    let dataFingerprint: [String: String]

    let trainSets: [EncodedDataset]
    let validationSets: [EncodedDataset]
    let batches: [TokenBatch]
    let sampler: EpochSampler
    private var order: [Int] = []
    private var orderEpoch = -1
    var stepLosses: [Float]
    /// The threads that run the models side by side (`training.concurrency: models`); one lane
    /// (the caller) for `sequential`. Model m always runs on lane `m % lanes`.
    let pool: WorkerPool
    /// Per-model loss sums written by the model's own lane (raw memory: lanes write distinct
    /// slots at once, which a Swift array's exclusive access would not allow).
    private let laneLosses: UnsafeMutablePointer<Float>
    /// The micro-batches of the current step (slices of `order`), collected before the models run.
    private var microBatches: [ArraySlice<Int>] = []
    private let laneResults: UnsafeMutablePointer<EvalResult?>
    /// Distillation / mutual learning (nil: neither configured; the step runs as before).
    let logitTerms: LogitTerms?
    /// The models as classifiers, for the logit terms (empty in a pretraining run, which
    /// `RunConfig.validate` keeps free of them).
    let classifiers: [any SequenceClassifier]
    /// What `runLane` does: a model's whole step, or (with logit terms) one phase of a micro-batch.
    private var lanePhase = LanePhase.wholeStep
    enum LanePhase { case wholeStep, forward(Int), backward(last: Bool) }
    /// Per model: the step's summed cross-entropy over its micro-batches divided by their count
    /// (logged beside the total loss when logit terms are on).
    var stepCrossEntropy: [Float]

    /// Builds a run from its parts (used by `start` and by checkpoint restore).
    /// What each model's batches need (labels, masking, next tokens).
    let targetRules: [TargetRule]
    /// Each model's masking stream (`mlm/<model>`; unused for other objectives), written only by
    /// the model's own lane (raw memory, as `laneLosses`), saved in checkpoints.
    let maskingRNGs: UnsafeMutablePointer<PhiloxRNG>

    init(
        config: RunConfig, run: RunDirectory, data: PreparedData, models: [any TrainableModel], tokenizers: [ModelTokenizer],
        initializations: [InitializationReport?], progress: TrainingProgress, maskingRNGs: [PhiloxRNG]? = nil
    ) throws {
        self.config = config
        self.run = run
        self.names = config.models.map(\.name)
        self.models = models
        self.tokenizer = data.tokenizer
        self.modelTokenizers = tokenizers
        self.initializations = initializations
        self.labelNames = data.train.labelNames
        self.progress = progress
        self.dataFingerprint = ["train": data.train.fingerprint, "validation": data.validation.fingerprint]
        // Each model's sets with its own tokenizer and pad id (`padding: max` pads every batch to
        // maxLength; `longest`, the default, to the batch's longest text).
        let fixed = config.data.padding == .max ? config.data.maxLength : nil
        trainSets = zip(tokenizers, models).map {
            EncodedDataset(data.train, tokenizer: $0, padID: Int32($1.config.padTokenID), fixedLength: fixed)
        }
        validationSets = zip(tokenizers, models).map {
            EncodedDataset(data.validation, tokenizer: $0, padID: Int32($1.config.padTokenID), fixedLength: fixed)
        }
        batches = config.models.map { _ in
            TokenBatch(maxBatchSize: config.training.batchSize, maxSequenceLength: config.data.maxLength)
        }
        sampler = EpochSampler(count: data.train.count, batchSize: config.training.batchSize, seed: config.seed)
        stepLosses = [Float](repeating: 0, count: models.count)
        targetRules = models.map(\.config.targetRule)
        self.maskingRNGs = .allocate(capacity: models.count)
        let rngs = maskingRNGs ?? config.models.map { PhiloxRNG(seed: config.seed, stream: MaskingStreams.training(model: $0.name)) }
        self.maskingRNGs.initialize(from: rngs, count: models.count)
        stepCrossEntropy = stepLosses
        classifiers = models.compactMap { $0 as? any SequenceClassifier }
        logitTerms = config.training.hasLogitTerms ? try LogitTerms(config: config, data: data, modelCount: models.count) : nil
        // OpenBLAS's thread count is process-wide: 1 when the models run side by side.
        BLAS.setThreads(config.training.blasThreads)
        pool = WorkerPool(lanes: config.training.modelLanes(models: models.count))
        laneLosses = .allocate(capacity: models.count)
        laneLosses.initialize(repeating: 0, count: models.count)
        microBatches.reserveCapacity(config.optimizer.accumulationSteps)
        laneResults = .allocate(capacity: models.count)
        laneResults.initialize(repeating: nil, count: models.count)
        var optimizerConfig = config.optimizer
        optimizerConfig.totalSteps = progress.totalSteps
        optimizer = try MultiModelOptimizer(
            models: zip(config.models, models).map {
                OptimizedModel(name: $0.name, store: $1.parameters, weight: Double($0.weight))
            },
            config: optimizerConfig)
        // The optimizer's passes stream memory: one lane per core, however many model lanes.
        if pool.lanes > 1 { optimizer.use(pool: pool, lanes: config.training.threads) }
        optimizer.zeroesGradients = true
    }

    deinit {
        maskingRNGs.deallocate()
        laneLosses.deallocate()
        laneResults.deinitialize(count: models.count)
        laneResults.deallocate()
    }

    /// Optimizer steps for `config` over a training set of `count` examples.
    /// Throws when the product of epochs and steps per epoch does not fit (checked arithmetic
    /// on user numbers).
    static func totalSteps(_ config: RunConfig, trainCount: Int) throws -> Int {
        if let steps = config.training.maxSteps { return steps }
        let batches = (trainCount + config.training.batchSize - 1) / config.training.batchSize
        let perEpoch = (batches + config.optimizer.accumulationSteps - 1) / config.optimizer.accumulationSteps
        let (total, overflow) = perEpoch.multipliedReportingOverflow(by: config.training.epochs)
        let limit = ConfigLimits.range("training.maxSteps").upperBound
        if overflow || total > limit {
            throw ConfigError(
                file: "config", field: "training.epochs",
                reason: "\(config.training.epochs) epochs of \(perEpoch) steps exceed \(limit) optimizer steps; use fewer epochs")
        }
        return max(1, total)
    }

    /// A new run: loads the data, builds the tokenizer and freshly initialised models, and sets
    /// the BLAS thread count of `config` (checkpoints record it; resume restores it). Refuses a
    /// folder that already holds a run, whose metrics and checkpoints the new run would overwrite.
    public static func start(config: RunConfig, runDirectory: URL) throws -> Trainer {
        try config.validate()
        let last = RunDirectory(url: runDirectory).lastURL
        if FileManager.default.fileExists(atPath: last.path) {
            throw TrainingError.io(
                path: runDirectory.path,
                reason: "already holds a run (last.mmo); continue it with --resume \(last.path) or choose another --run-dir")
        }
        BLAS.setThreads(config.training.blasThreads)
        let data = try PreparedData.load(config)
        // Models initialised from a source: their architecture comes from it (read first, so
        // that the memory estimate covers every model before anything large is allocated).
        var architectures = data.modelConfigs(config)
        for (i, entry) in config.models.enumerated() where entry.initFrom != nil {
            architectures[i] = try PretrainedImport.architecture(entry: entry, index: i, config: config, numLabels: data.labelNames.count)
        }
        try ConfigLimits.checkMemory(
            architectures: architectures, batchSize: config.training.batchSize, maxLength: config.data.maxLength, file: "config")
        var models: [any TrainableModel] = []
        var tokenizers: [ModelTokenizer] = []
        var initializations: [InitializationReport?] = []
        for (i, entry) in config.models.enumerated() {
            // Each model gets its own init and dropout streams, derived from the run seed and its
            // name (an imported model's head is initialised from them too).
            let seed = modelSeed(config.seed, name: entry.name)
            if entry.initFrom != nil {
                let imported = try PretrainedImport.load(entry: entry, index: i, config: config, numLabels: data.labelNames.count, seed: seed)
                models.append(imported.model)
                tokenizers.append(imported.tokenizer)
                initializations.append(imported.report)
            } else {
                models.append(try makeModel(config: architectures[i], seed: seed))
                tokenizers.append(.word(data.tokenizer, SpecialTokenScheme(entry.family)))
                initializations.append(nil)
            }
        }
        let progress = TrainingProgress(totalSteps: try totalSteps(config, trainCount: data.train.count))
        let trainer = try Trainer(
            config: config, run: RunDirectory(url: runDirectory), data: data, models: models, tokenizers: tokenizers,
            initializations: initializations, progress: progress)
        return trainer
    }

    // MARK: - One step

    /// Runs one optimizer step: `accumulation` micro-batches through every model, then the
    /// MultiModelOptimizer. Returns the optimizer's report.
    @discardableResult
    public func step() -> StepReport {
        // The step's micro-batches first (the cursor and the epoch's order advance here, on the
        // caller), then every model works through them on its lane: model m does exactly the
        // same operations in the same order whichever lane or mode runs it.
        let accumulation = config.optimizer.accumulationSteps
        microBatches.removeAll(keepingCapacity: true)
        for _ in 0..<accumulation {
            if progress.cursor.epoch != orderEpoch {
                order = sampler.order(epoch: progress.cursor.epoch)
                orderEpoch = progress.cursor.epoch
            }
            let (indices, next) = sampler.batch(at: progress.cursor, order: order)
            microBatches.append(indices)
            progress.cursor = next
            progress.examplesSeen += indices.count
        }
        if let terms = logitTerms {
            // Every forward of a micro-batch (and the teacher's) before the terms that couple the
            // models, then every backward; each model's own operations keep their order.
            terms.beginStep()
            for i in 0..<models.count { laneLosses[i] = 0 }
            for b in microBatches.indices {
                lanePhase = .forward(b)
                pool.run(self)
                terms.add(models: classifiers, batchSize: microBatches[b].count)
                lanePhase = .backward(last: b == microBatches.count - 1)
                pool.run(self)
            }
            lanePhase = .wholeStep
            for i in stepLosses.indices {
                stepCrossEntropy[i] = laneLosses[i] / Float(accumulation)
                stepLosses[i] = (laneLosses[i] + terms.extraLosses[i]) / Float(accumulation)
            }
        } else {
            pool.run(self)
            for i in stepLosses.indices { stepLosses[i] = laneLosses[i] / Float(accumulation) }
        }
        // `optimizer.zeroesGradients` (set in init): the step leaves every gradient at zero.
        let report = optimizer.step(losses: stepLosses)
        progress.step += 1
        return report
    }

    /// Lane `lane`'s models of the step: m = lane, lane + lanes, … (a fixed assignment).
    public func runLane(_ lane: Int, of lanes: Int) {
        var m = lane
        switch lanePhase {
        case .wholeStep: break
        case .forward(let b):
            // The teacher is one more job after the models (lane models.count % lanes).
            let jobs = models.count + (logitTerms?.teacher == nil ? 0 : 1)
            while m < jobs {
                if m == models.count {
                    logitTerms?.runTeacher(microBatches[b])
                } else {
                    trainSets[m].fill(batches[m], indices: microBatches[b])
                    targetRules[m].apply(to: batches[m], rng: &maskingRNGs[m])
                    laneLosses[m] += models[m].forward(batches[m], training: true)
                }
                m += lanes
            }
            return
        case .backward(let last):
            while m < models.count {
                models[m].backward()
                if last { optimizer.finishBackward(model: m) }
                m += lanes
            }
            return
        }
        while m < models.count {
            var sum: Float = 0
            for indices in microBatches {
                trainSets[m].fill(batches[m], indices: indices)
                targetRules[m].apply(to: batches[m], rng: &maskingRNGs[m])
                sum += models[m].forward(batches[m], training: true)
                models[m].backward()
            }
            // The gradient is complete: its norm pass runs here, while other lanes still compute.
            optimizer.finishBackward(model: m)
            laneLosses[m] = sum
            m += lanes
        }
    }

    /// Evaluates every model on the validation set (side by side with `concurrency: models`).
    public func evaluate() -> [String: EvalResult] {
        let slots = laneResults
        let seed = config.seed
        pool.forEach(models.count) { m in
            slots[m] = Evaluator.evaluate(
                models[m], on: validationSets[m], batch: batches[m], batchSize: config.training.batchSize, maskSeed: seed)
        }
        var results: [String: EvalResult] = [:]
        for m in models.indices { results[names[m]] = laneResults[m] }
        return results
    }

    /// The seed of one model's init and dropout streams: a stream of its own per model name, so
    /// that two models of one family start differently and keep their streams when others change.
    static func modelSeed(_ seed: UInt64, name: String) -> UInt64 {
        var rng = PhiloxRNG(seed: seed, stream: "model/\(name)")
        return UInt64(rng.nextUInt32()) << 32 | UInt64(rng.nextUInt32())
    }

    /// Completed epochs (the cursor's epoch once a step has crossed the boundary).
    public var epoch: Int { progress.cursor.epoch }
}

extension Trainer {
    /// A new run from a config file (nil: `RunConfig.builtInDefault`) with overrides. The run folder
    /// defaults to `./runs/<name>-<yyyyMMdd-HHmmss>`.
    public static func start(configPath: String?, overrides: RunOverrides, runDirectory: URL?) throws -> Trainer {
        let base = try configPath.map { try RunConfig.load(path: $0) } ?? RunConfig.builtInDefault
        let config = overrides.applied(to: base)
        try config.validate(file: configPath ?? "built-in default config")
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        let folder = runDirectory ?? URL(fileURLWithPath: "runs").appendingPathComponent("\(config.name)-\(formatter.string(from: Date()))")
        return try start(config: config, runDirectory: folder)
    }
}
