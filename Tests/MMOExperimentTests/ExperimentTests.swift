// mmo-experiment end to end on the tiny config: 2 variants × 2 seeds, the tables checked against
// the runs' metrics.jsonl (recomputed here), and an interrupted experiment resumed without
// touching the finished runs; plus the spec's strictness.
import Foundation
import MMOExperiment
import MMORun
import MMOTestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class ExperimentTests: XCTestCase {
    let root = toolTestsRepositoryRoot

    func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mmo-experiment-tests-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// A spec over fixtures/configs/tiny.yaml: 6 steps (one epoch), an evaluation every 2 steps.
    func writeSpec(in folder: URL, extra: String = "") throws -> String {
        let spec = """
            name: t
            base: \(root.appendingPathComponent("fixtures/configs/tiny.yaml").path)
            seeds: [7, 8]
            maxSteps: 6
            target: 0.5
            threads: 1
            parallel: 2
            variants:
              - {name: full, set: {training.evalEvery: 2}}
              - {name: independent, set: {training.evalEvery: 2, optimizer.gradientSharing: false, optimizer.parameterSync: false, optimizer.adaptiveLearningRate: false}}
            \(extra)
            """
        let url = folder.appendingPathComponent("spec.yaml")
        try spec.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Every file of a run folder: contents and modification time.
    func snapshot(_ folder: URL) throws -> [String: (Data, Date)] {
        var out: [String: (Data, Date)] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let url = folder.appendingPathComponent(name)
            let date = try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as! Date
            out[name] = (try Data(contentsOf: url), date)
        }
        return out
    }

    /// The evaluations of a metrics file, read independently: (step, epoch, model → accuracy).
    func evaluations(_ folder: URL) throws -> [(step: Int, epoch: Int, accuracy: [String: Double])] {
        let text = try String(contentsOf: folder.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            guard object["type"] as? String == "eval" else { return nil }
            let models = (object["models"] as! [String: [String: Any]]).mapValues { ($0["accuracy"] as! NSNumber).doubleValue }
            return ((object["step"] as! NSNumber).intValue, (object["epoch"] as! NSNumber).intValue, models)
        }
    }

    func checkTables(_ results: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let csv = try String(contentsOf: results.appendingPathComponent("runs.csv"), encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        XCTAssertEqual(csv.first, ExperimentTables.csvHeader, file: file, line: line)
        XCTAssertEqual(csv.count, 1 + 2 * 2 * 4, "one row per run and model, and the ensemble", file: file, line: line)
        // The ensemble's accuracy is mmo-eval's on the run's last checkpoint.
        for variant in ["full", "independent"] {
            let r = try runTool("mmo-eval", [results.appendingPathComponent("\(variant)-seed7/last.mmo").path, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
            let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            let ensemble = ((report["ensemble"] as! [String: Any])["accuracy"] as! NSNumber).doubleValue
            let row = try XCTUnwrap(csv.first { $0[0] == variant && $0[1] == "7" && $0[2] == "ensemble" }, file: file, line: line)
            XCTAssertEqual(Double(row[3])!, ensemble, accuracy: 1e-6, file: file, line: line)
        }
        let summary = try String(contentsOf: results.appendingPathComponent("summary.md"), encoding: .utf8)
        for variant in ["full", "independent"] {
            for model in ["bert", "gpt2", "roberta"] {
                var finals: [Double] = [], bests: [Double] = [], bestSteps: [Double] = []
                for seed in [7, 8] {
                    let evals = try evaluations(results.appendingPathComponent("\(variant)-seed\(seed)"))
                    XCTAssertEqual(evals.map(\.step), [2, 4, 6], file: file, line: line)
                    let accuracies = evals.map { $0.accuracy[model]! }
                    let best = accuracies.max()!
                    let bestStep = evals[accuracies.firstIndex(of: best)!].step
                    let toTarget = evals.first { $0.accuracy[model]! >= 0.5 }?.step
                    finals.append(accuracies.last!)
                    bests.append(best)
                    bestSteps.append(Double(bestStep))
                    let row = try XCTUnwrap(csv.first { $0[0] == variant && $0[1] == "\(seed)" && $0[2] == model }, file: file, line: line)
                    XCTAssertEqual(Double(row[3])!, accuracies.last!, accuracy: 1e-6, file: file, line: line)
                    XCTAssertEqual(Double(row[4])!, best, accuracy: 1e-6, file: file, line: line)
                    XCTAssertEqual(Int(row[5]), bestStep, file: file, line: line)
                    XCTAssertEqual(row[6], "", "6 steps are one epoch: no epoch 3", file: file, line: line)
                    XCTAssertEqual(Int(row[7]), toTarget, file: file, line: line)
                    XCTAssertGreaterThan(Double(row[8]) ?? 0, 0, "wall seconds", file: file, line: line)
                    XCTAssertGreaterThan(Double(row[9]) ?? 0, 0, "CPU seconds", file: file, line: line)
                }
                func spread(_ v: [Double], digits: Int = 4) -> String {
                    let mean = v.reduce(0, +) / Double(v.count)
                    let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
                    let f = "%.\(digits)f"
                    return String(format: "\(f) ± \(f) (\(f)–\(f))", mean, std, v.min()!, v.max()!)
                }
                let rowLine = summary.split(separator: "\n").first { $0.hasPrefix("| \(variant) | \(model) | 2 |") }
                XCTAssertNotNil(rowLine, "summary row \(variant)/\(model)", file: file, line: line)
                let expected = "| \(spread(finals)) | \(spread(bests)) | \(spread(bestSteps, digits: 1)) |"
                XCTAssertTrue(rowLine?.contains(expected) ?? false, "\(rowLine ?? "") vs \(expected)", file: file, line: line)
            }
        }
    }

    func testExperimentEndToEndAndResume() throws {
        let folder = try temporaryFolder()
        let spec = try writeSpec(in: folder)
        let results = folder.appendingPathComponent("results")

        let dry = try runTool("mmo-experiment", [spec, "-o", results.path, "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("4 runs"), dry.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: results.path), "a dry run writes nothing")

        let first = try runTool("mmo-experiment", [spec, "-o", results.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        try checkTables(results)
        XCTAssertTrue(FileManager.default.fileExists(atPath: results.appendingPathComponent("report.html").path), first.stdout + first.stderr)

        // The seed-8 runs as if never run; the seed-7 runs finished.
        let kept = ["full-seed7", "independent-seed7"], redone = ["full-seed8", "independent-seed8"]
        var before: [String: [String: (Data, Date)]] = [:]
        for run in kept { before[run] = try snapshot(results.appendingPathComponent(run)) }
        var metricsBefore: [String: Data] = [:]
        for run in redone {
            metricsBefore[run] = try Data(contentsOf: results.appendingPathComponent("\(run)/metrics.jsonl"))
            try FileManager.default.removeItem(at: results.appendingPathComponent(run))
        }
        let plan = try ExperimentPlan.make(spec: ExperimentSpec.load(path: spec), results: results)
        XCTAssertEqual(plan.runs.map(\.status), [.finished(steps: 6), .notStarted, .finished(steps: 6), .notStarted])

        // Interrupted mid-way (--stop-at: as a signal would, at a step boundary with a checkpoint).
        let stopped = try runTool("mmo-experiment", [spec, "-o", results.path, "--stop-at", "3"])
        XCTAssertEqual(stopped.status, 75, stopped.stderr)
        let replan = try ExperimentPlan.make(spec: ExperimentSpec.load(path: spec), results: results)
        XCTAssertEqual(replan.runs.map(\.status), [.finished(steps: 6), .resumable(step: 3, total: 6), .finished(steps: 6), .resumable(step: 3, total: 6)])

        let resumed = try runTool("mmo-experiment", [spec, "-o", results.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("full-seed8: resume at step 3/6"), resumed.stderr)
        XCTAssertFalse(resumed.stderr.contains("full-seed7:"), "a finished run is not started again: " + resumed.stderr)
        for run in kept {
            let after = try snapshot(results.appendingPathComponent(run))
            XCTAssertEqual(Set(after.keys), Set(before[run]!.keys), run)
            for (name, (data, date)) in before[run]! {
                XCTAssertEqual(after[name]?.0, data, "\(run)/\(name) content")
                XCTAssertEqual(after[name]?.1, date, "\(run)/\(name) modification time")
            }
        }
        for run in redone {
            let log = try String(contentsOf: results.appendingPathComponent(".experiment/logs/\(run).log"), encoding: .utf8)
            XCTAssertTrue(log.contains("resuming at step 3/6"), log)
            // Stopped and resumed, the run logs exactly what the uninterrupted one logged.
            XCTAssertEqual(try Data(contentsOf: results.appendingPathComponent("\(run)/metrics.jsonl")), metricsBefore[run], run)
        }
        try checkTables(results)
    }

    /// SIGTERM to mmo-experiment (as `kill` would): the runs in progress stop at a step boundary
    /// with a checkpoint, it exits 75, and the next invocation finishes them.
    func testSignalStopsAndResumes() throws {
        let folder = try temporaryFolder()
        let spec = try writeSpec(in: folder).replacingOccurrences(of: "spec.yaml", with: "long.yaml")
        let text = try String(contentsOf: folder.appendingPathComponent("spec.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "maxSteps: 6", with: "maxSteps: 200").replacingOccurrences(of: "training.evalEvery: 2", with: "training.evalEvery: 100")
        try text.write(toFile: spec, atomically: true, encoding: .utf8)
        let results = folder.appendingPathComponent("results")
        let process = Process()
        process.executableURL = toolExecutable("mmo-experiment")
        process.arguments = [spec, "-o", results.path, "--no-report"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let first = results.appendingPathComponent("full-seed7/metrics.jsonl")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let t = try? String(contentsOf: first, encoding: .utf8), t.components(separatedBy: "\"type\":\"step\"").count > 6 { break }
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 75)
        let plan = try ExperimentPlan.make(spec: ExperimentSpec.load(path: spec), results: results)
        guard case .resumable(let step, 200) = plan.runs[0].status else { return XCTFail("full-seed7: \(plan.runs[0].status)") }
        XCTAssertGreaterThan(step, 0)
        XCTAssertLessThan(step, 200)
        for run in plan.runs where FileManager.default.fileExists(atPath: run.folder.path) {
            XCTAssertNoThrow(try RunDirectory(url: run.folder).lock(), "no mmo-train left writing into \(run.id)")
        }
        let resumed = try runTool("mmo-experiment", [spec, "-o", results.path, "--no-report"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("full-seed7: resume at step \(step)/200"), resumed.stderr)
        XCTAssertTrue(try ExperimentPlan.make(spec: ExperimentSpec.load(path: spec), results: results).runs.allSatisfy { $0.status == .finished(steps: 200) })
    }

    /// A distillation variant listed before its teacher: the plan puts the teacher's runs first,
    /// `{run:NAME}` becomes that variant's run of the same seed, and the whole experiment runs.
    func testDistillationVariantRunsAfterItsTeacher() throws {
        let folder = try temporaryFolder()
        let spec = """
            name: t
            base: \(root.appendingPathComponent("fixtures/configs/tiny.yaml").path)
            seeds: [7, 8]
            maxSteps: 2
            threads: 1
            parallel: 2
            set: {training.evalEvery: 1, optimizer.gradientSharing: true}
            variants:
              - {name: kd, set: {training.distillation: {checkpoint: "{run:teacher}/last.mmo", model: gpt2}}}
              - {name: teacher, set: {optimizer.gradientSharing: false}}
            """
        let url = folder.appendingPathComponent("spec.yaml")
        try spec.write(to: url, atomically: true, encoding: .utf8)
        let results = folder.appendingPathComponent("results")
        let plan = try ExperimentPlan.make(spec: ExperimentSpec.load(path: url.path), results: results)
        XCTAssertEqual(plan.runs.map(\.id), ["teacher-seed7", "teacher-seed8", "kd-seed7", "kd-seed8"])
        XCTAssertEqual(plan.runs[2].after, "teacher-seed7")
        // The spec's common `set` applies to every variant, the variant's own `set` after it.
        XCTAssertTrue(plan.runs.allSatisfy { $0.config.training.evalEvery == 1 })
        XCTAssertEqual(plan.runs.map(\.config.optimizer.gradientSharing), [false, false, true, true])
        XCTAssertEqual(
            plan.runs[2].config.training.distillation?.checkpointPath(seed: 7),
            results.standardizedFileURL.appendingPathComponent("teacher-seed7/last.mmo").path)
        let run = try runTool("mmo-experiment", [url.path, "-o", results.path])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: results.appendingPathComponent("kd-seed8/last.mmo").path))
        // A placeholder naming no variant is refused naming it.
        try spec.replacingOccurrences(of: "{run:teacher}", with: "{run:nobody}").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ExperimentPlan.make(spec: ExperimentSpec.load(path: url.path), results: results)) {
            XCTAssertTrue("\($0)".contains("{run:nobody}"), "\($0)")
        }
    }

    func testSpecIsStrict() throws {
        let folder = try temporaryFolder()
        let results = folder.appendingPathComponent("r").path
        let typo = try writeSpec(in: folder, extra: "epoch: 3")
        var r = try runTool("mmo-experiment", [typo, "-o", results, "--dry-run"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("field 'epoch': unknown field; did you mean 'epochs'?"), r.stderr)

        let spec = try writeSpec(in: folder)
        let text = try String(contentsOfFile: spec, encoding: .utf8).replacingOccurrences(of: "optimizer.parameterSync", with: "optimizer.paramSync")
        try text.write(toFile: spec, atomically: true, encoding: .utf8)
        r = try runTool("mmo-experiment", [spec, "-o", results, "--dry-run"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("field 'optimizer.paramSync': unknown field"), r.stderr)

        // Paths into lists and values checked by the config's ranges.
        let base = try RunConfig.load(path: root.appendingPathComponent("fixtures/configs/tiny.yaml").path)
        let loaded = try ExperimentSpec.load(path: root.appendingPathComponent("fixtures/experiments/tiny.yaml").path)
        let weight = try loaded.config(of: VariantSpec(name: "w", set: ["models[1].weight": .double(2.5), "data.maxLength": .int(30)]), base: base)
        XCTAssertEqual(weight.models[1].weight, 2.5)
        XCTAssertEqual(weight.data.maxLength, 30)
        XCTAssertEqual(weight.training.maxSteps, 4)
        XCTAssertThrowsError(try loaded.config(of: VariantSpec(name: "w", set: ["models[5].weight": .int(1)]), base: base))
        XCTAssertThrowsError(try loaded.config(of: VariantSpec(name: "w", set: ["data.maxLength": .int(2)]), base: base)) {
            XCTAssertTrue("\($0)".contains("data.maxLength"), "\($0)")
        }

        // The README's ablation: five variants × seeds 42–46 of the ablation configs, 5 epochs.
        let ablation = try ExperimentSpec.load(path: root.appendingPathComponent("fixtures/experiments/ablation-synthetic.yaml").path)
        XCTAssertEqual(ablation.seeds, [42, 43, 44, 45, 46])
        let abase = try ablation.baseConfig()
        for variant in ablation.variants {
            var expected = try RunConfig.load(path: root.appendingPathComponent("fixtures/configs/ablation/\(variant.name).yaml").path)
            var got = try ablation.config(of: variant, base: abase)
            expected.name = ""
            got.name = ""
            XCTAssertEqual(got, expected, variant.name)
        }
    }
}
