// A padded batch of token sequences: what the data layer produces and the models consume.

/// A batch of `batchSize` sequences padded to `sequenceLength` tokens.
///
/// Storage is allocated once for a maximum shape and reused; `resize` changes the active shape
/// without allocating, so a training loop allocates nothing per step.
public final class TokenBatch: @unchecked Sendable {
    /// Capacity in sequences.
    public let maxBatchSize: Int
    /// Capacity in tokens per sequence.
    public let maxSequenceLength: Int
    /// Active number of sequences.
    public private(set) var batchSize: Int
    /// Active padded length (the row stride of `inputIDs`).
    public private(set) var sequenceLength: Int
    /// Token ids, row-major `(batchSize, sequenceLength)`; padding positions hold the pad id.
    public let inputIDs: UnsafeMutablePointer<Int32>
    /// Number of real (non-padding) tokens of each sequence, `(batchSize)`; real tokens come first.
    public let lengths: UnsafeMutablePointer<Int32>
    /// Class label of each sequence, `(batchSize)`.
    public let labels: UnsafeMutablePointer<Int32>
    /// Language-model targets, row-major `(batchSize, sequenceLength)`: the token the model
    /// must predict from position t's output (masked LM: the original token at a selected
    /// position; causal LM: the next token), `ignoredTarget` where nothing is predicted.
    /// Classification ignores it.
    public let targets: UnsafeMutablePointer<Int32>

    /// The target of a position without a prediction (PyTorch's `ignore_index`, -100).
    public static let ignoredTarget: Int32 = -100

    /// Allocates storage for the maximum shape (active shape = maximum, all zeros).
    public init(maxBatchSize: Int, maxSequenceLength: Int) {
        precondition(maxBatchSize > 0 && maxSequenceLength > 0, "TokenBatch needs a positive shape")
        self.maxBatchSize = maxBatchSize
        self.maxSequenceLength = maxSequenceLength
        self.batchSize = maxBatchSize
        self.sequenceLength = maxSequenceLength
        inputIDs = .allocate(capacity: maxBatchSize * maxSequenceLength)
        inputIDs.initialize(repeating: 0, count: maxBatchSize * maxSequenceLength)
        lengths = .allocate(capacity: maxBatchSize)
        lengths.initialize(repeating: 0, count: maxBatchSize)
        labels = .allocate(capacity: maxBatchSize)
        labels.initialize(repeating: 0, count: maxBatchSize)
        targets = .allocate(capacity: maxBatchSize * maxSequenceLength)
        targets.initialize(repeating: TokenBatch.ignoredTarget, count: maxBatchSize * maxSequenceLength)
    }

    deinit {
        inputIDs.deallocate()
        lengths.deallocate()
        labels.deallocate()
        targets.deallocate()
    }

    /// Sets the active shape (no allocation). Both must be within the maxima.
    public func resize(batchSize: Int, sequenceLength: Int) {
        precondition(batchSize > 0 && batchSize <= maxBatchSize, "batchSize \(batchSize) out of 1...\(maxBatchSize)")
        precondition(
            sequenceLength > 0 && sequenceLength <= maxSequenceLength,
            "sequenceLength \(sequenceLength) out of 1...\(maxSequenceLength)")
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
    }

    /// Fills the batch from arrays (for tests and small tools): `ids[b]` are sequence b's real
    /// tokens (at most `sequenceLength`), the rest is `padID`.
    public func fill(ids: [[Int32]], labels newLabels: [Int32], sequenceLength: Int, padID: Int32) {
        precondition(ids.count == newLabels.count, "ids and labels differ in count")
        resize(batchSize: ids.count, sequenceLength: sequenceLength)
        for (b, row) in ids.enumerated() {
            precondition(row.count <= sequenceLength && !row.isEmpty, "sequence \(b) has \(row.count) tokens")
            for t in 0..<sequenceLength { inputIDs[b * sequenceLength + t] = t < row.count ? row[t] : padID }
            lengths[b] = Int32(row.count)
            labels[b] = newLabels[b]
        }
    }

    /// Sets `targets` from arrays (for tests and small tools): `rows[b]` holds sequence b's
    /// `sequenceLength` targets (`ignoredTarget` where nothing is predicted).
    public func fillTargets(_ rows: [[Int32]]) {
        precondition(rows.count == batchSize, "targets for \(rows.count) sequences, the batch has \(batchSize)")
        for (b, row) in rows.enumerated() {
            precondition(row.count == sequenceLength, "targets of sequence \(b) have \(row.count) entries, not \(sequenceLength)")
            for t in 0..<sequenceLength { targets[b * sequenceLength + t] = row[t] }
        }
    }
}
