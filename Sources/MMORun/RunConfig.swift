// The configuration of a joint training run, as written in a JSON or YAML file. Every field has
// a default (the paper's §4.4 settings where the paper gives one); unknown fields are errors.
import Foundation
import MMOData
import MMOModels
import MMOOptim

/// Size presets for models trained from scratch.
public enum ModelSize: String, Codable, CaseIterable, Sendable {
    /// hidden 64, 2 layers, 4 heads, FFN 256: seconds per epoch, for tests.
    case tiny
    /// hidden 256, 4 layers, 4 heads, FFN 1024: the default.
    case small

    var dimensions: (hidden: Int, layers: Int, heads: Int, intermediate: Int) {
        switch self {
        case .tiny: return (64, 2, 4, 256)
        case .small: return (256, 4, 4, 1024)
        }
    }
}

/// One model of the run.
public struct ModelEntry: Codable, Hashable, Sendable {
    /// Free name, used in checkpoints, metrics and file names: required, unique, ASCII letters,
    /// digits, `-`, `_`, at most 64 characters.
    public var name: String
    /// Architecture family (`bert`, `gpt2`, `roberta`), with Hugging Face
    /// `…ForSequenceClassification` semantics; required.
    public var family: ModelFamily
    /// The paper's model weight w_i (§3.5): scales gradient sharing, parameter sync and the
    /// learning rate; in (0, 1000000], default 1.
    public var weight: Float = 1
    /// Size preset the architecture starts from (default `small`); the fields below override it.
    public var size: ModelSize = .small
    /// Hidden width, overriding the preset; a multiple of `numHeads`, 1…16,384.
    public var hiddenSize: Int?
    /// Transformer blocks, overriding the preset; 1…256.
    public var numLayers: Int?
    /// Attention heads per block, overriding the preset; 1…1,024.
    public var numHeads: Int?
    /// Feed-forward inner width, overriding the preset; 1…65,536.
    public var intermediateSize: Int?
    /// Dropout probability on hidden states, in [0, 1), default 0.1 (off in evaluation).
    public var hiddenDropout: Float = 0.1
    /// Dropout probability on attention weights, in [0, 1), default 0.1 (off in evaluation).
    public var attentionDropout: Float = 0.1
    /// This model's objective, overriding `training.objective` (e.g. `clm` for the GPT-2 of a
    /// run whose encoders use `mlm`); absent: the run's.
    public var objective: ModelObjective?
    /// `init`: where the initial weights come from: a Hugging Face folder (`config.json`,
    /// safetensors, tokenizer files) or `CKPT.mmo#model`, one model of a checkpoint. nil: random
    /// initialisation from the run seed. The architecture then comes from the source; `size` is
    /// ignored and any of `hiddenSize`, `numLayers`, `numHeads`, `intermediateSize` that is set
    /// must agree with it.
    public var initFrom: String?

    /// A model with preset dimensions and default dropout.
    public init(name: String, family: ModelFamily, weight: Float, size: ModelSize = .small) {
        self.name = name
        self.family = family
        self.weight = weight
        self.size = size
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, family, weight, size, hiddenSize, numLayers, numHeads, intermediateSize, hiddenDropout,
            attentionDropout, objective
        case initFrom = "init"
    }

    /// Decodes a `models[]` entry: `name` and `family` required, the rest defaulted; unknown
    /// fields are errors.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        family = try c.decode(ModelFamily.self, forKey: .family)
        weight = try c.decodeIfPresent(Float.self, forKey: .weight) ?? 1
        size = try c.decodeIfPresent(ModelSize.self, forKey: .size) ?? .small
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize)
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers)
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
        hiddenDropout = try c.decodeIfPresent(Float.self, forKey: .hiddenDropout) ?? 0.1
        attentionDropout = try c.decodeIfPresent(Float.self, forKey: .attentionDropout) ?? 0.1
        objective = try c.decodeIfPresent(ModelObjective.self, forKey: .objective)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
    }

    /// The architecture for a vocabulary, label count and maximum token length, with the head of
    /// `objective` (a language model gets `numLabels` 0).
    public func modelConfig(vocabularySize: Int, numLabels: Int, maxLength: Int, objective: ModelObjective = .classification) -> ModelConfig {
        let d = size.dimensions
        var config = ModelConfig(
            family: family, vocabSize: vocabularySize, hiddenSize: hiddenSize ?? d.hidden,
            numLayers: numLayers ?? d.layers, numHeads: numHeads ?? d.heads,
            intermediateSize: intermediateSize ?? d.intermediate, maxPositions: maxLength,
            numLabels: objective.isLanguageModel ? 0 : numLabels, hiddenDropout: hiddenDropout,
            attentionDropout: attentionDropout, padTokenID: Int(SpecialTokenScheme(family).padID), objective: objective)
        // RoBERTa counts positions from padding_idx + 1 (Hugging Face convention).
        if family == .roberta { config.maxPositions = maxLength + config.padTokenID + 1 }
        return config
    }
}

