// `mmo-bench step`: one joint training step of the paper's setup — three models (BERT, GPT-2,
// RoBERTa), `accumulation` micro-batches of forward + backward each, then the
// MultiModelOptimizer — exactly as `Trainer.step` runs it (`--concurrency models`: the models
// side by side on a `WorkerPool`, one lane per model, OpenBLAS at 1 thread). Prints the share of
// the step each optimizer phase takes, the step's achieved GFLOP/s beside single-call and
// concurrent sgemm GFLOP/s measured in the same run, and peak resident memory beside the sum of
// parameters, gradients, moments and activations. `tools/bench_joint.py` runs it beside a
// plain-PyTorch joint step.
import ArgumentParser
import Foundation
import MMOCore
import MMOModels
import MMOOptim
import MMOToolSupport

/// `mmo-bench step`
struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "A joint training step of three models: forward/backward vs. optimizer phases, GFLOP/s, memory.")

    @Option(help: "Threads: OpenBLAS threads (sequential) or model lanes (models).")
    var threads = 2
    @Option(help: "sequential (models one after the other, BLAS on --threads) or models (side by side, BLAS 1 thread each).")
    var concurrency = "sequential"
    @Option(help: "Model lanes with --concurrency models (default: one per model).")
    var lanes: Int?
    @Flag(inversion: .prefixedNo, help: "Take each model's gradient norm on its lane right after its backward (the trainer's way; timed in forward+backward) instead of in the optimizer's first pass.")
    var normInLanes = true
    @Option(name: .customLong("config"), help: "Benchmark config: tiny or small.")
    var configName = "small"
    @Option(help: "Timed steps (medians are reported).")
    var steps = 10
    @Option(help: "Micro-batches per step (paper: 2).")
    var accumulation = 2
    @Flag(help: "Skip the sgemm reference measurement.")
    var noGemm = false
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard threads >= 1, steps >= 1, accumulation >= 1, (lanes ?? 1) >= 1 else {
            throw ValidationError("--threads, --steps, --lanes and --accumulation must be at least 1")
        }
        guard ["sequential", "models"].contains(concurrency) else {
            throw ValidationError("--concurrency must be sequential or models")
        }
        guard ModelBenchConfig.all.contains(where: { $0.name == configName }) else {
            throw ValidationError("--config must be tiny or small")
        }
    }

    func run() throws {
        let concurrent = concurrency == "models"
        BLAS.setThreads(concurrent ? 1 : threads)
        let bench = ModelBenchConfig.all.first { $0.name == configName }!
        let families: [(String, ModelFamily, Double)] = [("bert", .bert, 1.0), ("gpt2", .gpt2, 0.8), ("roberta", .roberta, 1.2)]
        let rssStart = residentBytes()
        var models: [any SequenceClassifier] = []
        var batches: [TokenBatch] = []
        for (i, (_, family, _)) in families.enumerated() {
            let config = bench.modelConfig(family, dropout: 0.1)
            models.append(try makeClassifier(config: config, seed: UInt64(i + 1)))
            batches.append(ModelsBench.makeBatch(bench, config))
        }
        let rssModels = residentBytes()
        var config = OptimizerConfig()  // paper §4.4: sharing every step, sync every 10
        config.accumulationSteps = accumulation
        config.warmupSteps = 2
        config.totalSteps = steps + 2
        config.syncEvery = 2  // a sync every other step: its cost (`FusedSyncCost`) amortised over 10 below
        let optimizer = try MultiModelOptimizer(
            models: zip(families, models).map { OptimizedModel(name: $0.0, store: $1.parameters, weight: $0.2) },
            config: config)
        let rssOptimizer = residentBytes()
        let pool = WorkerPool(lanes: concurrent ? (lanes ?? models.count) : 1)
        if pool.lanes > 1 { optimizer.use(pool: pool, lanes: threads) }  // one lane per core, as the trainer
        optimizer.zeroesGradients = true  // zeroing inside the fused pass, as the trainer does (timed)
        let losses = UnsafeMutablePointer<Float>.allocate(capacity: models.count)
        defer { losses.deallocate() }
        var stepLosses = [Float](repeating: 0, count: models.count)
        var forwardBackward: [Double] = []
        var timings: [StepTimings] = []
        var syncedTimings: [StepTimings] = []
        var rssFirstStep = 0
        for step in 0..<(steps + 1) {
            let start = monotonicSeconds()
            pool.forEach(models.count) { i in
                var sum: Float = 0
                for _ in 0..<accumulation {
                    sum += models[i].forward(batches[i], training: true)
                    models[i].backward()
                }
                if normInLanes { optimizer.finishBackward(model: i) }  // as the trainer does
                losses[i] = sum
            }
            let elapsed = monotonicSeconds() - start
            for i in stepLosses.indices { stepLosses[i] = losses[i] / Float(accumulation) }
            let report = optimizer.step(losses: stepLosses)
            if step == 0 { rssFirstStep = residentBytes() }
            if step > 0 {  // the first step warms caches and workspaces
                forwardBackward.append(elapsed)
                if report.parametersSynchronized { syncedTimings.append(report.timings) } else { timings.append(report.timings) }
            }
        }
        let peakRSS = peakResidentBytes() ?? 0
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let fb = median(forwardBackward)
        let sync = FusedSyncCost(plain: timings, synced: syncedTimings)
        if timings.isEmpty { timings = syncedTimings }
        let clip = median(timings.map(\.clip)), share = median(timings.map(\.sharing))
        let adam = median(timings.map(\.adamW))
        let lr = median(timings.map { $0.learningRate + $0.convergence })
        let syncAmortised = sync.one / 10  // paper: every 10 steps
        let optimizerTotal = clip + share + adam + syncAmortised + lr
        let step = fb + optimizerTotal
        let flops = Double(accumulation) * models.map { Self.trainingFlops($0.config, bench) }.reduce(0, +)
        let gemm = noGemm ? nil : Self.gemmReference(bench, lanes: 2)
        BLAS.setThreads(concurrent ? 1 : threads)
        let parameters = models.map(\.parameters.totalCount).reduce(0, +)
        let floorLanes = concurrent ? min(threads, pool.lanes) : 1
        let floor = Self.streamReference(count: parameters, lanes: floorLanes)
        // Parameters, gradients and two AdamW moments: 16 bytes per parameter; activations as the
        // first step's growth of resident memory (the models' arenas are sized then).
        let stateBytes = 16 * parameters
        let activationBytes = max(0, rssFirstStep - rssOptimizer)
        let rows: [(String, Double)] = [
            ("forward+backward (3 models × \(accumulation) micro-batches)", fb),
            ("clip / average / NaN guard", clip),
            ("gradient sharing (Alg. 1, every step; in the fused pass)", share),
            ("learning rates + convergence (Alg. 3)", lr),
            ("clip + sharing + AdamW (fused pass)", adam),
            ("parameter sync (Alg. 2, 1/10 of one sync)", syncAmortised),
            ("joint step", step),
        ]
        if json {
            var object: [String: Any] = [
                "milliseconds": Dictionary(uniqueKeysWithValues: rows.map { ($0.0, $0.1 * 1000) }),
                "config": bench.name, "threads": threads, "concurrency": concurrency, "lanes": pool.lanes,
                "accumulation": accumulation, "stepMilliseconds": step * 1000,
                "minStepMilliseconds": (forwardBackward.min() ?? fb) * 1000 + optimizerTotal * 1000,
                "optimizerMilliseconds": optimizerTotal * 1000,
                "sharingPlusSyncFraction": (share + syncAmortised) / step, "optimizerFraction": optimizerTotal / step,
                "stepGFLOP": flops / 1e9, "stepGFLOPS": flops / step / 1e9,
                "parameters": parameters, "stateBytes": stateBytes, "activationBytes": activationBytes,
                "peakRSSBytes": peakRSS, "baselineRSSBytes": rssStart, "modelsRSSBytes": rssModels,
                "streamEightMilliseconds": floor.eight * 1000, "streamSevenMilliseconds": floor.seven * 1000,
                "streamGBPerSecond": floor.bandwidth / 1e9, "plainAdamWMilliseconds": floor.adamW * 1000,
            ]
            if let gemm {
                object["sgemmShape"] = gemm.shape
                object["sgemmSingleGFLOPS"] = gemm.single
                object["sgemmTwoThreadGFLOPS"] = gemm.twoThreads
                object["sgemmConcurrentGFLOPS"] = gemm.concurrent
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(
            "joint step, \(bench.name) config (hidden \(bench.hiddenSize), \(bench.numLayers) layers, seq \(bench.sequenceLength), batch \(bench.batchSize)), "
                + (concurrent ? "models side by side on \(pool.lanes) lanes, BLAS 1 thread" : "sequential, \(threads) BLAS threads")
                + ", median of \(steps)")
        for (name, seconds) in rows {
            let label = name + String(repeating: " ", count: max(0, 58 - name.count))
            print("  " + label + String(format: " %9.2f ms  %5.1f%%", seconds * 1000, 100 * seconds / step))
        }
        print(String(format: "  sharing + sync: %.2f%% of the step; whole optimizer: %.2f%%", 100 * (share + syncAmortised) / step, 100 * optimizerTotal / step))
        print(String(format: "  step: %.1f GFLOP of products, %.1f GFLOP/s", flops / 1e9, flops / step / 1e9))
        if let gemm {
            print(String(
                format: "  sgemm %@: 1 call on 1 thread %.1f GFLOP/s, 1 call on 2 threads %.1f, 2 concurrent 1-thread calls %.1f (step = %.0f%% of concurrent)",
                gemm.shape, gemm.single, gemm.twoThreads, gemm.concurrent, 100 * flops / step / 1e9 / gemm.concurrent))
        }
        print(String(
            format: "  memory floor (plain loop, %d lanes, best of 5): the pass's 8 streams of %.1f MB %.2f ms (%.1f GB/s; fused pass at %.0f%% of it), AdamW's minimum 7 streams %.2f ms = %.1f%% of this step; plain AdamW.update over them %.2f ms = %.1f%%",
            floorLanes, Double(4 * parameters) / 1e6, floor.eight * 1000, floor.bandwidth / 1e9,
            100 * floor.eight / adam, floor.seven * 1000, 100 * floor.seven / step, floor.adamW * 1000, 100 * floor.adamW / step))
        let mb = 1.0 / 1_048_576
        print(String(
            format: "  memory: peak RSS %.1f MB; parameters+gradients+moments %.1f MB (%d parameters) + activations %.1f MB = %.1f MB; process baseline %.1f MB",
            Double(peakRSS) * mb, Double(stateBytes) * mb, parameters, Double(activationBytes) * mb,
            Double(stateBytes + activationBytes) * mb, Double(rssStart) * mb))
    }

    /// Floating-point operations of the matrix products of one forward + backward of `config` on
    /// the benchmark batch (padded length): per layer the four attention projections and the two
    /// FFN layers (2·BT·in·out each) and the two attention products (2·B·T²·C each); backward
    /// costs twice the forward. Embeddings, norms and the head are left out (they are not products
    /// or are negligible).
    static func trainingFlops(_ config: ModelConfig, _ bench: ModelBenchConfig) -> Double {
        let B = Double(bench.batchSize), T = Double(bench.sequenceLength)
        let C = Double(config.hiddenSize), I = Double(config.intermediateSize)
        let perLayer = 2 * B * T * (4 * C * C + 2 * C * I) + 2 * 2 * B * T * T * C
        // A classifier's last block runs K and V on every token, the rest on one row per
        // sequence (EncoderBackbone.forward(rows:)): the products it performs, not a full layer.
        let lastLayer = 2 * B * T * (2 * C * C) + 2 * B * (2 * C * C + 2 * C * I) + 2 * 2 * B * T * C
        return 3 * (Double(config.numLayers - 1) * perLayer + lastLayer)
    }

    /// The memory floor of the optimizer on this machine, measured in the same run: the best of
    /// five passes of a plain vector loop over four fresh buffers of `count` Floats split over
    /// `lanes` threads, once with the fused pass's 8 streams (read g, p, m, v; write g = 0, p, m,
    /// v) and once with the 7 AdamW cannot do without (g is only read); then `AdamW.update` over
    /// the same buffers (7 streams with AdamW's arithmetic). Returns seconds and the 8-stream
    /// pass's bytes per second.
    static func streamReference(count: Int, lanes: Int) -> (eight: Double, seven: Double, adamW: Double, bandwidth: Double) {
        let buffers = (0..<4).map { _ in FloatBuffer(count: count) }
        let (g, p, m, v) = (buffers[0].pointer, buffers[1].pointer, buffers[2].pointer, buffers[3].pointer)
        let pool = WorkerPool(lanes: lanes)
        /// The best of five runs of `body(lo, hi)` on every lane's slice (16-element aligned).
        func fastest(_ body: (Int, Int) -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<5 {
                let start = monotonicSeconds()
                pool.run { lane in
                    let lo = count * lane / lanes / 16 * 16, hi = lane == lanes - 1 ? count : count * (lane + 1) / lanes / 16 * 16
                    body(lo, hi)
                }
                best = min(best, monotonicSeconds() - start)
            }
            return best
        }
        func pass(zeroing: Bool) -> Double {
            fastest { lo, hi in
                var i = lo
                let a = SIMD16<Float>(repeating: 0.9), b = SIMD16<Float>(repeating: 0.1)
                while i + 16 <= hi {
                    let gi = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
                    if zeroing { UnsafeMutableRawPointer(g + i).storeBytes(of: SIMD16<Float>(), as: SIMD16<Float>.self) }
                    let mi = a * UnsafeRawPointer(m + i).loadUnaligned(as: SIMD16<Float>.self) + b * gi
                    let vi = a * UnsafeRawPointer(v + i).loadUnaligned(as: SIMD16<Float>.self) + b * gi * gi
                    UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: SIMD16<Float>.self)
                    let pi = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - b * mi - b * vi
                    UnsafeMutableRawPointer(p + i).storeBytes(of: pi, as: SIMD16<Float>.self)
                    i += 16
                }
                while i < hi {
                    p[i] -= 0.1 * g[i]
                    i += 1
                }
            }
        }
        // AdamW itself (`AdamW.update`, PyTorch's arithmetic: a square root and two divisions per
        // element) over the same buffers as one flat tensor: no clipping, sharing or zeroing.
        let scalars = AdamW.Scalars(learningRate: 1e-4, step: 10, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, decays: true)
        func adamW() -> Double {
            fastest { lo, hi in
                AdamW.update(parameters: p + lo, gradients: g + lo, expAvg: m + lo, expAvgSq: v + lo, count: hi - lo, scalars: scalars)
            }
        }
        // The pointers outlive nothing by themselves: keep the buffers until the passes are done.
        let (eight, seven, plainAdamW) = withExtendedLifetime(buffers) { (pass(zeroing: true), pass(zeroing: false), adamW()) }
        return (eight, seven, plainAdamW, 8 * 4 * Double(count) / eight)
    }

    /// sgemm GFLOP/s at the step's most common product shape (tokens × hidden → FFN): one call on
    /// 1 OpenBLAS thread, one call on 2 threads, and `lanes` concurrent 1-thread calls from a
    /// `WorkerPool` (aggregate), the ceiling of `concurrency: models`.
    static func gemmReference(_ bench: ModelBenchConfig, lanes: Int) -> (shape: String, single: Double, twoThreads: Double, concurrent: Double) {
        let m = bench.batchSize * bench.sequenceLength, n = bench.intermediateSize, k = bench.hiddenSize
        let a = (0..<lanes).map { _ in FloatBuffer(count: m * k) }
        let b = (0..<lanes).map { _ in FloatBuffer(count: n * k) }
        let c = (0..<lanes).map { _ in FloatBuffer(count: m * n) }
        var rng = PhiloxRNG(seed: 5, stream: "bench/gemm")
        for buffer in a + b { rng.fillNormal(buffer.pointer, count: buffer.count, std: 1) }
        let flops = 2.0 * Double(m * n * k)
        func one(_ lane: Int) {
            BLAS.gemm(
                transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a[lane].pointer, lda: k,
                b: b[lane].pointer, ldb: k, beta: 0, c: c[lane].pointer, ldc: n)
        }
        BLAS.setThreads(1)
        let single = medianSecondsPerCall(runs: 5, minRunTime: 0.1) { one(0) }
        let pool = WorkerPool(lanes: lanes)
        let concurrent = medianSecondsPerCall(runs: 5, minRunTime: 0.1) { pool.run { one($0) } }
        BLAS.setThreads(2)
        let two = medianSecondsPerCall(runs: 5, minRunTime: 0.1) { one(0) }
        return ("m=\(m) n=\(n) k=\(k)", flops / single / 1e9, flops / two / 1e9, Double(lanes) * flops / concurrent / 1e9)
    }
}

/// Current resident set size of this process (`/proc/self/statm`), 0 where unavailable.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
