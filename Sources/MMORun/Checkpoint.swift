// A training checkpoint on disk (Formats/mmo-v1.md §9): parameters and AdamW moments as one f32
// blob per tensor, everything else in the state document. The trainer writes it; the trainer's
// resume and every tool read it through `Checkpoint`, so there is one reading of a file.
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMOOptim

/// The producer's version, written into every checkpoint.
public let producerVersion = "0.1.0"

/// The state document of a training checkpoint: the schema every tool reads (spec §9).
public struct CheckpointState: Codable, Sendable {
    /// Name and version of the state convention (`mmo-state` v1).
    public struct FormatTag: Codable, Sendable, Equatable {
        /// Always `mmo-state`.
        public var name = "mmo-state"
        /// The convention's version; this build reads and writes 1.
        public var version = 1
        /// The tag this build writes.
        public init() {}
    }
    /// The program that wrote the file.
    public struct Producer: Codable, Sendable {
        /// `MultiModelOptimizer`.
        public var name = "MultiModelOptimizer"
        /// `producerVersion` of the writing build.
        public var version = producerVersion
        /// This build.
        public init() {}
    }
    /// One model of the run and its exact architecture.
    public struct ModelRecord: Codable, Sendable, Equatable {
        /// The model's name in the run config (blob names use it).
        public var name: String
        /// Its family (also in `config`).
        public var family: ModelFamily
        /// The paper's model weight w_i.
        public var weight: Float
        /// The architecture, enough to rebuild the model.
        public var config: ModelConfig
        /// Number of parameter elements.
        public var parameterCount: Int
        /// The model's own tokenizer (a model initialised from a Hugging Face folder or another
        /// checkpoint); nil: the run's word tokenizer with the family's special tokens.
        public var tokenizer: ModelTokenizer?
        /// Where the model's initial weights came from (`models[].init`) and what was loaded;
        /// nil for a model initialised from the run seed.
        public var initialization: InitializationReport?

        /// A record of one model.
        public init(
            name: String, family: ModelFamily, weight: Float, config: ModelConfig, parameterCount: Int,
            tokenizer: ModelTokenizer? = nil, initialization: InitializationReport? = nil
        ) {
            self.name = name
            self.family = family
            self.weight = weight
            self.config = config
            self.parameterCount = parameterCount
            self.tokenizer = tokenizer
            self.initialization = initialization
        }

        enum CodingKeys: String, CodingKey {
            case name, family, weight, config, parameterCount, tokenizer
            case initialization = "init"
        }
    }
    /// The data the run was trained on.
    public struct DataRecord: Codable, Sendable, Equatable {
        /// Class names, index = label id.
        public var labelNames: [String]
        /// Examples in the training split.
        public var trainCount: Int
        /// Examples in the validation split.
        public var validationCount: Int
        /// FNV-1a fingerprints of the training and validation sets (`train`, `validation`).
        public var fingerprint: [String: String]

        /// A data record.
        public init(labelNames: [String], trainCount: Int, validationCount: Int, fingerprint: [String: String]) {
            self.labelNames = labelNames
            self.trainCount = trainCount
            self.validationCount = validationCount
            self.fingerprint = fingerprint
        }
    }
    /// Evaluations so far.
    public struct Metrics: Codable, Sendable {
        /// The latest validation result per model.
        public var lastEval: [String: EvalResult]
        /// The best validation accuracy per model and its step.
        public var best: [String: BestRecord]

        /// Metrics of a run.
        public init(lastEval: [String: EvalResult], best: [String: BestRecord]) {
            self.lastEval = lastEval
            self.best = best
        }
    }
    /// The checkpoint this one continues from: the previous save of the same run, or — for the
    /// first save after a resume — the file the run was resumed from; `null` for a fresh run's
    /// first save. A merge lists every input in `parents`.
    public struct Lineage: Codable, Sendable {
        /// One parent file: its content hash (spec §2) and its file name or path.
        public struct Parent: Codable, Sendable, Equatable {
            /// 16 lowercase hex digits.
            public var contentHash: String
            /// File name (same folder) or path as given to the tool.
            public var path: String

            /// A parent.
            public init(contentHash: String, path: String) {
                self.contentHash = contentHash
                self.path = path
            }
        }
        /// The previous save (or resumed-from file); nil for a fresh run.
        public var parent: Parent?
        /// Every input of a merge (absent in training checkpoints).
        public var parents: [Parent]?
        /// What produced the file when it is not a training save, e.g. `mmo-merge uniform`.
        public var operation: String?