extension SpecialTokenScheme {
    /// The special-token layout a family expects.
    public init(_ family: ModelFamily) {
        switch family {
        case .bert: self = .bert
        case .gpt2: self = .gpt2
        case .roberta: self = .roberta
        }
    }
}

/// How a batch is padded (`data.padding`).
public enum Padding: String, Codable, CaseIterable, Sendable {
    /// To the batch's longest text (transformers' `padding=True`): the behaviour of runs saved
    /// before the field existed.
    case longest
    /// To `data.maxLength` (transformers' `padding="max_length"`).
    case max
}

/// Where the examples come from and how text becomes tokens.
public struct DataConfig: Codable, Hashable, Sendable {
    /// Where a run's examples come from (`data.source`).
    public enum Source: String, Codable, CaseIterable, Sendable {
        /// The paper's template sentences (§4.2), generated from the run seed.
        case synthetic
        /// `train` and `validation` files (SST-2 TSV, TSV, CSV or JSONL).
        case files
    }

    /// Synthetic template sentences or files; default `synthetic`.
    public var source: Source = .synthetic
    /// Training file; required with `source: files`. Relative paths are relative to the working
    /// directory.
    public var train: String?
    /// Validation file; required with `source: files`. Relative paths are relative to the working
    /// directory.
    public var validation: String?
    /// File format (`tsv`, `csv`, `jsonl`); inferred from the extension when omitted.
    public var format: TextFileFormat?
    /// Header name (TSV/CSV) or key (JSONL) of the text; default `sentence`.
    public var textColumn: String = "sentence"
    /// Header name (TSV/CSV) or key (JSONL) of the label; default `label`.
    public var labelColumn: String = "label"
    /// Raw label values in class order; inferred from the training file when omitted.
    public var labels: [String]?
    /// Synthetic training sentences (paper: 500); 1…10,000,000.
    public var syntheticTrain: Int = 500
    /// Synthetic validation sentences (paper: 100); 1…10,000,000.
    public var syntheticValidation: Int = 100
    /// Most frequent training words kept (specials excluded); default 8000, 1…10,000,000.
    public var vocabularyLimit: Int = 8000
    /// Longest sequence in tokens, specials included (also the models' position count); longer
    /// texts are cut. Default 64, 3…8,192.
    public var maxLength: Int = 64
    /// Lowercase text before splitting it into words; default true.
    public var lowercase: Bool = true
    /// Pad each batch to its longest text (default) or to `maxLength`.
    public var padding: Padding = .longest
    /// Raw label values whose rows are left out of both splits (`source: files`), e.g.
    /// `[neutral]` to make a three-class corpus positive/negative; none may be in `labels`.
    public var dropLabels: [String]?

    /// Every field at its default: 500 / 100 synthetic sentences, 8000 words, 64 tokens.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case source, train, validation, format, textColumn, labelColumn, labels, syntheticTrain,
            syntheticValidation, vocabularyLimit, maxLength, lowercase, padding, dropLabels
    }

    /// Decodes the `data` section, absent fields at their defaults; unknown fields are errors.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DataConfig()
        source = try c.decodeIfPresent(Source.self, forKey: .source) ?? d.source
        train = try c.decodeIfPresent(String.self, forKey: .train)
        validation = try c.decodeIfPresent(String.self, forKey: .validation)
        format = try c.decodeIfPresent(TextFileFormat.self, forKey: .format)
        textColumn = try c.decodeIfPresent(String.self, forKey: .textColumn) ?? d.textColumn
        labelColumn = try c.decodeIfPresent(String.self, forKey: .labelColumn) ?? d.labelColumn
        labels = try c.decodeIfPresent([String].self, forKey: .labels)
        syntheticTrain = try c.decodeIfPresent(Int.self, forKey: .syntheticTrain) ?? d.syntheticTrain
        syntheticValidation = try c.decodeIfPresent(Int.self, forKey: .syntheticValidation) ?? d.syntheticValidation
        vocabularyLimit = try c.decodeIfPresent(Int.self, forKey: .vocabularyLimit) ?? d.vocabularyLimit
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? d.maxLength
        lowercase = try c.decodeIfPresent(Bool.self, forKey: .lowercase) ?? d.lowercase
        padding = try c.decodeIfPresent(Padding.self, forKey: .padding) ?? d.padding
        dropLabels = try c.decodeIfPresent([String].self, forKey: .dropLabels)
    }
}

