// Bit-exact resume (issue 6, DESIGN "Determinism"): a run stopped after step N and resumed from
// its checkpoint ends with the same bytes in every tensor, the same state document (lineage
// aside) and the same metrics.jsonl as the run that never stopped.
import Foundation
import MMOFormat
import XCTest

@testable import MMORun
@testable import MMOTraining

final class ResumeTests: XCTestCase {
    /// `tiny` (96 examples, batch 8, accumulation 2: 6 steps per epoch, 2 epochs, dropout on),
    /// with `total` steps if given.
    func tiny(total: Int? = nil, _ adjust: (inout RunConfig) -> Void = { _ in }) throws -> RunConfig {
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.maxSteps = total
        adjust(&config)
        return config
    }

    /// Runs `config` to its end without stopping; returns the run folder.
    func straightRun(_ config: RunConfig, in folder: URL) throws -> URL {
        let directory = folder.appendingPathComponent("straight")
        let summary = try Trainer.start(config: config, runDirectory: directory).run(progressMode: .quiet)
        XCTAssertEqual(summary.reason, .finished)
        XCTAssertEqual(summary.step, config.training.maxSteps ?? 12)
        return directory
    }

    /// Runs `config`, stopping after each step of `stops` and resuming from `last.mmo` (a fresh
    /// Trainer built from the file alone) each time; returns the run folder.
    func interruptedRun(_ config: RunConfig, stops: [Int], configPath: String? = nil, in folder: URL) throws -> URL {
        let directory = folder.appendingPathComponent("interrupted-" + stops.map(String.init).joined(separator: "-"))
        let last = RunDirectory(url: directory).lastURL
        var trainer = try Trainer.start(config: config, runDirectory: directory)
        for stop in stops {
            let summary = try trainer.run(stopAtStep: stop, progressMode: .quiet)
            XCTAssertEqual(summary.reason, .interrupted)
            XCTAssertEqual(summary.step, stop)
            XCTAssertEqual(try checkpointStep(last), stop)
            let savedHash = try MMOReader.open(last).contentHash
            trainer = try Trainer.resume(checkpoint: last, configPath: configPath)
            XCTAssertEqual(trainer.progress.step, stop)
            XCTAssertEqual(trainer.parent?.contentHash, String(format: "%016llx", savedHash), "the next save's lineage names the file resumed from")
        }
        let summary = try trainer.run(progressMode: .quiet)
        XCTAssertEqual(summary.reason, .finished)
        return directory
    }

