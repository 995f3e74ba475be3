// `mmo-bench models`: forward + backward time of each family at the `tiny` and `small` configs
// of issue 3, and — when `tools/bench_models_torch.py` and PyTorch are available — the same
// measured with PyTorch + transformers, printed side by side as PyTorch time / our time.
import ArgumentParser
import Foundation
import MMOCore
import MMOModels

/// A benchmark configuration (the same numbers as tools/bench_models_torch.py).
struct ModelBenchConfig {
    var name: String
    var hiddenSize, numLayers, numHeads, intermediateSize, vocabSize, maxPositions, sequenceLength, batchSize: Int

    static let all = [
        ModelBenchConfig(name: "tiny", hiddenSize: 64, numLayers: 2, numHeads: 4, intermediateSize: 256, vocabSize: 32, maxPositions: 64, sequenceLength: 12, batchSize: 16),
        ModelBenchConfig(name: "small", hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024, vocabSize: 8000, maxPositions: 512, sequenceLength: 64, batchSize: 16),
    ]

    /// The parameter specs of a real `small` classifier of `family` (names, shapes, kinds, roles).
    static func smallSpecs(_ family: ModelFamily) throws -> [ParameterSpec] {
        let small = all.first { $0.name == "small" }!
        return try makeClassifier(config: small.modelConfig(family, dropout: 0), seed: 0).parameters.specs
    }

    func modelConfig(_ family: ModelFamily, dropout: Float) -> ModelConfig {
        // RoBERTa's table holds padding_idx + 1 extra rows before the first real position.
        ModelConfig(
            family: family, vocabSize: vocabSize, hiddenSize: hiddenSize, numLayers: numLayers, numHeads: numHeads,
            intermediateSize: intermediateSize, maxPositions: maxPositions + (family == .roberta ? 2 : 0), numLabels: 2,
            hiddenDropout: dropout, attentionDropout: dropout)
    }
}

/// One family × config measurement.
struct ModelBenchRow: Codable {
    var config: String
    var family: String
    var parameters: Int
    /// Median step time.
    var milliseconds: Double
    /// Fastest step time (least disturbed by other processes).
    var minMilliseconds: Double
    var torchMilliseconds: Double?
    var torchMinMilliseconds: Double?
    /// PyTorch median / our median (> 1: we are faster).
    var ratio: Double?
    /// PyTorch fastest / our fastest.
    var minRatio: Double?
}

