// A run folder as the report reads it: the resolved config, every metrics.jsonl line (steps and
// evaluations), the models' architectures from the newest checkpoint, and the step checkpoints.
import Foundation
import MMOModels
import MMORun

/// Why a folder cannot be reported on; the message names the file (exit 2 in the tool).
public struct ReportError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ message: String) { description = message }
}

/// What the report knows about one run folder.
public struct RunData: Sendable {
    /// The folder.
    public var url: URL
    /// The folder's name (the run's name in an experiment).
    public var name: String
    /// `config.json`, if present and readable.
    public var config: RunConfig?
    /// Step lines in file order.
    public var steps: [StepRecord]
    /// Evaluation lines in file order.
    public var evals: [EvalRecord]
    /// Models in run order: from the config, else from the first step line (sorted).
    public var modelNames: [String]
    /// Architectures and parameter counts from the newest checkpoint (`last.mmo` or the newest
    /// step file), when one opens.
    public var modelRecords: [CheckpointState.ModelRecord]
    /// `step-NNNNNN.mmo` steps present.
    public var checkpointSteps: [Int]
    /// Lines that were not understood and left out (e.g. a torn last line of a killed run).
    public var skippedLines: [String]

    /// Reads `folder`. Errors name the file and line.
    public static func load(_ folder: URL) throws -> RunData {
        let run = RunDirectory(url: folder)
        let metricsPath = run.metricsURL.path
        guard let data = FileManager.default.contents(atPath: metricsPath) else {
            throw ReportError("\(metricsPath): no such file or not readable; give a run folder of mmo-train (or a folder of run folders)")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        struct Kind: Decodable { var type: String? }
        var steps: [StepRecord] = [], evals: [EvalRecord] = [], skipped: [String] = []
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        func blank(_ line: Data.SubSequence) -> Bool { line.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") } }
        let lastLine = lines.lastIndex { !blank($0) } ?? -1
        for (i, line) in lines.enumerated() {
            if blank(line) { continue }
            let isLast = i == lastLine
            do {
                let kind = try decoder.decode(Kind.self, from: Data(line))
                switch kind.type {
                case "step": steps.append(try decoder.decode(StepRecord.self, from: Data(line)))
                case "eval": evals.append(try decoder.decode(EvalRecord.self, from: Data(line)))
                default: skipped.append("line \(i + 1): type \(kind.type ?? "missing")")
                }
            } catch {
                // A killed run can leave a torn last line; anything else is damage worth naming.
                if isLast {
                    skipped.append("line \(i + 1): incomplete last line")
                    continue
                }
                throw ReportError("\(metricsPath):\(i + 1): not a metrics line of mmo-train (\(Self.reason(error)))")
            }
        }
        var config: RunConfig?
        if let configData = FileManager.default.contents(atPath: run.configURL.path) {
            do {
                config = try JSONDecoder().decode(RunConfig.self, from: configData)
            } catch {
                throw ReportError("\(run.configURL.path): not a resolved config of mmo-train (\(Self.reason(error)))")
            }
        }
        let checkpointSteps = run.stepCheckpoints()
        var records: [CheckpointState.ModelRecord] = []
        var candidates = [run.lastURL]
        if let newest = checkpointSteps.last { candidates.append(run.stepURL(newest)) }
        for url in candidates where FileManager.default.fileExists(atPath: url.path) {
            if let checkpoint = try? Checkpoint.open(url) {
                records = checkpoint.state.models
                break
            }
        }
        var names = config?.models.map(\.name) ?? records.map(\.name)
        if names.isEmpty { names = steps.first.map { $0.models.keys.sorted() } ?? [] }
        return RunData(
            url: folder, name: folder.lastPathComponent, config: config, steps: steps, evals: evals, modelNames: names,
            modelRecords: records, checkpointSteps: checkpointSteps, skippedLines: skipped)
    }

    static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return context.underlyingError.map { ($0 as NSError).localizedDescription } ?? context.debugDescription
        default:
            return "\(error)"
        }
    }

