// What an experiment's runs came to: per run and model the final and best validation accuracy,
// the accuracy after epoch 3, steps to the target accuracy and the run's time (runs.csv); per
// variant and model their mean ± std and min–max over seeds (summary.md).
import Foundation
import MMORun

/// The evaluations of one run's `metrics.jsonl`, in file order.
public struct RunMetrics: Sendable {
    /// One evaluation line.
    public struct Evaluation: Decodable, Sendable {
        /// The step after which it ran.
        public var step: Int
        /// Completed epochs at that step.
        public var epoch: Int
        /// Each model's validation result.
        public var models: [String: EvalResult]
    }

    /// The evaluation records.
    public var evaluations: [Evaluation]

    /// Reads the `"type": "eval"` lines of a metrics file.
    public static func load(_ url: URL) throws -> RunMetrics {
        struct Kind: Decodable { var type: String }
        let data = try Data(contentsOf: url)
        var evaluations: [Evaluation] = []
        let decoder = JSONDecoder()
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            let bytes = Data(line)
            guard (try? decoder.decode(Kind.self, from: bytes))?.type == "eval" else { continue }
            evaluations.append(try decoder.decode(Evaluation.self, from: bytes))
        }
        return RunMetrics(evaluations: evaluations)
    }
}

/// One row of `runs.csv`: a model of a run.
public struct RunResult: Sendable, Equatable {
    public var variant: String
    public var seed: UInt64
    public var model: String
    /// Validation accuracy of the last evaluation (at the run's last step).
    public var finalAccuracy: Double?
    /// Highest validation accuracy of any evaluation, and the first step that reached it.
    public var bestAccuracy: Double?
    public var bestStep: Int?
    /// Validation accuracy of the evaluation at the end of epoch 3, if the run got there.
    public var epoch3Accuracy: Double?
    /// First evaluated step whose accuracy is at least the target (nil: not reached, or no target).
    public var stepsToTarget: Int?
    /// Wall-clock and CPU (user + system) seconds of the run's mmo-train processes, summed over
    /// invocations; nil when the experiment did not train it (no timing recorded).
    public var wallSeconds: Double?
    public var cpuSeconds: Double?

    /// The per-model figures of a run's evaluations.
    public static func rows(
        variant: String, seed: UInt64, models: [String], metrics: RunMetrics, target: Double?, wall: Double?, cpu: Double?
    ) -> [RunResult] {
        models.map { model in
            let evals = metrics.evaluations.compactMap { e in e.models[model].map { (step: e.step, epoch: e.epoch, accuracy: $0.accuracy) } }
            var best: (step: Int, accuracy: Double)?
            for e in evals where best == nil || e.accuracy > best!.accuracy { best = (e.step, e.accuracy) }
            return RunResult(
                variant: variant, seed: seed, model: model, finalAccuracy: evals.last?.accuracy, bestAccuracy: best?.accuracy,
                bestStep: best?.step, epoch3Accuracy: evals.first { $0.epoch == 3 }?.accuracy,
                stepsToTarget: target.flatMap { t in evals.first { $0.accuracy >= t }?.step }, wallSeconds: wall, cpuSeconds: cpu)
        }
    }
}

/// Mean, sample standard deviation (n − 1; 0 for one value), min and max.
public struct Spread: Sendable, Equatable {
    public var count: Int
    public var mean: Double
    public var std: Double
    public var min: Double
    public var max: Double

    /// nil for no values.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        count = values.count
        mean = values.reduce(0, +) / Double(values.count)
        let m = mean
        std = values.count > 1 ? (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
        min = values.min()!
        max = values.max()!
    }

    /// `0.9533 ± 0.0208 (0.9300–0.9700)` with `digits` decimals.
    public func text(_ digits: Int) -> String {
        let f = "%.\(digits)f"
        return String(format: "\(f) ± \(f) (\(f)–\(f))", mean, std, min, max)
    }
}

/// The tables written after the runs.
public enum ExperimentTables {
    /// The header of `runs.csv`.
    public static let csvHeader = [
        "variant", "seed", "model", "final_accuracy", "best_accuracy", "best_step", "epoch3_accuracy", "steps_to_target",
        "wall_seconds", "cpu_seconds",
    ]

