// Shared helpers of the model tests: tiny configs, batches, fixture loading.
import Foundation
import MMOCore
import MMOFormat
import XCTest
@testable import MMOModels

/// A very small config of `family` for finite-difference checks (every dropout 0 unless set).
func tinyConfig(_ family: ModelFamily, dropout: Float = 0, layers: Int = 2) -> ModelConfig {
    ModelConfig(
        family: family, vocabSize: 13, hiddenSize: 8, numLayers: layers, numHeads: 2, intermediateSize: 12,
        maxPositions: family == .roberta ? 10 : 8, numLabels: 3, hiddenDropout: dropout, attentionDropout: dropout,
        initializerRange: 0.3)
}

/// A right-padded batch of three sequences (lengths 5, 3, 1, each cut to `sequenceLength`) over a
/// vocabulary of 13 with no real token equal to the pad id.
func tinyBatch(_ config: ModelConfig, sequenceLength: Int = 5) -> TokenBatch {
    let batch = TokenBatch(maxBatchSize: 4, maxSequenceLength: 8)
    let pad = Int32(config.padTokenID)
    func ids(_ raw: [Int32]) -> [Int32] { raw.prefix(sequenceLength).map { $0 == pad ? ($0 + 3) % 13 : $0 } }
    batch.fill(
        ids: [ids([3, 7, 11, 2, 9]), ids([5, 12, 4]), ids([8])], labels: [2, 0, 1], sequenceLength: sequenceLength,
        padID: pad)
    return batch
}

/// Builds a model of `config` with a fixed seed.
func makeModel(_ config: ModelConfig, seed: UInt64 = 17) throws -> any SequenceClassifier {
    try makeClassifier(config: config, seed: seed)
}

/// The repository root (this file is Tests/MMOModelsTests/ModelTestSupport.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A PyTorch reference fixture written by `tools/make_model_fixtures.py`.
struct ModelFixture {
    let config: ModelConfig
    let parameterNames: [String]
    let parameterShapes: [[Int]]
    let tensors: SafeTensorsFile

    /// The classifier fixture of `family` (`fixtures/models/<family>.*`).
    init(family: ModelFamily) throws { try self.init(stem: family.rawValue) }

    /// The fixture `fixtures/models/<stem>.*` (e.g. `bert-mlm`).
    init(stem: String) throws {
        let base = repositoryRoot.appendingPathComponent("fixtures/models/\(stem)")
        let json = try Data(contentsOf: base.appendingPathExtension("json"))
        config = try JSONDecoder().decode(ModelConfig.self, from: json)
        struct Names: Decodable {
            let parameterNames: [String]
            let parameterShapes: [[Int]]
        }
        let names = try JSONDecoder().decode(Names.self, from: json)
        parameterNames = names.parameterNames
        parameterShapes = names.parameterShapes
        tensors = try SafeTensorsFile(contentsOf: base.appendingPathExtension("safetensors"))
    }

    func floats(_ name: String) throws -> [Float] { try tensors.tensor(name).floats(name: name) }
    func ints(_ name: String) throws -> [Int64] { try tensors.tensor(name).int64s(name: name) }

    /// The fixture batch as a `TokenBatch`.
    func batch() throws -> TokenBatch {
        let ids = try tensors.tensor("input_ids")
        let (B, T) = (ids.shape[0], ids.shape[1])
        let flat = try ints("input_ids"), lengths = try ints("lengths"), labels = try ints("labels")
        let batch = TokenBatch(maxBatchSize: B, maxSequenceLength: T)
        let lm = config.objective.isLanguageModel
        batch.fill(
            ids: (0..<B).map { b in (0..<Int(lengths[b])).map { Int32(flat[b * T + $0]) } },
            labels: lm ? [Int32](repeating: 0, count: B) : labels.map { Int32($0) }, sequenceLength: T,
            padID: Int32(config.padTokenID))
        if lm {
            // HF's per-token labels → our targets: the masked LM predicts label t at t; GPT-2's
            // labels are shifted inside `GPT2LMHeadModel` (position t predicts label t + 1).
            let shift = config.objective == .clm ? 1 : 0
            batch.fillTargets((0..<B).map { b in
                (0..<T).map { t in t + shift < T ? Int32(labels[b * T + t + shift]) : TokenBatch.ignoredTarget }
            })
        }
        // `fill` pads with the pad id; the fixture must agree token for token.
        for i in 0..<(B * T) { precondition(batch.inputIDs[i] == Int32(flat[i]), "fixture ids are not right-padded with pad") }
        return batch
    }
}

/// Largest `|a − b|` over the larger of `max|b|` and `floor`: error relative to the reference
/// tensor's scale.
func relativeMaxError(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    precondition(a.count == b.count)
    let scale = max(b.map(abs).max() ?? 0, floor)
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

extension ParameterStore {
    /// Tensor `i`'s values as an array (tests only).
    func valueArray(_ i: Int) -> [Float] { Array(UnsafeBufferPointer(start: value(i), count: specs[i].count)) }
    /// Tensor `i`'s gradient as an array (tests only).
    func gradientArray(_ i: Int) -> [Float] { Array(UnsafeBufferPointer(start: gradient(i), count: specs[i].count)) }
}
