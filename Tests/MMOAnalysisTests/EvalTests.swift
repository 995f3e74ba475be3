// mmo-eval: the numbers on the run's validation set are the ones training recorded, the
// confusion matrices and the ensemble are consistent, the logits file has one row per model and
// example with the unpadded ids, and bad input exits 2 with a message naming what is wrong.
import Foundation
import MMOData
import MMORun
import MMOTestSupport
import XCTest

@testable import MMOAnalysis

final class EvalTests: XCTestCase {
    func lastCheckpoint() throws -> URL { try SharedRuns.tiny.appendingPathComponent("last.mmo") }

    // MARK: - Library

    func testValidationScoresEqualWhatTrainingRecorded() throws {
        let checkpoint = try Checkpoint.open(try lastCheckpoint())
        let data = try EvaluationData.validation(of: checkpoint)
        let report = try CheckpointEvaluator.evaluate(checkpoint, on: data, dataDescription: "validation")
        let recorded = checkpoint.state.metrics.lastEval
        XCTAssertEqual(report.models.map(\.name), checkpoint.state.models.map(\.name))
        for score in report.models {
            let last = try XCTUnwrap(recorded[score.name], "lastEval has no \(score.name)")
            // Same Evaluator, batch size and thread count: bit-identical, not merely close.
            XCTAssertEqual(score.accuracy, last.accuracy, score.name)
            XCTAssertEqual(score.loss, last.loss, score.name)
            XCTAssertEqual(score.count, last.count, score.name)
            XCTAssertEqual(score.count, data.count)
            checkConfusion(score, data: data)
        }
        let ensemble = try XCTUnwrap(report.ensemble)
        XCTAssertEqual(report.ensembleMembers, ["bert", "gpt2", "roberta"])
        checkConfusion(ensemble, data: data)
        XCTAssert(ensemble.loss.isFinite && ensemble.loss > 0)
    }

    /// Rows sum to each class's example count, and the diagonal is the accuracy's numerator.
    func checkConfusion(_ score: ClassifierScore, data: LabeledDataset, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(score.confusion.count, data.labelNames.count, file: file, line: line)
        XCTAssertEqual(score.confusion.map { $0.reduce(0, +) }, data.labelCounts, "\(score.name) rows", file: file, line: line)
        XCTAssertEqual(score.confusion.joined().reduce(0, +), data.count, file: file, line: line)
        let diagonal = score.confusion.indices.reduce(0) { $0 + score.confusion[$1][$1] }
        XCTAssertEqual(Double(diagonal) / Double(data.count), score.accuracy, "\(score.name) diagonal", file: file, line: line)
    }

    func testEnsembleAveragesProbabilities() {
        // Two models, two examples, two classes. Model A is sure of class 0 for both, model B
        // slightly prefers class 1: the mean decides, not a vote.
        var sums = [Double](repeating: 0, count: 4)
        let a: [Float] = [4, 0, 4, 0], b: [Float] = [0, 1, 0, 1]
        for logits in [a, b] {
            logits.withUnsafeBufferPointer { p in
                for i in 0..<2 { CheckpointEvaluator.addSoftmax(p.baseAddress! + 2 * i, 2, into: &sums, at: 2 * i) }
            }
        }
        let pA0 = 1 / (1 + exp(-4.0)), pB0 = 1 / (1 + exp(1.0))
        XCTAssertEqual(sums[0], pA0 + pB0, accuracy: 1e-12)
        XCTAssertEqual(sums[0] + sums[1], 2, accuracy: 1e-12)
        let score = CheckpointEvaluator.ensembleScore(sums, labels: [0, 1], classes: 2, members: 2)
        XCTAssertEqual(score.confusion, [[1, 0], [1, 0]])  // mean p(0) = 0.63 for both
        XCTAssertEqual(score.accuracy, 0.5)
        let expected = (-log((pA0 + pB0) / 2) - log(((1 - pA0) + (1 - pB0)) / 2)) / 2
        XCTAssertEqual(score.loss, expected, accuracy: 1e-12)
    }

    func testSoftmaxDoesNotOverflow() {
        var sums = [Double](repeating: 0, count: 2)
        let logits: [Float] = [1e30, 0]
        logits.withUnsafeBufferPointer { CheckpointEvaluator.addSoftmax($0.baseAddress!, 2, into: &sums, at: 0) }
        XCTAssertEqual(sums, [1, 0])
    }

