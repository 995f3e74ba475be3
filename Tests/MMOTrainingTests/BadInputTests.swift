// Bad input to the library (issue 6, "Checks"): each gets a typed error whose description names
// the file, field or option at fault, and nothing is written or lost.
import Foundation
import MMOFormat
import XCTest

import MMOData
@testable import MMORun
@testable import MMOTraining

final class BadInputTests: XCTestCase {
    /// Asserts that `body` throws an `E` whose description contains every string of `parts`.
    @discardableResult
    func assertError<E: Error>(
        _ type: E.Type, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
    ) -> E? {
        do {
            try body()
            XCTFail("no error; expected \(E.self) mentioning \(parts)", file: file, line: line)
        } catch let error as E {
            let text = "\(error)"
            for part in parts where !text.contains(part) {
                XCTFail("'\(text)' does not mention '\(part)'", file: file, line: line)
            }
            return error
        } catch {
            XCTFail("expected \(E.self), got \(Swift.type(of: error)): \(error)", file: file, line: line)
        }
        return nil
    }

    /// Writes `text` to `name` in `folder`; returns the path.
    func write(_ text: String, _ name: String, in folder: URL) throws -> String {
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    // MARK: - Configs

    func testMissingConfigFileIsNamedAndNothingIsCreated() throws {
        let folder = try temporaryFolder(self)
        let path = folder.appendingPathComponent("nope.yaml").path
        let runDirectory = folder.appendingPathComponent("run")
        let error = assertError(ConfigError.self, mentioning: [path, "no such config file"]) {
            _ = try Trainer.start(configPath: path, overrides: RunOverrides(), runDirectory: runDirectory)
        }
        XCTAssertEqual(error?.file, path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory.path))
    }

    func testMalformedYAMLAndJSONNameTheFile() throws {
        let folder = try temporaryFolder(self)
        let yaml = try write("models: [ {name: a\n", "broken.yaml", in: folder)
        assertError(ConfigError.self, mentioning: [yaml, "YAML"]) { _ = try RunConfig.load(path: yaml) }
        let json = try write("{\"seed\": 1,", "broken.json", in: folder)
        assertError(ConfigError.self, mentioning: [json, "JSON"]) { _ = try RunConfig.load(path: json) }
        let wrongType = try write("seed: abc\n", "type.yaml", in: folder)
        let error = assertError(ConfigError.self, mentioning: ["'seed'", "integer"]) { _ = try RunConfig.load(path: wrongType) }
        XCTAssertEqual(error?.field, "seed")
    }

    func testUnknownFieldsSuggestTheClosest() throws {
        let folder = try temporaryFolder(self)
        let cases: [(String, String, String)] = [
            ("trainig:\n  epochs: 1\n", "trainig", "did you mean 'training'"),
            ("optimizer:\n  learningrate: 0.1\n", "optimizer.learningrate", "did you mean 'learningRate'"),
            ("models:\n  - {name: a, family: bert, hidenSize: 32}\n", "models[0].hidenSize", "did you mean 'hiddenSize'"),
            ("data:\n  maxLenght: 12\n", "data.maxLenght", "did you mean 'maxLength'"),
        ]
        for (i, (text, field, hint)) in cases.enumerated() {
            let path = try write(text, "unknown-\(i).yaml", in: folder)
            let error = assertError(ConfigError.self, mentioning: [path, hint]) { _ = try RunConfig.load(path: path) }
            XCTAssertEqual(error?.field, field)
        }
    }

    func testUnknownFamilyListsTheFamilies() throws {
        let folder = try temporaryFolder(self)
        let path = try write("models:\n  - {name: a, family: bart}\n", "family.yaml", in: folder)
        let error = assertError(ConfigError.self, mentioning: ["bart", "bert, gpt2, roberta"]) { _ = try RunConfig.load(path: path) }
        XCTAssertEqual(error?.field, "models[0].family")
    }

    func testInvalidValuesNameTheField() throws {
        var config = RunConfig()
        config.models[1].name = "bert"
        assertError(ConfigError.self, mentioning: ["models[1].name", "twice"]) { try config.validate() }
        config = RunConfig()
        config.models[0].numHeads = 5
        assertError(ConfigError.self, mentioning: ["models[0].hiddenSize", "multiple"]) { try config.validate() }
        config = RunConfig()
        config.optimizer.beta1 = 1
        assertError(ConfigError.self, mentioning: ["optimizer", "beta1"]) { try config.validate() }
        config = RunConfig()
        config.data.source = .files
        assertError(ConfigError.self, mentioning: ["data.train", "required"]) { try config.validate() }
    }

    // MARK: - Data

