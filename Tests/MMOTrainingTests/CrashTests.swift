// Nothing is lost when a run dies: SIGKILL at a random moment leaves a newest checkpoint that
// reads whole and resumes to the bytes of a run that never died; a save that fails for lack of
// space (RLIMIT_FSIZE: writes fail with EFBIG as on a full disk) keeps the previous checkpoint.
import Foundation
import MMOFormat
import XCTest

@testable import MMORun
@testable import MMOTraining

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body` with the process's file-size limit at `bytes` and SIGXFSZ ignored, so that a write
/// past the limit fails with EFBIG; restores both afterwards.
func withFileSizeLimit<T>(_ bytes: Int, _ body: () throws -> T) throws -> T {
    var saved = rlimit()
    #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
    #else
        let resource = RLIMIT_FSIZE
    #endif
    guard getrlimit(resource, &saved) == 0 else { throw POSIXError(.EINVAL) }
    var limited = saved
    limited.rlim_cur = rlim_t(bytes)
    let handler = signal(SIGXFSZ, SIG_IGN)
    guard setrlimit(resource, &limited) == 0 else { throw POSIXError(.EPERM) }
    defer {
        setrlimit(resource, &saved)
        signal(SIGXFSZ, handler)
    }
    return try body()
}

/// Names in `folder` that start with a dot: temporaries of interrupted writes.
/// Hidden files a killed writer may leave (`.lock` is the folder's flock file, kept by design).
func temporaries(in folder: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") && $0 != ".lock" }.sorted()
}

final class CrashTests: XCTestCase {
    func testSigkillAtRandomMomentsLeavesAResumableCheckpoint() throws {
        guard requireExecutable() else { return }
        let folder = try temporaryFolder(self)
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.epochs = 3  // 18 steps
        config.training.checkpointEvery = 1
        let configPath = try writeConfig(config, "kill", in: folder)

        // The reference run, timed from its first checkpoint to its end.
        let straight = RunDirectory(url: folder.appendingPathComponent("straight"))
        let referenceCommand = try launchTrain(["--config", configPath, "--run-dir", straight.url.path, "--quiet"], logs: folder)
        XCTAssertTrue(waitFor(seconds: 60) { FileManager.default.fileExists(atPath: straight.lastURL.path) })
        let firstCheckpoint = Date()
        let reference = referenceCommand.finish()
        let runSeconds = Date().timeIntervalSince(firstCheckpoint)
        XCTAssertEqual(reference.status, 0, reference.stderr)

        var rng = SplitMix64(state: 9)
        var killedMidRun = 0
        var killedAtSteps: [Int] = []
        for round in 0..<5 {
            let run = RunDirectory(url: folder.appendingPathComponent("killed-\(round)"))
            let command = try launchTrain(["--config", configPath, "--run-dir", run.url.path, "--quiet"], logs: folder)
            let checkpointed = waitFor(seconds: 60) { FileManager.default.fileExists(atPath: run.lastURL.path) }
            XCTAssertTrue(checkpointed, "round \(round): no first checkpoint")
            // A moment uniform over the rest of the run: during steps, compression, fsync, the
            // link of last.mmo, pruning, or (rarely) after the end.
            usleep(UInt32(rng.below(max(1, Int(runSeconds * 0.9e6)))))
            kill(command.process.processIdentifier, SIGKILL)
            let result = command.finish()
            if result.signaled { killedMidRun += 1 }

            // The newest checkpoint reads whole (every blob checksum) …
            let reader = try MMOReader.open(run.lastURL)
            try reader.verify()
            let step = try checkpointStep(run.lastURL)
            killedAtSteps.append(step)
            XCTAssertTrue((1...18).contains(step), "round \(round): last.mmo at step \(step)")

            // … resumes, and ends where the run that was never killed ended.
            let resumed = try runTrain(["--resume", run.lastURL.path, "--quiet"], logs: folder)
            XCTAssertEqual(resumed.status, 0, "round \(round): \(resumed.stderr)")
            try assertSameCheckpoint(run.lastURL, straight.lastURL, "round \(round), killed after step \(step)")
            XCTAssertEqual(try metricsLines(run.url), try metricsLines(straight.url), "round \(round): metrics")
            XCTAssertEqual(try temporaries(in: run.url), [], "round \(round): temporaries of the killed writer remain")
        }
        print("kill -9: \(killedMidRun) of 5 kills landed mid-run; last.mmo found at steps \(killedAtSteps); first checkpoint to end \(String(format: "%.2f", runSeconds)) s")
        XCTAssertGreaterThanOrEqual(killedMidRun, 2, "too few kills landed while the run was going on")
    }

    /// A tiny run of 12 steps with checkpoints every 2, stopped after step 4.
    func runStoppedAtFour(in folder: URL) throws -> (RunConfig, RunDirectory) {
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.maxSteps = 12
        let run = RunDirectory(url: folder.appendingPathComponent("run"))
        _ = try Trainer.start(config: config, runDirectory: run.url).run(stopAtStep: 4, progressMode: .quiet)
        return (config, run)
    }

    func testFullDiskOnSaveKeepsThePreviousCheckpoint() throws {
        let folder = try temporaryFolder(self)
        let (config, run) = try runStoppedAtFour(in: folder)
        let before = try snapshot(run.url)
        XCTAssertGreaterThan(try Data(contentsOf: run.lastURL).count, 1 << 20, "the limit must be below a checkpoint's size")

        // The resumed run reaches step 6 and cannot write step-000006.mmo; replacing last.mmo
        // itself fails the same way.
        let trainer = try Trainer.resume(checkpoint: run.lastURL)
        var failures: [Error] = []
        try withFileSizeLimit(1 << 20) {
            do { _ = try trainer.run(progressMode: .quiet) } catch { failures.append(error) }
            do { try trainer.saveCheckpoint(to: run.lastURL) } catch { failures.append(error) }
        }
        XCTAssertEqual(failures.count, 2)
        for (error, file) in zip(failures, [run.stepURL(6), run.lastURL]) {
            guard let error = error as? TrainingError, case .checkpoint(let path, let reason) = error else {
                XCTFail("expected TrainingError.checkpoint, got \(error)")
                continue
            }
            XCTAssertEqual(path, file.path)
            XCTAssertTrue(reason.contains("File too large"), reason)
        }
        XCTAssertTrue("\(failures[0])".contains("--resume \(run.lastURL.path)"), "the run's error says how to go on: \(failures[0])")

        // Every previous file is byte-identical, no partial step-000006.mmo or temporary exists.
        let after = try snapshot(run.url)
        for name in before.keys where name.hasSuffix(".mmo") {
            XCTAssertEqual(after[name], before[name], "\(name) changed")
        }
        XCTAssertEqual(run.stepCheckpoints(), [2, 4])
        XCTAssertEqual(try temporaries(in: run.url), [])
        try MMOReader.open(run.lastURL).verify()

        // With space again the run resumes from step 4 and ends as the run that never failed.
        let summary = try Trainer.resume(checkpoint: run.lastURL).run(progressMode: .quiet)
        XCTAssertEqual(summary.reason, .finished)
        let straight = folder.appendingPathComponent("straight")
        _ = try Trainer.start(config: config, runDirectory: straight).run(progressMode: .quiet)
        try assertSameCheckpoint(run.lastURL, RunDirectory(url: straight).lastURL, "after a failed save")
        XCTAssertEqual(try metricsLines(run.url), try metricsLines(straight))
    }

    func testFullDiskOnSaveFromTheCommandLine() throws {
        guard requireExecutable() else { return }
        let folder = try temporaryFolder(self)
        let (_, run) = try runStoppedAtFour(in: folder)
        let before = try snapshot(run.url)
        let result = try runTrain(["--resume", run.lastURL.path, "--quiet"], logs: folder, fileSizeLimit: 1 << 20)
        XCTAssertFalse(result.signaled, "killed by a signal: \(result.stderr)")
        XCTAssertEqual(result.status, 1, result.stderr)
        for part in ["Error:", run.stepURL(6).path, "File too large", "intact", "--resume \(run.lastURL.path)"] {
            XCTAssertTrue(result.stderr.contains(part), "stderr does not mention '\(part)':\n\(result.stderr)")
        }
        XCTAssertEqual(try Data(contentsOf: run.lastURL), before["last.mmo"])
        XCTAssertEqual(run.stepCheckpoints(), [2, 4])
        XCTAssertEqual(try temporaries(in: run.url), [])
    }

    func testLinkTemporariesOfDeadProcessesAreRemoved() throws {
        let folder = try temporaryFolder(self)
        let run = RunDirectory(url: folder)
        let target = folder.appendingPathComponent("step-000001.mmo")
        try Data("x".utf8).write(to: target)
        // A pid that existed and is gone, and one that is alive (this process's parent).
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/sh")
        gone.arguments = ["-c", "exit 0"]
        try gone.run()
        gone.waitUntilExit()
        let dead = folder.appendingPathComponent(".last.mmo.link-\(gone.processIdentifier)")
        let alive = folder.appendingPathComponent(".last.mmo.link-\(getppid())")
        XCTAssertEqual(link(target.path, dead.path), 0)
        XCTAssertEqual(link(target.path, alive.path), 0)
        try run.link(run.lastURL, to: target)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: alive.path))
        XCTAssertEqual(try Data(contentsOf: run.lastURL), Data("x".utf8))
    }
}