        /// A lineage.
        public init(parent: Parent?, parents: [Parent]? = nil, operation: String? = nil) {
            self.parent = parent
            self.parents = parents
            self.operation = operation
        }

        enum CodingKeys: String, CodingKey { case parent, parents, operation }

        /// Writes `parent` always (explicit `null` for a fresh run, spec §9), the others only when set.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(parent, forKey: .parent)
            try c.encodeIfPresent(parents, forKey: .parents)
            try c.encodeIfPresent(operation, forKey: .operation)
        }
    }

    /// `{"name": "mmo-state", "version": 1}`.
    public var format = FormatTag()
    /// The writing program.
    public var producer = Producer()
    /// The resolved run configuration.
    public var run: RunConfig
    /// The models, in run order.
    public var models: [ModelRecord]
    /// Step, data cursor, examples seen.
    public var progress: TrainingProgress
    /// Named random streams: `dropout/<model>`.
    public var rng: [String: RNGState]
    /// The optimizer's scalar state (its moments are blobs).
    public var optimizer: OptimizerState
    /// The run's tokenizer, inline.
    public var tokenizer: WordTokenizer
    /// The data the run was trained on.
    public var data: DataRecord
    /// Evaluations so far.
    public var metrics: Metrics
    /// Where this file comes from.
    public var lineage: Lineage
    /// OpenBLAS threads the run used (results are bit-identical only for the same count).
    public var threads: Int

    /// A state document.
    public init(
        run: RunConfig, models: [ModelRecord], progress: TrainingProgress, rng: [String: RNGState],
        optimizer: OptimizerState, tokenizer: WordTokenizer, data: DataRecord, metrics: Metrics, lineage: Lineage,
        threads: Int
    ) {
        self.run = run
        self.models = models
        self.progress = progress
        self.rng = rng
        self.optimizer = optimizer
        self.tokenizer = tokenizer
        self.data = data
        self.metrics = metrics
        self.lineage = lineage
        self.threads = threads
    }

    /// The record of model `name`, if the checkpoint has one.
    public func model(named name: String) -> ModelRecord? { models.first { $0.name == name } }

    /// The tokenizer model `record` encodes with: its own, or the run's word tokenizer with the
    /// family's special tokens.
    public func tokenizer(of record: ModelRecord) -> ModelTokenizer {
        record.tokenizer ?? .word(tokenizer, SpecialTokenScheme(record.family))
    }

    /// The state as the bytes a checkpoint stores (sorted keys: one encoding per state).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}

/// Blob names of the producer convention (spec §9).
public enum CheckpointNames {
    /// `model/<model>/<param>`: parameter values.
    public static func parameter(model: String, _ param: String) -> String { "model/\(model)/\(param)" }
    /// `optim/<model>/m/<param>`: AdamW first moment.
    public static func firstMoment(model: String, _ param: String) -> String { "optim/\(model)/m/\(param)" }
    /// `optim/<model>/v/<param>`: AdamW second moment.
    public static func secondMoment(model: String, _ param: String) -> String { "optim/\(model)/v/\(param)" }

    /// What a blob name of this convention says: its group, model and parameter.
    public struct Parsed: Equatable, Sendable {
        /// `parameters`, `firstMoments`, `secondMoments` or `other`.
        public var group: BlobGroup
        /// The model's name (nil for `other`).
        public var model: String?
        /// The Hugging Face parameter name (nil for `other`).
        public var parameter: String?
    }

    /// The groups blob names fall into.
    public enum BlobGroup: String, Codable, Sendable, CaseIterable {
        /// `model/<model>/<param>`: parameter values.
        case parameters
        /// `optim/<model>/m/<param>`: AdamW first moments.
        case firstMoments
        /// `optim/<model>/v/<param>`: AdamW second moments.
        case secondMoments
        /// Any name outside this convention.
        case other
    }

    /// Splits a blob name into group, model and parameter.
    public static func parse(_ name: String) -> Parsed {
        let parts = name.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        if parts.count >= 3, parts[0] == "model" {
            return Parsed(group: .parameters, model: parts[1], parameter: parts.dropFirst(2).joined(separator: "/"))
        }
        if parts.count == 4, parts[0] == "optim", parts[2] == "m" || parts[2] == "v" {
            return Parsed(group: parts[2] == "m" ? .firstMoments : .secondMoments, model: parts[1], parameter: parts[3])
        }
        return Parsed(group: .other, model: nil, parameter: nil)
    }
}

