// The hardening issue's cases: absurd config numbers, names the file system cannot hold, file
// errors in words, checkpoints whose state document passes its checksums but lies, one process
// per run folder, and the exit status of an interrupted run. Each must end in a typed error
// naming the field or file — never a trap, an overflow or silent acceptance.
import Foundation
@testable import MMOFormat
import XCTest

import MMOData
@testable import MMORun
@testable import MMOTraining

final class HardeningTests: XCTestCase {
    func configError(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) throws -> ConfigError? {
        let folder = try temporaryFolder(self)
        let path = folder.appendingPathComponent("c.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try RunConfig.load(path: path)
            XCTFail("accepted: \(yaml)", file: file, line: line)
        } catch let error as ConfigError {
            return error
        }
        return nil
    }

    func testAbsurdNumbersAreRefusedNamingTheField() throws {
        let cases: [(String, String)] = [
            ("training: {epochs: 9223372036854775807}", "training.epochs"),
            ("training: {batchSize: 4611686018427387904}", "training.batchSize"),
            ("data: {maxLength: 1000000000}", "data.maxLength"),
            ("training: {maxSteps: 0}", "training.maxSteps"),
            ("models: [{name: a, family: bert, numLayers: 100000}]", "models[0].numLayers"),
            ("optimizer: {accumulationSteps: 1000000000000}", "optimizer.accumulationSteps"),
            ("training: {threads: -1}", "training.threads"),
        ]
        for (yaml, field) in cases {
            let error = try configError(yaml)
            XCTAssertEqual(error?.field, field, yaml)
            XCTAssertTrue(error?.reason.contains("allowed range") ?? false, "\(error.map { "\($0)" } ?? "")")
        }
        // The same through a command-line override.
        let folder = try temporaryFolder(self)
        XCTAssertThrowsError(
            try Trainer.start(configPath: nil, overrides: RunOverrides(epochs: Int.max), runDirectory: folder.appendingPathComponent("r"))
        ) { error in
            XCTAssertEqual((error as? ConfigError)?.field, "training.epochs", "\(error)")
        }
    }

