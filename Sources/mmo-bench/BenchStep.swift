// `mmo-bench step`: one joint training step of the paper's setup at the `small` config — three
// models (BERT, GPT-2, RoBERTa), `accumulation` micro-batches of forward + backward each, then
// the MultiModelOptimizer — and the share of the step each optimizer phase takes.
import ArgumentParser
import Foundation
import MMOCore
import MMOModels
import MMOOptim

/// `mmo-bench step`
struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "A joint training step of three small models: forward/backward vs. optimizer phases.")

    @Option(help: "OpenBLAS threads.")
    var threads = 2
    @Option(help: "Timed steps (medians are reported).")
    var steps = 10
    @Option(help: "Micro-batches per step (paper: 2).")
    var accumulation = 2
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard threads >= 1, steps >= 1, accumulation >= 1 else {
            throw ValidationError("--threads, --steps and --accumulation must be at least 1")
        }
    }

    func run() throws {
        BLAS.setThreads(threads)
        let bench = ModelBenchConfig.all.first { $0.name == "small" }!
        let families: [(String, ModelFamily, Double)] = [("bert", .bert, 1.0), ("gpt2", .gpt2, 0.8), ("roberta", .roberta, 1.2)]
        var models: [any SequenceClassifier] = []
        var batches: [TokenBatch] = []
        for (i, (_, family, _)) in families.enumerated() {
            let config = bench.modelConfig(family, dropout: 0.1)
            models.append(try makeClassifier(config: config, seed: UInt64(i + 1)))
            batches.append(ModelsBench.makeBatch(bench, config))
        }
        var config = OptimizerConfig()  // paper §4.4: sharing every step, sync every 10
        config.accumulationSteps = accumulation
        config.warmupSteps = 2
        config.totalSteps = steps + 2
        config.syncEvery = 1  // time a sync on every step; its amortised cost is divided by 10 below
        let optimizer = try MultiModelOptimizer(
            models: zip(families, models).map { OptimizedModel(name: $0.0, store: $1.parameters, weight: $0.2) },
            config: config)
        var losses = [Float](repeating: 0, count: models.count)
        var forwardBackward: [Double] = []
        var timings: [StepTimings] = []
        for step in 0..<(steps + 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            for i in losses.indices { losses[i] = 0 }
            for _ in 0..<accumulation {
                for (i, model) in models.enumerated() {
                    losses[i] += model.forward(batches[i], training: true)
                    model.backward()
                }
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let report = optimizer.step(losses: losses.map { $0 / Float(accumulation) })
            optimizer.zeroGradients()
            if step > 0 {  // the first step warms caches and workspaces
                forwardBackward.append(elapsed)
                timings.append(report.timings)
            }
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let fb = median(forwardBackward)
        let clip = median(timings.map(\.clip)), share = median(timings.map(\.sharing))
        let adam = median(timings.map(\.adamW)), sync = median(timings.map(\.sync))
        let lr = median(timings.map { $0.learningRate + $0.convergence })
        let syncAmortised = sync / 10  // paper: every 10 steps
        let optimizerTotal = clip + share + adam + syncAmortised + lr
        let step = fb + optimizerTotal
        let rows: [(String, Double)] = [
            ("forward+backward (3 models × \(accumulation) micro-batches)", fb),
            ("clip / average / NaN guard", clip),
            ("gradient sharing (Alg. 1, every step)", share),
            ("learning rates + convergence (Alg. 3)", lr),
            ("AdamW", adam),
            ("parameter sync (Alg. 2, 1/10 of one sync)", syncAmortised),
            ("joint step", step),
        ]
        if json {
            let object = Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0.1 * 1000) })
            let data = try JSONSerialization.data(withJSONObject: ["milliseconds": object, "threads": threads, "sharingPlusSyncFraction": (share + syncAmortised) / step, "optimizerFraction": optimizerTotal / step], options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("joint step, small config (hidden 256, 4 layers, seq 64, batch 16), \(threads) BLAS threads, median of \(steps)")
        for (name, seconds) in rows {
            let label = name + String(repeating: " ", count: max(0, 58 - name.count))
            print("  " + label + String(format: " %9.2f ms  %5.1f%%", seconds * 1000, 100 * seconds / step))
        }
        print(String(format: "  sharing + sync: %.2f%% of the step; whole optimizer: %.2f%%", 100 * (share + syncAmortised) / step, 100 * optimizerTotal / step))
    }
}