/// How the models of a joint step share the machine.
public enum Concurrency: String, Codable, CaseIterable, Sendable {
    /// One model after the other, each using `threads` OpenBLAS threads (the behaviour of runs
    /// saved before the field existed).
    case sequential
    /// The models side by side, one thread per model (up to `threads` at a time), each model's
    /// BLAS on its own thread (OpenBLAS set to 1 thread). Bit-identical to `sequential` with
    /// `threads: 1`, whatever `threads` is.
    case models
}

/// Loop settings.
public struct TrainingConfig: Codable, Hashable, Sendable {
    /// Passes over the training data (ignored when `maxSteps` is set); default 10, 1…1,000,000.
    public var epochs: Int = 10
    /// Optimizer steps to run in total, 1…1,000,000,000; overrides `epochs`. nil: from `epochs`.
    public var maxSteps: Int?
    /// Examples per micro-batch, per model (paper: 16); 1…65,536.
    public var batchSize: Int = 16
    /// Also evaluate every N optimizer steps (0: only at the end of each epoch).
    public var evalEvery: Int = 0
    /// Write `step-NNNNNN.mmo` every N optimizer steps (0: at the end of each epoch only).
    public var checkpointEvery: Int = 0
    /// Step checkpoints kept, default 3, 1…100,000 (older ones are deleted; `last.mmo` and
    /// `best-*.mmo` stay).
    public var keepLast: Int = 3
    /// Keep `best-<model>.mmo`: the checkpoint of each model's best validation accuracy.
    public var keepBestPerModel: Bool = true
    /// Print a plain progress line every N steps when stderr is not a terminal; default 10.
    public var logEvery: Int = 10
    /// OpenBLAS threads, default 2, 1…1,024 (a resumed run is bit-identical only with the same
    /// count).
    public var threads: Int = 2
    /// zstd level of checkpoints, 1…19; nil: the format's default.
    public var compressionLevel: Int?
    /// Models one after the other or side by side. A config (or checkpoint) without the field
    /// is `sequential`, so runs saved before it existed resume exactly as they ran.
    public var concurrency: Concurrency = .sequential
    /// What the models learn: `classification` (default; labelled data), `mlm` (masked LM,
    /// BERT / RoBERTa) or `clm` (causal LM, GPT-2) on the text column alone. `models[].objective`
    /// overrides it per model; a run either classifies or pretrains. nil (absent): classification,
    /// and the key stays out of saved configs so classification runs are saved as before.
    public var objective: ModelObjective?
    /// Knowledge distillation from a frozen teacher (Hinton et al. 2015); nil: off.
    public var distillation: DistillationConfig?
    /// Deep mutual learning between the run's models (Zhang et al. 2018); nil: off.
    public var mutualLearning: MutualLearningConfig?

    /// Whether a term on the logits is added across models (distillation or mutual learning):
    /// the trainer then runs every model's forward of a micro-batch before any backward.
    public var hasLogitTerms: Bool { distillation != nil || mutualLearning != nil }

    /// Every field at its default: 10 epochs, batches of 16, 2 threads, sequential.
    public init() {}

    /// The OpenBLAS thread count the run sets: `threads`, or 1 when the models run side by side
    /// (each model's products on its own thread; OpenBLAS's count is process-wide).
    public var blasThreads: Int { concurrency == .models ? 1 : threads }

    /// Threads that compute models (lanes; model m runs on lane m % lanes): 1 when
    /// `sequential`. With `models`, `threads` lanes when the models divide evenly among them,
    /// else one lane per model, and the operating system shares the `threads` cores among them:
    /// three models on two lanes would leave one core idle for a third of the step (one lane
    /// computes two models), while three lanes on two cores keep both busy (small joint step
    /// 377–387 ms against 442–465 ms on two lanes, docs/PERFORMANCE.md). Bits do not depend on
    /// the lane count.
    public func modelLanes(models: Int) -> Int {
        guard concurrency == .models, models > 1 else { return 1 }
        return models % threads == 0 ? threads : models
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, maxSteps, batchSize, evalEvery, checkpointEvery, keepLast, keepBestPerModel, logEvery,
            threads, compressionLevel, concurrency, objective, distillation, mutualLearning
    }