    func testRangesTableOfTheDocsIsTheCodes() throws {
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/config.md"), encoding: .utf8)
        guard let start = doc.range(of: "## Ranges") else { return XCTFail("docs/config.md has no Ranges section") }
        var documented: [String: String] = [:]
        for line in doc[start.upperBound...].split(separator: "\n") {
            guard line.hasPrefix("| `") else { if !documented.isEmpty { break } else { continue } }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            documented[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[1]
        }
        let code = Dictionary(uniqueKeysWithValues: ConfigLimits.integerRanges.map {
            ($0.field, "\($0.range.lowerBound.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))) … \($0.range.upperBound.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US"))))")
        })
        XCTAssertEqual(documented, code)
    }

    func testMemoryEstimateRefusesARunThatCannotFit() throws {
        let folder = try temporaryFolder(self)
        var config = RunConfig()
        config.models = [ModelEntry(name: "huge", family: .bert, weight: 1)]
        config.models[0].hiddenSize = 16_384
        config.models[0].numLayers = 256
        config.models[0].numHeads = 64
        config.models[0].intermediateSize = 65_536
        XCTAssertThrowsError(try Trainer.start(config: config, runDirectory: folder.appendingPathComponent("r"))) { error in
            XCTAssertTrue("\(error)".contains("needs about"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("r").path))
    }

    func testModelNamesTheFileSystemCannotHoldAreRefused() throws {
        let long = String(repeating: "a", count: 300)
        XCTAssertEqual(try configError("models: [{name: \(long), family: bert}]")?.field, "models[0].name")
        XCTAssertEqual(try configError("models: [{name: bért, family: bert}]")?.field, "models[0].name")
    }

    func testFileErrorsAreWordsNotCocoaCodes() throws {
        let folder = try temporaryFolder(self)
        XCTAssertThrowsError(try RunConfig.load(path: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("is a folder"), "\(error)")
            XCTAssertFalse("\(error)".contains("NSCocoaErrorDomain"))
        }
        let file = folder.appendingPathComponent("plain")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try RunDirectory(url: file.appendingPathComponent("run")).create()) { error in
            XCTAssertTrue("\(error)".contains("is a file"), "\(error)")
            XCTAssertFalse("\(error)".contains("NSCocoaErrorDomain"))
        }
    }

    // MARK: - Checkpoints that lie

    /// A tiny run stopped at step 5 (resumable).
    func stoppedRun() throws -> URL {
        let folder = try temporaryFolder(self)
        let trainer = try Trainer.start(config: try RunConfig.load(path: fixtureConfig("tiny")), runDirectory: folder)
        _ = try trainer.run(stopAtStep: 5, progressMode: .quiet)
        return folder.appendingPathComponent("last.mmo")
    }

    /// A copy of `checkpoint` with every blob and the state document `state` (bytes as given).
    func rewritten(_ checkpoint: URL, state: Data, name: String) throws -> URL {
        let reader = try MMOReader.open(checkpoint)
        var writer = MMOWriter()
        for blob in reader.blobs { try writer.add(blob.name, shape: blob.shape, floats: try reader.floats(blob.name)) }
        try writer.setStateDocument(state)
        let folder = try temporaryFolder(self)
        let url = folder.appendingPathComponent(name)
        try writer.write(to: url)
        return url
    }

    /// The state document of `checkpoint` with `edit` applied to its JSON object.
    func editedState(_ checkpoint: URL, _ edit: (inout [String: Any]) -> Void) throws -> Data {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: try MMOReader.open(checkpoint).stateDocument()) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// An edit that sets the value at `path` (object keys) to `value`, creating objects on the way.
    func set(_ path: [String], _ value: Any) -> (inout [String: Any]) -> Void {
        { object in
            func assign(_ dict: inout [String: Any], _ keys: ArraySlice<String>) {
                guard let key = keys.first else { return }
                if keys.count == 1 { dict[key] = value; return }
                var child = dict[key] as? [String: Any] ?? [:]
                assign(&child, keys.dropFirst())
                dict[key] = child
            }
            assign(&object, path[...])
        }
    }

    func testOutOfRangeStateValuesAreRefusedNamingTheField() throws {
        let last = try stoppedRun()
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("progress.cursor.position", set(["progress", "cursor", "position"], 1000)),
            ("progress.cursor.position", set(["progress", "cursor", "position"], -1)),
            ("rng.dropout/bert.used", set(["rng", "dropout/bert", "used"], 9)),
            ("optimizer.microStep", set(["optimizer", "microStep"], 1)),
            ("progress.step", set(["progress", "step"], -5)),
            ("progress.cursor.epoch", set(["progress", "cursor", "epoch"], -3)),
            ("data.labelNames", set(["data", "labelNames"], ["x"])),
            ("optimizer.completedSteps", set(["optimizer", "completedSteps"], 4)),
        ]
        for (i, (field, edit)) in cases.enumerated() {
            let file = try rewritten(last, state: try editedState(last, edit), name: "edit-\(i).mmo")
            let runDirectory = file.deletingLastPathComponent().appendingPathComponent("run")
            XCTAssertThrowsError(try Trainer.resume(checkpoint: file, runDirectory: runDirectory), field) { error in
                XCTAssertTrue("\(error)".contains(field), "\(field): \(error)")
                XCTAssertTrue("\(error)".contains(file.path), "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory.path), "nothing is written for \(field)")
        }
    }

    /// A copy of `checkpoint` whose (uncompressed) state document is `edit(text)`, with every
    /// checksum repaired: a file that passes its checksums but whose JSON breaks the spec's strict
    /// rules (our writers refuse to produce one). The lineage path absorbs the length change so the
    /// layout stays valid.
    func forged(_ checkpoint: URL, name: String, _ edit: (String) -> [UInt8]) throws -> URL {
        let reader = try MMOReader.open(checkpoint)
        var options = MMOWriteOptions()
        options.compress = false
        var writer = MMOWriter(options: options)
        for blob in reader.blobs { try writer.add(blob.name, shape: blob.shape, floats: try reader.floats(blob.name)) }
        let text = String(decoding: try reader.stateDocument(), as: UTF8.self)
        try writer.setStateDocument(Data(text.utf8))
        let folder = try temporaryFolder(self)
        let url = folder.appendingPathComponent(name)
        try writer.write(to: url)
        var file = [UInt8](try Data(contentsOf: url))
        var state = edit(text)
        // The lineage parent's path (`"path":"step-000004.mmo"`) takes up the length change.
        guard let range = String(decoding: state, as: UTF8.self).range(of: "\"path\":\"step-[0-9]+\\.mmo\"", options: .regularExpression) else {
            XCTFail("no lineage path to adjust")
            return url
        }
        let stateText = String(decoding: state, as: UTF8.self)
        let at = stateText.utf8.distance(from: stateText.startIndex, to: range.lowerBound)
        let path = String(stateText[range])
        let delta = state.count - text.utf8.count
        let padded = Array("\"path\":\"\(String(repeating: "s", count: path.utf8.count - 9 - delta))\"".utf8)
        state.replaceSubrange(at..<(at + path.utf8.count), with: padded)
        XCTAssertEqual(state.count, text.utf8.count)
        file.replaceSubrange(64..<(64 + state.count), with: state)
        // Repair the state's checksum in the index, then the index's and the header's.
        func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { xxh3($0) } }
        let oldHash = hex16(hash(Array(text.utf8))), newHash = hex16(hash(state))
        let indexOffset = Int(file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0x18, as: UInt64.self) })
        var index = String(decoding: file[indexOffset...], as: UTF8.self)
        XCTAssertTrue(index.contains(oldHash))
        index = index.replacingOccurrences(of: oldHash, with: newHash)
        file.replaceSubrange(indexOffset..., with: Array(index.utf8))
        withUnsafeBytes(of: hash(Array(file[indexOffset...])).littleEndian) { file.replaceSubrange(0x28..<0x30, with: $0) }
        withUnsafeBytes(of: hash(Array(file[0..<56])).littleEndian) { file.replaceSubrange(0x38..<0x40, with: $0) }
        try Data(file).write(to: url)
        return url
    }

    func testStateDocumentsThatTwoReadersWouldReadTwoWaysAreRefused() throws {
        let last = try stoppedRun()
        // A duplicate key (JSONDecoder alone would keep one of them), a BOM, a lone surrogate.
        let cases: [(String, String, (String) -> [UInt8])] = [
            ("duplicate", "duplicate key", { Array($0.replacingOccurrences(of: "\"version\":1}", with: "\"name\":\"xy\"}").utf8) }),
            ("bom", "byte 0", { [0xEF, 0xBB, 0xBF] + Array($0.utf8) }),
            ("surrogate", "surrogate", { Array($0.replacingOccurrences(of: "\"name\":\"tiny\"", with: "\"name\":\"\\ud800\"").utf8) }),
        ]
        for (name, expected, edit) in cases {
            let file = try forged(last, name: "\(name).mmo", edit)
            // The container itself is intact: only the state document's JSON is at fault.
            XCTAssertNoThrow(try MMOReader.open(file), name)
            XCTAssertThrowsError(try Checkpoint.open(file), name) { error in
                XCTAssertTrue("\(error)".contains("state document") && "\(error)".contains(expected), "\(name): \(error)")
            }
            XCTAssertThrowsError(try Trainer.resume(checkpoint: file, runDirectory: file.deletingLastPathComponent().appendingPathComponent("run")))
        }
    }

    func testRandomEditsOfStateValuesNeverTrap() throws {
        guard requireExecutable() else { return }
        let last = try stoppedRun()
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: try MMOReader.open(last).stateDocument()) as? [String: Any])
        // Every scalar leaf outside the big arrays, by path.
        var leaves: [[String]] = []
        func walk(_ value: Any, _ path: [String]) {
            if let dict = value as? [String: Any] {
                for (k, v) in dict where k != "words" { walk(v, path + [k]) }
            } else if !(value is [Any]) {
                leaves.append(path)
            }
        }
        walk(object, [])
        var rng = SplitMix64(state: 2026)
        let values: [Any] = [-1, 0, 1, 3, 9, 1000, Int.max, -9_223_372_036_854_775_807, 1e300, -0.5, 0.5, "x", true, NSNull()]
        let folder = try temporaryFolder(self)
        var refused = 0, accepted = 0
        for trial in 0..<40 {
            let path = leaves[rng.below(leaves.count)]
            let value = values[rng.below(values.count)]
            let state = try editedState(last, set(path, value))
            let file = try rewritten(last, state: state, name: "random-\(trial).mmo")
            let result = try runTrain(
                ["--resume", file.path, "--max-steps", "7", "--run-dir", folder.appendingPathComponent("run-\(trial)").path, "--quiet"],
                logs: folder)
            XCTAssertFalse(result.signaled, "\(path.joined(separator: ".")) = \(value): trapped\n\(result.stderr)")
            XCTAssertTrue([0, 1].contains(result.status), "\(path.joined(separator: ".")) = \(value): exit \(result.status)\n\(result.stderr)")
            if result.status == 0 { accepted += 1 } else { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 10, "most random edits are refused")
        print("random state edits: \(refused) refused, \(accepted) accepted (harmless fields such as a metric's loss), none trapped")
    }

    // MARK: - One run per folder, exit status

    func testSecondProcessOnARunFolderExitsAtOnceNamingTheHolder() throws {
        guard requireExecutable() else { return }
        let folder = try temporaryFolder(self)
        let run = folder.appendingPathComponent("run")
        let first = try launchTrain(
            ["--config", fixtureConfig("tiny"), "--run-dir", run.path, "--epochs", "400", "--quiet", "--json"], logs: folder)
        XCTAssertTrue(waitFor(seconds: 60) { FileManager.default.fileExists(atPath: run.appendingPathComponent("last.mmo").path) })
        let started = Date()
        let second = try runTrain(["--resume", run.appendingPathComponent("last.mmo").path, "--quiet"], logs: folder)
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(second.stderr.contains(run.path) && second.stderr.contains("pid \(first.process.processIdentifier)"), second.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        // The first is interrupted: exit 75, "stopped": "interrupted", a resumable checkpoint.
        first.process.interrupt()
        let end = first.finish()
        XCTAssertEqual(end.status, 75, end.stderr)
        XCTAssertTrue(end.stdout.contains("\"stopped\" : \"interrupted\""), end.stdout)
        XCTAssertTrue(end.stderr.contains("--resume"), end.stderr)
        // kill -9 leaves no stale lock: the kernel released it.
        let third = try launchTrain(["--resume", run.appendingPathComponent("last.mmo").path, "--epochs", "400", "--quiet"], logs: folder)
        XCTAssertTrue(waitFor(seconds: 30) { (try? String(contentsOf: run.appendingPathComponent(".lock"), encoding: .utf8))?.hasPrefix("\(third.process.processIdentifier)") ?? false })
        kill(third.process.processIdentifier, SIGKILL)
        _ = third.finish()
        let fourth = try runTrain(["--resume", run.appendingPathComponent("last.mmo").path, "--stop-at", "\(try checkpointStep(run.appendingPathComponent("last.mmo")) + 1)", "--quiet"], logs: folder)
        XCTAssertEqual(fourth.status, 0, "--stop-at reached exits 0: \(fourth.stderr)")
    }
}
