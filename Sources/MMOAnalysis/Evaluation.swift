// Validation accuracy and loss of a classifier, or loss, perplexity and token accuracy of a
// language model, over a whole encoded dataset, dropout off.
import Foundation
import MMOCore
import MMOData
import MMOModels
import MMORun

/// Runs models in eval mode over datasets.
public enum Evaluator {
    /// Evaluates a classifier or a language model. A masked LM masks `data` with the validation
    /// stream of `maskSeed` (`MaskingStreams.validation`), restarted here, so every evaluation of
    /// a run masks identically and the numbers are comparable across steps and models.
    public static func evaluate(
        _ model: any TrainableModel, on data: EncodedDataset, batch: TokenBatch, batchSize: Int, maskSeed: UInt64
    ) -> EvalResult {
        if let lm = model as? any LanguageModel {
            return evaluateLanguageModel(lm, on: data, batch: batch, batchSize: batchSize, maskSeed: maskSeed)
        }
        guard let classifier = model as? any SequenceClassifier else { preconditionFailure("unknown model kind") }
        return evaluate(classifier, on: data, batch: batch, batchSize: batchSize)
    }

    /// Language-model evaluation: loss = mean cross-entropy over every predicted token of the
    /// set (each batch weighted by its predictions), perplexity = exp(loss), accuracy = arg-max
    /// hits over predicted tokens. `batches` sees each batch's first example index and the
    /// batch as the model read it (masked ids, targets), after its forward.
    public static func evaluateLanguageModel(
        _ model: any LanguageModel, on data: EncodedDataset, batch: TokenBatch, batchSize: Int, maskSeed: UInt64,
        batches: ((Int, TokenBatch) -> Void)? = nil
    ) -> EvalResult {
        let rule = model.config.targetRule, V = model.config.vocabSize
        var rng = MaskingStreams.validationRNG(seed: maskSeed)
        var lossSum = 0.0
        var tokens = 0, correct = 0
        var start = 0
        let indices = Array(0..<data.count)
        while start < data.count {
            let end = min(start + batchSize, data.count)
            data.fill(batch, indices: indices[start..<end])
            rule.apply(to: batch, rng: &rng)
            let loss = model.forward(batch, training: false)
            let n = model.predictionCount
            lossSum += Double(loss) * Double(n)
            tokens += n
            // Targets of the predicted rows, in the (b, t) order the model's rows follow.
            let logits = model.logits
            var row = 0
            for i in 0..<(batch.batchSize * batch.sequenceLength) where batch.targets[i] != TokenBatch.ignoredTarget {
                let r = logits + row * V
                var best = 0
                for v in 1..<V where r[v] > r[best] { best = v }
                if best == Int(batch.targets[i]) { correct += 1 }
                row += 1
            }
            batches?(start, batch)
            start = end
        }
        let loss = lossSum / Double(max(1, tokens))
        return EvalResult(
            accuracy: Double(correct) / Double(max(1, tokens)), loss: loss, count: data.count, perplexity: exp(loss), tokens: tokens)
    }

    /// Evaluates `model` on `data` in batches of `batchSize`, reusing `batch`. Does not touch
    /// any random stream, so evaluating inside a run never changes its trajectory.
    public static func evaluate(
        _ model: SequenceClassifier, on data: EncodedDataset, batch: TokenBatch, batchSize: Int,
        predictions: ((Int, UnsafePointer<Float>) -> Void)? = nil
    ) -> EvalResult {
        let numLabels = model.config.numLabels
        var correct = 0
        var lossSum = 0.0
        var start = 0
        let indices = Array(0..<data.count)
        while start < data.count {
            let end = min(start + batchSize, data.count)
            data.fill(batch, indices: indices[start..<end])
            let loss = model.forward(batch, training: false)
            lossSum += Double(loss) * Double(end - start)
            let logits = model.logits
            for b in 0..<(end - start) {
                let row = logits + b * numLabels
                var best = 0
                for c in 1..<numLabels where row[c] > row[best] { best = c }
                if best == Int(batch.labels[b]) { correct += 1 }
                predictions?(start + b, row)
            }
            start = end
        }
        return EvalResult(accuracy: Double(correct) / Double(max(1, data.count)), loss: lossSum / Double(max(1, data.count)), count: data.count)
    }
}