    /// Decodes the `training` section, absent fields at their defaults; unknown fields are errors.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingConfig()
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? d.evalEvery
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        keepLast = try c.decodeIfPresent(Int.self, forKey: .keepLast) ?? d.keepLast
        keepBestPerModel = try c.decodeIfPresent(Bool.self, forKey: .keepBestPerModel) ?? d.keepBestPerModel
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? d.logEvery
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
        compressionLevel = try c.decodeIfPresent(Int.self, forKey: .compressionLevel)
        concurrency = try c.decodeIfPresent(Concurrency.self, forKey: .concurrency) ?? d.concurrency
        objective = try c.decodeIfPresent(ModelObjective.self, forKey: .objective)
        distillation = try c.decodeIfPresent(DistillationConfig.self, forKey: .distillation)
        mutualLearning = try c.decodeIfPresent(MutualLearningConfig.self, forKey: .mutualLearning)
    }
}

/// `training.distillation`: every model of the run (a student) adds
/// `weight · T² · KL(softmax(t/T) ‖ softmax(s/T))` to its cross-entropy, `t` the logits of a frozen
/// teacher on the same examples.
public struct DistillationConfig: Codable, Hashable, Sendable {
    /// The teacher's `.mmo` checkpoint (required). `{seed}` is replaced by the run seed, so that an
    /// experiment's students each read the teacher run of their own seed.
    public var checkpoint: String
    /// The teacher: a model name in that checkpoint (required).
    public var model: String
    /// Softmax temperature T, in (0, 100]; default 2 (Hinton et al.).
    public var temperature: Float = 2
    /// Weight of the term, in [0, 1000]; default 0.5. With 0 the run is plain training, bit for bit.
    public var weight: Float = 0.5

    /// A teacher at T = 2, weight 0.5.
    public init(checkpoint: String, model: String) {
        self.checkpoint = checkpoint
        self.model = model
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case checkpoint, model, temperature, weight }

    /// Decodes `training.distillation`: `checkpoint` and `model` required; unknown fields are errors.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        checkpoint = try c.decode(String.self, forKey: .checkpoint)
        model = try c.decode(String.self, forKey: .model)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 2
        weight = try c.decodeIfPresent(Float.self, forKey: .weight) ?? 0.5
    }

    /// The checkpoint path of a run with `seed` (`{seed}` replaced).
    public func checkpointPath(seed: UInt64) -> String {
        checkpoint.replacingOccurrences(of: "{seed}", with: "\(seed)")
    }
}

/// `training.mutualLearning`: each model adds `weight · mean over the other models j of
/// KL(p_j ‖ p_self)` at T = 1, `p_j` taken as a constant (Zhang et al. 2018), all on the same batch.
public struct MutualLearningConfig: Codable, Hashable, Sendable {
    /// Weight of the term, in [0, 1000]; default 1 (the paper's plain sum). With 0 the run is
    /// plain training, bit for bit.
    public var weight: Float = 1

    /// Weight 1.
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable { case weight }

    /// Decodes `training.mutualLearning`; unknown fields are errors.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weight = try c.decodeIfPresent(Float.self, forKey: .weight) ?? 1
    }
}

/// A whole run: models, data, loop and optimizer.
public struct RunConfig: Codable, Equatable, Sendable {
    /// Run name, default `run`; the default run folder is `runs/<name>-<yyyyMMdd-HHmmss>`.
    public var name: String = "run"
    /// Seeds every random stream of the run (initialisation, dropout, data order, synthetic
    /// data); default 42.
    public var seed: UInt64 = 42
    /// The jointly trained models, 1…64 with unique names; default `paperModels`.
    public var models: [ModelEntry] = RunConfig.paperModels
    /// Where the examples come from and how they are tokenized; default synthetic.
    public var data = DataConfig()
    /// Loop length, batching, evaluation, checkpointing and threads.
    public var training = TrainingConfig()
    /// The multi-model AdamW settings (paper §4.4 defaults): sharing, sync, adaptive rates.
    public var optimizer = OptimizerConfig()