    func testOptionsAreChecked() throws {
        let checkpoint = try Checkpoint.open(try lastCheckpoint())
        let data = try EvaluationData.validation(of: checkpoint)
        XCTAssertThrowsError(try CheckpointEvaluator.evaluate(checkpoint, on: data, dataDescription: "v", options: EvaluationOptions(batchSize: 0))) {
            XCTAssertEqual($0 as? InvalidOption, InvalidOption("--batch-size", "must be in 1...4096, got 0"))
        }
        XCTAssertThrowsError(try CheckpointEvaluator.evaluate(checkpoint, on: data, dataDescription: "v", options: EvaluationOptions(models: ["bert", "bert"])))
        XCTAssertThrowsError(try CheckpointEvaluator.evaluate(checkpoint, on: data, dataDescription: "v", options: EvaluationOptions(models: ["bart"]))) {
            XCTAssert("\($0)".contains("has no model 'bart'; its models are bert, gpt2, roberta"), "\($0)")
        }
    }

    func testInconsistentCheckpointIsAnErrorNotATrap() throws {
        // What a hostile or damaged state document could cause: ids beyond the embedding table,
        // sequences beyond the position table. The kernels would stop the process on either.
        let checkpoint = try Checkpoint.open(try lastCheckpoint())
        let data = try EvaluationData.validation(of: checkpoint)
        let record = try checkpoint.model(named: "roberta")
        var encoded = EvaluationData.encoded(data, for: record, of: checkpoint)
        XCTAssertNoThrow(try CheckpointEvaluator.check(encoded, fits: record, of: checkpoint, dataset: data))
        encoded.ids[3] = [0, Int32(record.config.vocabSize), 2]
        XCTAssertThrowsError(try CheckpointEvaluator.check(encoded, fits: record, of: checkpoint, dataset: data)) {
            XCTAssert("\($0)".contains("outside model 'roberta''s vocabulary") && "\($0)".contains("example 3"), "\($0)")
        }
        encoded.ids[3] = [Int32](repeating: 5, count: record.config.maxSequenceLength + 1)
        XCTAssertThrowsError(try CheckpointEvaluator.check(encoded, fits: record, of: checkpoint, dataset: data)) {
            XCTAssert("\($0)".contains("positions"), "\($0)")
        }
    }

    func testBatchSizeDoesNotChangePredictions() throws {
        let checkpoint = try Checkpoint.open(try lastCheckpoint())
        let data = try EvaluationData.validation(of: checkpoint)
        let a = try CheckpointEvaluator.evaluate(checkpoint, on: data, dataDescription: "v", options: EvaluationOptions(models: ["gpt2"]))
        let b = try CheckpointEvaluator.evaluate(checkpoint, on: data, dataDescription: "v", options: EvaluationOptions(models: ["gpt2"], batchSize: 3))
        XCTAssertEqual(a.models[0].confusion, b.models[0].confusion)
        XCTAssertEqual(a.models[0].loss, b.models[0].loss, accuracy: 1e-5)
        XCTAssertNil(a.ensemble, "one model has no ensemble")
    }

    // MARK: - The executable

