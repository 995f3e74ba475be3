// Sanity of the models and the loop (issue 6): trained independently (no sharing, no sync, no
// adaptive rates) with the one from-scratch setting of fixtures/configs/independent-synthetic.yaml,
// each of the three `small` models passes 95% validation accuracy on the paper's synthetic data
// (500 / 100) within 10 epochs.
import Foundation
import XCTest

@testable import MMORun
@testable import MMOTraining

final class SanityTests: XCTestCase {
    func testIndependentSmallModelsPass95PercentWithinTenEpochs() throws {
        var config = try RunConfig.load(path: fixtureConfig("independent-synthetic"))
        // The check is about the file as committed: independent, small, the paper's data, 10 epochs.
        XCTAssertFalse(config.optimizer.gradientSharing)
        XCTAssertFalse(config.optimizer.parameterSync)
        XCTAssertFalse(config.optimizer.adaptiveLearningRate)
        XCTAssertEqual(config.models.map(\.family), [.bert, .gpt2, .roberta])
        XCTAssertEqual(Set(config.models.map(\.size)), [.small])
        XCTAssertEqual([config.data.source.rawValue, "\(config.data.syntheticTrain)", "\(config.data.syntheticValidation)"], ["synthetic", "500", "100"])
        XCTAssertEqual(config.training.epochs, 10)
        XCTAssertNil(config.training.maxSteps)
        // Only the final checkpoint: ten 3-model checkpoints would double the test's time and
        // have no bearing on what it checks.
        config.training.checkpointEvery = 1_000_000
        config.training.keepBestPerModel = false

        let folder = try temporaryFolder(self)
        let started = Date()
        let summary = try Trainer.start(config: config, runDirectory: folder.appendingPathComponent("run")).run(progressMode: .quiet)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(summary.reason, .finished)

        // Accuracy per model at each epoch end, from metrics.jsonl.
        var perEpoch: [String: [Double]] = [:]
        for line in try metricsLines(folder.appendingPathComponent("run")) {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], object["type"] as? String == "eval",
                let models = object["models"] as? [String: [String: Any]]
            else { continue }
            for (name, result) in models { perEpoch[name, default: []].append(result["accuracy"] as? Double ?? -1) }
        }
        var report = String(format: "independent-synthetic, %d steps in %.1f s; validation accuracy per epoch:\n", summary.step, seconds)
        for model in config.models {
            let accuracies = perEpoch[model.name] ?? []
            report += "  \(model.name.padding(toLength: 8, withPad: " ", startingAt: 0)) " + accuracies.map { String(format: "%.2f", $0) }.joined(separator: " ") + "\n"
            XCTAssertEqual(accuracies.count, 10, "\(model.name): one evaluation per epoch")
            XCTAssertGreaterThanOrEqual(accuracies.max() ?? 0, 0.95, "\(model.name) never reached 95% within 10 epochs: \(accuracies)")
        }
        print(report, terminator: "")
    }
}
