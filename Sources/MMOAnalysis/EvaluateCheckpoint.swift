// Evaluating the models of a checkpoint on a dataset: accuracy, loss and confusion matrix of each
// model through the trainer's own `Evaluator` (same batches, dropout off), so on the run's
// validation set the accuracies are the ones `metrics.lastEval` recorded; and of the ensemble
// that averages the models' softmax probabilities. Optionally every example's logits go to a
// JSONL file. Data in, a Codable report out; nothing is printed here.
import Foundation
import MMOCore
import MMOData
import MMOModels
import MMORun

/// A bad value of a tool option, named as on the command line.
public struct InvalidOption: Error, CustomStringConvertible, Equatable {
    public var option: String
    public var reason: String
    /// `option`: the flag (`--batch-size`); `reason`: what is wrong and what is allowed.
    public init(_ option: String, _ reason: String) {
        self.option = option
        self.reason = reason
    }
    public var description: String { "\(option): \(reason)" }
}

/// Accuracy, loss and confusion matrix of one classifier (a model or the ensemble).
public struct ClassifierScore: Codable, Sendable, Equatable {
    /// The model's name, or `ensemble`.
    public var name: String
    /// The model's family; nil for the ensemble.
    public var family: ModelFamily?
    /// Fraction of examples whose arg-max class is the label.
    public var accuracy: Double
    /// Mean cross-entropy (for the ensemble: of the averaged probabilities).
    public var loss: Double
    /// Examples evaluated.
    public var count: Int
    /// `confusion[label][predicted]`: rows are true classes, columns predictions, both in the
    /// order of the report's `labels`. Every row sums to that class's example count. Empty for a
    /// language model.
    public var confusion: [[Int]]
    /// Language model: `exp(loss)` over its predicted tokens (`accuracy` is then the token
    /// accuracy); nil for a classifier.
    public var perplexity: Double?
    /// Language model: tokens predicted (masked with the run's validation masking, or next
    /// tokens); nil for a classifier.
    public var tokens: Int?
}

/// What `mmo-eval` reports.
public struct EvaluationReport: Codable, Sendable {
    /// The checkpoint's path and its training step.
    public var checkpoint: String
    public var step: Int
    /// Where the examples came from: `validation split (…)` or the file's path.
    public var data: String
    /// Class names, index = label id (the run's list).
    public var labels: [String]
    /// Examples evaluated (per model).
    public var count: Int
    /// Batch size and OpenBLAS threads used (results are bit-identical to the run's own
    /// evaluation for the run's batch size and thread count).
    public var batchSize: Int
    public var threads: Int
    /// One score per model, in the checkpoint's order.
    public var models: [ClassifierScore]
    /// The mean-of-softmax ensemble of `ensembleMembers`; nil when fewer than two models were
    /// evaluated.
    public var ensemble: ClassifierScore?
    public var ensembleMembers: [String]
    /// The `--logits` file, when written.
    public var logitsFile: String?
}

/// How to evaluate.
public struct EvaluationOptions: Sendable {
    /// Models to evaluate, in any order (empty: every model of the checkpoint).
    public var models: [String]
    /// Examples per forward pass; nil: the run's `training.batchSize` (what `lastEval` used).
    public var batchSize: Int?
    /// OpenBLAS threads; nil: the count the run used (recorded in the checkpoint).
    public var threads: Int?
    /// Where to write one JSON line per example and model; nil: no logits file.
    public var logitsURL: URL?

    /// Options; the defaults reproduce the run's own evaluation.
    public init(models: [String] = [], batchSize: Int? = nil, threads: Int? = nil, logitsURL: URL? = nil) {
        self.models = models
        self.batchSize = batchSize
        self.threads = threads
        self.logitsURL = logitsURL
    }
}

/// Evaluates the models of a checkpoint.
public enum CheckpointEvaluator {
    /// The largest batch accepted: activations grow with batch × sequence × hidden, so an
    /// unbounded value would be an unbounded allocation.
    public static let maxBatchSize = 4096
    /// The most BLAS threads accepted.
    public static let maxThreads = 256