    /// Runs both and compares final checkpoints and metrics.
    func assertResumeIsExact(_ config: RunConfig, stops: [Int], configPath: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = try temporaryFolder(self)
        let straight = try straightRun(config, in: folder)
        let interrupted = try interruptedRun(config, stops: stops, configPath: configPath, in: folder)
        let total = config.training.maxSteps ?? 12
        let context = "stops \(stops) of \(total)"
        try assertSameCheckpoint(
            RunDirectory(url: interrupted).lastURL, RunDirectory(url: straight).lastURL, context, file: file, line: line)
        XCTAssertEqual(try checkpointStep(RunDirectory(url: interrupted).lastURL), total, file: file, line: line)
        let a = try metricsLines(interrupted), b = try metricsLines(straight)
        XCTAssertEqual(a.count, b.count, "\(context): metrics line count", file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() where x != y {
            XCTFail("\(context): metrics line \(i + 1) differs:\n\(x)\n\(y)", file: file, line: line)
            break
        }
        // The runs really trained: every model ends away from its initialisation (a resume that
        // restored nothing could still match a run that did nothing).
        let initial = try Trainer.start(config: config, runDirectory: folder.appendingPathComponent("unused"))
        let end = try MMOReader.open(RunDirectory(url: straight).lastURL)
        for (name, model) in zip(initial.names, initial.models) {
            let store = model.parameters
            let start = Array(UnsafeBufferPointer(start: store.values.pointer, count: store.totalCount))
            var trained: [Float] = []
            for spec in store.specs { trained += try end.floats(CheckpointNames.parameter(model: name, spec.name)) }
            XCTAssertEqual(trained.count, start.count, file: file, line: line)
            XCTAssertGreaterThan(zip(trained, start).filter { $0 != $1 }.count, start.count / 2, "\(name) barely changed", file: file, line: line)
        }
    }

    // MARK: - Stop points

    func testResumeInTheMiddleOfAnEpochIsBitExact() throws {
        // 2N = 6 steps, stop after step 3 of the 6-step epoch.
        try assertResumeIsExact(tiny(total: 6), stops: [3])
    }

    func testResumeAtAnEpochBoundaryIsBitExact() throws {
        // 2N = 12 = two epochs, stop after step 6 (epoch end: evaluation and best-model records
        // happened just before the checkpoint). The fixture file is given again on resume.
        try assertResumeIsExact(tiny(), stops: [6], configPath: fixtureConfig("tiny"))
    }

    func testResumeOfAResumeIsBitExact() throws {
        // Stops in both epochs, the second inside a resumed run; evaluations every 4 steps and
        // gradient-similarity logging on, so both land in metrics and state.
        try assertResumeIsExact(
            tiny(total: 12) {
                $0.training.evalEvery = 4
                $0.optimizer.logGradientSimilarity = true
            }, stops: [2, 7])
    }

    func testResumeOfAPretrainingRunIsBitExact() throws {
        // Masked LM (BERT, RoBERTa) and causal LM (GPT-2) with dropout: the masking streams
        // `mlm/<model>` are saved and restored, the validation masks restart at each evaluation.
        try assertResumeIsExact(
            tiny(total: 8) {
                $0.training.objective = .mlm
                $0.training.evalEvery = 3
                for i in $0.models.indices where $0.models[i].family == .gpt2 { $0.models[i].objective = .clm }
            }, stops: [3, 5])
    }

    func testResumeWhereAStepStraddlesTheEpochEndIsBitExact() throws {
        // 84 examples / batch 8 = 11 micro-batches per epoch (the last one of 4 examples), so with
        // accumulation 2 step 6 takes the last batch of epoch 0 and the first of epoch 1: the
        // checkpoint after it holds a cursor inside epoch 1 and a new shuffle order.
        try assertResumeIsExact(tiny(total: 10) { $0.data.syntheticTrain = 84 }, stops: [6])
    }

    func testResumeFromAnOlderCheckpointRewritesTheHistoryOnce() throws {
        // Run to step 8 (checkpoints every 2, keep 3), then resume from step-000004.mmo: the
        // metrics lines of steps 5–8 written before must be dropped, not duplicated, and the end
        // must match the straight run.
        let config = try tiny(total: 12) { $0.training.keepLast = 3 }
        let folder = try temporaryFolder(self)
        let straight = try straightRun(config, in: folder)
        let directory = folder.appendingPathComponent("rewound")
        let run = RunDirectory(url: directory)
        XCTAssertEqual(try Trainer.start(config: config, runDirectory: directory).run(stopAtStep: 8, progressMode: .quiet).reason, .interrupted)
        XCTAssertEqual(run.stepCheckpoints(), [4, 6, 8])
        XCTAssertEqual(try metricsSteps(directory).filter { $0.0 == "step" }.map(\.1), Array(1...8))
        let summary = try Trainer.resume(checkpoint: run.stepURL(4)).run(progressMode: .quiet)
        XCTAssertEqual(summary.reason, .finished)
        XCTAssertEqual(try metricsSteps(directory).filter { $0.0 == "step" }.map(\.1), Array(1...12))
        XCTAssertEqual(try metricsLines(directory), try metricsLines(straight))
        try assertSameCheckpoint(run.lastURL, RunDirectory(url: straight).lastURL, "rewound to step 4")
    }

    func testTheComparisonSeesADifferenceOfOneStep() throws {
        // The checker of the tests above: checkpoints one step apart differ in every trained
        // tensor and in progress, and the lineage is what it ignores.
        let folder = try temporaryFolder(self)
        let directory = folder.appendingPathComponent("run")
        _ = try Trainer.start(config: tiny(total: 6) {
            $0.training.checkpointEvery = 1
            $0.training.keepLast = 10
        }, runDirectory: directory).run(progressMode: .quiet)
        let run = RunDirectory(url: directory)
        let differences = try checkpointDifferences(run.stepURL(4), run.stepURL(5))
        XCTAssertTrue(differences.contains("blob model/gpt2/score.weight"), "\(differences)")
        XCTAssertTrue(differences.contains("blob optim/roberta/v/classifier.out_proj.weight"), "\(differences)")
        XCTAssertTrue(differences.contains { $0.hasPrefix("state field 'progress'") }, "\(differences)")
        XCTAssertTrue(differences.contains { $0.hasPrefix("state field 'optimizer'") }, "\(differences)")
        XCTAssertFalse(differences.contains { $0.hasPrefix("state field 'lineage'") })
        XCTAssertTrue(try checkpointDifferences(run.stepURL(5), run.stepURL(5), ignoring: []).isEmpty)
        XCTAssertTrue(try checkpointDifferences(run.stepURL(4), run.stepURL(5), ignoring: []).contains { $0.hasPrefix("state field 'lineage'") })
    }

    func testExtendingARunOnResumeContinuesTraining() throws {
        // --max-steps may grow on resume: the schedule is the new length and the run goes on.
        let folder = try temporaryFolder(self)
        let directory = folder.appendingPathComponent("run")
        _ = try Trainer.start(config: tiny(total: 6), runDirectory: directory).run(progressMode: .quiet)
        let trainer = try Trainer.resume(checkpoint: RunDirectory(url: directory).lastURL, overrides: RunOverrides(maxSteps: 10))
        XCTAssertEqual(trainer.progress.totalSteps, 10)
        XCTAssertEqual(trainer.optimizer.config.totalSteps, 10)
        let summary = try trainer.run(progressMode: .quiet)
        XCTAssertEqual(summary.step, 10)
        XCTAssertEqual(try checkpointStep(RunDirectory(url: directory).lastURL), 10)
    }
}
