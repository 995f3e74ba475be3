// Saving and restoring a whole run in one `.mmo` file (Formats/mmo-v1.md §9): parameters and
// AdamW moments as one f32 blob per tensor, everything else in the state document. What is
// restored is exactly what the loop depends on, so a resumed run is bit-identical.
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMOOptim

/// The producer's version, written into every checkpoint.
public let producerVersion = "0.1.0"

/// The state document of a training checkpoint.
public struct CheckpointState: Codable, Sendable {
    public struct FormatTag: Codable, Sendable, Equatable {
        public var name = "mmo-state"
        public var version = 1
    }
    public struct Producer: Codable, Sendable {
        public var name = "MultiModelOptimizer"
        public var version = producerVersion
    }
    /// One model of the run and its exact architecture.
    public struct ModelRecord: Codable, Sendable, Equatable {
        public var name: String
        public var family: ModelFamily
        public var weight: Float
        public var config: ModelConfig
        public var parameterCount: Int
    }
    /// The data the run was trained on.
    public struct DataRecord: Codable, Sendable, Equatable {
        public var labelNames: [String]
        public var trainCount: Int
        public var validationCount: Int
        /// FNV-1a fingerprints of the training and validation sets.
        public var fingerprint: [String: String]
    }
    public struct Metrics: Codable, Sendable {
        public var lastEval: [String: EvalResult]
        public var best: [String: BestRecord]
    }
    /// The checkpoint this one continues from: the previous save of the run, or the file a
    /// resumed run was started from.
    public struct Lineage: Codable, Sendable {
        public struct Parent: Codable, Sendable, Equatable {
            public var contentHash: String
            public var path: String
        }
        public var parent: Parent?

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(parent, forKey: .parent)  // explicit null for a fresh run (spec §9)
        }
    }

    public var format = FormatTag()
    public var producer = Producer()
    public var run: RunConfig
    public var models: [ModelRecord]
    public var progress: TrainingProgress
    /// Named random streams: `dropout/<model>`.
    public var rng: [String: RNGState]
    public var optimizer: OptimizerState
    public var tokenizer: WordTokenizer
    public var data: DataRecord
    public var metrics: Metrics
    public var lineage: Lineage
    /// OpenBLAS threads the run used (results are bit-identical only for the same count).
    public var threads: Int
}

/// Blob names of the producer convention.
public enum CheckpointNames {
    public static func parameter(model: String, _ param: String) -> String { "model/\(model)/\(param)" }
    public static func firstMoment(model: String, _ param: String) -> String { "optim/\(model)/m/\(param)" }
    public static func secondMoment(model: String, _ param: String) -> String { "optim/\(model)/v/\(param)" }
}

extension Trainer {
    /// The state document for the current moment of the run.
    func checkpointState() -> CheckpointState {
        CheckpointState(
            run: config,
            models: config.models.enumerated().map { i, entry in
                CheckpointState.ModelRecord(
                    name: entry.name, family: entry.family, weight: entry.weight, config: models[i].config,
                    parameterCount: models[i].parameters.totalCount)
            },
            progress: progress,
            rng: Dictionary(uniqueKeysWithValues: names.enumerated().map { ("dropout/\($1)", models[$0].dropoutRNG.state) }),
            optimizer: optimizer.exportState(),
            tokenizer: tokenizer,
            data: CheckpointState.DataRecord(
                labelNames: labelNames, trainCount: trainSets[0].count, validationCount: validationSets[0].count,
                fingerprint: dataFingerprint),
            metrics: CheckpointState.Metrics(lastEval: lastEval, best: best),
            lineage: CheckpointState.Lineage(parent: parent),
            threads: BLAS.threads)
    }

    /// Writes the whole run state to `url` atomically (the previous file under that name, if
    /// any, survives any failure). The new file becomes the parent of the next one.
    public func saveCheckpoint(to url: URL) throws {
        var options = MMOWriteOptions()
        if let level = config.training.compressionLevel { options.compressionLevel = Int32(level) }
        var writer = MMOWriter(options: options)
        let moments = Dictionary(uniqueKeysWithValues: optimizer.stateTensors().map { ($0.name, $0.values) })
        do {
            for (m, model) in models.enumerated() {
                let store = model.parameters
                let momentNames = optimizer.momentTensorNames(model: m)
                guard let first = moments[momentNames.expAvg], let second = moments[momentNames.expAvgSq] else {
                    preconditionFailure("optimizer has no moments for model \(names[m])")
                }
                for (i, spec) in store.specs.enumerated() {
                    let bytes = spec.count * MemoryLayout<Float>.stride
                    func view(_ base: UnsafeMutablePointer<Float>) -> UnsafeRawBufferPointer {
                        UnsafeRawBufferPointer(start: base + store.offsets[i], count: bytes)
                    }
                    try writer.add(
                        CheckpointNames.parameter(model: names[m], spec.name), dtype: .f32, shape: spec.shape,
                        unsafeBytes: view(store.values.pointer))
                    try writer.add(
                        CheckpointNames.firstMoment(model: names[m], spec.name), dtype: .f32, shape: spec.shape,
                        unsafeBytes: view(first.pointer))
                    try writer.add(
                        CheckpointNames.secondMoment(model: names[m], spec.name), dtype: .f32, shape: spec.shape,
                        unsafeBytes: view(second.pointer))
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try writer.setStateDocument(encoder.encode(checkpointState()))
            let report = try writer.write(to: url)
            parent = CheckpointState.Lineage.Parent(contentHash: report.contentHashHex, path: url.lastPathComponent)
        } catch let error as MMOFormatError {
            throw TrainingError.checkpoint(path: url.path, reason: "not saved: \(error)")
        } catch let error as EncodingError {
            throw TrainingError.checkpoint(path: url.path, reason: "state cannot be encoded: \(error)")
        }
    }
}
