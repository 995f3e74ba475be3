// The plan of an experiment: every (variant, seed) run, its config, its folder, and what is on
// disk already (finished, resumable at a step, not started).
import Foundation
import MMORun

/// One (variant, seed) run of the plan.
public struct PlannedRun: Sendable {
    /// The variant's name.
    public var variant: String
    /// The run seed.
    public var seed: UInt64
    /// The variant's config with this seed (what `mmo-train` will run).
    public var config: RunConfig
    /// `RESULTS_DIR/<variant>-seed<N>`.
    public var folder: URL
    /// Optimizer steps the run has in total (from the data size; nil when the data are files,
    /// known once the run has started).
    public var totalSteps: Int?
    /// What is on disk.
    public var status: RunStatus
    /// The run that must finish before this one starts (its distillation teacher), by id.
    public var after: String?

    /// `<variant>-seed<N>`.
    public var id: String { "\(variant)-seed\(seed)" }
}

/// The state of a run folder before the experiment goes on.
public enum RunStatus: Equatable, Sendable, CustomStringConvertible {
    /// No checkpoint: trained from the start.
    case notStarted
    /// `last.mmo` at `step` of `total`: resumed.
    case resumable(step: Int, total: Int)
    /// `last.mmo` at its total steps and the final evaluation in `metrics.jsonl`: kept.
    case finished(steps: Int)

    /// `new`, `resume at step k/n`, `done (n steps)`.
    public var description: String {
        switch self {
        case .notStarted: return "new"
        case .resumable(let s, let t): return "resume at step \(s)/\(t)"
        case .finished(let n): return "done (\(n) steps)"
        }
    }
}

/// The whole plan: runs in variant-then-seed order, how many at once, threads per run.
public struct ExperimentPlan: Sendable {
    /// The spec it comes from.
    public var spec: ExperimentSpec
    /// The results folder.
    public var results: URL
    /// The runs, variant by variant, seed by seed.
    public var runs: [PlannedRun]
    /// Runs trained at once.
    public var lanes: Int
    /// BLAS threads per run (`mmo-train --threads`).
    public var threads: Int

    /// `RESULTS_DIR/.experiment`: the variants' configs, the runs' logs, the timings.
    public var stateFolder: URL { results.appendingPathComponent(".experiment") }
    /// The config file of `variant` (mmo-train --config; the seed comes from --seed).
    public func configURL(_ variant: String) -> URL { stateFolder.appendingPathComponent("configs/\(variant).json") }
    /// The log of one run's mmo-train processes (appended by each invocation).
    public func logURL(_ run: PlannedRun) -> URL { stateFolder.appendingPathComponent("logs/\(run.id).log") }
    /// One line per mmo-train process: run, wall and CPU seconds, steps before and after.
    public var timingsURL: URL { stateFolder.appendingPathComponent("timings.jsonl") }

    /// Builds the plan of `spec` into `results` on a machine with `cores` cores (the parallelism
    /// and thread count may be overridden), reading each run folder's state.
    public static func make(
        spec: ExperimentSpec, results: URL, cores: Int = ProcessInfo.processInfo.activeProcessorCount,
        parallel: Parallelism? = nil, threads: Int? = nil
    ) throws -> ExperimentPlan {
        let base = try spec.baseConfig()
        var runs: [PlannedRun] = []
        var teachers: [String: String] = [:]
        for variant in spec.variants {
            var config = try spec.config(of: variant, base: base)
            if var kd = config.training.distillation, let (name, range) = teacherReference(kd.checkpoint) {
                guard spec.variants.contains(where: { $0.name == name }), name != variant.name else {
                    throw ExperimentError(
                        "\(spec.file): variant '\(variant.name)': training.distillation.checkpoint '\(kd.checkpoint)' names {run:\(name)}, which is not another variant of the spec")
                }
                // The teacher run of the same seed: `{seed}` is replaced by mmo-train.
                kd.checkpoint.replaceSubrange(range, with: results.standardizedFileURL.appendingPathComponent("\(name)-seed{seed}").path)
                config.training.distillation = kd
                teachers[variant.name] = name
            }
            for seed in spec.seeds {
                var c = config
                c.seed = seed
                let folder = results.appendingPathComponent("\(variant.name)-seed\(seed)")
                let total = plannedSteps(c)
                var run = PlannedRun(variant: variant.name, seed: seed, config: c, folder: folder, totalSteps: total, status: .notStarted)
                run.after = teachers[variant.name].map { "\($0)-seed\(seed)" }
                run.status = try status(of: run)
                runs.append(run)
            }
        }
        for (student, teacher) in teachers where teachers[teacher] != nil {
            throw ExperimentError("\(spec.file): variant '\(student)' distils from '\(teacher)', which distils itself; a teacher variant must train without a teacher")
        }
        // Teachers' runs first (stable otherwise), so that their students find them finished.
        let teacherVariants = Set(teachers.values)
        runs = runs.filter { teacherVariants.contains($0.variant) } + runs.filter { !teacherVariants.contains($0.variant) }
        let (lanes, perRun) = (parallel ?? spec.parallel).resolve(
            runs: runs.filter { if case .finished = $0.status { return false } else { return true } }.count, cores: cores,
            threads: threads ?? spec.threads)
        for i in runs.indices { runs[i].config.training.threads = perRun }
        return ExperimentPlan(spec: spec, results: results, runs: runs, lanes: lanes, threads: perRun)
    }

    /// The `{run:NAME}` placeholder of a distillation checkpoint path: the variant named and
    /// where the placeholder is.
    static func teacherReference(_ path: String) -> (String, Range<String.Index>)? {
        guard let open = path.range(of: "{run:"), let close = path[open.upperBound...].firstIndex(of: "}") else { return nil }
        return (String(path[open.upperBound..<close]), open.lowerBound..<path.index(after: close))
    }

