// `mmo-bench finetune`: fine-tuning steps of a model imported from a Hugging Face folder
// (`models[].init`) on batches of token ids given in a file, so that `tools/bench_minilm.py` can
// time transformers on the very same batches, alternating rounds in one run. A step is what a
// transformers fine-tuning loop does per batch: forward + backward in training mode (dropout
// on), AdamW, zero the gradients.
import ArgumentParser
import Foundation
import MMOCore
import MMOModels
import MMOOptim
import MMORun

struct FinetuneBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tuning steps of an imported Hugging Face model on given batches (AdamW, one batch per step).",
        discussion: """
            --batches is a JSONL file, one batch a line: {"input_ids": [[id, ...], ...], "lengths": [n, ...], \
            "labels": [k, ...]}, rows right-padded to the batch's longest (transformers' padding=True), \
            `lengths` the sum of each row's attention mask. One untimed step warms up, then --steps \
            steps are timed, cycling through the batches. Prints each step's milliseconds.
            """)

    @Option(name: .customLong("init"), help: "The Hugging Face model folder (as models[].init).")
    var folder: String
    @Option(help: "The folder's family: bert, gpt2 or roberta.")
    var family: String = "bert"
    @Option(help: "The batches (JSONL).")
    var batches: String
    @Option(help: "Timed steps.")
    var steps: Int = 10
    @Option(help: "OpenBLAS threads.")
    var threads: Int = 2
    @Option(help: "AdamW learning rate.")
    var learningRate: Double = 3e-5
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard ModelFamily(rawValue: family) != nil else { throw ValidationError("--family must be bert, gpt2 or roberta") }
        guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be in 1...100000") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
    }

    struct Batch: Decodable {
        var input_ids: [[Int32]]
        var lengths: [Int]
        var labels: [Int32]
    }

    func run() throws {
        BLAS.setThreads(threads)
        let lines = try String(contentsOfFile: batches, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }
        let parsed = try lines.enumerated().map { i, line -> Batch in
            do {
                return try JSONDecoder().decode(Batch.self, from: Data(line.utf8))
            } catch {
                throw ValidationError("\(batches): line \(i + 1) is not {\"input_ids\": [[...]], \"labels\": [...]} (\(error))")
            }
        }
        guard !parsed.isEmpty, parsed.allSatisfy({ b in
            !b.input_ids.isEmpty && b.input_ids.count == b.labels.count && b.lengths.count == b.labels.count
                && zip(b.input_ids, b.lengths).allSatisfy { $1 >= 1 && $1 <= $0.count && $0.count == b.input_ids[0].count }
        }) else {
            throw ValidationError("\(batches): needs at least one batch, each with as many labels and lengths as rows of one length")
        }
        let numLabels = Int(parsed.flatMap(\.labels).max() ?? 1) + 1
        let longest = parsed.flatMap { $0.input_ids.map(\.count) }.max() ?? 1
        var config = RunConfig()
        var entry = ModelEntry(name: "bench", family: ModelFamily(rawValue: family)!, weight: 1)
        entry.initFrom = folder
        config.models = [entry]
        config.data.maxLength = longest
        let imported = try PretrainedImport.load(entry: entry, index: 0, config: config, numLabels: max(2, numLabels), seed: 1)
        let model = imported.model
        let pad = Int32(model.config.padTokenID)
        let largest = parsed.map(\.input_ids.count).max()!
        let tokenBatches = parsed.map { b -> TokenBatch in
            let rows = zip(b.input_ids, b.lengths).map { Array($0.prefix($1)) }
            let batch = TokenBatch(maxBatchSize: largest, maxSequenceLength: longest)
            batch.fill(ids: rows, labels: b.labels, sequenceLength: b.input_ids[0].count, padID: pad)
            return batch
        }
        var optimizerConfig = OptimizerConfig()
        optimizerConfig.learningRate = learningRate
        optimizerConfig.accumulationSteps = 1
        optimizerConfig.warmupSteps = 0
        optimizerConfig.gradientSharing = false
        optimizerConfig.parameterSync = false
        optimizerConfig.adaptiveLearningRate = false
        optimizerConfig.totalSteps = steps + 1
        let optimizer = try MultiModelOptimizer(
            models: [OptimizedModel(name: "bench", store: model.parameters, weight: 1)], config: optimizerConfig)
        var times: [Double] = []
        optimizer.zeroesGradients = true  // zeroing inside the fused pass, as the trainer does (timed)
        var loss: Float = 0
        for step in 0..<(steps + 1) {
            let batch = tokenBatches[step % tokenBatches.count]
            let start = monotonicSeconds()
            loss = model.forward(batch, training: true)
            model.backward()
            _ = optimizer.step(losses: [loss])
            if step > 0 { times.append(monotonicSeconds() - start) }
        }
        let milliseconds = times.map { $0 * 1000 }
        let median = milliseconds.sorted()[milliseconds.count / 2]
        if json {
            let object: [String: Any] = [
                "steps_ms": milliseconds, "median_ms": median, "last_loss": Double(loss), "threads": threads,
                "parameters": model.parameters.totalCount,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("fine-tuning step of \(folder) (\(model.parameters.totalCount) parameters), \(parsed.count) batches, \(threads) threads")
            print(String(format: "median %.1f ms over %d steps (min %.1f, max %.1f); last loss %.4f", median, steps, milliseconds.min()!, milliseconds.max()!, loss))
        }
    }
}