    /// Evaluates the selected models of `checkpoint` on `dataset` (labelled with the run's label
    /// list, e.g. from `EvaluationData`). `progress` is called with (examples done, total) over
    /// all models. Throws naming the option, model or file at fault.
    public static func evaluate(
        _ checkpoint: Checkpoint, on dataset: LabeledDataset, dataDescription: String, options: EvaluationOptions = EvaluationOptions(),
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> EvaluationReport {
        let state = checkpoint.state
        let batchSize = options.batchSize ?? state.run.training.batchSize
        guard (1...maxBatchSize).contains(batchSize) else {
            throw InvalidOption("--batch-size", "must be in 1...\(maxBatchSize), got \(batchSize)")
        }
        let threads = options.threads ?? state.threads
        guard (1...maxThreads).contains(threads) else {
            throw InvalidOption("--threads", "must be in 1...\(maxThreads), got \(threads)")
        }
        var seen = Set<String>()
        for name in options.models where !seen.insert(name).inserted {
            throw InvalidOption("--model", "'\(name)' is given twice")
        }
        for name in options.models { _ = try checkpoint.model(named: name) }  // an unknown name lists the models
        // Checkpoint order whatever the order of the options, so reports are comparable.
        let records = options.models.isEmpty ? state.models : state.models.filter { seen.contains($0.name) }
        let labels = dataset.labelNames
        for record in records where record.config.numLabels != labels.count {
            throw TrainingError.checkpoint(
                path: checkpoint.path,
                reason: "model '\(record.name)' has \(record.config.numLabels) classes but the data has \(labels.count) labels (\(labels.joined(separator: ", ")))")
        }
        guard dataset.count > 0 else {
            throw InvalidOption("--data", "\(dataDescription) holds no examples")
        }
        BLAS.setThreads(threads)

        let writer = try options.logitsURL.map { try LogitsFileWriter(url: $0) }
        defer { writer?.discard() }  // no-op after a commit; removes a partial file on error
        let K = labels.count, N = dataset.count
        // Σ over models of each example's softmax, (N, K): the ensemble's input. Bounded by the
        // dataset, which is already in memory.
        var probabilitySums = [Double](repeating: 0, count: N * K)
        var scores: [ClassifierScore] = []
        let total = N * records.count
        var done = 0
        for record in records {
            let encoded = EvaluationData.encoded(dataset, for: record, of: checkpoint)
            try check(encoded, fits: record, of: checkpoint, dataset: dataset)
            let trainable = try checkpoint.loadTrainableModel(record.name)
            // Sized by the data, not by the tokenizer's recorded maxLength: a damaged or hostile
            // state document cannot make this allocation large.
            let batch = TokenBatch(maxBatchSize: min(batchSize, N), maxSequenceLength: max(1, encoded.longest))
            if let lm = trainable as? any LanguageModel {
                // The run's own validation masking (stream `mlm/validation` of its seed): on the
                // validation split, the numbers `metrics.lastEval` recorded.
                // `--logits` rows carry the fed ids and targets (no logits), to reproduce the loss.
                var writeError: Error?
                let result = Evaluator.evaluateLanguageModel(lm, on: encoded, batch: batch, batchSize: batchSize, maskSeed: state.run.seed) { start, b in
                    guard let writer, writeError == nil else { return }
                    let T = b.sequenceLength
                    for i in 0..<b.batchSize {
                        let n = Int(b.lengths[i])
                        let ids = UnsafeBufferPointer(start: b.inputIDs + i * T, count: n)
                        let targets = UnsafeBufferPointer(start: b.targets + i * T, count: n)
                        do {
                            try writer.appendLanguageModel(
                                model: record.name, index: start + i, text: dataset.examples[start + i].text, inputIDs: ids,
                                targets: targets)
                        } catch {
                            writeError = error
                        }
                    }
                }
                if let writeError { throw writeError }
                done += N
                progress?(done, total)
                scores.append(ClassifierScore(
                    name: record.name, family: record.family, accuracy: result.accuracy, loss: result.loss, count: result.count,
                    confusion: [], perplexity: result.perplexity, tokens: result.tokens))
                continue
            }
            guard let model = trainable as? any SequenceClassifier else { preconditionFailure("unknown model kind") }
            var confusion = [[Int]](repeating: [Int](repeating: 0, count: K), count: K)
            var writeError: Error?
            let result = Evaluator.evaluate(model, on: encoded, batch: batch, batchSize: batchSize) { index, row in
                // The arg-max rule of `Evaluator` (first maximum wins), so the matrix's
                // diagonal sums to its `correct` count.
                var best = 0
                for c in 1..<K where row[c] > row[best] { best = c }
                confusion[Int(encoded.labels[index])][best] += 1
                addSoftmax(row, K, into: &probabilitySums, at: index * K)
                if let writer, writeError == nil {
                    do {
                        try writer.append(
                            model: record.name, index: index, text: dataset.examples[index].text, inputIDs: encoded.ids[index],
                            label: Int(encoded.labels[index]), labelName: labels[Int(encoded.labels[index])], logits: row, count: K)
                    } catch {
                        writeError = error
                    }
                }
                done += 1
                progress?(done, total)
            }
            if let writeError { throw writeError }
            scores.append(ClassifierScore(
                name: record.name, family: record.family, accuracy: result.accuracy, loss: result.loss, count: result.count,
                confusion: confusion))
        }
        try writer?.commit()

        var ensemble: ClassifierScore?
        if records.count >= 2 && !state.run.isLanguageModeling {
            ensemble = ensembleScore(probabilitySums, labels: dataset.examples.map(\.label), classes: K, members: records.count)
        }
        return EvaluationReport(
            checkpoint: checkpoint.path, step: state.progress.step, data: dataDescription, labels: labels, count: N, batchSize: batchSize,
            threads: threads, models: scores, ensemble: ensemble, ensembleMembers: ensemble != nil ? records.map(\.name) : [],
            logitsFile: options.logitsURL?.path)
    }

    /// Throws unless every encoded example fits model `record` (ids inside its vocabulary, length
    /// inside its position table), which the kernels would otherwise stop the process on. Always
    /// true for a checkpoint mmo-train wrote; checked because the file is input.
    static func check(_ encoded: EncodedDataset, fits record: CheckpointState.ModelRecord, of checkpoint: Checkpoint, dataset: LabeledDataset) throws {
        let config = record.config
        for (i, ids) in encoded.ids.enumerated() {
            if ids.count > config.maxSequenceLength {
                throw TrainingError.checkpoint(
                    path: checkpoint.path,
                    reason: "the tokenizer's maxLength \(checkpoint.state.tokenizer(of: record).maxLength) exceeds model '\(record.name)''s \(config.maxSequenceLength) positions (example \(i)); the checkpoint is inconsistent")
            }
            if let bad = ids.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
                throw TrainingError.checkpoint(
                    path: checkpoint.path,
                    reason: "the tokenizer gives id \(bad) for example \(i) ('\(dataset.examples[i].text.prefix(40))'), outside model '\(record.name)''s vocabulary 0..<\(config.vocabSize); the checkpoint is inconsistent")
            }
        }
    }

