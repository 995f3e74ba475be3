// The pretraining objectives end to end: the 80/10/10 masking rule and the causal targets, text
// without labels, config errors, the tied decoder as one tensor in the optimizer's groups, and a
// pretraining run's evaluation, mmo-eval and export agreeing with each other.
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMOOptim
import XCTest

@testable import MMOAnalysis
@testable import MMORun
@testable import MMOTraining

final class PretrainingTests: XCTestCase {
    /// `tiny.yaml` as a pretraining run: masked LM for the encoders, causal LM for GPT-2.
    func pretrainingConfig(steps: Int = 4) throws -> RunConfig {
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.objective = .mlm
        config.training.maxSteps = steps
        for i in config.models.indices where config.models[i].family == .gpt2 { config.models[i].objective = .clm }
        return config
    }

    // MARK: - Targets

    func testMaskingFollowsTheEightyTenTenRule() throws {
        // 400 BERT-scheme sequences of 30 real tokens ([CLS] 28 words [SEP]) padded to 32.
        let V = 1000, B = 400, T = 32
        let batch = TokenBatch(maxBatchSize: B, maxSequenceLength: T)
        var source = PhiloxRNG(seed: 3, stream: "test/ids")
        let ids = (0..<B).map { _ in [2] + (0..<28).map { _ in Int32(5 + source.nextInt(below: V - 5)) } + [3] }
        batch.fill(ids: ids, labels: [Int32](repeating: 0, count: B), sequenceLength: T, padID: 0)
        let original = Array(UnsafeBufferPointer(start: batch.inputIDs, count: B * T))
        let rule = try XCTUnwrap(MaskingRule(scheme: .bert, vocabularySize: V))
        XCTAssertEqual(rule.maskID, 4)
        XCTAssertNil(MaskingRule(scheme: .gpt2, vocabularySize: V), "GPT-2 has no mask token")
        var rng = PhiloxRNG(seed: 9, stream: "mlm/bert")
        let selected = rule.apply(to: batch, rng: &rng)
        var masked = 0, unchanged = 0, replaced = 0
        for i in 0..<(B * T) {
            let t = i % T, target = batch.targets[i]
            if t == 0 || t >= 29 {
                XCTAssertEqual(target, TokenBatch.ignoredTarget, "specials and padding are never selected")
                XCTAssertEqual(batch.inputIDs[i], original[i])
                continue
            }
            guard target != TokenBatch.ignoredTarget else {
                XCTAssertEqual(batch.inputIDs[i], original[i], "an unselected token is left alone")
                continue
            }
            XCTAssertEqual(target, original[i], "the target is the original token")
            if batch.inputIDs[i] == 4 { masked += 1 } else if batch.inputIDs[i] == original[i] { unchanged += 1 } else { replaced += 1 }
        }
        let maskable = Double(B * 28)
        XCTAssertEqual(masked + unchanged + replaced, selected)
        // Binomial bounds of about 5 sigma: 11,200 maskable tokens, ~1,680 selected.
        XCTAssertEqual(Double(selected) / maskable, 0.15, accuracy: 0.017)
        XCTAssertEqual(Double(masked) / Double(selected), 0.8, accuracy: 0.05)
        XCTAssertEqual(Double(replaced) / Double(selected), 0.1, accuracy: 0.04)
        XCTAssertEqual(Double(unchanged) / Double(selected), 0.1, accuracy: 0.04)
        // The same stream state masks the same way.
        batch.fill(ids: ids, labels: [Int32](repeating: 0, count: B), sequenceLength: T, padID: 0)
        var again = PhiloxRNG(seed: 9, stream: "mlm/bert")
        XCTAssertEqual(rule.apply(to: batch, rng: &again), selected)
        XCTAssertEqual(again.state, rng.state)
    }

