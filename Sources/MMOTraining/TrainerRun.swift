// The outer loop of a run: steps, metrics lines, progress, evaluations, checkpoints, retention,
// signals and the non-finite guard's stop.
import Foundation
import MMOCore
import MMOOptim
import MMORun

extension Trainer {
    /// Runs until `totalSteps`, a stop signal, or divergence. Writes `config.json`,
    /// `metrics.jsonl`, periodic and final checkpoints into the run folder.
    /// `stopAtStep` interrupts the run after that step as a signal would (checkpoint written,
    /// schedule unchanged), so an interruption can be reproduced exactly.
    public func run(stop: StopSignal? = nil, stopAtStep: Int? = nil, progressMode: ProgressReporter.Mode? = nil) throws -> RunSummary {
        var stoppedBy: RunSummary.Stop?
        let started = Date()
        if let stopAtStep, stopAtStep <= progress.step {
            throw TrainingError.incompatibleResume(
                field: "--stop-at", reason: "step \(stopAtStep) is not after the checkpoint's step \(progress.step)")
        }
        try run.create()
        let lock = try run.lock()
        defer { withExtendedLifetime(lock) {} }
        try writeResolvedConfig()
        let metrics = try MetricsLog(url: run.metricsURL, truncateAfterStep: progress.step)
        let reporter = ProgressReporter(
            total: progress.totalSteps, startStep: progress.step, every: config.training.logEvery, mode: progressMode)
        if progress.step == 0 {
            reporter.message(
                "mmo-train: \(names.count) models (\(zip(names, models).map { "\($0) \($1.parameters.totalCount) params" }.joined(separator: ", "))), \(trainSets[0].count) train / \(validationSets[0].count) validation examples, \(progress.totalSteps) steps → \(run.url.path)")
        } else {
            reporter.message("mmo-train: resuming at step \(progress.step)/\(progress.totalSteps) → \(run.url.path)")
        }
        var lastCheckpoint: URL?
        var reason = RunSummary.Reason.finished
        while progress.step < progress.totalSteps {
            // A signal that arrived during start-up (loading data, building models) stops the run
            // before its first step: nothing new to save, the previous checkpoint stands.
            if let stop, stop.stopRequested.0, lastCheckpoint == nil {
                reason = .interrupted
                let saved = FileManager.default.fileExists(atPath: run.lastURL.path)
                reporter.notice(
                    "mmo-train: stopped by \(stop.stopRequested.1) before step \(progress.step + 1); "
                        + (saved ? "\(run.lastURL.path) is unchanged. Resume with:\n  mmo-train --resume \(run.lastURL.path)" : "nothing was saved"))
                break
            }
            let epochBefore = epoch
            let report = step()
            try metrics.append(stepRecord(report))
            reporter.step(progress.step, epoch: epoch, losses: zip(names, stepLosses).map { ($0, $1) })

            let epochEnded = epoch != epochBefore
            let finished = progress.step == progress.totalSteps
            let evalDue = epochEnded || finished || (config.training.evalEvery > 0 && progress.step % config.training.evalEvery == 0)
            var newBest = false
            if evalDue {
                lastEval = evaluate()
                try metrics.append(EvalRecord(step: progress.step, epoch: epoch, models: lastEval))
                for (name, result) in lastEval where result.isBetter(than: best[name]) {
                    best[name] = BestRecord(accuracy: result.accuracy, loss: result.loss, step: progress.step)
                    newBest = true
                }
                reporter.message(
                    "eval step \(progress.step) epoch \(epoch): "
                        + names.map { "\($0) \(lastEval[$0]!.summary)" }.joined(separator: "  "))
            }
            var (stopRequested, signalName) = stop?.stopRequested ?? (false, "")
            if let stopAtStep, progress.step >= stopAtStep, !finished {
                stopRequested = true
                signalName = "--stop-at \(stopAtStep)"
            }
            let diverged = optimizer.modelOverSkipLimit
            let checkpointDue = finished || stopRequested || diverged != nil
                || (config.training.checkpointEvery > 0 ? progress.step % config.training.checkpointEvery == 0 : epochEnded)
                || (newBest && config.training.keepBestPerModel)
            if checkpointDue {
                lastCheckpoint = try saveStepCheckpoint(newBestFor: newBest ? bestHere() : [])
            }
            if let m = diverged {
                reason = .diverged
                reporter.notice("mmo-train: \(TrainingError.diverged(model: names[m], steps: config.optimizer.maxConsecutiveSkips, checkpoint: run.lastURL.path))")
                break
            }
            if stopRequested && !finished {
                reason = .interrupted
                stoppedBy = signalName.hasPrefix("--stop-at") ? .stopAt : .signal
                reporter.notice("mmo-train: stopped by \(signalName); checkpoint written at step \(progress.step). Resume with:\n  mmo-train --resume \(run.lastURL.path)")
                break
            }
        }
        if reason == .interrupted && stoppedBy == nil { stoppedBy = .signal }
        return RunSummary(
            reason: reason, stoppedBy: stoppedBy, step: progress.step, lastCheckpoint: lastCheckpoint, lastEval: lastEval, best: best,
            seconds: Date().timeIntervalSince(started))
    }

