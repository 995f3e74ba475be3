// Layer normalisation over the channel dimension (Ba et al. 2016; PyTorch `nn.LayerNorm` with a
// biased variance). Forward saves each row's mean and reciprocal std for backward.
//
// Dimensions: N rows, C channels.

/// `out = (input − μ) · rstd · weight + bias` per row, with `rstd = 1 / √(σ² + eps)`.
///
/// - Parameters:
///   - out: `(N, C)`, overwritten; may alias `input`.
///   - mean: `(N)`, saved for backward.
///   - rstd: `(N)`, saved for backward.
///   - input: `(N, C)`.
///   - weight: `(C)`; bias: `(C)`.
public func layerNormForward(
    out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
    rstd: UnsafeMutablePointer<Float>,
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    N: Int, C: Int, eps: Float
) {
    for n in 0..<N {
        let x = input + n * C
        let y = out + n * C
        // Two passes (mean, then squared deviations): no cancellation for rows far from zero.
        var sum: Float = 0
        for c in 0..<C { sum += x[c] }
        let m = sum / Float(C)
        var sq: Float = 0
        for c in 0..<C {
            let d = x[c] - m
            sq += d * d
        }
        let s = 1 / (sq / Float(C) + eps).squareRoot()
        for c in 0..<C { y[c] = (x[c] - m) * s * weight[c] + bias[c] }
        mean[n] = m
        rstd[n] = s
    }
}

/// Adds the gradients of `layerNormForward`.
///
/// With `x̂ = (x − μ)·rstd` and `g = dOut ⊙ weight`:
/// `dInput += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))`, `dWeight += Σₙ dOut ⊙ x̂`, `dBias += Σₙ dOut`.
///
/// - Parameters:
///   - dInput: `(N, C)`; dWeight, dBias: `(C)`.
///   - dOut: `(N, C)`; input: `(N, C)`; weight: `(C)`.
///   - mean, rstd: `(N)`, saved by forward.
public func layerNormBackward(
    dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
    dBias: UnsafeMutablePointer<Float>,
    dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    N: Int, C: Int
) {
    for n in 0..<N {
        let x = input + n * C
        let dy = dOut + n * C
        let dx = dInput + n * C
        let m = mean[n]
        let s = rstd[n]
        var meanG: Float = 0
        var meanGX: Float = 0
        for c in 0..<C {
            let xhat = (x[c] - m) * s
            let g = dy[c] * weight[c]
            meanG += g
            meanGX += g * xhat
        }
        meanG /= Float(C)
        meanGX /= Float(C)
        for c in 0..<C {
            let xhat = (x[c] - m) * s
            let g = dy[c] * weight[c]
            dx[c] += s * (g - meanG - xhat * meanGX)
            dWeight[c] += dy[c] * xhat
            dBias[c] += dy[c]
        }
    }
}