    /// The trainer's step count for synthetic data (the same formula as `Trainer`); nil for files.
    static func plannedSteps(_ config: RunConfig) -> Int? {
        if let steps = config.training.maxSteps { return steps }
        guard config.data.source == .synthetic else { return nil }
        let batches = (config.data.syntheticTrain + config.training.batchSize - 1) / config.training.batchSize
        let perEpoch = (batches + config.optimizer.accumulationSteps - 1) / config.optimizer.accumulationSteps
        return max(1, perEpoch * config.training.epochs)
    }

    /// What the run folder holds: a checkpoint at the end with the final evaluation logged
    /// (finished), a checkpoint before it (resumable), or nothing to go on from (not started).
    /// A folder trained with another model, data, seed or optimizer config is an error.
    static func status(of run: PlannedRun) throws -> RunStatus {
        let last = RunDirectory(url: run.folder).lastURL
        guard FileManager.default.fileExists(atPath: last.path) else { return .notStarted }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.open(last)
        } catch {
            throw ExperimentError("\(run.folder.path): its last.mmo cannot be read (\(error)); remove the folder to train the run again")
        }
        let state = checkpoint.state
        var theirs = state.run, ours = run.config
        theirs.training = TrainingConfig.lengthless(theirs.training)
        ours.training = TrainingConfig.lengthless(ours.training)
        ours.optimizer.totalSteps = theirs.optimizer.totalSteps
        ours.name = theirs.name  // the name changes no result (runs of tools/ablation are reused)
        if theirs != ours {
            throw ExperimentError(
                "\(run.folder.path) holds a run of another config than variant '\(run.variant)' seed \(run.seed) (\(differences(theirs, ours))); remove it or choose another results folder")
        }
        let step = state.progress.step, total = state.progress.totalSteps
        if let planned = run.totalSteps, planned != total {
            if planned < step {
                throw ExperimentError("\(run.folder.path) has run \(step) steps, more than the spec's budget of \(planned); remove it or raise the budget")
            }
            return .resumable(step: step, total: planned)
        }
        if step >= total && finalEvaluation(in: RunDirectory(url: run.folder).metricsURL, at: total) { return .finished(steps: total) }
        return .resumable(step: step, total: total)
    }

    /// Whether `metrics.jsonl` has an evaluation at `step`.
    static func finalEvaluation(in metrics: URL, at step: Int) -> Bool {
        (try? RunMetrics.load(metrics))?.evaluations.contains { $0.step == step } ?? false
    }

    /// The top-level config sections that differ (for messages).
    static func differences(_ a: RunConfig, _ b: RunConfig) -> String {
        var fields: [String] = []
        if a.name != b.name { fields.append("name") }
        if a.seed != b.seed { fields.append("seed") }
        if a.models != b.models { fields.append("models") }
        if a.data != b.data { fields.append("data") }
        if a.training != b.training { fields.append("training") }
        if a.optimizer != b.optimizer { fields.append("optimizer") }
        return "differs in " + fields.joined(separator: ", ")
    }

    /// The plan as text (`--dry-run`): the runs, their status and the commands.
    public func text(trainPath: String) -> String {
        var lines = [
            "experiment '\(spec.name)' (\(spec.file)): \(spec.variants.count) variants × \(spec.seeds.count) seeds = \(runs.count) runs → \(results.path)",
            "base \(spec.base); \(lanes) run(s) at once, \(threads) BLAS thread(s) each"
                + (spec.target.map { String(format: "; target accuracy %.3f", $0) } ?? ""),
        ]
        if !spec.common.isEmpty {
            lines.append("  every variant: " + spec.common.keys.sorted().map { "\($0)=\(spec.common[$0]!)" }.joined(separator: ", "))
        }
        for v in spec.variants {
            let set = v.set.keys.sorted().map { "\($0)=\(v.set[$0]!)" }.joined(separator: ", ")
            lines.append("  variant \(v.name): \(set.isEmpty ? "the base as is" : set)")
        }
        var rows = [["run", "steps", "status", "command"]]
        for run in runs {
            rows.append([run.id, run.totalSteps.map(String.init) ?? "?", run.status.description, command(run, trainPath: trainPath).joined(separator: " ")])
        }
        lines.append(plainTable(rows))
        return lines.joined(separator: "\n")
    }

    /// The mmo-train arguments that carry `run` on from its status (empty when finished).
    public func command(_ run: PlannedRun, trainPath: String) -> [String] {
        switch run.status {
        case .finished: return []
        case .notStarted:
            return [trainPath, "--config", configURL(run.variant).path, "--seed", "\(run.seed)", "--run-dir", run.folder.path, "--threads", "\(threads)"]
        case .resumable(_, let total):
            return [trainPath, "--resume", RunDirectory(url: run.folder).lastURL.path, "--threads", "\(threads)", "--max-steps", "\(total)"]
        }
    }
}

extension TrainingConfig {
    /// The settings with the run's length and thread count cleared (a resume may change those):
    /// what must agree for a folder to be this run.
    static func lengthless(_ t: TrainingConfig) -> TrainingConfig {
        var t = t
        t.epochs = 1
        t.maxSteps = nil
        t.threads = 1
        return t
    }
}

/// Aligned columns, two spaces apart.
func plainTable(_ rows: [[String]]) -> String {
    guard let width = rows.map(\.count).max() else { return "" }
    var widths = [Int](repeating: 0, count: width)
    for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
    return rows.map { row in
        row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }.joined(separator: "\n")
}
