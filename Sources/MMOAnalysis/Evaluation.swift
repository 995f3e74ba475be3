// Validation accuracy and loss of a classifier over a whole encoded dataset, dropout off.
import MMOCore
import MMOData
import MMOModels
import MMORun

/// Runs models in eval mode over datasets.
public enum Evaluator {
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