/// One f32 tensor to store: a view of memory that outlives the write.
public struct CheckpointTensor {
    /// Blob name (`CheckpointNames`).
    public var name: String
    /// Row-major shape.
    public var shape: [Int]
    /// `shape.product` floats.
    public var values: UnsafePointer<Float>

    /// A tensor view.
    public init(name: String, shape: [Int], values: UnsafePointer<Float>) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// Writes checkpoints: blobs in the given order, then the state document, atomically.
public enum CheckpointWriter {
    /// Writes `state` and `tensors` to `url` (the previous file under that name survives any
    /// failure). Throws `TrainingError.checkpoint` naming the file.
    @discardableResult
    public static func write(
        _ state: CheckpointState, tensors: [CheckpointTensor], to url: URL, compressionLevel: Int? = nil
    ) throws -> MMOWriteReport {
        var options = MMOWriteOptions()
        if let level = compressionLevel { options.compressionLevel = Int32(level) }
        var writer = MMOWriter(options: options)
        do {
            for t in tensors {
                let count = t.shape.reduce(1, *)
                try writer.add(
                    t.name, dtype: .f32, shape: t.shape,
                    unsafeBytes: UnsafeRawBufferPointer(start: t.values, count: count * MemoryLayout<Float>.stride))
            }
            try writer.setStateDocument(state.encoded())
            return try writer.write(to: url)
        } catch let error as MMOFormatError {
            throw TrainingError.checkpoint(path: url.path, reason: "not saved: \(error)")
        } catch let error as EncodingError {
            throw TrainingError.checkpoint(path: url.path, reason: "state cannot be encoded: \(error)")
        }
    }

    /// The tensors of one model in the producer's order: per parameter its value, then (when
    /// `moments` is given) its first and second moment. `moments` are flat buffers in the
    /// store's layout.
    public static func tensors(
        model name: String, store: ParameterStore, moments: (first: UnsafePointer<Float>, second: UnsafePointer<Float>)?
    ) -> [CheckpointTensor] {
        var out: [CheckpointTensor] = []
        for (i, spec) in store.specs.enumerated() {
            let offset = store.offsets[i]
            out.append(CheckpointTensor(name: CheckpointNames.parameter(model: name, spec.name), shape: spec.shape, values: store.values.pointer + offset))
            if let moments {
                out.append(CheckpointTensor(name: CheckpointNames.firstMoment(model: name, spec.name), shape: spec.shape, values: moments.first + offset))
                out.append(CheckpointTensor(name: CheckpointNames.secondMoment(model: name, spec.name), shape: spec.shape, values: moments.second + offset))
            }
        }
        return out
    }
}

/// An open training checkpoint: the mapped file and its decoded state document. Reads blobs
/// lazily; nothing but the header, index and state document is touched by `open`.
public final class Checkpoint: @unchecked Sendable {
    /// The file.
    public let url: URL
    /// The format reader (mapping, blob index).
    public let reader: MMOReader
    /// The decoded state document.
    public let state: CheckpointState

    /// The file's path, as given.
    public var path: String { url.path }

    private init(url: URL, reader: MMOReader, state: CheckpointState) {
        self.url = url
        self.reader = reader
        self.state = state
    }

    /// Opens and validates `url`: the container (spec §7), the state document as strict JSON,
    /// then as this producer's convention. Errors name the file and what is wrong.
    public static func open(_ url: URL) throws -> Checkpoint {
        let path = url.path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TrainingError.checkpoint(path: path, reason: "is a folder, not a checkpoint; give a .mmo file (e.g. \(url.appendingPathComponent("last.mmo").path))")
        }
        let reader: MMOReader
        let state: CheckpointState
        do {
            reader = try MMOReader.open(url)
            // The strict reading of spec §9 (no duplicate keys, BOM or lone surrogates) first,
            // so that every reader of this file sees one document.
            let document = try reader.stateDocument()
            state = try JSONDecoder().decode(CheckpointState.self, from: document)
        } catch let error as MMOFormatError {
            throw TrainingError.checkpoint(path: path, reason: "cannot be read: \(error)")
        } catch let error as DecodingError {
            throw TrainingError.checkpoint(path: path, reason: "is not a training checkpoint of this producer: \(configError(file: path, error))")
        }
        guard state.format == CheckpointState.FormatTag() else {
            throw TrainingError.checkpoint(
                path: path, reason: "state convention \(state.format.name) v\(state.format.version) is not supported (this build reads mmo-state v1)")
        }
        return Checkpoint(url: url, reader: reader, state: state)
    }