    /// BERT 1.0, GPT-2 0.8, RoBERTa 1.2 (paper §4.4), small size.
    public static let paperModels = [
        ModelEntry(name: "bert", family: .bert, weight: 1.0),
        ModelEntry(name: "gpt2", family: .gpt2, weight: 0.8),
        ModelEntry(name: "roberta", family: .roberta, weight: 1.2),
    ]

    /// A config with every field at its default: the paper's three models and §4.4 settings on
    /// the synthetic data (what a config file with no fields means).
    public init() {}

    /// What `mmo-train` runs with no arguments (`make demo`; the same as
    /// `fixtures/configs/default.yaml`, a test checks). The paper's models, data and mechanisms,
    /// but a from-scratch learning rate: the paper's 3e-5 is a fine-tuning rate for pretrained
    /// models, and from random initialisation it leaves the post-LN BERT and RoBERTa at chance
    /// (README, "Measured"). 5e-4 with a 16-step warm-up is the common from-scratch setting used by
    /// `independent-synthetic.yaml` and the ablation configs, chosen once before any run, not
    /// tuned. Six epochs (96 steps, 15–16 s on two cores): every model learns; final validation
    /// accuracy BERT / GPT-2 / RoBERTa 0.97 / 0.98 / 0.99 (seed 42), 0.96 / 0.99 / 1.00 (43),
    /// 1.00 / 1.00 / 1.00 (44), measured. The models run side by side
    /// (`concurrency: models`, docs/PERFORMANCE.md); a config file without the field stays
    /// `sequential`.
    public static var builtInDefault: RunConfig {
        var config = RunConfig()
        config.name = "default"
        config.training.epochs = 6
        config.training.concurrency = .models
        config.optimizer.learningRate = 5e-4
        config.optimizer.warmupSteps = 16
        return config
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, seed, models, data, training, optimizer }

