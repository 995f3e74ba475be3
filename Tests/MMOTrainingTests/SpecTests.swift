// Formats/mmo-v1.md §9 lists every key of the state document; this test encodes a real state
// document and compares its key paths with that table, so the spec and the code cannot drift.
import Foundation
import MMOData
import MMOFormat
import XCTest

@testable import MMORun
@testable import MMOTraining

final class SpecTests: XCTestCase {
    /// Key paths of the §9 table, with their JSON types.
    func documentedKeys() throws -> [String: String] {
        let spec = try String(contentsOf: repositoryRoot.appendingPathComponent("Formats/mmo-v1.md"), encoding: .utf8)
        let lines = spec.components(separatedBy: "\n")
        guard let header = lines.firstIndex(of: "| key path | JSON type | holds |") else {
            XCTFail("Formats/mmo-v1.md has no state-document key table")
            return [:]
        }
        var keys: [String: String] = [:]
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("| `") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            keys[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[1]
        }
        return keys
    }

    /// Leaf key paths of a JSON value: arrays as `[]`, the run-time keys of `rng`,
    /// `data.fingerprint`, `metrics.lastEval` and `metrics.best` as placeholders, `run` cut at its
    /// sections (documented in docs/config.md). Values are JSON type names.
    func leaves(_ value: Any, path: String, into out: inout [String: String]) {
        let placeholders = [
            "rng": "<stream>", "data.fingerprint": "<split>", "metrics.lastEval": "<model>", "metrics.best": "<model>",
            "models[].tokenizer.files": "<file>",
        ]
        if path.hasPrefix("run.") {
            out[path] = value is [Any] ? "array" : value is [String: Any] ? "object" : "scalar"
            return
        }
        switch value {
        case let object as [String: Any]:
            for (key, child) in object {
                let name = placeholders[path] ?? key
                leaves(child, path: path.isEmpty ? name : "\(path).\(name)", into: &out)
            }
        case let array as [Any]:
            if let first = array.first, first is [String: Any] {
                for element in array { leaves(element, path: path + "[]", into: &out) }
            } else {
                out[path] = array.first is String ? "array of strings" : "array of numbers"
            }
        case is NSNull: out[path] = "null"
        case let n as NSNumber:
            // Foundation's JSON numbers carry their C type: `c` booleans, `d` fractions, integers otherwise.
            switch String(cString: n.objCType) {
            case "c": out[path] = "boolean"
            case "d", "f": out[path] = "number"
            default: out[path] = "integer"
            }
        case is String: out[path] = "string"
        default: out[path] = "?"
        }
    }

    func testStateDocumentKeysAreExactlyTheSpecTable() throws {
        let folder = try temporaryFolder(self)
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.keepLast = 100
        let trainer = try Trainer.start(config: config, runDirectory: folder)
        _ = try trainer.run(progressMode: .quiet)
        var state = trainer.checkpointState()
        // The optional keys a merge writes.
        state.lineage.parents = [.init(contentHash: "0123456789abcdef", path: "a.mmo")]
        state.lineage.operation = "mmo-merge uniform"
        // The optional keys of a model initialised from a source (models[].init): a Hugging Face
        // tokenizer on one model, a word tokenizer of another checkpoint on another.
        let source = repositoryRoot.appendingPathComponent("fixtures/pretrained/bert-f32").path
        state.models[0].tokenizer = .pretrained(try PretrainedTokenizer.load(folder: source, template: .bert, maxLength: 16))
        state.models[0].initialization = InitializationReport(
            source: source, kind: "huggingface", dtypes: ["F32"], loaded: ["a"], newlyInitialized: ["b"], ignored: ["c"])
        state.models[1].tokenizer = .word(state.tokenizer, .gpt2)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: state.encoded()) as? [String: Any])
        var found: [String: String] = [:]
        leaves(object, path: "", into: &found)
        // A pretraining run writes the language-model keys (objective, perplexity, tokens).
        var lmConfig = config
        lmConfig.training.objective = .mlm
        lmConfig.training.maxSteps = 2
        for i in lmConfig.models.indices where lmConfig.models[i].family == .gpt2 { lmConfig.models[i].objective = .clm }
        let lmTrainer = try Trainer.start(config: lmConfig, runDirectory: folder.appendingPathComponent("lm"))
        _ = try lmTrainer.run(progressMode: .quiet)
        let lmObject = try XCTUnwrap(try JSONSerialization.jsonObject(with: lmTrainer.checkpointState().encoded()) as? [String: Any])
        var lmFound: [String: String] = [:]
        leaves(lmObject, path: "", into: &lmFound)
        // (Its empty label list has no element type: the classification run's entries stand.)
        found.merge(lmFound) { classification, _ in classification }
        XCTAssertNotNil(lmTrainer.checkpointState().rng["mlm/bert"], "masked-LM models save their masking stream")
        XCTAssertNil(lmTrainer.checkpointState().rng["mlm/gpt2"], "the causal LM draws nothing")

        let documented = try documentedKeys()
        XCTAssertGreaterThan(documented.count, 40)
        // Every key written is documented (an object documented as a whole covers its members).
        for path in found.keys.sorted() {
            let covered = documented[path] != nil || (path.hasPrefix("run.") && documented[String(path.split(separator: ".").prefix(2).joined(separator: "."))] != nil)
            XCTAssertTrue(covered, "§9 does not document '\(path)'")
        }
        // Every documented leaf is written (documented objects are prefixes of other paths).
        for path in documented.keys.sorted() where !documented.keys.contains(where: { $0 != path && $0.hasPrefix(path + ".") }) {
            XCTAssertNotNil(found[path], "§9 documents '\(path)', which the code does not write")
        }
        // Types agree for the scalar leaves.
        for (path, type) in found where !path.hasPrefix("run.") {
            guard let spec = documented[path] else { continue }
            let ok = spec == type || (spec == "number" && type == "integer") || spec.contains(type)
            XCTAssertTrue(ok, "'\(path)': §9 says \(spec), the code writes \(type)")
        }
        // A fresh run's first save has an explicit null parent.
        let first = try XCTUnwrap(try JSONSerialization.jsonObject(with: try MMOReader.open(folder.appendingPathComponent("step-000002.mmo")).stateDocument()) as? [String: Any])
        XCTAssertTrue((first["lineage"] as? [String: Any])?["parent"] is NSNull)
    }
}

final class DefaultConfigTests: XCTestCase {
    /// `mmo-train` with no arguments runs exactly what fixtures/configs/default.yaml says.
    func testBuiltInDefaultIsTheDocumentedConfigFile() throws {
        XCTAssertEqual(try RunConfig.load(path: fixtureConfig("default")), RunConfig.builtInDefault)
        // The paper's own settings stay available, unchanged.
        let paper = try RunConfig.load(path: fixtureConfig("paper-synthetic"))
        XCTAssertEqual(paper.optimizer.learningRate, 3e-5)
        XCTAssertTrue(RunConfig.builtInDefault.optimizer.gradientSharing && RunConfig.builtInDefault.optimizer.parameterSync)
        // The demo runs its models side by side; a config without the field stays sequential.
        XCTAssertEqual(RunConfig.builtInDefault.training.concurrency, .models)
        XCTAssertEqual(try RunConfig.load(path: fixtureConfig("paper-synthetic")).training.concurrency, .sequential)
    }
}