    /// Adds softmax(`row`) (K logits) to `sums[offset..<offset+K]`, in Double with the maximum
    /// subtracted so that no logit overflows `exp`.
    static func addSoftmax(_ row: UnsafePointer<Float>, _ K: Int, into sums: inout [Double], at offset: Int) {
        var m = -Double.infinity
        for c in 0..<K { m = max(m, Double(row[c])) }
        var z = 0.0
        for c in 0..<K { z += exp(Double(row[c]) - m) }
        for c in 0..<K { sums[offset + c] += exp(Double(row[c]) - m) / z }
    }

    /// The score of the ensemble whose per-example probabilities are `sums / members`:
    /// prediction = arg-max of the mean probability, loss = mean of −log(mean p(label)).
    static func ensembleScore(_ sums: [Double], labels: [Int], classes K: Int, members: Int) -> ClassifierScore {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: K), count: K)
        var correct = 0
        var lossSum = 0.0
        for (i, label) in labels.enumerated() {
            var best = 0
            for c in 1..<K where sums[i * K + c] > sums[i * K + best] { best = c }
            if best == label { correct += 1 }
            confusion[label][best] += 1
            lossSum -= log(sums[i * K + label] / Double(members))
        }
        let n = labels.count
        return ClassifierScore(
            name: "ensemble", family: nil, accuracy: Double(correct) / Double(max(1, n)), loss: lossSum / Double(max(1, n)), count: n,
            confusion: confusion)
    }
}
