// Knowledge distillation and deep mutual learning in the trainer (`training.distillation`,
// `training.mutualLearning`): with weight 0 each is plain training bit for bit; a resumed run is
// bit-exact; the terms change training when on; bad teachers and configs are refused naming the
// field. (Finite-difference checks of the gradients: MMOModelsTests.LogitGradientTests and
// MMOCoreTests.KernelGradientTests.)
import Foundation
import MMOCore
import XCTest

@testable import MMORun
@testable import MMOTraining

final class LogitTermTests: XCTestCase {
    func tiny(_ steps: Int) throws -> RunConfig {
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.maxSteps = steps
        config.training.evalEvery = 2
        return config
    }

    @discardableResult
    func finish(_ config: RunConfig, in directory: URL) throws -> URL {
        let summary = try Trainer.start(config: config, runDirectory: directory).run(progressMode: .quiet)
        XCTAssertEqual(summary.reason, .finished)
        return RunDirectory(url: directory).lastURL
    }

    /// A teacher run (plain tiny, 3 steps) in `folder/teacher`.
    func teacher(in folder: URL) throws -> URL { try finish(tiny(3), in: folder.appendingPathComponent("teacher")) }

    func testWeightZeroIsPlainTrainingBitForBit() throws {
        let folder = try temporaryFolder(self)
        let teacherURL = try teacher(in: folder)
        let plain = try finish(tiny(4), in: folder.appendingPathComponent("plain"))
        var kd = try tiny(4)
        kd.training.distillation = DistillationConfig(checkpoint: teacherURL.path, model: "gpt2")
        kd.training.distillation?.weight = 0
        try assertSameCheckpoint(try finish(kd, in: folder.appendingPathComponent("kd0")), plain, ignoring: ["lineage", "run"], "KD weight 0")
        var dml = try tiny(4)
        dml.training.mutualLearning = MutualLearningConfig()
        dml.training.mutualLearning?.weight = 0
        dml.training.concurrency = .models
        dml.training.threads = 2
        // `models` is bit-identical to sequential at one BLAS thread (the fixture's setting).
        try assertSameCheckpoint(try finish(dml, in: folder.appendingPathComponent("dml0")), plain, ignoring: ["lineage", "run"], "DML weight 0")
    }

    func testTermsChangeTrainingAndLogTheirParts() throws {
        let folder = try temporaryFolder(self)
        let teacherURL = try teacher(in: folder)
        let plain = try finish(tiny(3), in: folder.appendingPathComponent("plain"))
        var kd = try tiny(3)
        kd.training.distillation = DistillationConfig(checkpoint: teacherURL.path, model: "roberta")
        let kdURL = try finish(kd, in: folder.appendingPathComponent("kd"))
        XCTAssertFalse(try checkpointDifferences(kdURL, plain, ignoring: ["lineage", "run"]).isEmpty)
        var dml = try tiny(3)
        dml.training.mutualLearning = MutualLearningConfig()
        let dmlURL = try finish(dml, in: folder.appendingPathComponent("dml"))
        XCTAssertFalse(try checkpointDifferences(dmlURL, plain, ignoring: ["lineage", "run"]).isEmpty)
        // Logged loss = CE + term (KL ≥ 0), with the CE part beside it.
        for directory in [kdURL.deletingLastPathComponent(), dmlURL.deletingLastPathComponent()] {
            let steps = try metricsLines(directory).compactMap { line -> [String: Any]? in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return object?["type"] as? String == "step" ? object : nil
            }
            XCTAssertEqual(steps.count, 3)
            for step in steps {
                for (_, value) in step["models"] as! [String: Any] {
                    let model = value as! [String: Any]
                    let loss = (model["loss"] as! NSNumber).doubleValue, ce = (model["crossEntropy"] as! NSNumber).doubleValue
                    XCTAssertGreaterThan(loss, ce, "\(directory.lastPathComponent)")
                }
            }
        }
        // Plain runs log no crossEntropy field.
        XCTAssertFalse(try metricsLines(plain.deletingLastPathComponent()).contains { $0.contains("crossEntropy") })
    }

    func testResumedMutualLearningAndDistillationRunsAreBitExact() throws {
        let folder = try temporaryFolder(self)
        let teacherURL = try teacher(in: folder)
        var config = try tiny(6)
        config.training.mutualLearning = MutualLearningConfig()
        config.training.distillation = DistillationConfig(checkpoint: teacherURL.path, model: "bert")
        config.training.concurrency = .models
        config.training.threads = 2
        let straight = try finish(config, in: folder.appendingPathComponent("straight"))
        let directory = folder.appendingPathComponent("interrupted")
        XCTAssertEqual(try Trainer.start(config: config, runDirectory: directory).run(stopAtStep: 3, progressMode: .quiet).reason, .interrupted)
        let resumed = try Trainer.resume(checkpoint: RunDirectory(url: directory).lastURL)
        XCTAssertEqual(try resumed.run(progressMode: .quiet).reason, .finished)
        try assertSameCheckpoint(RunDirectory(url: directory).lastURL, straight, "DML + KD stopped after step 3")
        XCTAssertEqual(try metricsLines(directory), try metricsLines(straight.deletingLastPathComponent()))
    }