    /// `runs.csv`: one line per run and model (empty cells: not available).
    public static func csv(_ rows: [RunResult]) -> String {
        func num(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "" }
        var lines = [csvHeader.joined(separator: ",")]
        for r in rows {
            lines.append(
                [
                    r.variant, "\(r.seed)", r.model, num(r.finalAccuracy, 6), num(r.bestAccuracy, 6), r.bestStep.map(String.init) ?? "",
                    num(r.epoch3Accuracy, 6), r.stepsToTarget.map(String.init) ?? "", num(r.wallSeconds, 2), num(r.cpuSeconds, 2),
                ].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `summary.md`: per variant and model over its seeds, final / best accuracy, step of best, accuracy after
    /// epoch 3 and steps to target as mean ± std (min–max); then time per variant.
    public static func summary(_ rows: [RunResult], spec: ExperimentSpec, variants: [String], models: [String], notes: [String] = []) -> String {
        var out = "# Experiment \(spec.name)\n\n"
        out += "Spec `\(spec.file)`, base `\(spec.base)`; seeds \(spec.seeds.map(String.init).joined(separator: ", "))"
        if let e = spec.maxSteps { out += "; \(e) steps" } else if let e = spec.epochs { out += "; \(e) epochs" }
        out += ". Validation accuracy, mean ± sample std (min–max) over seeds; runs.csv has every run.\n\n"
        let hasEpoch3 = rows.contains { $0.epoch3Accuracy != nil }
        var header = ["variant", "model", "seeds", "final accuracy", "best accuracy", "step of best"]
        if hasEpoch3 { header.append("after epoch 3") }
        if let t = spec.target { header.append(String(format: "steps to %.3f (reached)", t)) }
        var table = [header]
        for v in variants {
            for m in models {
                let group = rows.filter { $0.variant == v && $0.model == m }
                guard !group.isEmpty else { continue }
                var row = [v, m, "\(group.count)"]
                row.append(Spread(group.compactMap(\.finalAccuracy))?.text(4) ?? "–")
                row.append(Spread(group.compactMap(\.bestAccuracy))?.text(4) ?? "–")
                row.append(Spread(group.compactMap(\.bestStep).map(Double.init))?.text(1) ?? "–")
                if hasEpoch3 { row.append(Spread(group.compactMap(\.epoch3Accuracy))?.text(4) ?? "–") }
                if spec.target != nil && m == "ensemble" {
                    row.append("–")
                } else if spec.target != nil {
                    let reached = group.compactMap(\.stepsToTarget).map(Double.init)
                    row.append((Spread(reached)?.text(1) ?? "–") + " (\(reached.count)/\(group.count))")
                }
                table.append(row)
            }
        }
        out += markdownTable(table) + "\n"
        var time = [["variant", "runs timed", "wall s per run", "CPU s per run"]]
        for v in variants {
            let perRun = Dictionary(grouping: rows.filter { $0.variant == v }, by: \.seed).values.compactMap(\.first)
            let wall = perRun.compactMap(\.wallSeconds), cpu = perRun.compactMap(\.cpuSeconds)
            time.append([v, "\(wall.count)/\(perRun.count)", Spread(wall)?.text(1) ?? "–", Spread(cpu)?.text(1) ?? "–"])
        }
        out += "\n" + markdownTable(time) + "\n"
        if spec.target != nil {
            out += "\nSteps to target: the first evaluated step at or above the target, over the seeds that reached it.\n"
        }
        if models.contains("ensemble") {
            out += "\nensemble: the models' averaged probabilities at each run's last checkpoint (as mmo-eval), final accuracy only.\n"
        }
        for note in notes { out += "\n" + note + "\n" }
        return out
    }

    static func markdownTable(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var lines = ["| " + header.joined(separator: " | ") + " |", "|" + String(repeating: " --- |", count: header.count)]
        for row in rows.dropFirst() { lines.append("| " + row.joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n")
    }
}
