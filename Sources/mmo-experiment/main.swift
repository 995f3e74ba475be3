// mmo-experiment: an experiment as configuration — variants × seeds of a base run config, each
// run a child mmo-train, resumable; then runs.csv, summary.md and the report.
import ArgumentParser
import Foundation
import MMOExperiment
import MMOToolSupport
import MMOTraining

#if canImport(Glibc)
    import Glibc
#endif

struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-experiment",
        abstract: "Train every variant × seed of an experiment spec, resumably, then tabulate and report.",
        discussion: """
            Examples:
              mmo-experiment fixtures/experiments/ablation-synthetic.yaml -o runs/ablation
              mmo-experiment fixtures/experiments/tiny.yaml -o /tmp/tiny --dry-run   the plan only
              mmo-experiment SPEC.yaml -o runs/x --parallel 1                        one run at a time

            The spec (YAML or JSON; unknown fields are errors):
              name: ablation
              base: ../configs/ablation/full.yaml      a run config, relative to the spec
              seeds: [42, 43, 44]
              variants:
                - {name: full}
                - {name: no-sharing, set: {optimizer.gradientSharing: false}}
              epochs: 5            optional budget (or maxSteps: N)
              target: 0.95         optional: steps to this validation accuracy
              parallel: auto       auto | 1 | 2 (auto: two runs at once, one BLAS thread each)
              threads: 1           optional BLAS threads per run (default: cores / runs at once)
            `set` maps dotted config paths (docs/config.md; models[1].weight) to values, applied to
            the base and checked by the config decoder: an unknown path is an error naming it.

            Each run trains in a child mmo-train into RESULTS_DIR/<variant>-seed<N>/ (log, configs and
            timings in RESULTS_DIR/.experiment/). Ctrl-C or SIGTERM stops the runs in progress at a
            step boundary with a checkpoint; the next invocation keeps finished runs, resumes the
            stopped ones from last.mmo and starts the rest. At the end: RESULTS_DIR/runs.csv (per run and
            model: final and best accuracy, step of best, accuracy after epoch 3, steps to target, wall
            and CPU seconds), RESULTS_DIR/summary.md (per variant and model: mean ± std and min–max over
            seeds), and mmo-report RESULTS_DIR (per-variant curves) when mmo-report is next to this tool.

            Exit status: 0 every run finished, tables written; 1 a run failed (its log is named; the
            others went on); 2 usage or spec error; 75 interrupted or stopped at --stop-at (resume by
            running the same command).
            """)

    @Argument(help: "The experiment spec (YAML or JSON).")
    var spec: String

    @Option(name: [.short, .customLong("output")], help: "The results folder (default: runs/<spec name>).")
    var output: String?

    @Option(name: .long, help: "Override the spec's parallel: auto, or runs at once (1, 2, …).")
    var parallel: String?

    @Option(name: .long, help: "Override the BLAS threads per run (default: cores / runs at once).")
    var threads: Int?

    @Option(name: .long, help: "The mmo-train executable (default: the one next to this tool).")
    var train: String?

    @Flag(name: .long, help: "Print the plan (runs, status, commands) and exit.")
    var dryRun = false

    @Flag(name: .long, help: "Do not run mmo-report at the end.")
    var noReport = false

    @Option(name: .long, help: ArgumentHelp("Stop every started or resumed run after this step (as mmo-train --stop-at); for tests.", visibility: .hidden))
    var stopAt: Int?

    func validate() throws {
        if let parallel, Parallelism(parallel) == nil { throw ValidationError("--parallel must be auto or a number 1…64, got '\(parallel)'") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be in 1…1024, got \(threads)") }
        if let stopAt, stopAt < 1 { throw ValidationError("--stop-at must be positive") }
    }

    func run() throws {
        let stop = StopSignal { _ in
            printError("\nmmo-experiment: second signal; the runs are finishing their checkpoints")
        }
        let experiment: ExperimentSpec
        let plan: ExperimentPlan
        do {
            experiment = try ExperimentSpec.load(path: spec)
            let results = URL(fileURLWithPath: output ?? "runs/\(experiment.name)")
            plan = try ExperimentPlan.make(spec: experiment, results: results, parallel: parallel.flatMap(Parallelism.init), threads: threads)
        } catch let error as ExperimentError {
            throw ToolError(error.description)
        }
        let tools = Bundle.main.executableURL?.deletingLastPathComponent() ?? URL(fileURLWithPath: ".")
        let trainURL = train.map { URL(fileURLWithPath: $0) } ?? tools.appendingPathComponent("mmo-train")
        if dryRun {
            print(plan.text(trainPath: trainURL.path))
            return
        }
        guard FileManager.default.isExecutableFile(atPath: trainURL.path) else {
            throw ToolError("\(trainURL.path): no mmo-train executable; build it (swift build -c release) or give --train")
        }
        let runner = ExperimentRunner(
            plan: plan, trainExecutable: trainURL, reportExecutable: noReport ? nil : tools.appendingPathComponent("mmo-report"), stopAt: stopAt)
        printError("mmo-experiment: \(plan.runs.count) runs (\(plan.runs.filter { if case .finished = $0.status { return true }; return false }.count) done already), \(plan.lanes) at once with \(plan.threads) BLAS thread(s) each → \(plan.results.path)")
        let bar = TerminalProgress("runs", total: plan.runs.count)
        let outcome: ExperimentOutcome
        do {
            outcome = try runner.run(shouldStop: { stop.stopRequested.0 }) { event in
                switch event {
                case .started(let run, let status, _):
                    bar.finish()
                    printError("  \(run): \(status == .notStarted ? "start" : status.description)")
                case .progress(let running, let finished, _):
                    bar.update(finished, note: running.map { "\($0.run) \($0.step)/\($0.total)" }.joined(separator: "  "))
                case .ended(let run, let outcome, let wall, let cpu):
                    bar.finish()
                    printError(String(format: "  %@: %@ (%.1f s wall, %.1f s CPU)", run, outcome.description, wall, cpu))
                case .wrote(let path):
                    bar.finish()
                    print("wrote \(path)")
                case .warning(let text):
                    bar.finish()
                    printError("mmo-experiment: warning: \(text)")
                }
            }
        } catch let error as ExperimentError {
            throw ToolError(error.description)
        }
        bar.finish()
        let failed = outcome.unfinished.filter { if case .failed = $0.outcome { return true }; return false }
        if !failed.isEmpty {
            throw CheckFailed("\(failed.count) run(s) failed: " + failed.map { "\($0.run) \($0.outcome)" }.joined(separator: "; "))
        }
        if outcome.interrupted || !outcome.unfinished.isEmpty {
            printError(
                "mmo-experiment: stopped; \(outcome.finished.count)/\(plan.runs.count) runs finished. Resume with the same command.")
            throw ExitCode(75)
        }
    }
}

Experiment.runTool()