    func testBadTeachersAndConfigsAreRefusedNamingTheField() throws {
        let folder = try temporaryFolder(self)
        let teacherURL = try teacher(in: folder)
        func refusal(_ edit: (inout RunConfig) -> Void) throws -> ConfigError? {
            var config = try tiny(2)
            edit(&config)
            var caught: Error?
            XCTAssertThrowsError(try Trainer.start(config: config, runDirectory: folder.appendingPathComponent("r-\(UUID().uuidString)"))) { caught = $0 }
            return caught as? ConfigError
        }
        var e = try refusal { $0.training.distillation = DistillationConfig(checkpoint: folder.appendingPathComponent("none.mmo").path, model: "bert") }
        XCTAssertEqual(e?.field, "training.distillation.checkpoint")
        XCTAssertTrue(e?.reason.contains("no such file") ?? false, "\(String(describing: e))")
        e = try refusal { $0.training.distillation = DistillationConfig(checkpoint: teacherURL.path, model: "t5") }
        XCTAssertEqual(e?.field, "training.distillation.model")
        XCTAssertTrue(e?.reason.contains("bert, gpt2, roberta") ?? false, "\(String(describing: e))")
        // Another vocabulary (more synthetic sentences → another word table is not guaranteed, so
        // change the lowercasing, which changes the tokenizer).
        e = try refusal {
            $0.training.distillation = DistillationConfig(checkpoint: teacherURL.path, model: "bert")
            $0.data.lowercase = false
        }
        XCTAssertEqual(e?.field, "training.distillation.checkpoint")
        XCTAssertTrue(e?.reason.contains("tokenizer") ?? false, "\(String(describing: e))")
        e = try refusal {
            $0.training.distillation = DistillationConfig(checkpoint: teacherURL.path, model: "bert")
            $0.training.distillation?.temperature = 0
        }
        XCTAssertEqual(e?.field, "training.distillation.temperature")
        e = try refusal {
            $0.training.mutualLearning = MutualLearningConfig()
            $0.models = [$0.models[0]]
        }
        XCTAssertEqual(e?.field, "training.mutualLearning")
        e = try refusal {
            $0.training.mutualLearning = MutualLearningConfig()
            $0.training.mutualLearning?.weight = -1
        }
        XCTAssertEqual(e?.field, "training.mutualLearning.weight")
        // Unknown fields inside the sections are errors with a hint.
        let path = folder.appendingPathComponent("typo.yaml").path
        try "training:\n  mutualLearning: {wieght: 1}\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunConfig.load(path: path)) { XCTAssertTrue("\($0)".contains("did you mean 'weight'"), "\($0)") }
        try "training:\n  distillation: {model: bert}\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunConfig.load(path: path)) { XCTAssertTrue("\($0)".contains("training.distillation.checkpoint"), "\($0)") }
    }

    func testSeedPlaceholderOfTheTeacherPath() {
        XCTAssertEqual(DistillationConfig(checkpoint: "r/teacher-seed{seed}/last.mmo", model: "x").checkpointPath(seed: 43), "r/teacher-seed43/last.mmo")
    }

    func testDropLabelsLeavesThoseRowsOut() throws {
        let folder = try temporaryFolder(self)
        let train = folder.appendingPathComponent("train.tsv"), validation = folder.appendingPathComponent("validation.tsv")
        try "sentence\tlabel\ngood day\tpositive\nbad day\tnegative\nsome day\tneutral\n".write(to: train, atomically: true, encoding: .utf8)
        try "sentence\tlabel\nfine day\tpositive\nany day\tneutral\n".write(to: validation, atomically: true, encoding: .utf8)
        var config = RunConfig()
        config.data.source = .files
        config.data.train = train.path
        config.data.validation = validation.path
        config.data.labels = ["negative", "positive"]
        // Without dropping, the neutral rows are errors naming the row.
        XCTAssertThrowsError(try PreparedData.load(config))
        config.data.dropLabels = ["neutral"]
        try config.validate()
        let data = try PreparedData.load(config)
        XCTAssertEqual(data.train.count, 2)
        XCTAssertEqual(data.validation.count, 1)
        XCTAssertEqual(data.train.labelNames, ["negative", "positive"])
        config.data.dropLabels = ["positive"]
        XCTAssertThrowsError(try config.validate()) { XCTAssertEqual(($0 as? ConfigError)?.field, "data.dropLabels") }
    }
}
