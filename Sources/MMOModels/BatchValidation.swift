// Checks that a batch fits a model before it reaches the kernels, whose preconditions would
// otherwise stop the process on bad data.
import MMOCore

extension TrainableModel {
    /// Throws `ModelError.invalidBatch` when `batch` does not fit this model: a sequence longer
    /// than the position table, a length outside `1...sequenceLength`, a token id outside the
    /// vocabulary, a label outside `0..<numLabels` (classifiers) or a target that is neither a
    /// token id nor `TokenBatch.ignoredTarget` (language models). Call it where batches are built from data.
    public func validate(_ batch: TokenBatch) throws {
        let B = batch.batchSize, T = batch.sequenceLength
        if T > config.maxSequenceLength {
            throw ModelError.invalidBatch(
                message: "sequence length \(T) exceeds the model's maximum \(config.maxSequenceLength) (maxPositions \(config.maxPositions)); truncate the data or enlarge maxPositions")
        }
        for b in 0..<B {
            let length = Int(batch.lengths[b])
            if length < 1 || length > T {
                throw ModelError.invalidBatch(message: "sequence \(b) has length \(length), expected 1...\(T)")
            }
            let label = Int(batch.labels[b])
            if !config.objective.isLanguageModel && (label < 0 || label >= config.numLabels) {
                throw ModelError.invalidBatch(message: "sequence \(b) has label \(label), expected 0..<\(config.numLabels)")
            }
            for t in 0..<T {
                let id = Int(batch.inputIDs[b * T + t])
                if id < 0 || id >= config.vocabSize {
                    throw ModelError.invalidBatch(
                        message: "sequence \(b) token \(t) has id \(id), outside the vocabulary 0..<\(config.vocabSize)")
                }
                let target = batch.targets[b * T + t]
                if config.objective.isLanguageModel, target != TokenBatch.ignoredTarget, target < 0 || Int(target) >= config.vocabSize {
                    throw ModelError.invalidBatch(
                        message: "sequence \(b) position \(t) has target \(target), neither a token id in 0..<\(config.vocabSize) nor \(TokenBatch.ignoredTarget) (no prediction)")
                }
            }
        }
    }
}
