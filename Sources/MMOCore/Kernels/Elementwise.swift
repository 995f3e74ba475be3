// Dropout with a seeded mask and the residual add, as forward/backward pairs. N elements each.

/// Inverted dropout: `mask[i] = 0` with probability `p`, else `1/(1−p)`; `out = input ⊙ mask`.
/// Draws exactly N uniforms from `rng` (one per element, in order), so the stream position after
/// a forward depends only on N. With `p == 0` copies (if not in place) and draws nothing.
///
/// - Parameters:
///   - out: `(N)`, may alias `input`.
///   - mask: `(N)`, saved for backward; may be nil when `p == 0` (then it is not touched).
public func dropoutForward(
    out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>?, input: UnsafePointer<Float>,
    N: Int, probability p: Float, rng: inout PhiloxRNG
) {
    precondition(p >= 0 && p < 1, "dropout probability \(p) must be in [0, 1)")
    if p == 0 {
        if UnsafePointer(out) != input { out.update(from: input, count: N) }
        return
    }
    guard let mask else { preconditionFailure("dropout probability \(p) needs a mask buffer") }
    let keep = 1 / (1 - p)
    rng.fillUniform(mask, count: N)
    for i in 0..<N {  // vectorised
        let m: Float = mask[i] < p ? 0 : keep
        mask[i] = m
        out[i] = input[i] * m
    }
}

/// `dInput += dOut ⊙ mask` (with `p == 0`: `dInput += dOut`, and `mask` may be nil).
public func dropoutBackward(
    dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
    N: Int, probability p: Float
) {
    if p == 0 {
        for i in 0..<N { dInput[i] += dOut[i] }
    } else {
        guard let mask else { preconditionFailure("dropout probability \(p) needs its mask") }
        for i in 0..<N { dInput[i] += dOut[i] * mask[i] }
    }
}

/// `out = a + b`; `out` may alias either input.
public func residualForward(
    out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, N: Int
) {
    for i in 0..<N { out[i] = a[i] + b[i] }
}

/// `dA += dOut`, `dB += dOut`.
public func residualBackward(
    dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
    N: Int
) {
    for i in 0..<N {
        dA[i] += dOut[i]
        dB[i] += dOut[i]
    }
}