    /// The record of model `name`, or an error listing the models the file has.
    public func model(named name: String) throws -> CheckpointState.ModelRecord {
        guard let record = state.model(named: name) else {
            throw TrainingError.checkpoint(
                path: path, reason: "has no model '\(name)'; its models are \(state.models.map(\.name).joined(separator: ", "))")
        }
        return record
    }

    /// The parameter specs of model `record` (name, shape, kind, role, block), built from its
    /// architecture without allocating the model.
    public func specs(of record: CheckpointState.ModelRecord) throws -> [ParameterSpec] {
        do {
            return try parameterSpecs(config: record.config)
        } catch {
            throw TrainingError.checkpoint(path: path, reason: "model '\(record.name)' has an unbuildable architecture: \(error)")
        }
    }

    /// Decodes f32 blob `blobName` of `shape` into `target`, checking dtype and shape.
    public func readTensor(_ blobName: String, shape: [Int], into target: UnsafeMutablePointer<Float>) throws {
        guard let blob = reader.blob(named: blobName) else {
            throw TrainingError.checkpoint(path: path, reason: "blob '\(blobName)' is missing")
        }
        guard blob.dtype == .f32, blob.shape == shape else {
            throw TrainingError.checkpoint(
                path: path, reason: "blob '\(blobName)' is \(blob.dtype.rawValue) \(blob.shape), the model needs f32 \(shape)")
        }
        do {
            try reader.read(blob, into: UnsafeMutableRawBufferPointer(start: target, count: shape.reduce(1, *) * 4))
        } catch {
            throw TrainingError.checkpoint(path: path, reason: "\(error)")
        }
    }

    /// Reads every parameter of model `name` into `store` (built for that model's architecture).
    public func readParameters(model name: String, into store: ParameterStore) throws {
        for (i, spec) in store.specs.enumerated() {
            try readTensor(CheckpointNames.parameter(model: name, spec.name), shape: spec.shape, into: store.value(i))
        }
    }

    /// Whether the file holds AdamW moments for model `name` (a merge without
    /// `--keep-optimizer` drops them).
    public func hasMoments(model name: String, specs: [ParameterSpec]) -> Bool {
        specs.allSatisfy { reader.blob(named: CheckpointNames.firstMoment(model: name, $0.name)) != nil }
    }

    /// Reads model `name`'s AdamW moments into two flat buffers in `store`'s layout.
    public func readMoments(model name: String, layout store: ParameterStore, first: FloatBuffer, second: FloatBuffer) throws {
        for (i, spec) in store.specs.enumerated() {
            try readTensor(CheckpointNames.firstMoment(model: name, spec.name), shape: spec.shape, into: first.pointer + store.offsets[i])
            try readTensor(CheckpointNames.secondMoment(model: name, spec.name), shape: spec.shape, into: second.pointer + store.offsets[i])
        }
    }

    /// Builds classifier `name` from its recorded architecture and reads its parameters; its
    /// dropout stream is the saved one when present. A language model is an error naming it
    /// (use `loadTrainableModel`).
    public func loadModel(_ name: String) throws -> any SequenceClassifier {
        let model = try loadTrainableModel(name)
        guard let classifier = model as? any SequenceClassifier else {
            throw TrainingError.checkpoint(
                path: path, reason: "model '\(name)' is a language model (objective \(model.config.objective.rawValue)), not a classifier; this operation needs classifiers")
        }
        return classifier
    }

    /// Builds model `name` (classifier or language model) from its recorded architecture and
    /// reads its parameters; its dropout stream is the saved one when present.
    public func loadTrainableModel(_ name: String) throws -> any TrainableModel {
        let record = try model(named: name)
        let model: any TrainableModel
        do {
            model = try makeModel(config: record.config, seed: 0)
        } catch {
            throw TrainingError.checkpoint(path: path, reason: "model '\(name)' has an unbuildable architecture: \(error)")
        }
        try readParameters(model: name, into: model.parameters)
        if let rng = state.rng["dropout/\(name)"] { model.dropoutRNG = PhiloxRNG(state: rng) }
        return model
    }
}