    func testCausalTargetsAreTheNextTokens() {
        let batch = TokenBatch(maxBatchSize: 2, maxSequenceLength: 4)
        batch.fill(ids: [[7, 8, 9], [5]], labels: [0, 0], sequenceLength: 4, padID: 0)
        XCTAssertEqual(CausalTargets.apply(to: batch), 2)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: batch.targets, count: 8)), [8, 9, -100, -100, -100, -100, -100, -100])
    }

    // MARK: - Data and config

    func testPretrainingReadsTextWithoutLabels() throws {
        let folder = try temporaryFolder(self)
        let train = folder.appendingPathComponent("train.tsv"), validation = folder.appendingPathComponent("validation.tsv")
        try "sentence\nthe first text\nanother one here\n".write(to: train, atomically: true, encoding: .utf8)
        try "sentence\na third text\n".write(to: validation, atomically: true, encoding: .utf8)
        var config = try pretrainingConfig()
        config.data.source = .files
        config.data.train = train.path
        config.data.validation = validation.path
        let data = try PreparedData.load(config)
        XCTAssertEqual(data.train.count, 2)
        XCTAssertEqual(data.train.labelNames, [])
        XCTAssertEqual(data.modelConfigs(config).map(\.objective), [.mlm, .clm, .mlm])
        XCTAssertEqual(data.modelConfigs(config).map(\.numLabels), [0, 0, 0])
        // The same files are an error naming the column for a classification run.
        config.training.objective = nil
        config.models[1].objective = nil
        XCTAssertThrowsError(try PreparedData.load(config)) { XCTAssertTrue("\($0)".contains("'label'"), "\($0)") }
    }

    func testObjectivesThatDoNotFitAreConfigErrors() throws {
        var config = try pretrainingConfig()
        config.models[1].objective = nil  // GPT-2 under the run's mlm
        XCTAssertThrowsError(try config.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.field, "training.objective")
            XCTAssertTrue("\(error)".contains("causal LM for GPT-2"), "\(error)")
        }
        config = try pretrainingConfig()
        config.models[0].objective = .classification
        XCTAssertThrowsError(try config.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.field, "models[0].objective")
            XCTAssertTrue("\(error)".contains("either classifies or pretrains"), "\(error)")
        }
        config = try pretrainingConfig()
        config.models[0].objective = .clm
        XCTAssertThrowsError(try config.validate()) { XCTAssertEqual(($0 as? ConfigError)?.field, "models[0].objective") }
        var model = ModelConfig(family: .gpt2, vocabSize: 20, hiddenSize: 8, numLayers: 1, numHeads: 2, intermediateSize: 8, maxPositions: 8, numLabels: 0)
        model.objective = .mlm
        XCTAssertThrowsError(try makeModel(config: model, seed: 0)) { XCTAssertTrue("\($0)".contains("objective"), "\($0)") }
    }

    // MARK: - Tied decoder in the optimizer

    func testTiedDecoderIsOneTensorInTheOptimizerGroups() throws {
        let config = try pretrainingConfig()
        let trainer = try Trainer.start(config: config, runDirectory: try temporaryFolder(self).appendingPathComponent("run"))
        let specs = trainer.models.map(\.parameters.specs)
        for (m, list) in specs.enumerated() {
            let names = list.map(\.name)
            XCTAssertFalse(names.contains { $0.contains("decoder") || $0 == "lm_head.weight" }, "\(trainer.names[m]): the decoder has no tensor of its own")
            XCTAssertEqual(list.filter { $0.role == "embedding.word" }.count, 1)
        }
        XCTAssertEqual(specs[0].last?.name, "cls.predictions.transform.LayerNorm.bias")
        XCTAssertEqual(specs[2].suffix(5).map(\.name).first, "lm_head.bias")
        // Every word table (all [V, C]) joins one embedding group, each model once.
        let groups = CompatibilityGroup.groups(models: specs, granularity: .paper)
        let word = try XCTUnwrap(groups.first { g in g.members.contains { specs[$0.model][$0.tensor].role == "embedding.word" } })
        XCTAssertEqual(word.members.map(\.model).sorted(), [0, 1, 2])
        // The masked-LM heads' own tensors are head-kind and group between BERT and RoBERTa.
        let bias = try XCTUnwrap(groups.first { g in g.members.contains { specs[$0.model][$0.tensor].name == "cls.predictions.bias" } })
        XCTAssertEqual(bias.kind, .head)
        XCTAssertEqual(Set(bias.members.map(\.model)), [0, 2])
    }

    // MARK: - Evaluation, mmo-eval and export

    func testPretrainingRunEvaluatesExportsAndReevaluatesIdentically() throws {
        let folder = try temporaryFolder(self)
        let trainer = try Trainer.start(config: try pretrainingConfig(steps: 6), runDirectory: folder.appendingPathComponent("run"))
        let before = trainer.evaluate()
        let summary = try trainer.run(progressMode: .quiet)
        XCTAssertEqual(summary.reason, .finished)
        for name in trainer.names {
            let start = try XCTUnwrap(before[name]), end = try XCTUnwrap(summary.lastEval[name])
            XCTAssertNotNil(end.perplexity)
            XCTAssertEqual(end.perplexity!, exp(end.loss), accuracy: 1e-9 * end.perplexity!)
            XCTAssertGreaterThan(end.tokens ?? 0, 0)
            XCTAssertLessThan(end.loss, start.loss, "\(name): six steps lower the validation loss")
            // Fixed validation masks: evaluating again gives the same bits.
            XCTAssertEqual(trainer.evaluate()[name], end)
        }
        // mmo-eval's library reproduces the run's own evaluation exactly.
        let checkpoint = try Checkpoint.open(RunDirectory(url: folder.appendingPathComponent("run")).lastURL)
        let report = try CheckpointEvaluator.evaluate(checkpoint, on: EvaluationData.validation(of: checkpoint), dataDescription: "validation")
        XCTAssertNil(report.ensemble)
        for score in report.models {
            let recorded = try XCTUnwrap(checkpoint.state.metrics.lastEval[score.name])
            XCTAssertEqual(score.loss, recorded.loss)
            XCTAssertEqual(score.perplexity, recorded.perplexity)
            XCTAssertEqual(score.tokens, recorded.tokens)
        }
        // Export: the transformers LM classes, the decoder stored once (tied).
        let bert = try ModelExport.export(checkpoint, model: "bert", to: folder.appendingPathComponent("bert"))
        XCTAssertEqual(bert.architecture, "BertForMaskedLM")
        let weights = try ModelExport.stateDict(checkpoint, model: "bert")
        XCTAssertTrue(weights.names.contains("cls.predictions.bias"))
        XCTAssertFalse(weights.names.contains("cls.predictions.decoder.weight"))
        let gpt2 = try ModelExport.export(checkpoint, model: "gpt2", to: folder.appendingPathComponent("gpt2"))
        XCTAssertEqual(gpt2.architecture, "GPT2LMHeadModel")
        let object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("gpt2/config.json"))) as? [String: Any])
        XCTAssertEqual(object["tie_word_embeddings"] as? Bool, true)
        XCTAssertNil(object["id2label"])
        XCTAssertEqual(try ModelExport.stateDict(checkpoint, model: "gpt2").names.filter { $0.hasPrefix("lm_head") }, [])
    }
}
