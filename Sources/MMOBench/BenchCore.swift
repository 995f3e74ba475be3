// `mmo-bench core`: sgemm GFLOP/s at the shapes our models use, the GFLOP/s the linear and
// attention kernels reach on the same shapes, and ns/element of the pointwise and row kernels
// (GELU, dropout, softmax, LayerNorm) at the small config's FFN size. Each figure is the median
// of several timed runs after a warm-up run; a run repeats the operation until it lasts at least
// `minRunTime`.
import ArgumentParser
import Foundation
import MMOCore

// MARK: - Timing shared by the subcommands

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median seconds per call of `body`: one warm-up run, then `runs` timed runs, each repeating
/// `body` until it has lasted `minRunTime` seconds.
func medianSecondsPerCall(runs: Int, minRunTime: Double, _ body: () -> Void) -> Double {
    secondsPerCall(runs: runs, minRunTime: minRunTime, body).median
}

/// Median and minimum seconds per call of `body` over `runs` timed runs (see
/// `medianSecondsPerCall`). The minimum is the figure least disturbed by other processes.
func secondsPerCall(runs: Int, minRunTime: Double, _ body: () -> Void) -> (median: Double, min: Double) {
    // Warm-up, and calibrate how many calls make one run.
    var calls = 1
    while true {
        let start = monotonicSeconds()
        for _ in 0..<calls { body() }
        let elapsed = monotonicSeconds() - start
        if elapsed >= minRunTime { break }
        calls = elapsed <= 0 ? calls * 10 : min(calls * 10, max(calls + 1, Int(Double(calls) * minRunTime * 1.2 / elapsed)))
    }
    var perCall: [Double] = []
    for _ in 0..<max(1, runs) {
        let start = monotonicSeconds()
        for _ in 0..<calls { body() }
        perCall.append((monotonicSeconds() - start) / Double(calls))
    }
    perCall.sort()
    return (perCall[perCall.count / 2], perCall[0])
}

/// One measured row.
struct BenchRow: Codable {
    var name: String
    var shape: String
    var milliseconds: Double
    /// Floating-point operations per second / 1e9 (matrix products), or nil.
    var gflops: Double?
    /// Nanoseconds per element (pointwise and row kernels), or nil.
    var nsPerElement: Double?
}

// MARK: - Command