    /// Models whose best accuracy was set at the current step.
    func bestHere() -> [String] { names.filter { best[$0]?.step == progress.step } }

    /// Writes `step-NNNNNN.mmo`, points `last.mmo` (and `best-<model>.mmo` for `newBestFor`) at it,
    /// prunes old step files. Returns the step file.
    func saveStepCheckpoint(newBestFor: [String]) throws -> URL {
        let url = run.stepURL(progress.step)
        do {
            try saveCheckpoint(to: url)
        } catch TrainingError.checkpoint(let path, let reason) where FileManager.default.fileExists(atPath: run.lastURL.path) {
            // A failed save (full disk) never touches the previous files: say so, and how to go on.
            throw TrainingError.checkpoint(
                path: path, reason: reason + "; the previous checkpoint is intact: free space, then continue with --resume \(run.lastURL.path)")
        }
        try run.link(run.lastURL, to: url)
        if config.training.keepBestPerModel {
            for name in newBestFor { try run.link(run.bestURL(model: name), to: url) }
        }
        run.prune(keep: config.training.keepLast)
        return url
    }

    func writeResolvedConfig() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(config).write(to: run.configURL, options: .atomic)
        } catch {
            throw TrainingError.io(path: run.configURL.path, reason: "cannot write the resolved config (\((error as NSError).localizedDescription))")
        }
    }

    func stepRecord(_ report: StepReport) -> StepRecord {
        var models: [String: StepRecord.Model] = [:]
        for (i, name) in names.enumerated() {
            let r = report.models[i]
            models[name] = StepRecord.Model(loss: stepLosses[i], lr: r.learningRate, gradNorm: r.gradientNorm, skipped: r.skipped)
            if logitTerms != nil { models[name]?.crossEntropy = stepCrossEntropy[i] }
        }
        var similarity: [String: Double]?
        if config.optimizer.logGradientSimilarity {
            similarity = [:]
            for s in report.similarities {
                if let cosine = s.cosine { similarity?["\(s.kind.rawValue):\(names[s.modelA])~\(names[s.modelB])"] = cosine }
            }
        }
        return StepRecord(step: progress.step, epoch: epoch, examples: progress.examplesSeen, models: models, similarity: similarity)
    }
}

extension RunSummary {
    /// A few human-readable lines: why the run ended, the last and best evaluations, the files.
    public var text: String {
        var lines = ["run \(reason.rawValue) at step \(step) in \(String(format: "%.1f", seconds)) s"]
        for name in lastEval.keys.sorted() {
            let e = lastEval[name]!
            var line: String
            if let ppl = e.perplexity {
                line = String(format: "  %-10@ val ppl %.2f  loss %.4f  tok-acc %.4f", name, ppl, e.loss, e.accuracy)
                if let b = best[name] { line += String(format: "   best loss %.4f at step %d", b.loss, b.step) }
            } else {
                line = String(format: "  %-10@ val acc %.4f  loss %.4f", name, e.accuracy, e.loss)
                if let b = best[name] { line += String(format: "   best %.4f at step %d", b.accuracy, b.step) }
            }
            lines.append(line)
        }
        if let lastCheckpoint { lines.append("checkpoint: \(lastCheckpoint.path)") }
        if let dir = lastCheckpoint?.deletingLastPathComponent().path { lines.append("report: mmo-report \(dir)  (then open \(dir)/report.html)") }
        return lines.joined(separator: "\n")
    }

    /// The same as one JSON object (for scripts).
    public var jsonText: String {
        struct Out: Encodable {
            var reason: String
            var stopped: String?
            var step: Int
            var seconds: Double
            var checkpoint: String?
            var lastEval: [String: EvalResult]
            var best: [String: BestRecord]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let out = Out(reason: reason.rawValue, stopped: stoppedBy?.rawValue, step: step, seconds: seconds, checkpoint: lastCheckpoint?.path, lastEval: lastEval, best: best)
        return (try? encoder.encode(out)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
