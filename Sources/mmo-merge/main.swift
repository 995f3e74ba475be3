// mmo-merge: soups across checkpoints, offline synchronization inside one, and the task-vector
// merges of mergekit. The work is MMOAnalysis.Merger; this file parses, prints and exits.
import ArgumentParser
import Foundation
import MMOAnalysis
import MMOOptim
import MMORun
import MMOToolSupport

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-merge",
        abstract: "Merge checkpoints: model soups, offline synchronization (Alg. 2), SLERP, task arithmetic, TIES, DARE.",
        discussion: """
            Examples:
              mmo-merge --method uniform runs/a/step-000100.mmo runs/a/last.mmo -o soup.mmo
              mmo-merge --method greedy runs/a/step-*.mmo -o greedy.mmo
              mmo-merge --method sync --beta 1 --granularity role runs/a/last.mmo -o s.mmo
              mmo-merge --method ties --density 0.5 --base runs/a/step-000010.mmo \\
                  runs/a/last.mmo runs/b/last.mmo -o ties.mmo

            Every input must have the same models, architectures, tokenizer words and
            labels (checkpoints of one run config; synthetic runs of other seeds have
            other vocabularies and are refused).
              uniform, weighted  the average of the inputs' parameters; weighted with
                                 --weights w1,w2,… (normalised by their sum).
              greedy             per model, the greedy soup (Wortsman et al. 2022):
                                 inputs sorted by held-out accuracy, start from the
                                 best, add the next only if the uniform average with it
                                 is strictly more accurate. Held-out data: the first
                                 input's validation set, or --data FILE. Each
                                 accept/reject is reported with its accuracy.
              sync               Algorithm 2 offline on one checkpoint with the
                                 optimizer's own code (bit-identical to a training
                                 sync): per compatibility group p ← (1 − β)p + β·avg,
                                 weighted by the model weights; --beta 1 makes every
                                 group identical. Default β and granularity: the run's.
              slerp              two inputs, spherical interpolation per tensor at --t
                                 (0 = the first); lerp when nearly collinear.
              task-arithmetic    base + λ·Σ wᵢ(xᵢ − base), against --base.
              ties               deltas trimmed to their --density largest magnitudes,
                                 sign elected per element, agreeing deltas averaged, ×λ.
              dare               deltas randomly thinned to --density (--seed), rescaled
                                 to keep their L1 norm, base + λ·Σ wᵢδᵢ (dare_linear).
            The last four follow mergekit's definitions (merge_methods/slerp.py,
            generalized_task_arithmetic.py, sparsify.py).

            The output carries the first input's state (progress, run config, RNG
            streams, optimizer scalars, metrics, tokenizer) with its lineage replaced by
            every input and --base, with content hashes and this command. Models not
            named by --model are copied from the first input. Optimizer moments are
            dropped unless --keep-optimizer: soups then average them like the
            parameters, sync keeps them unchanged (a training sync does not touch them),
            slerp and the task-vector methods take the first input's. Only a file with
            moments can be continued with mmo-train --resume. Inputs are read one tensor
            at a time: memory is the output plus a few tensors.

            \(exitCodeHelp)
            """)

    @Option(name: .long, help: "uniform, weighted, greedy, sync, slerp, task-arithmetic, ties or dare.")
    var method: MergeMethod

    @Argument(help: "The checkpoints to merge (.mmo); one for sync, two for slerp.")
    var inputs: [String] = []

    @Option(name: [.short, .customLong("output")], help: "The merged checkpoint to write.")
    var output: String

    @Option(name: .long, help: "weighted (required) and task-vector methods: one weight per input, comma-separated.")
    var weights: String?

    @Option(name: .long, help: "Merge only this model (repeatable); the others are copied from the first input.")
    var model: [String] = []

    @Flag(name: .long, help: "Keep the AdamW moments (see above) so that the output can be resumed.")
    var keepOptimizer = false

    @Option(name: .long, help: "greedy: held-out data file (TSV/CSV/JSONL, the run's columns and labels) instead of the validation set.")
    var data: String?

    @Option(name: .long, help: "sync: the coefficient β in [0, 1] (default: the run's optimizer.syncCoefficient).")
    var beta: Double?

    @Option(name: .long, help: "sync: paper (kind, shape), role (role, shape) or layer (role, block, shape); default: the run's.")
    var granularity: SharingGranularity?

    @Option(name: .customLong("t"), help: "slerp: interpolation parameter in [0, 1].")
    var t: Double?

    @Option(name: .long, help: "ties, dare: fraction of each delta kept, in (0, 1].")
    var density: Double?

    @Option(name: .long, help: "task-arithmetic, ties, dare: scale of the merged delta (default 1).")
    var lambda: Double?

    @Option(name: .long, help: "dare: seed of the drop masks (default 0).")
    var seed: UInt64?

    @Option(name: .long, help: "task-arithmetic, ties, dare: the checkpoint the deltas are taken against.")
    var base: String?

    @Option(name: .long, help: "zstd level of the output (default: the format's, 1).")
    var compressionLevel: Int?

    @Flag(name: .long, help: "Print the report as JSON on stdout.")
    var json = false

    func options() throws -> MergeOptions {
        var options = MergeOptions(method: method)
        if let weights {
            options.weights = try weights.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let w = Double($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--weights \(weights): '\($0)' is not a number; give comma-separated numbers, one per input")
                }
                return w
            }
        }
        options.models = model
        options.keepOptimizer = keepOptimizer
        options.data = data
        options.beta = beta
        options.granularity = granularity
        options.t = t
        options.density = density
        options.lambda = lambda
        options.seed = seed
        options.base = base
        options.compressionLevel = compressionLevel
        return options
    }

    func validate() throws {
        do {
            try options().validate(inputCount: inputs.count)
        } catch let error as MergeError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        var bars: [String: TerminalProgress] = [:]
        let report: MergeReport
        // Writing into a run folder (one that mmo-train writes or wrote): hold its lock, so a merge
        // never interleaves with a training process there.
        let folder = RunDirectory(url: URL(fileURLWithPath: output).deletingLastPathComponent())
        var lock: RunLock?
        if FileManager.default.fileExists(atPath: folder.lockURL.path) || FileManager.default.fileExists(atPath: folder.metricsURL.path) {
            do { lock = try folder.lock() } catch { throw ToolError("\(error)") }
        }
        defer { withExtendedLifetime(lock) {} }
        do {
            report = try Merger.merge(inputs: inputs, options: try options(), output: output) { label, done, total in
                let bar = bars[label] ?? TerminalProgress(label, total: total)
                bars[label] = bar
                bar.update(done)
            }
        } catch let error as MergeError {
            for bar in bars.values { bar.finish() }
            throw ToolError(error.description)
        }
        for bar in bars.values { bar.finish() }
        if json { return try printJSON(report) }
        print("wrote \(report.output) (\(byteCount(report.fileBytes)), content hash \(report.contentHash))")
        print("method: \(report.operation)")
        print("state (progress, config, RNG, optimizer scalars, metrics) from \(report.stateFrom); optimizer moments \(report.optimizer)")
        for parent in report.inputs { print("input \(parent.contentHash)  \(parent.path)") }
        if let base = report.base { print("base  \(base.contentHash)  \(base.path)") }
        var rows = [["model", "tensors", "parameters", ""]]
        for m in report.models { rows.append([m.name, "\(m.tensors)", "\(m.parameters)", m.merged ? "merged" : "copied from the first input"]) }
        print(textTable(rows))
        if let sync = report.sync {
            print("sync: β \(sync.beta), granularity \(sync.granularity.rawValue): \(sync.groups) groups of \(sync.memberTensors) tensors")
        }
        if let fallbacks = report.lerpFallbacks, fallbacks > 0 { print("slerp: \(fallbacks) nearly collinear tensors interpolated linearly") }
        if let soups = report.greedy {
            print("held-out data: \(report.heldOutData ?? "?")")
            for soup in soups {
                print("\n\(soup.model): alone")
                var alone = [["input", "accuracy", "loss"]]
                for i in soup.ingredients { alone.append([i.path, format(i.accuracy), format(i.loss)]) }
                print(textTable(alone))
                var steps = [["adding", "soup accuracy", "with it", "decision"]]
                for s in soup.steps { steps.append([s.path, format(s.soupAccuracy), format(s.candidateAccuracy), s.accepted ? "accepted" : "rejected"]) }
                if !soup.steps.isEmpty { print(textTable(steps)) }
                print("soup of \(soup.accepted.count): accuracy \(format(soup.accuracy)), loss \(format(soup.loss))")
            }
        }
    }

    func format(_ x: Double) -> String { String(format: "%.4f", x) }
}

extension MergeMethod: ExpressibleByArgument {}
extension SharingGranularity: ExpressibleByArgument {}

Merge.runTool()