/// `mmo-bench core`
struct CoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "sgemm GFLOP/s at model shapes, GFLOP/s of the linear and attention kernels, ns/element of pointwise kernels.")

    @Option(help: "OpenBLAS threads.")
    var threads = 2
    @Option(help: "Timed runs per figure (the median is reported).")
    var runs = 7
    @Option(help: "Minimum seconds per timed run.")
    var minRunTime = 0.05
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard minRunTime > 0 else { throw ValidationError("--min-run-time must be positive") }
    }

    func run() throws {
        BLAS.setThreads(threads)
        var rows: [BenchRow] = []
        func time(_ name: String, _ shape: String, flops: Double, _ body: () -> Void) {
            let s = medianSecondsPerCall(runs: runs, minRunTime: minRunTime, body)
            rows.append(BenchRow(name: name, shape: shape, milliseconds: s * 1e3, gflops: flops / s * 1e-9))
        }
        // Token counts of the tiny (16 × 12) and small (16 × 64) benchmark batches.
        for (C, BT) in [(64, 192), (64, 1024), (256, 192), (256, 1024)] {
            for (name, OC, IC) in [("qkv/proj", C, C), ("ffn in", 4 * C, C), ("ffn out", C, 4 * C)] {
                let x = FloatBuffer(count: BT * max(IC, OC)), w = FloatBuffer(count: OC * IC)
                let out = FloatBuffer(count: BT * OC), bias = FloatBuffer(count: OC)
                let dx = FloatBuffer(count: BT * IC), dw = FloatBuffer(count: OC * IC), db = FloatBuffer(count: OC)
                var rng = PhiloxRNG(seed: 1, stream: "bench")
                rng.fillNormal(x.pointer, count: x.count, std: 1)
                rng.fillNormal(w.pointer, count: w.count, std: 0.02)
                let shape = "\(BT)x\(IC) -> \(OC)"
                let flops = 2.0 * Double(BT * IC * OC)
                time("sgemm \(name)", "m=\(BT) n=\(OC) k=\(IC)", flops: flops) {
                    BLAS.gemm(
                        transA: false, transB: true, m: BT, n: OC, k: IC, alpha: 1, a: x.pointer, lda: IC,
                        b: w.pointer, ldb: IC, beta: 0, c: out.pointer, ldc: OC)
                }
                time("linear forward \(name)", shape, flops: flops) {
                    linearForward(out: out.pointer, input: x.pointer, weight: w.pointer, bias: bias.pointer, N: BT, IC: IC, OC: OC)
                }
                time("linear backward \(name)", shape, flops: 2 * flops) {
                    linearBackward(
                        dInput: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dOut: out.pointer,
                        input: x.pointer, weight: w.pointer, N: BT, IC: IC, OC: OC)
                }
            }
        }
        // Attention: per (batch, head) Q Kᵀ (T × T × HS) and P V (T × HS × T), NH = 4.
        for (B, T, C) in [(16, 12, 64), (16, 64, 256)] {
            let NH = 4, HS = C / 4
            let q = FloatBuffer(count: B * T * C), k = FloatBuffer(count: B * T * C), v = FloatBuffer(count: B * T * C)
            let att = FloatBuffer(count: B * NH * T * T), out = FloatBuffer(count: B * T * C)
            let dq = FloatBuffer(count: B * T * C), dk = FloatBuffer(count: B * T * C), dv = FloatBuffer(count: B * T * C)
            let scratch = FloatBuffer(count: B * NH * T * T)
            var rng = PhiloxRNG(seed: 2, stream: "bench")
            for buffer in [q, k, v] { rng.fillNormal(buffer.pointer, count: buffer.count, std: 1) }
            let shape = "B=\(B) T=\(T) C=\(C) NH=\(NH)"
            let gemmFlops = 2.0 * Double(B * NH * T * T * HS)
            time("sgemm batched QK^T", shape, flops: gemmFlops) {
                for b in 0..<B {
                    BLAS.gemmBatched(
                        batch: NH, transA: false, transB: true, m: T, n: T, k: HS, alpha: 1,
                        a: q.pointer + b * T * C, lda: C, strideA: HS, b: k.pointer + b * T * C, ldb: C, strideB: HS,
                        beta: 0, c: att.pointer + b * NH * T * T, ldc: T, strideC: T * T)
                }
            }
            var dropoutRNG = PhiloxRNG(key: 0)
            time("attention forward", shape, flops: 2 * gemmFlops) {
                attentionForward(
                    out: out.pointer, probs: att.pointer, droppedProbs: nil, dropoutMask: nil, query: q.pointer,
                    key: k.pointer, value: v.pointer, additiveMask: nil, B: B, T: T, C: C, NH: NH, causal: false,
                    dropout: 0, rng: &dropoutRNG)
            }
            time("attention backward", shape, flops: 4 * gemmFlops) {
                attentionBackward(
                    dQuery: dq.pointer, dKey: dk.pointer, dValue: dv.pointer, scratch: scratch.pointer, dOut: out.pointer,
                    probs: att.pointer, droppedProbs: nil, dropoutMask: nil, query: q.pointer, key: k.pointer,
                    value: v.pointer, B: B, T: T, C: C, NH: NH)
            }
        }
        // Pointwise and row kernels on a small-config FFN activation (1024 tokens × 1024).
        let N = 1024 * 1024
        let x = FloatBuffer(count: N), y = FloatBuffer(count: N), dx = FloatBuffer(count: N), mask = FloatBuffer(count: N)
        let stats = FloatBuffer(count: 2 * 4096), ones = FloatBuffer(count: 1024), dWB = FloatBuffer(count: 2048)
        var rng = PhiloxRNG(seed: 3, stream: "bench")
        rng.fillNormal(x.pointer, count: N, std: 1)
        for i in 0..<1024 { ones[i] = 1 }
        func pointwise(_ name: String, _ body: () -> Void) {
            let s = medianSecondsPerCall(runs: runs, minRunTime: minRunTime, body)
            rows.append(BenchRow(name: name, shape: "N=\(N)", milliseconds: s * 1e3, nsPerElement: s * 1e9 / Double(N)))
        }
        for approximation in [GELUApproximation.none, .tanh] {
            pointwise("gelu \(approximation) forward") { geluForward(out: y.pointer, input: x.pointer, N: N, approximation: approximation) }
            pointwise("gelu \(approximation) backward") {
                geluBackward(dInput: dx.pointer, dOut: x.pointer, input: x.pointer, N: N, approximation: approximation)
            }
        }
        pointwise("dropout forward p=0.1") { dropoutForward(out: y.pointer, mask: mask.pointer, input: x.pointer, N: N, probability: 0.1, rng: &rng) }
        pointwise("softmax rows of 64") { softmaxForward(out: y.pointer, input: x.pointer, additiveMask: nil, R: N / 64, N: 64, causal: false) }
        pointwise("layernorm forward C=1024") {
            layerNormForward(out: y.pointer, mean: stats.pointer, rstd: stats.pointer + 4096, input: x.pointer, weight: ones.pointer, bias: dWB.pointer, N: 1024, C: 1024, eps: 1e-5)
        }
        pointwise("layernorm backward C=1024") {
            layerNormBackward(
                dInput: dx.pointer, dWeight: dWB.pointer, dBias: dWB.pointer + 1024, dOut: x.pointer, input: x.pointer,
                weight: ones.pointer, mean: stats.pointer, rstd: stats.pointer + 4096, N: 1024, C: 1024)
        }
        if json {
            try printJSON(BenchReport(benchmark: "core", threads: threads, runs: runs, rows: rows))
        } else {
            print("mmo-bench core — OpenBLAS threads \(threads), median of \(runs) runs")
            printTable(rows)
        }
    }
}

/// What `--json` prints.
struct BenchReport: Codable {
    var benchmark: String
    var threads: Int
    var runs: Int
    var rows: [BenchRow]
}

/// Prints `value` as pretty, key-sorted JSON.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Prints rows as an aligned text table.
func printTable(_ rows: [BenchRow]) {
    let nameWidth = max(4, rows.map(\.name.count).max() ?? 0)
    let shapeWidth = max(5, rows.map(\.shape.count).max() ?? 0)
    func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
    print("\(pad("name", nameWidth))  \(pad("shape", shapeWidth))  \(pad("ms", 10))  \(pad("GFLOP/s", 8))  ns/element")
    for row in rows {
        let gflops = row.gflops.map { String(format: "%.1f", $0) } ?? "-"
        let ns = row.nsPerElement.map { String(format: "%.3f", $0) } ?? "-"
        print("\(pad(row.name, nameWidth))  \(pad(row.shape, shapeWidth))  \(pad(String(format: "%.4f", row.milliseconds), 10))  \(pad(gflops, 8))  \(ns)")
    }
}
