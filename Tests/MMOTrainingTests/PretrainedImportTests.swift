// `models[].init` (issue 12): Hugging Face folders written by transformers' `save_pretrained`
// (fixtures/pretrained/, tools/make_pretrained_fixtures.py) import with transformers' ids and
// logits, report what they loaded, train, resume bit-exactly without the folder, and export
// back; `CKPT.mmo#model` loads one model of a checkpoint; bad folders fail naming the file.
import Foundation
import MMOAnalysis
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMOOptim
import XCTest

@testable import MMORun
@testable import MMOTraining

final class PretrainedImportTests: XCTestCase {
    static let folders: [(String, ModelFamily)] = [
        ("bert-f32", .bert), ("bert-f16", .bert), ("bert-bf16", .bert), ("bert-sharded", .bert), ("gpt2-f32", .gpt2),
        ("roberta-f32", .roberta),
    ]

    func fixture(_ name: String) -> String { repositoryRoot.appendingPathComponent("fixtures/pretrained/\(name)").path }

    struct Expected: Decodable {
        struct Tensor: Decodable {
            var shape: [Int]
            var values: [Float]
        }
        var texts: [String]
        var maxLength: Int
        var numLabels: Int
        var ids: [[Int32]]
        var logits: [[Float]]
        var head: [String: Tensor]
    }

