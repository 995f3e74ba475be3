// mmo-export without PyTorch: the Hugging Face names and shapes of each family (written out here
// from transformers' modules, not derived from HFLayout), GPT-2's fused c_attn and transposed
// Conv1D weights element by element, the gather → scatter round trip bit for bit, the written
// files (safetensors, config.json, tokenizer files) and the tool's refusals.
// tools/check_export.py checks the same folders against transformers itself.
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMORun
import MMOTestSupport
import XCTest

@testable import MMOAnalysis

final class ExportTests: XCTestCase {
    static let layers = 2, hidden = 8, ffn = 12, labels = 3

    func config(_ family: ModelFamily) -> ModelConfig {
        ModelConfig(
            family: family, vocabSize: 11, hiddenSize: Self.hidden, numLayers: Self.layers, numHeads: 2, intermediateSize: Self.ffn,
            maxPositions: family == .roberta ? 12 : 10, numLabels: Self.labels)
    }

    /// The `state_dict` keys and shapes of transformers' `<Family>ForSequenceClassification`
    /// (persistent parameters only), written out from the modules.
    func huggingFaceShapes(_ c: ModelConfig) -> [String: [Int]] {
        let C = c.hiddenSize, I = c.intermediateSize, K = c.numLabels, V = c.vocabSize, P = c.maxPositions
        var out: [String: [Int]] = [:]
        switch c.family {
        case .gpt2:
            out["transformer.wte.weight"] = [V, C]
            out["transformer.wpe.weight"] = [P, C]
            for l in 0..<c.numLayers {
                let p = "transformer.h.\(l)"
                for n in ["ln_1", "ln_2"] { out["\(p).\(n).weight"] = [C]; out["\(p).\(n).bias"] = [C] }
                out["\(p).attn.c_attn.weight"] = [C, 3 * C]  // Conv1D: [in, out]
                out["\(p).attn.c_attn.bias"] = [3 * C]
                out["\(p).attn.c_proj.weight"] = [C, C]
                out["\(p).attn.c_proj.bias"] = [C]
                out["\(p).mlp.c_fc.weight"] = [C, I]
                out["\(p).mlp.c_fc.bias"] = [I]
                out["\(p).mlp.c_proj.weight"] = [I, C]
                out["\(p).mlp.c_proj.bias"] = [C]
            }
            out["transformer.ln_f.weight"] = [C]
            out["transformer.ln_f.bias"] = [C]
            out["score.weight"] = [K, C]  // nn.Linear, no bias
        case .bert, .roberta:
            let base = c.family == .bert ? "bert" : "roberta"
            out["\(base).embeddings.word_embeddings.weight"] = [V, C]
            out["\(base).embeddings.position_embeddings.weight"] = [P, C]
            out["\(base).embeddings.token_type_embeddings.weight"] = [c.typeVocabSize, C]
            out["\(base).embeddings.LayerNorm.weight"] = [C]
            out["\(base).embeddings.LayerNorm.bias"] = [C]
            for l in 0..<c.numLayers {
                let p = "\(base).encoder.layer.\(l)"
                for n in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                    out["\(p).\(n).weight"] = [C, C]
                    out["\(p).\(n).bias"] = [C]
                }
                for n in ["attention.output.LayerNorm", "output.LayerNorm"] { out["\(p).\(n).weight"] = [C]; out["\(p).\(n).bias"] = [C] }
                out["\(p).intermediate.dense.weight"] = [I, C]
                out["\(p).intermediate.dense.bias"] = [I]
                out["\(p).output.dense.weight"] = [C, I]
                out["\(p).output.dense.bias"] = [C]
            }
            if c.family == .bert {
                out["bert.pooler.dense.weight"] = [C, C]
                out["bert.pooler.dense.bias"] = [C]
                out["classifier.weight"] = [K, C]
                out["classifier.bias"] = [K]
            } else {
                out["classifier.dense.weight"] = [C, C]
                out["classifier.dense.bias"] = [C]
                out["classifier.out_proj.weight"] = [K, C]
                out["classifier.out_proj.bias"] = [K]
            }
        }
        return out
    }

    /// A store of `specs` filled with distinct values from a seeded stream.
    func filledStore(_ specs: [ParameterSpec], seed: UInt64) -> ParameterStore {
        let store = ParameterStore(specs: specs)
        var rng = PhiloxRNG(seed: seed, stream: "export-tests")
        for i in 0..<store.totalCount { store.values.pointer[i] = rng.normal() }
        return store
    }

    /// All Hugging Face tensors of `store` as arrays.
    func gatherAll(_ store: ParameterStore, family: ModelFamily) -> [(HFLayout.Tensor, [Float])] {
        HFLayout.tensors(specs: store.specs, family: family).map { t in
            var out = [Float](repeating: .nan, count: t.count)
            out.withUnsafeMutableBufferPointer { b in
                HFLayout.gather(t, specs: store.specs, source: { UnsafePointer(store.value($0)) }, into: b.baseAddress!)
            }
            return (t, out)
        }
    }

    // MARK: - Layout

    func testNamesAndShapesAreTransformers() throws {
        for family in ModelFamily.allCases {
            let c = config(family)
            let tensors = HFLayout.tensors(specs: try parameterSpecs(config: c), family: family)
            var shapes: [String: [Int]] = [:]
            for t in tensors {
                XCTAssertNil(shapes[t.name], "\(family): \(t.name) twice")
                shapes[t.name] = t.shape
            }
            XCTAssertEqual(shapes, huggingFaceShapes(c), "\(family)")
        }
    }

    func testGPT2FusesQKVAndTransposesConv1D() throws {
        let specs = try parameterSpecs(config: config(.gpt2))
        let store = filledStore(specs, seed: 1)
        let hf = Dictionary(uniqueKeysWithValues: gatherAll(store, family: .gpt2).map { ($0.0.name, $0.1) })
        let C = Self.hidden, I = Self.ffn
        func ours(_ name: String) -> UnsafeMutablePointer<Float> { store.value(named: name) }
        for l in 0..<Self.layers {
            let p = "transformer.h.\(l)"
            let weight = try XCTUnwrap(hf["\(p).attn.c_attn.weight"]), bias = try XCTUnwrap(hf["\(p).attn.c_attn.bias"])
            for (part, name) in ["q", "k", "v"].enumerated() {
                let w = ours("\(p).attn.c_attn.\(name).weight"), b = ours("\(p).attn.c_attn.\(name).bias")
                for o in 0..<C {
                    // HF: x @ W, W[in, part·C + out]; ours: W[out, in].
                    for i in 0..<C { XCTAssertEqual(weight[i * 3 * C + part * C + o], w[o * C + i], "\(p) \(name) [\(o), \(i)]") }
                    XCTAssertEqual(bias[part * C + o], b[o])
                }
            }
            for (name, out, inputs) in [("attn.c_proj", C, C), ("mlp.c_fc", I, C), ("mlp.c_proj", C, I)] {
                let h = try XCTUnwrap(hf["\(p).\(name).weight"]), w = ours("\(p).\(name).weight")
                for o in 0..<out { for i in 0..<inputs { XCTAssertEqual(h[i * out + o], w[o * inputs + i], "\(p).\(name)") } }
                XCTAssertEqual(Array(try XCTUnwrap(hf["\(p).\(name).bias"])), Array(UnsafeBufferPointer(start: ours("\(p).\(name).bias"), count: out)))
            }
        }
        // score is an nn.Linear: [out, in] as ours.
        XCTAssertEqual(try XCTUnwrap(hf["score.weight"]), Array(UnsafeBufferPointer(start: ours("score.weight"), count: Self.labels * C)))
    }

    func testGatherThenScatterIsBitExact() throws {
        for family in ModelFamily.allCases {
            let specs = try parameterSpecs(config: config(family))
            let source = filledStore(specs, seed: 2)
            let target = ParameterStore(specs: specs)
            for i in 0..<target.totalCount { target.values.pointer[i] = .nan }
            var covered = 0
            for (t, values) in gatherAll(source, family: family) {
                XCTAssertFalse(values.contains { $0.isNaN }, "\(family) \(t.name): gather left elements unwritten")
                values.withUnsafeBufferPointer { HFLayout.scatter(t, specs: specs, from: $0.baseAddress!, target: target.value) }
                covered += t.count
            }
            XCTAssertEqual(covered, source.totalCount, "\(family): every element exported once")
            XCTAssertEqual(memcmp(source.values.pointer, target.values.pointer, source.totalCount * 4), 0, "\(family) round trip")
        }
    }

    func testConfigObjectFields() throws {
        let labels = ["neg", "neutral", "pos"]
        let gpt2 = HFLayout.configObject(config(.gpt2), labels: labels, specialTokens: HFTokenizerExport.configTokenIDs(.gpt2))
        XCTAssertEqual(gpt2["architectures"] as? [String], ["GPT2ForSequenceClassification"])
        XCTAssertEqual(gpt2["model_type"] as? String, "gpt2")
        XCTAssertEqual(gpt2["n_embd"] as? Int, Self.hidden)
        XCTAssertEqual(gpt2["n_inner"] as? Int, Self.ffn)
        XCTAssertEqual(gpt2["n_positions"] as? Int, 10)
        XCTAssertEqual(gpt2["activation_function"] as? String, "gelu_new")
        XCTAssertEqual(gpt2["pad_token_id"] as? Int, 0)
        XCTAssertEqual(gpt2["eos_token_id"] as? Int, 2)
        XCTAssertEqual(gpt2["id2label"] as? [String: String], ["0": "neg", "1": "neutral", "2": "pos"])
        XCTAssertEqual(gpt2["label2id"] as? [String: Int], ["neg": 0, "neutral": 1, "pos": 2])
        XCTAssertEqual(gpt2["dtype"] as? String, "float32")
        XCTAssertNil(gpt2["torch_dtype"], "deprecated in transformers 5")
        let roberta = HFLayout.configObject(config(.roberta), labels: labels, specialTokens: HFTokenizerExport.configTokenIDs(.roberta))
        XCTAssertEqual(roberta["max_position_embeddings"] as? Int, 12, "includes the padding_idx + 1 offset")
        XCTAssertEqual(roberta["pad_token_id"] as? Int, 1)
        XCTAssertEqual(roberta["type_vocab_size"] as? Int, 1)
        XCTAssertEqual(roberta["layer_norm_eps"] as? Double, 1e-5)
        let bert = HFLayout.configObject(config(.bert), labels: labels, specialTokens: [:])
        XCTAssertEqual(bert["hidden_act"] as? String, "gelu")
        XCTAssertEqual(bert["layer_norm_eps"] as? Double, 1e-12, "the shortest decimal of the Float, not 9.9999999e-13")
        XCTAssertEqual(bert["type_vocab_size"] as? Int, 2)
    }

    // MARK: - The files

    func testExportedFolderOfEachModel() throws {
        let folder = try temporaryFolder(self)
        let checkpoint = try Checkpoint.open(try SharedRuns.tiny.appendingPathComponent("last.mmo"))
        let tokenizer = checkpoint.state.tokenizer
        for record in checkpoint.state.models {
            let out = folder.appendingPathComponent(record.name)
            let report = try ModelExport.export(checkpoint, model: record.name, to: out)
            XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: out.path)), Set(ModelExport.fileNames))
            XCTAssertEqual(report.parameters, record.parameterCount)

            let weights = try SafeTensorsFile(contentsOf: out.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(weights.metadata, ["format": "pt"])
            var shapes: [String: [Int]] = [:]
            for name in weights.names {
                let t = try weights.tensor(name)
                XCTAssertEqual(t.dtype, .F32, name)
                shapes[name] = t.shape
            }
            XCTAssertEqual(shapes, huggingFaceShapes(record.config), record.name)
            // Values: an untransformed tensor equals its blob; GPT-2's c_attn the transposed q|k|v.
            let C = record.config.hiddenSize
            func blob(_ name: String, _ shape: [Int]) throws -> [Float] {
                var values = [Float](repeating: 0, count: shape.reduce(1, *))
                try values.withUnsafeMutableBufferPointer {
                    try checkpoint.readTensor(CheckpointNames.parameter(model: record.name, name), shape: shape, into: $0.baseAddress!)
                }
                return values
            }
            if record.family == .gpt2 {
                let fused = try weights.tensor("transformer.h.1.attn.c_attn.weight").floats()
                let parts = try ["q", "k", "v"].map { try blob("transformer.h.1.attn.c_attn.\($0).weight", [C, C]) }
                for i in 0..<C { for p in 0..<3 { for o in 0..<C { XCTAssertEqual(fused[i * 3 * C + p * C + o], parts[p][o * C + i]) } } }
                XCTAssertEqual(try weights.tensor("transformer.wte.weight").floats(), try blob("transformer.wte.weight", [record.config.vocabSize, C]))
            } else {
                let name = record.family == .bert ? "bert.encoder.layer.0.attention.self.query.weight" : "roberta.encoder.layer.0.attention.self.query.weight"
                XCTAssertEqual(try weights.tensor(name).floats(), try blob(name, [C, C]))
            }

            let config = try jsonFile(out.appendingPathComponent("config.json"))
            XCTAssertEqual(config["architectures"] as? [String], [HFLayout.architecture(record.family)])
            XCTAssertEqual(config["vocab_size"] as? Int, record.config.vocabSize)
            XCTAssertEqual(config["pad_token_id"] as? Int, record.config.padTokenID)
            XCTAssertEqual(config["id2label"] as? [String: String], Dictionary(uniqueKeysWithValues: checkpoint.state.data.labelNames.enumerated().map { ("\($0)", $1) }))

            let scheme = SpecialTokenScheme(record.family)
            let json = try jsonFile(out.appendingPathComponent("tokenizer.json"))
            let model = try XCTUnwrap(json["model"] as? [String: Any])
            XCTAssertEqual(model["type"] as? String, "WordLevel")
            let vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
            XCTAssertEqual(vocab.count, tokenizer.vocabularySize)
            XCTAssertEqual(Set(vocab.values), Set(0..<tokenizer.vocabularySize), "ids 0..<V, each once")
            XCTAssertEqual(model["unk_token"] as? String, scheme.tokens[Int(scheme.unknownID)])
            for (i, word) in tokenizer.words.enumerated().prefix(20) { XCTAssertEqual(vocab[word], i + WordTokenizer.specialCount) }
            XCTAssertEqual((json["truncation"] as? [String: Any])?["max_length"] as? Int, tokenizer.maxLength)
            let normalizers = try XCTUnwrap((json["normalizer"] as? [String: Any])?["normalizers"] as? [[String: Any]])
            XCTAssertEqual(normalizers.contains { $0["type"] as? String == "Lowercase" }, tokenizer.lowercase)
            let single = try XCTUnwrap((json["post_processor"] as? [String: Any])?["single"] as? [[String: Any]])
            let template = single.map { ($0["SpecialToken"] as? [String: Any])?["id"] as? String ?? "$A" }
            switch record.family {
            case .bert: XCTAssertEqual(template, ["[CLS]", "$A", "[SEP]"])
            case .roberta: XCTAssertEqual(template, ["<s>", "$A", "</s>"])
            case .gpt2: XCTAssertEqual(template, ["$A"])
            }
            let tokenizerConfig = try jsonFile(out.appendingPathComponent("tokenizer_config.json"))
            XCTAssertEqual(tokenizerConfig["model_max_length"] as? Int, tokenizer.maxLength)
            XCTAssertEqual(tokenizerConfig["pad_token"] as? String, scheme.tokens[Int(scheme.padID)])
            XCTAssertEqual((tokenizerConfig["model_input_names"] as? [String])?.contains("token_type_ids"), record.family == .bert)
            XCTAssertEqual(try jsonFile(out.appendingPathComponent("special_tokens_map.json"))["unk_token"] as? String, scheme.tokens[Int(scheme.unknownID)])
        }
    }

    func testVocabularyIsExportedInNFC() throws {
        // Swift finds "cafe\u{301}" under "café"; tokenizers only after NFC, so the file must hold NFC.
        let tokenizer = try WordTokenizer(words: ["cafe\u{301}", "film"], lowercase: true, maxLength: 8)
        let vocab = try XCTUnwrap((try HFTokenizerExport.tokenizerObject(tokenizer, scheme: .bert)["model"] as? [String: Any])?["vocab"] as? [String: Int])
        XCTAssertEqual(vocab["caf\u{e9}"], 5)
        XCTAssertEqual(Array("caf\u{e9}".unicodeScalars).count, 4)
        XCTAssertFalse(vocab.keys.contains { $0.unicodeScalars.contains("\u{301}") })
    }

    func testToolRefusesANonEmptyFolderUnlessForced() throws {
        let folder = try temporaryFolder(self)
        let checkpoint = try SharedRuns.tiny.appendingPathComponent("last.mmo").path
        let out = folder.appendingPathComponent("gpt2")
        let first = try runTool("mmo-export", [checkpoint, "--model", "gpt2", "-o", out.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssert(first.stdout.contains("GPT2ForSequenceClassification"), first.stdout)
        let again = try runTool("mmo-export", [checkpoint, "--model", "gpt2", "-o", out.path])
        XCTAssertEqual(again.status, 2)
        XCTAssert(again.stderr.contains("is not empty") && again.stderr.contains("--force"), again.stderr)
        let forced = try runTool("mmo-export", [checkpoint, "--model", "gpt2", "-o", out.path, "--force", "--json"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try jsonObject(forced.stdout)["architecture"] as? String, "GPT2ForSequenceClassification")
        let unknown = try runTool("mmo-export", [checkpoint, "--model", "bart", "-o", folder.appendingPathComponent("x").path])
        XCTAssertEqual(unknown.status, 2)
        XCTAssert(unknown.stderr.contains("its models are bert, gpt2, roberta"), unknown.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("x").path), "nothing created on error")
        let help = try runTool("mmo-export", ["--help"])
        XCTAssertEqual(help.status, 0)
        // Help text is wrapped to the terminal's width: compare with line breaks as spaces.
        let flat = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssert(flat.contains("grapheme clusters") && flat.contains("skin-tone modifier"), help.stdout)
    }

    func jsonFile(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }
}
