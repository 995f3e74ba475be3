// Deterministic epoch order and batch filling. The order of epoch e is a pure function of
// (seed, e), so the cursor (epoch, position) is the whole data state a checkpoint needs.
import MMOCore

/// Where the data stream stands: the next batch starts at `position` of epoch `epoch`'s order.
public struct DataCursor: Codable, Hashable, Sendable {
    public var epoch: Int
    public var position: Int

    public init(epoch: Int = 0, position: Int = 0) {
        self.epoch = epoch
        self.position = position
    }
}

/// A dataset encoded once for one special-token scheme.
public struct EncodedDataset: Sendable {
    public var ids: [[Int32]]
    public var labels: [Int32]
    public var padID: Int32
    /// Pad every batch to this many tokens (`data.padding: max`, transformers'
    /// `padding="max_length"`); nil pads to the batch's longest example (`padding=True`).
    public var fixedLength: Int?

    public init(_ dataset: LabeledDataset, tokenizer: WordTokenizer, scheme: SpecialTokenScheme) {
        ids = dataset.examples.map { tokenizer.encode($0.text, scheme: scheme) }
        labels = dataset.examples.map { Int32($0.label) }
        padID = scheme.padID
    }

    /// `dataset` encoded with a model's own tokenizer, padded with `padID` (the model's
    /// `pad_token_id`; a text with no tokens at all becomes `[padID]`).
    public init(_ dataset: LabeledDataset, tokenizer: ModelTokenizer, padID: Int32, fixedLength: Int? = nil) {
        ids = dataset.examples.map { tokenizer.encode($0.text, fallback: padID) }
        labels = dataset.examples.map { Int32($0.label) }
        self.padID = padID
        self.fixedLength = fixedLength
    }

    public var count: Int { ids.count }

    /// Longest encoded example.
    public var longest: Int { ids.map(\.count).max() ?? 0 }

    /// Fills `batch` with the examples at `indices`, padded to the longest of them (or to
    /// `fixedLength`).
    public func fill(_ batch: TokenBatch, indices: ArraySlice<Int>) {
        var length = max(1, fixedLength ?? 1)
        for i in indices { length = max(length, ids[i].count) }
        batch.resize(batchSize: indices.count, sequenceLength: length)
        for (b, i) in indices.enumerated() {
            let row = ids[i]
            let base = batch.inputIDs + b * length
            for t in 0..<length { base[t] = t < row.count ? row[t] : padID }
            batch.lengths[b] = Int32(row.count)
            batch.labels[b] = labels[i]
        }
    }
}

/// Shuffled epoch orders and the batches they cut into.
public struct EpochSampler: Sendable {
    public let count: Int
    public let batchSize: Int
    public let seed: UInt64
    /// Keep a last batch smaller than `batchSize` (true) or drop it.
    public let keepPartial: Bool

    public init(count: Int, batchSize: Int, seed: UInt64, keepPartial: Bool = true) {
        precondition(count > 0 && batchSize > 0, "EpochSampler needs data and a positive batch size")
        self.count = count
        self.batchSize = batchSize
        self.seed = seed
        self.keepPartial = keepPartial
    }

    /// Batches per epoch.
    public var batchesPerEpoch: Int { keepPartial ? (count + batchSize - 1) / batchSize : max(1, count / batchSize) }

    /// The permutation of epoch `epoch`: Fisher–Yates with the stream `data/order/<epoch>`.
    public func order(epoch: Int) -> [Int] {
        var rng = PhiloxRNG(seed: seed, stream: "data/order/\(epoch)")
        var order = Array(0..<count)
        rng.shuffle(&order)
        return order
    }

    /// The indices of the batch at `cursor` and the cursor after it (rolling into the next epoch).
    public func batch(at cursor: DataCursor, order: [Int]) -> (indices: ArraySlice<Int>, next: DataCursor) {
        let start = cursor.position * batchSize
        let end = min(start + batchSize, count)
        var next = DataCursor(epoch: cursor.epoch, position: cursor.position + 1)
        if next.position >= batchesPerEpoch { next = DataCursor(epoch: cursor.epoch + 1, position: 0) }
        return (order[start..<end], next)
    }
}