/// `mmo-bench models`
struct ModelsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Forward + backward time per family at the tiny and small configs, beside PyTorch.")

    @Option(help: "OpenBLAS threads (and torch threads).")
    var threads = 2
    @Option(help: "Timed runs per figure (the median is reported).")
    var runs = 7
    @Option(help: "Minimum seconds per timed run.")
    var minRunTime = 0.2
    @Option(help: "Hidden and attention dropout (training mode).")
    var dropout: Float = 0.1
    @Option(help: "Configs to run (tiny, small); repeatable, default both.")
    var config: [String] = []
    @Option(help: "Families to run (bert, gpt2, roberta); repeatable, default all.")
    var family: [String] = []
    @Option(help: "PyTorch reference script; skipped when missing or when torch does not import.")
    var torchScript = "tools/bench_models_torch.py"
    @Flag(help: "Do not run the PyTorch comparison.")
    var noTorch = false
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        let known = ModelBenchConfig.all.map(\.name)
        for c in config where !known.contains(c) {
            throw ValidationError("--config \(c) is unknown; use one of \(known.joined(separator: ", "))")
        }
        for f in family where ModelFamily(rawValue: f) == nil {
            throw ValidationError("--family \(f) is unknown; use one of \(ModelFamily.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        BLAS.setThreads(threads)
        let configs = ModelBenchConfig.all.filter { config.isEmpty || config.contains($0.name) }
        let families = ModelFamily.allCases.filter { family.isEmpty || family.contains($0.rawValue) }
        var rows: [ModelBenchRow] = []
        for bench in configs {
            for family in families {
                let model = try makeClassifier(config: bench.modelConfig(family, dropout: dropout), seed: 0)
                let batch = Self.makeBatch(bench, model.config)
                try model.validate(batch)
                let seconds = secondsPerCall(runs: runs, minRunTime: minRunTime) {
                    _ = model.forward(batch, training: true)
                    model.backward()
                }
                rows.append(ModelBenchRow(
                    config: bench.name, family: family.rawValue, parameters: model.parameters.totalCount,
                    milliseconds: seconds.median * 1e3, minMilliseconds: seconds.min * 1e3))
            }
        }
        var torchNote = "PyTorch comparison skipped (--no-torch)"
        if !noTorch {
            switch runTorch(configs: configs.map(\.name), families: families.map(\.rawValue)) {
            case .success(let times):
                for i in rows.indices {
                    guard let t = times["\(rows[i].config)/\(rows[i].family)"] else { continue }
                    rows[i].torchMilliseconds = t.median
                    rows[i].torchMinMilliseconds = t.min
                    rows[i].ratio = t.median / rows[i].milliseconds
                    rows[i].minRatio = t.min / rows[i].minMilliseconds
                }
                torchNote = "PyTorch: \(torchScript), \(threads) threads, median step"
            case .failure(let reason):
                torchNote = "PyTorch comparison skipped: \(reason)"
            }
        }
        if json {
            struct Report: Codable {
                var benchmark = "models", threads: Int, dropout: Float, note: String, rows: [ModelBenchRow]
            }
            try printJSON(Report(threads: threads, dropout: dropout, note: torchNote, rows: rows))
            return
        }
        print("mmo-bench models — forward + backward, training mode, dropout \(dropout), OpenBLAS threads \(threads)")
        func pad(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        print("config  family   parameters    ours ms   torch ms  torch/ours  |  ours min  torch min  torch/ours")
        func number(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "-" }
        for r in rows {
            print(
                pad(r.config, 8) + pad(r.family, 8) + String(format: "%11d  %9.3f  ", r.parameters, r.milliseconds)
                    + String(repeating: " ", count: 9 - number(r.torchMilliseconds, "%.3f").count) + number(r.torchMilliseconds, "%.3f")
                    + String(repeating: " ", count: 12 - number(r.ratio, "%.2f").count) + number(r.ratio, "%.2f")
                    + "  | " + String(format: "%9.3f", r.minMilliseconds)
                    + String(repeating: " ", count: 11 - number(r.torchMinMilliseconds, "%.3f").count) + number(r.torchMinMilliseconds, "%.3f")
                    + String(repeating: " ", count: 12 - number(r.minRatio, "%.2f").count) + number(r.minRatio, "%.2f"))
        }
        print(torchNote)
    }

    /// Random ids right-padded to seeded lengths in `seq/2 ... seq`, random labels.
    static func makeBatch(_ bench: ModelBenchConfig, _ config: ModelConfig) -> TokenBatch {
        var rng = PhiloxRNG(seed: 0, stream: "bench/batch")
        let low = config.family == .roberta ? 3 : 1
        let T = bench.sequenceLength
        let ids: [[Int32]] = (0..<bench.batchSize).map { _ in
            let length = T / 2 + rng.nextInt(below: T - T / 2 + 1)
            return (0..<length).map { _ in Int32(low + rng.nextInt(below: config.vocabSize - low)) }
        }
        let labels = (0..<bench.batchSize).map { _ in Int32(rng.nextInt(below: config.numLabels)) }
        let batch = TokenBatch(maxBatchSize: bench.batchSize, maxSequenceLength: T)
        batch.fill(ids: ids, labels: labels, sequenceLength: T, padID: Int32(config.padTokenID))
        return batch
    }

    /// Runs the PyTorch script; returns median and minimum milliseconds keyed by "config/family".
    private func runTorch(configs: [String], families: [String]) -> Result<[String: (median: Double, min: Double)], TorchError> {
        guard FileManager.default.fileExists(atPath: torchScript) else {
            return .failure(TorchError("\(torchScript) not found (run from the repository root)"))
        }
        var arguments = [torchScript, "--threads", "\(threads)", "--dropout", "\(dropout)"]
        for c in configs { arguments += ["--config", c] }
        for f in families { arguments += ["--family", f] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch { return .failure(TorchError("could not start python3: \(error)")) }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let lastLine = errorText.split(separator: "\n").last.map(String.init) ?? "exit \(process.terminationStatus)"
            return .failure(TorchError("python3 \(torchScript) failed: \(lastLine)"))
        }
        struct Output: Decodable {
            struct Result: Decodable { let config: String; let family: String; let fwd_bwd_ms: Double; let min_ms: Double }
            let results: [Result]
        }
        guard let parsed = try? JSONDecoder().decode(Output.self, from: data) else {
            return .failure(TorchError("could not parse the JSON printed by \(torchScript)"))
        }
        return .success(Dictionary(uniqueKeysWithValues: parsed.results.map { ("\($0.config)/\($0.family)", ($0.fwd_bwd_ms, $0.min_ms)) }))
    }
}

/// Why the PyTorch comparison did not run.
struct TorchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
