// mmo-train: joint training of several transformer classifiers with the MultiModelOptimizer.
import ArgumentParser
import Foundation
import MMORun
import MMOTraining

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-train",
        abstract: "Train BERT-, GPT-2- and RoBERTa-style classifiers jointly with the MultiModelOptimizer.",
        discussion: """
            With no arguments: the built-in default (fixtures/configs/default.yaml: BERT 1.0, GPT-2 0.8, \
            RoBERTa 1.2, small size, the paper's synthetic data and mechanisms, 6 epochs at the \
            from-scratch learning rate 5e-4; about a minute) into a new folder under ./runs/. The paper's \
            own settings (lr 3e-5, for pretrained models) are fixtures/configs/paper-synthetic.yaml.
            A run folder holds config.json, metrics.jsonl, step-NNNNNN.mmo, last.mmo and best-<model>.mmo.
            Ctrl-C finishes the current step, writes a checkpoint and prints the resume command.
            Config fields are documented in docs/config.md. Only one process writes into a run folder at \
            a time (the second exits at once naming the holder's pid).

            Examples:
              mmo-train                                                   the built-in default
              mmo-train --config fixtures/configs/tiny.yaml --run-dir runs/tiny
              mmo-train --resume runs/tiny/last.mmo --max-steps 40        continue, longer

            Exit status: 0 finished (or stopped at --stop-at, checkpoint written); 1 error (bad config, \
            data or checkpoint; nothing already written is lost); 3 diverged (non-finite for \
            optimizer.maxConsecutiveSkips steps; checkpoint written); 75 stopped early by SIGINT or \
            SIGTERM (checkpoint written when a step had run; resume with --resume); 64 a bad flag.
            """)

    @Option(name: .long, help: "A JSON or YAML run config (see fixtures/configs/).")
    var config: String?

    @Option(name: .long, help: "Continue from a checkpoint; the run's config comes from the file.")
    var resume: String?

    @Option(name: .long, help: "The run folder (default: ./runs/<name>-<time> for a new run, the checkpoint's folder on resume).")
    var runDir: String?

    @Option(name: .long, help: "Optimizer steps to run in total (overrides training.maxSteps / epochs).")
    var maxSteps: Int?

    @Option(name: .long, help: "Epochs to run in total (overrides training.epochs).")
    var epochs: Int?

    @Option(name: .long, help: "Run seed (new runs only).")
    var seed: UInt64?

    @Option(name: .long, help: "Write step-NNNNNN.mmo every N steps (0: at each epoch end).")
    var checkpointEvery: Int?

    @Option(name: .long, help: "OpenBLAS threads (a resumed run is bit-identical only with the same count).")
    var threads: Int?

    @Option(name: .long, help: "Stop after this step as Ctrl-C would (checkpoint written, schedule unchanged); resume later.")
    var stopAt: Int?

    @Flag(name: .long, help: "No progress output.")
    var quiet = false

    @Flag(name: .long, help: "Print the run summary as JSON on stdout.")
    var json = false

    func validate() throws {
        // Flags get the config fields' ranges (docs/config.md, Ranges), named as flags.
        for (flag, field, value) in [
            ("--max-steps", "training.maxSteps", maxSteps), ("--epochs", "training.epochs", epochs),
            ("--checkpoint-every", "training.checkpointEvery", checkpointEvery), ("--threads", "training.threads", threads),
        ] {
            if let value, !ConfigLimits.range(field).contains(value) {
                let range = ConfigLimits.range(field)
                throw ValidationError("\(flag) \(value) is outside the allowed range \(range.lowerBound)…\(range.upperBound)")
            }
        }
        if let s = maxSteps, s <= 0 { throw ValidationError("--max-steps must be positive, got \(s)") }
        if let e = epochs, e <= 0 { throw ValidationError("--epochs must be positive, got \(e)") }
        if let c = checkpointEvery, c < 0 { throw ValidationError("--checkpoint-every must be 0 or positive") }
        if let t = threads, t <= 0 { throw ValidationError("--threads must be positive, got \(t)") }
        if let s = stopAt, s <= 0 { throw ValidationError("--stop-at must be positive, got \(s)") }
    }

    func run() throws {
        // Signals are watched from the start, so one that arrives while the data loads still ends
        // the run cleanly (before its first step).
        let stop = StopSignal { _ in
            FileHandle.standardError.write(Data("\nmmo-train: second signal, exiting without a checkpoint\n".utf8))
            Foundation.exit(130)
        }
        let overrides = RunOverrides(
            maxSteps: maxSteps, epochs: epochs, seed: seed, checkpointEvery: checkpointEvery, threads: threads)
        let trainer: Trainer
        do {
            if let resume {
                trainer = try Trainer.resume(
                    checkpoint: URL(fileURLWithPath: resume), configPath: config, overrides: overrides,
                    runDirectory: runDir.map { URL(fileURLWithPath: $0) })
            } else {
                trainer = try Trainer.start(configPath: config, overrides: overrides, runDirectory: runDir.map { URL(fileURLWithPath: $0) })
            }
        } catch {
            throw Failure(error)
        }
        // What each imported model loaded, like from_pretrained's warnings (also in the checkpoints).
        for (i, report) in trainer.initializations.enumerated() where trainer.progress.step == 0 {
            if let report { FileHandle.standardError.write(Data("mmo-train: \(report.text(model: trainer.names[i], family: trainer.models[i].config.family))\n".utf8)) }
        }
        for warning in trainer.warnings { FileHandle.standardError.write(Data("mmo-train: warning: \(warning)\n".utf8)) }
        let summary: RunSummary
        do {
            summary = try trainer.run(stop: stop, stopAtStep: stopAt, progressMode: quiet ? .quiet : nil)
        } catch {
            throw Failure(error)
        }
        if json {
            print(summary.jsonText)
        } else if !quiet {
            print(summary.text)
        }
        if summary.reason == .diverged { throw ExitCode(3) }
        if summary.reason == .interrupted && summary.stoppedBy == .signal { throw ExitCode(75) }
    }
}

/// A library error shown as its own description (ArgumentParser prints "Error: …", exits 1).
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ error: Error) { description = "\(error)" }
}

Train.main()
