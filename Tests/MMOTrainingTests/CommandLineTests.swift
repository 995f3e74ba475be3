// The `mmo-train` executable run as a user would: exit codes and messages for bad input, and
// SIGINT / SIGTERM stopping a run on a step boundary with a checkpoint and the resume command.
import Foundation
import MMOFormat
import XCTest

@testable import MMORun
@testable import MMOTraining

#if canImport(Glibc)
    import Glibc
#endif

final class CommandLineTests: XCTestCase {
    /// Asserts exit status 1 (a library error), no crash, and an `Error:` line mentioning `parts`.
    func assertFails(_ result: CommandResult, status: Int32 = 1, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.signaled, "crashed: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.status, status, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains("Error:"), result.stderr, file: file, line: line)
        for part in parts where !result.stderr.contains(part) {
            XCTFail("stderr does not mention '\(part)':\n\(result.stderr)", file: file, line: line)
        }
    }

    func testBadInputExitCodesAndMessages() throws {
        guard requireExecutable() else { return }
        let folder = try temporaryFolder(self)
        let runDirectory = folder.appendingPathComponent("run").path

        // Missing and mistyped configs: exit 1, the file and the field named, nothing created.
        let missing = folder.appendingPathComponent("missing.yaml").path
        assertFails(try runTrain(["--config", missing, "--run-dir", runDirectory], logs: folder), mentioning: [missing, "no such config file"])
        let typo = folder.appendingPathComponent("typo.yaml")
        try "training:\n  checkpointEvry: 2\n".write(to: typo, atomically: true, encoding: .utf8)
        assertFails(
            try runTrain(["--config", typo.path, "--run-dir", runDirectory], logs: folder),
            mentioning: [typo.path, "training.checkpointEvry", "did you mean 'checkpointEvery'"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory))

        // Invalid flags: ArgumentParser's validation error (exit 64) naming the flag.
        assertFails(try runTrain(["--max-steps", "0"], logs: folder), status: 64, mentioning: ["--max-steps"])

        // A stopped run, then everything a resume must refuse, with the run left as it was.
        let stopped = try runTrain(
            ["--config", fixtureConfig("tiny"), "--run-dir", runDirectory, "--stop-at", "2", "--quiet"], logs: folder)
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        XCTAssertTrue(stopped.stderr.contains("stopped by --stop-at 2"), "--quiet still says why it stopped: \(stopped.stderr)")
        let last = runDirectory + "/last.mmo"
        let before = try snapshot(URL(fileURLWithPath: runDirectory))
        assertFails(try runTrain(["--resume", last, "--seed", "8", "--quiet"], logs: folder), mentioning: ["--seed", "seed 7"])
        let tiny = try String(contentsOfFile: fixtureConfig("tiny"), encoding: .utf8)
        let wider = folder.appendingPathComponent("wider.yaml")
        try tiny.replacingOccurrences(of: "size: tiny}", with: "size: tiny, hiddenSize: 128}").write(to: wider, atomically: true, encoding: .utf8)
        assertFails(
            try runTrain(["--resume", last, "--config", wider.path, "--quiet"], logs: folder),
            mentioning: ["models[0].hiddenSize", "128", wider.path])
        assertFails(
            try runTrain(["--config", fixtureConfig("tiny"), "--run-dir", runDirectory, "--quiet"], logs: folder),
            mentioning: [runDirectory, "already holds a run", "--resume"])
        XCTAssertEqual(try snapshot(URL(fileURLWithPath: runDirectory)), before)

        // A truncated checkpoint: a typed error naming the file, not a crash.
        let truncated = folder.appendingPathComponent("truncated.mmo")
        try Data(contentsOf: URL(fileURLWithPath: last)).prefix(50_000).write(to: truncated)
        assertFails(try runTrain(["--resume", truncated.path, "--quiet"], logs: folder), mentioning: [truncated.path, "truncated"])
    }

    // MARK: - Signals

    func testSigintAndSigtermStopWithACheckpointAndTheResumeCommand() throws {
        guard requireExecutable() else { return }
        let folder = try temporaryFolder(self)
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.epochs = 400  // far longer than the test waits
        config.training.checkpointEvery = 0
        let configPath = try writeConfig(config, "long", in: folder)
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            let run = RunDirectory(url: folder.appendingPathComponent(name))
            let command = try launchTrain(["--config", configPath, "--run-dir", run.url.path], logs: folder)
            // The handlers are installed before the loop writes its first metrics line. Count step
            // records only: evaluation lines are interleaved with them, and the stop must come
            // after step 8 for the range check below.
            let started = waitFor(seconds: 60) {
                ((try? metricsSteps(run.url))?.filter { $0.0 == "step" }.count ?? 0) >= 8
            }
            XCTAssertTrue(started, "\(name): the run did not start")
            kill(command.process.processIdentifier, number)
            let ended = waitFor(seconds: 60) { !command.process.isRunning }
            if !ended { kill(command.process.processIdentifier, SIGKILL) }
            let result = command.finish()
            XCTAssertTrue(ended, "\(name): still running a minute after the signal")
            XCTAssertFalse(result.signaled, "\(name) killed the process instead of stopping it")
            XCTAssertEqual(result.status, 75, "stopped early, resumable: \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("stopped by \(name)"), result.stderr)
            XCTAssertTrue(result.stderr.contains("mmo-train --resume \(run.lastURL.path)"), result.stderr)

            // The checkpoint is whole and holds the last step logged: the stop finished that step.
            try MMOReader.open(run.lastURL).verify()
            let step = try checkpointStep(run.lastURL)
            XCTAssertEqual(try metricsSteps(run.url).filter { $0.0 == "step" }.last?.1, step)
            XCTAssertTrue((8..<2400).contains(step), "\(name): stopped at step \(step)")

            // And it resumes.
            let resumed = try runTrain(["--resume", run.lastURL.path, "--stop-at", "\(step + 3)", "--quiet"], logs: folder)
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertEqual(try checkpointStep(run.lastURL), step + 3)
            XCTAssertEqual(try metricsSteps(run.url).filter { $0.0 == "step" }.map(\.1), Array(1...(step + 3)))
        }
    }
}
