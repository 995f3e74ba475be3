// Row lookup `out[n] = table[ids[n]]` and its scatter-add backward. The same pair gathers the
// pooled token of each sequence (ids = row numbers of a `(B·T, C)` activation).
//
// Dimensions: N lookups, V table rows, C channels.

/// `out[n] = table[ids[n]]`, or `out[n] += table[ids[n]]` when `accumulate` (to sum word,
/// position and token-type embeddings without a temporary).
///
/// - Parameters:
///   - out: `(N, C)`.
///   - ids: `(N)`, each in `0..<V` (a precondition: ids come from our tokenizer or our own
///     position/pooling arithmetic, so an out-of-range id is a bug, and it would read out of
///     bounds).
///   - table: `(V, C)`.
public func embeddingForward(
    out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: UnsafePointer<Float>,
    N: Int, V: Int, C: Int, accumulate: Bool = false
) {
    for n in 0..<N {
        let id = Int(ids[n])
        precondition(id >= 0 && id < V, "embedding: id \(id) out of 0..<\(V)")
        let src = table + id * C
        let dst = out + n * C
        if accumulate {
            for c in 0..<C { dst[c] += src[c] }
        } else {
            dst.update(from: src, count: C)
        }
    }
}

/// `dTable[ids[n]] += dOut[n]` for every n whose id is not `paddingIndex` (PyTorch
/// `nn.Embedding(padding_idx:)` never updates the padding row).
public func embeddingBackward(
    dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, ids: UnsafePointer<Int32>,
    N: Int, V: Int, C: Int, paddingIndex: Int? = nil
) {
    for n in 0..<N {
        let id = Int(ids[n])
        precondition(id >= 0 && id < V, "embedding: id \(id) out of 0..<\(V)")
        if id == paddingIndex { continue }
        let src = dOut + n * C
        let dst = dTable + id * C
        for c in 0..<C { dst[c] += src[c] }
    }
}
