// `training.concurrency: models` (issue "Speed"): the models of a joint step run side by side,
// one lane per model, OpenBLAS at 1 thread. The guarantees, each tested here:
//   * the same config gives the same bytes run to run, whatever the lane count (`threads`);
//   * a resumed run is bit-identical to an uninterrupted one;
//   * it is bit-identical to `sequential` with `threads: 1` (each model does the same operations
//     on one thread either way), so switching between those two on resume stays exact.
// `sequential` with 2 BLAS threads may differ from both in the last bits (OpenBLAS splits a
// product differently), which is why the BLAS count per model is what a checkpoint records.
import Foundation
import MMOFormat
import XCTest

@testable import MMORun
@testable import MMOTraining

final class ConcurrencyTests: XCTestCase {
    /// The `tiny` fixture (3 models, dropout on, accumulation 2, sync every 3) for `total` steps.
    func tiny(_ total: Int, _ concurrency: Concurrency, threads: Int) throws -> RunConfig {
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.maxSteps = total
        config.training.evalEvery = 3
        config.training.concurrency = concurrency
        config.training.threads = threads
        return config
    }

    func finish(_ config: RunConfig, in directory: URL) throws -> URL {
        let summary = try Trainer.start(config: config, runDirectory: directory).run(progressMode: .quiet)
        XCTAssertEqual(summary.reason, .finished)
        return RunDirectory(url: directory).lastURL
    }

    func testModelsIsBitIdenticalRunToRunAndAcrossLaneCounts() throws {
        let folder = try temporaryFolder(self)
        let a = try finish(tiny(6, .models, threads: 2), in: folder.appendingPathComponent("a"))
        let b = try finish(tiny(6, .models, threads: 2), in: folder.appendingPathComponent("b"))
        try assertSameCheckpoint(a, b, "models, two runs")
        XCTAssertEqual(try metricsLines(a.deletingLastPathComponent()), try metricsLines(b.deletingLastPathComponent()))
        // Three lanes (one per model) instead of two: another assignment, the same bits. Only the
        // recorded config differs.
        let c = try finish(tiny(6, .models, threads: 3), in: folder.appendingPathComponent("c"))
        try assertSameCheckpoint(a, c, ignoring: ["lineage", "run"], "models on 2 vs 3 lanes")
    }

    func testModelsMatchesSequentialWithOneBLASThread() throws {
        let folder = try temporaryFolder(self)
        let models = try finish(tiny(6, .models, threads: 2), in: folder.appendingPathComponent("models"))
        let sequential = try finish(tiny(6, .sequential, threads: 1), in: folder.appendingPathComponent("sequential"))
        try assertSameCheckpoint(models, sequential, ignoring: ["lineage", "run"], "models vs sequential at 1 thread")
        XCTAssertEqual(
            try metricsLines(models.deletingLastPathComponent()), try metricsLines(sequential.deletingLastPathComponent()))
    }

    func testModelsResumeIsBitExact() throws {
        let folder = try temporaryFolder(self)
        let config = try tiny(8, .models, threads: 2)
        let straight = try finish(config, in: folder.appendingPathComponent("straight"))
        let directory = folder.appendingPathComponent("interrupted")
        let first = try Trainer.start(config: config, runDirectory: directory).run(stopAtStep: 4, progressMode: .quiet)
        XCTAssertEqual(first.reason, .interrupted)
        let resumed = try Trainer.resume(checkpoint: RunDirectory(url: directory).lastURL)
        XCTAssertEqual(resumed.config.training.concurrency, .models, "the checkpoint's run config keeps the mode")
        XCTAssertEqual(resumed.warnings, [])
        XCTAssertEqual(try resumed.run(progressMode: .quiet).reason, .finished)
        try assertSameCheckpoint(RunDirectory(url: directory).lastURL, straight, "models, stopped after step 4")
        XCTAssertEqual(try metricsLines(directory), try metricsLines(straight.deletingLastPathComponent()))
    }

    func testAConfigWithoutTheFieldIsSequential() throws {
        // Checkpoints written before the field existed carry run configs without it.
        let decoded = try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"threads": 2}"#.utf8))
        XCTAssertEqual(decoded.concurrency, .sequential)
        XCTAssertEqual(decoded.blasThreads, 2)
        XCTAssertEqual(decoded.modelLanes(models: 3), 1)
        var models = decoded
        models.concurrency = .models
        XCTAssertEqual(models.blasThreads, 1)
        // Three models on two threads: a lane each (the OS shares the two cores); four: two lanes.
        XCTAssertEqual(models.modelLanes(models: 3), 3)
        XCTAssertEqual(models.modelLanes(models: 4), 2)
        XCTAssertEqual(models.modelLanes(models: 1), 1)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"concurrency": "threads"}"#.utf8)))
    }
}
