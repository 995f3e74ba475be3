// Row softmax with Hugging Face's masks: an additive key mask (0 for real tokens, a huge negative
// for padding, broadcast over rows) and an optional causal mask (row r sees columns ≤ r).
//
// Dimensions: R rows (queries), N columns (keys).

/// The additive mask value of a padding key: Hugging Face adds `torch.finfo(float32).min`, so a
/// padded score becomes (about) that value and its probability is exactly 0.
public let maskedScore: Float = -Float.greatestFiniteMagnitude

/// Writes the additive key mask of a right-padded batch: `mask[b, t] = 0` for `t < lengths[b]`,
/// `maskedScore` otherwise. `mask` is `(B, T)`.
public func paddingMaskForward(
    mask: UnsafeMutablePointer<Float>, lengths: UnsafePointer<Int32>, B: Int, T: Int
) {
    for b in 0..<B {
        let length = Int(lengths[b])
        for t in 0..<T { mask[b * T + t] = t < length ? 0 : maskedScore }
    }
}

/// `out[r] = softmax(input[r] + additiveMask)` over the allowed columns; columns a causal mask
/// hides (`c > r + N − R`) get probability 0 (as `torch.where(causal, s, min)` gives).
///
/// - Parameters:
///   - out: `(R, N)`, overwritten; may alias `input`.
///   - input: `(R, N)` scores.
///   - additiveMask: `(N)`, added to every row, or nil.
///   - causal: hide columns to the right of the diagonal (aligned at the last column).
public func softmaxForward(
    out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
    additiveMask: UnsafePointer<Float>?, R: Int, N: Int, causal: Bool
) {
    for r in 0..<R {
        let x = input + r * N
        let y = out + r * N
        let visible = causal ? min(N, r + N - R + 1) : N
        var maxValue = -Float.infinity
        if let additiveMask {
            for c in 0..<visible {
                let v = x[c] + additiveMask[c]
                y[c] = v
                maxValue = max(maxValue, v)
            }
        } else {
            for c in 0..<visible {
                y[c] = x[c]
                maxValue = max(maxValue, x[c])
            }
        }
        for c in 0..<visible { y[c] = fastExp(y[c] - maxValue) }  // vectorised
        var sum: Float = 0
        for c in 0..<visible { sum += y[c] }
        let inv = 1 / sum
        for c in 0..<visible { y[c] *= inv }
        for c in visible..<N { y[c] = 0 }
    }
}

/// `dInput += P ⊙ (dOut − Σ_c P ⊙ dOut)` per row, from the forward output `P`. Masked columns
/// have `P = 0` and receive no gradient.
///
/// - Parameters:
///   - dInput: `(R, N)`, must not alias `dOut`.
///   - dOut: `(R, N)`; probs: `(R, N)`.
public func softmaxBackward(
    dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, probs: UnsafePointer<Float>,
    R: Int, N: Int
) {
    for r in 0..<R {
        let p = probs + r * N
        let dy = dOut + r * N
        let dx = dInput + r * N
        var dot: Float = 0
        for c in 0..<N { dot += p[c] * dy[c] }
        for c in 0..<N { dx[c] += p[c] * (dy[c] - dot) }
    }
}