    func testJSONReportMatchesLastEval() throws {
        let url = try lastCheckpoint()
        let result = try runTool("mmo-eval", [url.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try jsonObject(result.stdout)
        let models = try XCTUnwrap(report["models"] as? [[String: Any]])
        let recorded = try Checkpoint.open(url).state.metrics.lastEval
        XCTAssertEqual(models.count, 3)
        for m in models {
            let name = try XCTUnwrap(m["name"] as? String)
            XCTAssertEqual(m["accuracy"] as? Double, recorded[name]?.accuracy, name)
            let confusion = try XCTUnwrap(m["confusion"] as? [[Int]])
            XCTAssertEqual(confusion.joined().reduce(0, +), report["count"] as? Int)
        }
        let ensemble = try XCTUnwrap(report["ensemble"] as? [String: Any])
        XCTAssertEqual(ensemble["name"] as? String, "ensemble")
        XCTAssertEqual(report["labels"] as? [String], try Checkpoint.open(url).state.data.labelNames)
    }

    func testTextReportShowsEveryModelAndTheEnsemble() throws {
        let result = try runTool("mmo-eval", [try lastCheckpoint().path, "--model", "roberta", "--model", "bert"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for needle in ["bert", "roberta", "ensemble", "mean of 2", "confusion matrices"] {
            XCTAssert(result.stdout.contains(needle), "missing \(needle):\n\(result.stdout)")
        }
        XCTAssertFalse(result.stdout.contains("gpt2"), result.stdout)
    }

    func testLogitsFileHasOneRowPerModelAndExample() throws {
        let folder = try temporaryFolder(self)
        let url = try lastCheckpoint()
        let out = folder.appendingPathComponent("logits.jsonl")
        let result = try runTool("mmo-eval", [url.path, "--logits", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let checkpoint = try Checkpoint.open(url)
        let data = try EvaluationData.validation(of: checkpoint)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3 * data.count)
        var seen = Set<String>()
        for line in lines {
            let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let model = try XCTUnwrap(row["model"] as? String), index = try XCTUnwrap(row["index"] as? Int)
            XCTAssert(seen.insert("\(model)/\(index)").inserted, "duplicate row \(model)/\(index)")
            let example = data.examples[index]
            XCTAssertEqual(row["text"] as? String, example.text)
            XCTAssertEqual(row["label"] as? Int, example.label)
            XCTAssertEqual(row["label_name"] as? String, data.labelNames[example.label])
            // The ids the model was fed, without padding.
            let record = try checkpoint.model(named: model)
            let expected = checkpoint.state.tokenizer.encode(example.text, scheme: SpecialTokenScheme(record.family)).map(Int.init)
            XCTAssertEqual(row["input_ids"] as? [Int], expected, "\(model) #\(index)")
            XCTAssertEqual((row["logits"] as? [Double])?.count, data.labelNames.count)
        }
        XCTAssertEqual(seen.count, 3 * data.count)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["logits.jsonl"], "no temporary file left")
    }

    func testDataFileGivesTheSameScoresAsTheValidationSplit() throws {
        let folder = try temporaryFolder(self)
        let url = try lastCheckpoint()
        let checkpoint = try Checkpoint.open(url)
        let data = try EvaluationData.validation(of: checkpoint)
        var tsv = "sentence\tlabel\n"
        for e in data.examples { tsv += "\(e.text)\t\(data.labelNames[e.label])\n" }
        let file = folder.appendingPathComponent("dev.tsv")
        try tsv.write(to: file, atomically: true, encoding: .utf8)
        let result = try runTool("mmo-eval", [url.path, "--data", file.path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let models = try XCTUnwrap(try jsonObject(result.stdout)["models"] as? [[String: Any]])
        for m in models {
            let name = m["name"] as? String ?? "?"
            XCTAssertEqual(m["accuracy"] as? Double, checkpoint.state.metrics.lastEval[name]?.accuracy, name)
        }
    }

    func testUnknownLabelInDataFileExits2NamingTheRow() throws {
        let folder = try temporaryFolder(self)
        let file = folder.appendingPathComponent("dev.tsv")
        try "sentence\tlabel\na great film\tpositive\na dull film\tmeh\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try runTool("mmo-eval", [try lastCheckpoint().path, "--data", file.path])
        XCTAssertEqual(result.status, 2)
        XCTAssert(result.stderr.contains("unknown label 'meh'") && result.stderr.contains("row "), result.stderr)
        XCTAssert(result.stderr.contains(file.path), result.stderr)
    }

    func testCorruptedCheckpointExits2() throws {
        let folder = try temporaryFolder(self)
        let source = try lastCheckpoint()
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: source.path)[.size] as? Int)
        // A flipped byte in the blob area (checksum) and a truncated file (header/index).
        let flipped = try corruptedCopy(of: source, to: folder.appendingPathComponent("flipped.mmo")) { $0[size / 3] ^= 0x5A }
        let truncated = try corruptedCopy(of: source, to: folder.appendingPathComponent("truncated.mmo")) { $0 = $0.prefix(size / 2) }
        for file in [flipped, truncated] {
            let result = try runTool("mmo-eval", [file.path])
            XCTAssertEqual(result.status, 2, "\(file.lastPathComponent): \(result.stdout)")
            XCTAssert(result.stderr.contains(file.path), result.stderr)
            XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
        }
        let missing = try runTool("mmo-eval", [folder.appendingPathComponent("none.mmo").path])
        XCTAssertEqual(missing.status, 2)
        XCTAssert(missing.stderr.contains("no such file"), missing.stderr)
    }

    func testBadOptionsExit2() throws {
        let path = try lastCheckpoint().path
        for (arguments, needle) in [
            ([path, "--batch-size", "0"], "--batch-size"), ([path, "--model", "bart"], "has no model 'bart'"),
            ([path, "--text-column", "x"], "give --data too"),
        ] {
            let result = try runTool("mmo-eval", arguments)
            XCTAssertEqual(result.status, 2, "\(arguments)")
            XCTAssert(result.stderr.contains(needle), "\(arguments): \(result.stderr)")
        }
    }
}