    func expected(_ name: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: fixture(name) + "/expected.json")))
    }

    /// A run config whose one model is initialised from `source`.
    func config(_ source: String, family: ModelFamily, maxLength: Int = 16) -> RunConfig {
        var config = RunConfig()
        var entry = ModelEntry(name: "m", family: family, weight: 1)
        entry.initFrom = source
        config.models = [entry]
        config.data.maxLength = maxLength
        return config
    }

    func importModel(_ source: String, family: ModelFamily, numLabels: Int = 3, _ adjust: (inout RunConfig) -> Void = { _ in }) throws -> ImportedModel {
        var c = config(source, family: family)
        adjust(&c)
        return try PretrainedImport.load(entry: c.models[0], index: 0, config: c, numLabels: numLabels, seed: 1)
    }

    // MARK: - Parity with transformers

    func testImportedFoldersGiveTransformersIdsAndLogits() throws {
        for (name, family) in Self.folders {
            let e = try expected(name)
            let imported = try importModel(fixture(name), family: family, numLabels: e.numLabels)
            let model = imported.model
            let pad = Int32(model.config.padTokenID)
            // Ids: AutoTokenizer's, truncated to max_length (a GPT-2 text without tokens: [pad]).
            var rows: [[Int32]] = []
            for (i, text) in e.texts.enumerated() {
                let ours = imported.tokenizer.encode(text, fallback: pad)
                XCTAssertEqual(ours, e.ids[i].isEmpty ? [pad] : e.ids[i], "\(name): ids of '\(text)'")
                rows.append(ours)
            }
            // The head transformers initialised, so that the logits are comparable.
            for (tensor, values) in e.head {
                let index = try XCTUnwrap(model.parameters.index(of: tensor), "\(name): no tensor \(tensor)")
                XCTAssertEqual(model.parameters.specs[index].shape, values.shape)
                model.parameters.value(index).update(from: values.values, count: values.values.count)
            }
            let batch = TokenBatch(maxBatchSize: rows.count, maxSequenceLength: e.maxLength)
            batch.fill(ids: rows, labels: rows.map { _ in 0 }, sequenceLength: rows.map(\.count).max()!, padID: pad)
            _ = model.forward(batch, training: false)
            var worst: Float = 0
            for (b, row) in e.logits.enumerated() {
                for (k, x) in row.enumerated() { worst = max(worst, abs(model.logits[b * e.numLabels + k] - x)) }
            }
            XCTAssertLessThan(worst, 1e-5, "\(name): logits differ from transformers' by \(worst)")
        }
    }

    func testImportReportNamesLoadedNewAndIgnoredTensors() throws {
        let bert = try importModel(fixture("bert-f32"), family: .bert).report
        XCTAssertEqual(bert.newlyInitialized, ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"])
        XCTAssertTrue(bert.ignored.contains("cls.predictions.bias"), "\(bert.ignored)")
        XCTAssertTrue(bert.ignored.allSatisfy { $0.hasPrefix("cls.") }, "\(bert.ignored)")
        XCTAssertEqual(bert.loaded.count, try parameterSpecs(config: try importModel(fixture("bert-f32"), family: .bert).model.config).count - 4)
        XCTAssertEqual(bert.dtypes, ["F32"])
        XCTAssertEqual(try importModel(fixture("bert-f16"), family: .bert).report.dtypes, ["F16"])
        XCTAssertEqual(try importModel(fixture("bert-bf16"), family: .bert).report.dtypes, ["BF16"])
        let gpt2 = try importModel(fixture("gpt2-f32"), family: .gpt2).report
        XCTAssertEqual(gpt2.newlyInitialized, ["score.weight"])
        // RobertaModel's names have no `roberta.` prefix; its pooler is not used by the classifier.
        let roberta = try importModel(fixture("roberta-f32"), family: .roberta).report
        XCTAssertEqual(roberta.newlyInitialized, ["classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias"])
        XCTAssertEqual(Set(roberta.ignored), ["pooler.dense.weight", "pooler.dense.bias"])
        XCTAssertTrue(roberta.loaded.contains("roberta.embeddings.word_embeddings.weight"))
        // The real MiniLM (tools/fetch-pretrained), when present: its pooler loads, the classifier is new.
        let minilm = repositoryRoot.appendingPathComponent("data/pretrained/all-MiniLM-L6-v2").path
        if FileManager.default.fileExists(atPath: minilm + "/config.json") {
            let report = try importModel(minilm, family: .bert).report
            XCTAssertEqual(report.newlyInitialized, ["classifier.weight", "classifier.bias"])
            XCTAssertEqual(report.ignored, ["embeddings.position_ids"])
        }
    }

    // MARK: - A run from a folder

    func testRunFromFolderTrainsResumesWithoutTheFolderAndExports() throws {
        let folder = try temporaryFolder(self)
        let source = folder.appendingPathComponent("bert-src")
        try FileManager.default.copyItem(atPath: fixture("bert-f32"), toPath: source.path)
        // The imported BERT beside a GPT-2 from scratch (the run's word tokenizer, another vocabulary size).
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        var imported = ModelEntry(name: "pre", family: .bert, weight: 1)
        imported.initFrom = source.path
        config.models = [imported, ModelEntry(name: "gpt2", family: .gpt2, weight: 0.8, size: .tiny)]
        config.data.maxLength = 16
        config.training.maxSteps = 6
        let straight = folder.appendingPathComponent("straight")
        let trainer = try Trainer.start(config: config, runDirectory: straight)
        XCTAssertEqual(trainer.models[0].config.vocabSize, 2000)
        XCTAssertNotEqual(trainer.models[1].config.vocabSize, 2000)
        XCTAssertEqual(try trainer.run(progressMode: .quiet).reason, .finished)

        let interrupted = folder.appendingPathComponent("interrupted")
        XCTAssertEqual(try Trainer.start(config: config, runDirectory: interrupted).run(stopAtStep: 3, progressMode: .quiet).reason, .interrupted)
        // Resume needs nothing of the folder: the checkpoint holds the tokenizer and the architecture.
        try FileManager.default.removeItem(at: source)
        let resumed = try Trainer.resume(checkpoint: RunDirectory(url: interrupted).lastURL)
        XCTAssertEqual(try resumed.run(progressMode: .quiet).reason, .finished)
        try assertSameCheckpoint(RunDirectory(url: straight).lastURL, RunDirectory(url: interrupted).lastURL, "resumed without the folder")

        // The state keeps the load report and the tokenizer files.
        let file = try Checkpoint.open(RunDirectory(url: straight).lastURL)
        let record = try file.model(named: "pre")
        XCTAssertEqual(record.initialization?.newlyInitialized.count, 4)
        guard case .pretrained(let tokenizer)? = record.tokenizer else { return XCTFail("no stored tokenizer") }
        XCTAssertEqual(tokenizer.files["tokenizer.json"], try String(contentsOfFile: fixture("bert-f32") + "/tokenizer.json", encoding: .utf8))
        XCTAssertNil(try file.model(named: "gpt2").tokenizer)

        // Evaluation encodes with each model's own tokenizer: the same result as training's last.
        let evaluation = try CheckpointEvaluator.evaluate(
            file, on: try EvaluationData.validation(of: file), dataDescription: "validation", options: EvaluationOptions())
        for score in evaluation.models {
            XCTAssertEqual(score.accuracy, file.state.metrics.lastEval[score.name]?.accuracy ?? -1, accuracy: 1e-12, score.name)
            XCTAssertEqual(score.loss, file.state.metrics.lastEval[score.name]?.loss ?? -1, accuracy: 1e-6, score.name)
        }

        // Export: the trained tensors and the source's tokenizer files, byte for byte.
        let out = folder.appendingPathComponent("export")
        _ = try ModelExport.export(file, model: "pre", to: out)
        let weights = try SafeTensorsFile(contentsOf: out.appendingPathComponent("model.safetensors"))
        let specs = try file.specs(of: record)
        for spec in specs {
            var values = [Float](repeating: 0, count: spec.count)
            try values.withUnsafeMutableBufferPointer { try file.readTensor(CheckpointNames.parameter(model: "pre", spec.name), shape: spec.shape, into: $0.baseAddress!) }
            XCTAssertEqual(try weights.tensor(spec.name).floats(), values, spec.name)
        }
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(name)), try Data(contentsOf: URL(fileURLWithPath: fixture("bert-f32") + "/" + name)), name)
        }
    }

    func testModelOfACheckpointInitialisesANewClassifier() throws {
        let folder = try temporaryFolder(self)
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.maxSteps = 2
        let first = folder.appendingPathComponent("first")
        _ = try Trainer.start(config: config, runDirectory: first).run(progressMode: .quiet)
        let last = RunDirectory(url: first).lastURL
        let source = try Checkpoint.open(last)
        // A 3-class run from the 2-class checkpoint's RoBERTa: backbone loaded, head new.
        var c = config
        var entry = ModelEntry(name: "r2", family: .roberta, weight: 1, size: .tiny)
        entry.initFrom = last.path + "#roberta"
        c.models = [entry]
        let imported = try PretrainedImport.load(entry: entry, index: 0, config: c, numLabels: 3, seed: 5)
        XCTAssertEqual(imported.report.newlyInitialized, ["classifier.out_proj.weight", "classifier.out_proj.bias"])
        XCTAssertEqual(imported.report.ignored, ["classifier.out_proj.weight", "classifier.out_proj.bias"])
        let record = try source.model(named: "roberta")
        let specs = try source.specs(of: record)
        let store = imported.model.parameters
        for (i, spec) in specs.enumerated() where spec.kind != .head || spec.role == "head.dense" {
            var values = [Float](repeating: 0, count: spec.count)
            try values.withUnsafeMutableBufferPointer { try source.readTensor(CheckpointNames.parameter(model: "roberta", spec.name), shape: spec.shape, into: $0.baseAddress!) }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: store.value(i), count: spec.count)), values, spec.name)
        }
        XCTAssertEqual(imported.tokenizer, .word(source.state.tokenizer, .roberta))
        // A model the checkpoint does not have: named, with the ones it has.
        entry.initFrom = last.path + "#nope"
        c.models = [entry]
        XCTAssertThrowsError(try PretrainedImport.load(entry: entry, index: 0, config: c, numLabels: 3, seed: 5)) { error in
            XCTAssertTrue("\(error)".contains("has no model 'nope'") && "\(error)".contains("bert, gpt2, roberta"), "\(error)")
        }
    }

    // MARK: - Bad input

    /// A copy of fixture `name` in a temporary folder, changed by `edit`.
    func brokenCopy(_ name: String, _ edit: (URL) throws -> Void) throws -> URL {
        let folder = try temporaryFolder(self).appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: fixture(name), toPath: folder.path)
        try edit(folder)
        return folder
    }

    func assertImportFails(_ folder: URL, family: ModelFamily = .bert, _ adjust: (inout RunConfig) -> Void = { _ in }, mentions: [String], line: UInt = #line) {
        XCTAssertThrowsError(try importModel(folder.path, family: family, adjust), line: line) { error in
            for m in mentions { XCTAssertTrue("\(error)".contains(m), "'\(error)' does not mention '\(m)'", line: line) }
        }
    }

    func editJSON(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    func testBadFoldersAreErrorsNamingTheFileAndTensor() throws {
        assertImportFails(try brokenCopy("bert-f32") { try FileManager.default.removeItem(at: $0.appendingPathComponent("config.json")) },
            mentions: ["config.json", "no such"])
        assertImportFails(try brokenCopy("bert-f32") { try self.editJSON($0.appendingPathComponent("config.json")) { $0["model_type"] = "t5" } },
            mentions: ["config.json", "model_type", "'t5'"])
        assertImportFails(try brokenCopy("bert-f32") { try self.editJSON($0.appendingPathComponent("config.json")) { $0["hidden_act"] = "relu" } },
            mentions: ["config.json", "hidden_act", "'relu'"])
        assertImportFails(try brokenCopy("bert-f32") { _ in }, family: .roberta, mentions: ["models[0].family", "model_type bert"])
        assertImportFails(try brokenCopy("bert-f32") { _ in }, { $0.models[0].hiddenSize = 32 }, mentions: ["models[0].hiddenSize", "32", "hidden_size 16"])
        assertImportFails(try brokenCopy("bert-f32") { _ in }, { $0.data.maxLength = 64 }, mentions: ["data.maxLength", "40 positions"])
        // Tensors: one missing, one mis-shaped (rewritten safetensors files).
        func rewrite(_ folder: URL, _ edit: (inout SafeTensorsFile, SafeTensorsFile) throws -> Void) throws {
            let url = folder.appendingPathComponent("model.safetensors")
            let original = try SafeTensorsFile(contentsOf: url)
            var out = SafeTensorsFile(metadata: original.metadata)
            try edit(&out, original)
            try out.write(to: url)
        }
        let missing = "bert.encoder.layer.1.attention.self.key.weight"
        assertImportFails(try brokenCopy("bert-f32") { folder in
            try rewrite(folder) { out, original in for n in original.names where n != missing { try out.add(n, original[n]!) } }
        }, mentions: ["model.safetensors", missing, "missing"])
        let misshaped = "bert.encoder.layer.0.intermediate.dense.weight"
        assertImportFails(try brokenCopy("bert-f32") { folder in
            try rewrite(folder) { out, original in
                for n in original.names { try out.add(n, n == misshaped ? SafeTensor(floats: [Float](repeating: 0, count: 16 * 16), shape: [16, 16]) : original[n]!) }
            }
        }, mentions: ["model.safetensors", misshaped, "[16, 16]", "[32, 16]"])
        // Tokenizer files that do not parse.
        assertImportFails(try brokenCopy("bert-f32") { try Data("{\"model\": ".utf8).write(to: $0.appendingPathComponent("tokenizer.json")) },
            mentions: ["tokenizer.json", "not valid JSON"])
        assertImportFails(try brokenCopy("roberta-f32") { try Data("a b c\n".utf8).write(to: $0.appendingPathComponent("merges.txt")) },
            family: .roberta, mentions: ["merges.txt", "line 1"])
        assertImportFails(try brokenCopy("bert-f16") { try FileManager.default.removeItem(at: $0.appendingPathComponent("vocab.txt")) },
            mentions: ["no tokenizer files"])
        assertImportFails(URL(fileURLWithPath: "/nonexistent/folder"), mentions: ["models[0].init", "is not a folder"])
    }

    func testConfigFieldsDecodeAndOldConfigsKeepTheirMeaning() throws {
        let yaml = """
            models:
              - {name: m, family: bert, init: some/folder}
            data: {padding: max}
            """
        let config = try decodeDocument(RunConfig.self, data: Data(yaml.utf8), file: "c.yaml")
        XCTAssertEqual(config.models[0].initFrom, "some/folder")
        XCTAssertEqual(config.data.padding, .max)
        // A config without the fields: random initialisation, padding to the longest (as before).
        let old = try decodeDocument(RunConfig.self, data: Data("models: [{name: m, family: bert}]".utf8), file: "c.yaml")
        XCTAssertNil(old.models[0].initFrom)
        XCTAssertEqual(old.data.padding, .longest)
        XCTAssertThrowsError(try decodeDocument(RunConfig.self, data: Data("data: {padding: longer}".utf8), file: "c.yaml")) { error in
            XCTAssertTrue("\(error)".contains("padding"), "\(error)")
        }
        // `init` is written back under its config name (the resolved config.json, the state's run).
        let encoded = String(decoding: try JSONEncoder().encode(config.models[0]), as: UTF8.self)
        XCTAssertTrue(encoded.contains("\"init\":\"some\\/folder\"") || encoded.contains("\"init\":\"some/folder\""), encoded)
    }

    // MARK: - Gradient sharing across vocabularies, padding

    func testEmbeddingGroupsFormOnlyBetweenEqualVocabularySizes() throws {
        func specs(vocab: Int) throws -> [ParameterSpec] {
            try parameterSpecs(config: ModelConfig(
                family: .bert, vocabSize: vocab, hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 32, maxPositions: 16, numLabels: 2))
        }
        let groups = CompatibilityGroup.groups(models: [try specs(vocab: 2000), try specs(vocab: 85), try specs(vocab: 2000)], granularity: .paper)
        let word = groups.filter { g in g.members.contains { m in m.tensor == 0 } && g.kind == .embedding }
        // The word tables of models 0 and 2 (2000 rows) share a group; model 1's (85 rows) is in none.
        XCTAssertEqual(word.count, 1)
        XCTAssertEqual(Set(word[0].members.filter { $0.tensor == 0 }.map(\.model)), [0, 2])
        XCTAssertFalse(groups.contains { g in g.members.contains { $0.model == 1 && $0.tensor == 0 } })
    }

    func testPaddingToMaxLengthGivesTheSameLogitsAsToTheLongest() throws {
        let imported = try importModel(fixture("bert-f32"), family: .bert)
        let e = try expected("bert-f32")
        // The texts shorter than maxLength (the last one is cut to it).
        let data = LabeledDataset(examples: e.texts.dropLast().map { LabeledExample(text: $0, label: 0) }, labelNames: ["a", "b", "c"])
        let longest = EncodedDataset(data, tokenizer: imported.tokenizer, padID: 0)
        let fixed = EncodedDataset(data, tokenizer: imported.tokenizer, padID: 0, fixedLength: 16)
        let batch = TokenBatch(maxBatchSize: data.count, maxSequenceLength: 16)
        longest.fill(batch, indices: ArraySlice(0..<data.count))
        XCTAssertEqual(batch.sequenceLength, longest.longest)
        XCTAssertLessThan(batch.sequenceLength, 16)
        _ = imported.model.forward(batch, training: false)
        let a = Array(UnsafeBufferPointer(start: imported.model.logits, count: data.count * 3))
        fixed.fill(batch, indices: ArraySlice(0..<data.count))
        XCTAssertEqual(batch.sequenceLength, 16)
        _ = imported.model.forward(batch, training: false)
        let b = Array(UnsafeBufferPointer(start: imported.model.logits, count: data.count * 3))
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        XCTAssertEqual(RunConfig().data.padding, .longest)
    }
}