    /// Decodes a whole config, absent fields at their defaults; unknown fields (also inside
    /// `optimizer`) are errors with a "did you mean" hint.
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RunConfig()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        models = try c.decodeIfPresent([ModelEntry].self, forKey: .models) ?? d.models
        data = try c.decodeIfPresent(DataConfig.self, forKey: .data) ?? d.data
        training = try c.decodeIfPresent(TrainingConfig.self, forKey: .training) ?? d.training
        if c.contains(.optimizer) {
            // OptimizerConfig fills defaults itself; reject typos here (its fields are its stored properties).
            try c.superDecoder(forKey: .optimizer).rejectUnknownKeys(
                Mirror(reflecting: OptimizerConfig()).children.compactMap(\.label))
        }
        optimizer = try c.decodeIfPresent(OptimizerConfig.self, forKey: .optimizer) ?? d.optimizer
    }

    /// Reads a JSON or YAML config file and validates it.
    public static func load(path: String) throws -> RunConfig {
        let data: Data
        do {
            data = try readFile(path, what: "config file")
        } catch let error as FileReadError {
            throw ConfigError(file: path, field: "", reason: error.reason)
        }
        let config = try decodeDocument(RunConfig.self, data: data, file: path)
        try config.validate(file: path)
        return config
    }

    /// The objective of model `i`: its own, else `training.objective`, else classification.
    public func objective(ofModel i: Int) -> ModelObjective {
        models[i].objective ?? training.objective ?? .classification
    }

    /// Whether the run pretrains (language-model objectives; labels are not read).
    public var isLanguageModeling: Bool { models.indices.contains { objective(ofModel: $0).isLanguageModel } }

    /// Checks every field that decoding alone cannot; errors name the field.
    public func validate(file: String = "config") throws {
        func fail(_ field: String, _ reason: String) -> ConfigError { ConfigError(file: file, field: field, reason: reason) }
        if models.isEmpty { throw fail("models", "needs at least one model") }
        try checkRanges(file: file)
        var seen = Set<String>()
        for (i, m) in models.enumerated() {
            // ASCII only: the name becomes part of file names (`best-<name>.mmo`) and blob names,
            // which the format restricts to printable ASCII.
            let allowed = m.name.unicodeScalars.allSatisfy {
                ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "-" || $0 == "_"
            }
            if m.name.isEmpty || !allowed { throw fail("models[\(i)].name", "'\(m.name)' must be ASCII letters, digits, '-' or '_'") }
            if m.name.utf8.count > ConfigLimits.maxModelNameLength {
                throw fail("models[\(i)].name", "is \(m.name.utf8.count) characters long; at most \(ConfigLimits.maxModelNameLength) (it becomes part of file names such as best-<name>.mmo)")
            }
            if !seen.insert(m.name).inserted { throw fail("models[\(i)].name", "'\(m.name)' is used twice") }
            if !(m.weight > 0) || !m.weight.isFinite || m.weight > ConfigLimits.maxModelWeight {
                throw fail("models[\(i)].weight", "must be a positive number up to \(Int(ConfigLimits.maxModelWeight)), got \(m.weight)")
            }
            let d = m.size.dimensions
            let hidden = m.hiddenSize ?? d.hidden, heads = m.numHeads ?? d.heads
            // Positivity and size of every dimension: `checkRanges` above.
            if hidden % heads != 0 {
                throw fail("models[\(i)].hiddenSize", "hidden size \(hidden) must be a positive multiple of numHeads \(heads)")
            }
            for (field, p) in [("hiddenDropout", m.hiddenDropout), ("attentionDropout", m.attentionDropout)] where !(p >= 0 && p < 1) {
                throw fail("models[\(i)].\(field)", "must be in [0, 1), got \(p)")
            }
            let objective = objective(ofModel: i)
            if objective.isLanguageModel, objective != ModelObjective.languageModel(for: m.family) {
                let field = m.objective != nil ? "models[\(i)].objective" : "training.objective"
                let fit = ModelObjective.languageModel(for: m.family).rawValue
                throw fail(
                    field,
                    "\(objective.rawValue) does not fit model '\(m.name)' (\(m.family.rawValue)): masked LM is for BERT and RoBERTa, causal LM for GPT-2; set models[\(i)].objective: \(fit)")
            }
            if objective.isLanguageModel, m.initFrom != nil {
                // The masking rule knows the word tokenizer's specials only (mask id 4).
                throw fail(
                    "models[\(i)].init",
                    "pretraining (objective \(objective.rawValue)) starts from random weights with the run's word tokenizer; continuing the pretraining of an imported model is not supported — drop init or use objective classification")
            }
            if objective.isLanguageModel, training.hasLogitTerms {
                throw fail(
                    training.distillation != nil ? "training.distillation" : "training.mutualLearning",
                    "distillation and mutual learning act on class logits; a pretraining run (objective \(objective.rawValue)) has none")
            }
            if objective.isLanguageModel != isLanguageModeling {
                throw fail(
                    "models[\(i)].objective",
                    "model '\(m.name)' classifies while other models of the run pretrain (mlm / clm); a run either classifies or pretrains: use one run per kind")
            }
        }
        if data.source == .files {
            if data.train == nil { throw fail("data.train", "required when data.source is 'files'") }
            if data.validation == nil { throw fail("data.validation", "required when data.source is 'files'") }
            for (field, path) in [("data.train", data.train!), ("data.validation", data.validation!)]
            where data.format == nil && TextFileOptions.format(forPath: path) == nil {
                throw fail(field, "cannot tell the format of '\(path)' from its extension; set data.format to tsv, csv or jsonl")
            }
        }
        if let drop = data.dropLabels {
            if data.source != .files { throw fail("data.dropLabels", "applies to data.source 'files' only") }
            if let kept = data.labels, let both = drop.first(where: kept.contains) {
                throw fail("data.dropLabels", "'\(both)' is also in data.labels; a label is either kept or dropped")
            }
        }
        if let kd = training.distillation {
            if kd.checkpoint.isEmpty { throw fail("training.distillation.checkpoint", "must name the teacher's .mmo checkpoint") }
            if kd.model.isEmpty { throw fail("training.distillation.model", "must name the teacher model in that checkpoint") }
            if !(kd.temperature > 0 && kd.temperature <= 100) {
                throw fail("training.distillation.temperature", "must be in (0, 100], got \(kd.temperature)")
            }
            if !(kd.weight >= 0 && kd.weight <= 1000) { throw fail("training.distillation.weight", "must be in [0, 1000], got \(kd.weight)") }
        }
        if let dml = training.mutualLearning {
            if !(dml.weight >= 0 && dml.weight <= 1000) { throw fail("training.mutualLearning.weight", "must be in [0, 1000], got \(dml.weight)") }
            if models.count < 2 { throw fail("training.mutualLearning", "needs at least 2 models (each learns from the others)") }
        }
        // Every integer field's range (split sizes, lengths, steps, threads, levels, …) was
        // checked by `checkRanges` above.
        do {
            try optimizer.validate()
        } catch {
            throw fail("optimizer", "\(error)")
        }
    }
}
