// `mmo-bench optim`: the MultiModelOptimizer's own cost per step (clip, sharing, learning rates,
// AdamW, synchronization, convergence) on three parameter stores with the exact shapes of the
// `small` BERT / GPT-2 / RoBERTa configs, specs written out here with Hugging Face names.
import ArgumentParser
import Foundation
import MMOCore
import MMOOptim

struct BenchOptim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optim",
        abstract: "Time one MultiModelOptimizer step per mechanism on the `small` model shapes.")

    @Option(help: "Measured steps (after the warm-up steps).")
    var steps = 20

    @Option(help: "Unmeasured warm-up steps.")
    var warmup = 3

    @Option(help: "Compatibility-key granularity: paper, role or layer.")
    var granularity = "paper"

    @Flag(help: "Also compute the cross-model gradient similarities every step.")
    var similarity = false

    @Option(help: "Synchronize every N steps (the paper: 10; 2 times one sync as the difference of alternate steps).")
    var syncEvery = 2

    @Option(help: "Lanes (threads) for the optimizer's passes; the trainer uses one per core (training.threads).")
    var lanes = 1

    func validate() throws {
        guard steps >= 1, warmup >= 0, syncEvery >= 1, lanes >= 1 else {
            throw ValidationError("--steps, --sync-every and --lanes must be ≥ 1 and --warmup ≥ 0")
        }
        guard SharingGranularity(rawValue: granularity) != nil else {
            throw ValidationError("--granularity must be paper, role or layer, not \(granularity)")
        }
    }

    func run() throws {
        let models: [(String, [ParameterSpec], Double)] = [
            ("bert", try ModelBenchConfig.smallSpecs(.bert), 1.0), ("gpt2", try ModelBenchConfig.smallSpecs(.gpt2), 0.8),
            ("roberta", try ModelBenchConfig.smallSpecs(.roberta), 1.2),
        ]
        let stores = models.map { ParameterStore(specs: $0.1) }
        let gradients = stores.enumerated().map { m, store -> FloatBuffer in
            var rng = PhiloxRNG(seed: 42, stream: "bench/\(m)")
            rng.fillNormal(store.values.pointer, count: store.totalCount, std: 0.02)
            let g = FloatBuffer(count: store.totalCount)
            rng.fillNormal(g.pointer, count: g.count, std: 1e-3)
            return g
        }
        // Paper settings, but synchronize every `syncEvery` steps: sharing, AdamW and sync are one
        // fused pass, so a sync's cost is that pass on a sync step minus the pass on the others;
        // the amortized line divides it by the paper's interval (10).
        var config = OptimizerConfig()
        config.syncEvery = syncEvery
        config.maxGradientNorm = 1
        config.logGradientSimilarity = similarity
        config.granularity = SharingGranularity(rawValue: granularity) ?? .paper
        let optimizer = try MultiModelOptimizer(
            models: zip(models, stores).map { OptimizedModel(name: $0.0, store: $1, weight: $0.2) }, config: config)
        let pool = WorkerPool(lanes: lanes)
        if lanes > 1 { optimizer.use(pool: pool) }

        var samples: [StepTimings] = []
        var synced: [StepTimings] = []
        for t in 0..<(warmup + steps) {
            for (store, g) in zip(stores, gradients) { store.gradients.copy(from: g) }
            let report = optimizer.step(losses: [1 / Float(t + 1), 1, 1])
            if t >= warmup {
                if report.parametersSynchronized { synced.append(report.timings) } else { samples.append(report.timings) }
            }
        }
        let sync = FusedSyncCost(plain: samples, synced: synced)
        if samples.isEmpty { samples = synced }

        let counts = stores.map(\.totalCount)
        print("optimizer step, small shapes, \(granularity) keys, \(lanes) lane\(lanes == 1 ? "" : "s"), \(steps) steps (median ms):")
        print("  parameters: " + zip(models, counts).map { "\($0.0) \($1)" }.joined(separator: ", ")
            + ", total \(counts.reduce(0, +))")
        let sharedElements = optimizer.groups.map { $0.elementCount * $0.members.count }.reduce(0, +)
        print("  groups: \(optimizer.groups.count), shared tensors: \(optimizer.groups.map(\.members.count).reduce(0, +))"
            + String(format: ", %.1f%% of the parameters", 100 * Double(sharedElements) / Double(counts.reduce(0, +))))
        func median(_ phase: (StepTimings) -> Double) -> Double {
            let sorted = samples.map(phase).sorted()
            return 1000 * sorted[sorted.count / 2]
        }
        let rows: [(String, Double)] = [
            ("clip (mean, norm, guard)", median(\.clip)),
            ("similarity", median(\.similarity)),
            ("learning rates", median(\.learningRate)),
            ("clip+share+AdamW (fused)", median(\.adamW)),
            ("sync (Alg. 2), one", 1000 * sync.one),
            ("convergence (Alg. 3)", median(\.convergence)),
        ]
        for (name, ms) in rows { print("  \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(format(ms))") }
        print("  total, sync every 10      \(format(median(\.total) + 1000 * sync.one / 10))")
        print("  (\(sync.note))")
    }

    private func format(_ ms: Double) -> String { String(format: "%8.3f ms", ms) }
}

/// The cost of one parameter synchronization when it runs inside the optimizer's fused pass:
/// the median pass (`StepTimings.adamW`) of the steps that synchronized minus that of the steps
/// that did not (0 when one of the two kinds was not measured).
struct FusedSyncCost {
    /// Seconds one synchronization adds to a step.
    var one: Double
    /// How `one` was obtained, for the printout.
    var note: String

    init(plain: [StepTimings], synced: [StepTimings]) {
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        if plain.isEmpty || synced.isEmpty {
            one = 0
            note = "sync cost not separated: every measured step \(synced.isEmpty ? "skipped" : "ran") the sync; use --sync-every 2"
        } else {
            one = max(0, median(synced.map(\.adamW)) - median(plain.map(\.adamW)))
            note = "sync = fused pass of \(synced.count) sync steps minus that of \(plain.count) other steps (medians)"
        }
    }
}