    // MARK: - Series straight from the metrics

    /// Per-step training loss of `model` as (step, loss).
    public func lossSeries(_ model: String) -> [ChartPoint] {
        steps.compactMap { s in s.models[model].map { ChartPoint(Double(s.step), Double($0.loss)) } }
    }

    /// Per-step learning rate of `model`.
    public func learningRateSeries(_ model: String) -> [ChartPoint] {
        steps.compactMap { s in s.models[model].map { ChartPoint(Double(s.step), $0.lr) } }
    }

    /// Validation accuracy of `model` at each evaluation.
    public func accuracySeries(_ model: String) -> [ChartPoint] {
        evals.compactMap { e in e.models[model].map { ChartPoint(Double(e.step), $0.accuracy) } }
    }

    /// Validation perplexity of language model `model` at each evaluation (empty for a
    /// classifier).
    public func perplexitySeries(_ model: String) -> [ChartPoint] {
        evals.compactMap { e in e.models[model]?.perplexity.map { ChartPoint(Double(e.step), $0) } }
    }

    /// Whether the run's evaluations are language-model results (perplexity, no class accuracy).
    public var isLanguageModeling: Bool { evals.contains { $0.models.values.contains { $0.isLanguageModel } } }

    /// The similarity keys (`kind:a~b`) that occur, in kind order then first appearance.
    public var similarityKeys: [String] {
        var seen: [String] = []
        for s in steps { for key in (s.similarity ?? [:]).keys.sorted() where !seen.contains(key) { seen.append(key) } }
        let kinds = ["embedding", "attention", "ffn", "norm", "head"]
        return seen.enumerated().sorted { a, b in
            let ka = kinds.firstIndex(of: String(a.element.split(separator: ":").first ?? "")) ?? kinds.count
            let kb = kinds.firstIndex(of: String(b.element.split(separator: ":").first ?? "")) ?? kinds.count
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
    }

    /// Per-step gradient cosine of key `kind:a~b` (steps without it are left out).
    public func similaritySeries(_ key: String) -> [ChartPoint] {
        steps.compactMap { s in s.similarity?[key].map { ChartPoint(Double(s.step), $0) } }
    }

    /// The last evaluation of `model`, with its step.
    public func finalEval(_ model: String) -> (step: Int, result: EvalResult)? {
        for e in evals.reversed() { if let r = e.models[model] { return (e.step, r) } }
        return nil
    }

    /// The best evaluation of `model` (highest accuracy — for a language model lowest loss —,
    /// the earliest on ties, as the trainer's best-<model>.mmo).
    public func bestEval(_ model: String) -> (step: Int, result: EvalResult)? {
        var best: (Int, EvalResult)?
        for e in evals {
            guard let r = e.models[model] else { continue }
            if best == nil || r.isBetter(than: BestRecord(accuracy: best!.1.accuracy, loss: best!.1.loss, step: best!.0)) { best = (e.step, r) }
        }
        return best.map { (step: $0.0, result: $0.1) }
    }

    /// The last step record's figures of `model`.
    public func finalStep(_ model: String) -> (step: Int, model: StepRecord.Model)? {
        for s in steps.reversed() { if let m = s.models[model] { return (s.step, m) } }
        return nil
    }

    /// Steps the non-finite guard skipped for `model`.
    public func skippedSteps(_ model: String) -> Int { steps.filter { $0.models[model]?.skipped == true }.count }
}

/// The trailing mean over `window` values (fewer at the start), skipping non-finite values.
public func trailingMean(_ values: [Double], window: Int) -> [Double] {
    let w = max(1, window)
    return values.indices.map { i in
        let finite = values[max(0, i - w + 1)...i].filter(\.isFinite)
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
    }
}

/// The smoothing window the report uses for `count` steps: about a twentieth of the run, 1 to 50.
public func smoothingWindow(steps count: Int) -> Int { max(1, min(50, count / 20)) }