    /// A files config over `train` and `validation` written into `folder`.
    func filesConfig(train: String, validation: String, in folder: URL) throws -> RunConfig {
        var config = RunConfig()
        config.models = [ModelEntry(name: "a", family: .bert, weight: 1, size: .tiny)]
        config.data.source = .files
        config.data.train = try write(train, "train.tsv", in: folder)
        config.data.validation = try write(validation, "dev.tsv", in: folder)
        return config
    }

    func testEmptyDatasetIsNamedAndNothingIsCreated() throws {
        let folder = try temporaryFolder(self)
        let runDirectory = folder.appendingPathComponent("run")
        var config = try filesConfig(train: "sentence\tlabel\n", validation: "sentence\tlabel\ngood\t1\n", in: folder)
        assertError(DataError.self, mentioning: [config.data.train!, "no examples"]) {
            _ = try Trainer.start(config: config, runDirectory: runDirectory)
        }
        config = try filesConfig(train: "sentence\tlabel\ngood\t1\nbad\t0\n", validation: "sentence\tlabel\n", in: folder)
        assertError(DataError.self, mentioning: [config.data.validation!, "no examples"]) {
            _ = try Trainer.start(config: config, runDirectory: runDirectory)
        }
        config = RunConfig()
        config.data.syntheticTrain = 0
        assertError(ConfigError.self, mentioning: ["data.syntheticTrain"]) { _ = try Trainer.start(config: config, runDirectory: runDirectory) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory.path))
    }

    func testUnknownLabelInValidationIsNamedWithItsRow() throws {
        let folder = try temporaryFolder(self)
        let config = try filesConfig(
            train: "sentence\tlabel\ngood\t1\nbad\t0\n", validation: "sentence\tlabel\nfine\t1\nodd\t2\n", in: folder)
        let error = assertError(DataError.self, mentioning: [config.data.validation!, "'2'", "0, 1"]) {
            _ = try Trainer.start(config: config, runDirectory: folder.appendingPathComponent("run"))
        }
        guard case .unknownLabel(_, let row, _, _)? = error else { return XCTFail("expected unknownLabel, got \(String(describing: error))") }
        XCTAssertEqual(row, 3, "the header is row 1")
    }

    func testSingleClassTrainingDataIsRefused() throws {
        let folder = try temporaryFolder(self)
        let config = try filesConfig(train: "sentence\tlabel\ngood\t1\nnice\t1\n", validation: "sentence\tlabel\nfine\t1\n", in: folder)
        assertError(DataError.self, mentioning: ["data.labels", "2 classes"]) {
            _ = try Trainer.start(config: config, runDirectory: folder.appendingPathComponent("run"))
        }
    }

    // MARK: - Run folders and checkpoints

    /// A tiny run stopped after step 2 in `folder/run`; returns its folder.
    func stoppedRun(in folder: URL) throws -> RunDirectory {
        var config = try RunConfig.load(path: fixtureConfig("tiny"))
        config.training.maxSteps = 4
        let run = RunDirectory(url: folder.appendingPathComponent("run"))
        _ = try Trainer.start(config: config, runDirectory: run.url).run(stopAtStep: 2, progressMode: .quiet)
        return run
    }

    func testRunFolderHoldingARunIsRefusedUntouched() throws {
        let folder = try temporaryFolder(self)
        let run = try stoppedRun(in: folder)
        let before = try snapshot(run.url)
        assertError(TrainingError.self, mentioning: [run.url.path, "already holds a run", "--resume"]) {
            _ = try Trainer.start(configPath: fixtureConfig("tiny"), overrides: RunOverrides(), runDirectory: run.url)
        }
        assertError(TrainingError.self, mentioning: [run.url.path, "already holds a run"]) {
            _ = try Trainer.start(config: RunConfig.load(path: fixtureConfig("tiny")), runDirectory: run.url)
        }
        // Resuming another run into this folder would overwrite it as well.
        let other = try stoppedRun(in: folder.appendingPathComponent("other"))
        assertError(TrainingError.self, mentioning: [run.url.path, "another run"]) {
            _ = try Trainer.resume(checkpoint: other.lastURL, runDirectory: run.url)
        }
        XCTAssertEqual(try snapshot(run.url), before)
        // Its own folder, named explicitly, is fine.
        XCTAssertEqual(try Trainer.resume(checkpoint: run.lastURL, runDirectory: run.url).progress.step, 2)
    }

    func testResumeRefusesAnotherArchitectureDataSeedOrOptimizerNamingTheField() throws {
        let folder = try temporaryFolder(self)
        let run = try stoppedRun(in: folder)
        let before = try snapshot(run.url)
        let tiny = try String(contentsOfFile: fixtureConfig("tiny"), encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("size: tiny}", "size: tiny, hiddenSize: 32}", "models[0].hiddenSize"),
            ("family: gpt2", "family: bert", "models[1].family"),
            ("syntheticTrain: 96", "syntheticTrain: 90", "data.syntheticTrain"),
            ("seed: 7", "seed: 8", "seed"),
            ("learningRate: 0.001", "learningRate: 0.002", "optimizer.learningRate"),
        ]
        for (i, (from, to, field)) in cases.enumerated() {
            XCTAssertTrue(tiny.contains(from), "fixture changed: \(from)")
            let path = try write(tiny.replacingOccurrences(of: from, with: to), "changed-\(i).yaml", in: folder)
            let error = assertError(TrainingError.self, mentioning: [field, path]) {
                _ = try Trainer.resume(checkpoint: run.lastURL, configPath: path)
            }
            if case .incompatibleResume(let named, _)? = error {
                XCTAssertEqual(named, field)
            } else {
                XCTFail("expected an incompatibleResume error for \(field), got \(String(describing: error))")
            }
        }
        // The training section may change: a longer run with another checkpoint cadence.
        let longer = try write(
            tiny.replacingOccurrences(of: "epochs: 2", with: "epochs: 3").replacingOccurrences(of: "checkpointEvery: 2", with: "checkpointEvery: 3"),
            "longer.yaml", in: folder)
        let trainer = try Trainer.resume(checkpoint: run.lastURL, configPath: longer)
        XCTAssertEqual(trainer.progress.totalSteps, 18)
        XCTAssertEqual(trainer.config.training.checkpointEvery, 3)
        XCTAssertEqual(try snapshot(run.url), before, "refused resumes must not touch the run")
    }

    func testResumeRefusesSeedOverrideAndAShorterRun() throws {
        let folder = try temporaryFolder(self)
        let run = try stoppedRun(in: folder)
        let before = try snapshot(run.url)
        assertError(TrainingError.self, mentioning: ["--seed", "seed 7"]) {
            _ = try Trainer.resume(checkpoint: run.lastURL, overrides: RunOverrides(seed: 8))
        }
        assertError(TrainingError.self, mentioning: ["--max-steps", "step 2"]) {
            _ = try Trainer.resume(checkpoint: run.lastURL, overrides: RunOverrides(maxSteps: 1))
        }
        // The run's own seed is not a change.
        XCTAssertNoThrow(try Trainer.resume(checkpoint: run.lastURL, overrides: RunOverrides(seed: 7)))
        XCTAssertEqual(try snapshot(run.url), before)
    }

    func testDamagedCheckpointsGiveTypedErrorsNamingTheFile() throws {
        let folder = try temporaryFolder(self)
        let run = try stoppedRun(in: folder)
        let original = try Data(contentsOf: run.lastURL)
        let reader = try MMOReader.open(run.lastURL)
        var damaged: [(String, Data, String)] = [
            ("truncated", original.prefix(original.count / 2), "truncated"),
            ("empty", Data(), "header"),
            ("not-mmo", Data("seed: 7\n".utf8) + Data(count: 100), "magic"),
        ]
        // One flipped byte inside the stored bytes of seeded blobs (parameters, moments, the state
        // document): open() validates the index only, so each must be caught when it is read.
        var rng = SplitMix64(state: 6)
        var regions = [("state document", reader.stateRegion)]
        for _ in 0..<4 {
            let blob = reader.blobs[rng.below(reader.blobs.count)]
            if blob.storedLength > 0 { regions.append((blob.name, blob.region)) }
        }
        for (name, region) in regions {
            var bytes = original
            bytes[region.offset + rng.below(region.storedLength)] ^= 0x5A
            damaged.append(("flipped in \(name)", bytes, "damaged"))
        }
        let before = try snapshot(run.url)
        for (i, (label, bytes, mention)) in damaged.enumerated() {
            let url = folder.appendingPathComponent("damaged-\(i).mmo")
            try bytes.write(to: url)
            let error = assertError(TrainingError.self, mentioning: [url.path, mention]) {
                _ = try Trainer.resume(checkpoint: url, runDirectory: folder.appendingPathComponent("resumed-\(i)"))
            }
            XCTAssertNotNil(error, label)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("resumed-\(i)").path), label)
        }
        let missing = folder.appendingPathComponent("missing.mmo")
        assertError(TrainingError.self, mentioning: [missing.path]) { _ = try Trainer.resume(checkpoint: missing) }
        XCTAssertEqual(try snapshot(run.url), before)
    }
}

/// Every config under fixtures/configs decodes and validates (a config the README or a spec
/// points to must not fail on its first line when someone finally runs it).
final class FixtureConfigTests: XCTestCase {
    func testEveryFixtureConfigDecodesAndValidates() throws {
        let folder = repositoryRoot.appendingPathComponent("fixtures/configs")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThan(names.count, 10)
        for name in names {
            XCTAssertNoThrow(try RunConfig.load(path: folder.appendingPathComponent(name).path), name)
        }
    }
}
