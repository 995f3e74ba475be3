// Fully connected layer `out = input · weightᵀ + bias` as a forward/backward pair. Weights are
// `[out, in]` (PyTorch `nn.Linear`); every product goes through `BLAS.gemm`; nothing allocates.
//
// Dimensions: N rows (B·T tokens, or B pooled vectors), IC input channels, OC output channels.

/// `out = input · weightᵀ + bias`.
///
/// - Parameters:
///   - out: `(N, OC)`, overwritten.
///   - input: `(N, IC)`.
///   - weight: `(OC, IC)`.
///   - bias: `(OC)`, or nil for a layer without bias (GPT-2's `score`).
public func linearForward(
    out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
    weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    N: Int, IC: Int, OC: Int
) {
    // Seed `out` with the bias rows so that one gemm with beta = 1 adds the product.
    let beta: Float
    if let bias {
        for n in 0..<N { (out + n * OC).update(from: bias, count: OC) }
        beta = 1
    } else {
        beta = 0
    }
    BLAS.gemm(
        transA: false, transB: true, m: N, n: OC, k: IC, alpha: 1, a: input, lda: IC,
        b: weight, ldb: IC, beta: beta, c: out, ldc: OC)
}

/// Adds the gradients of `linearForward` into `dInput`, `dWeight` and `dBias`.
///
/// `dInput += dOut · weight`, `dWeight += dOutᵀ · input`, `dBias += Σₙ dOut[n]`.
///
/// - Parameters:
///   - dInput: `(N, IC)`, or nil when the input needs no gradient (token embeddings' inputs).
///   - dWeight: `(OC, IC)`.
///   - dBias: `(OC)`, or nil for a layer without bias.
///   - dOut: `(N, OC)`.
///   - input: `(N, IC)`, as passed to forward.
///   - weight: `(OC, IC)`.
public func linearBackward(
    dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
    dBias: UnsafeMutablePointer<Float>?,
    dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    N: Int, IC: Int, OC: Int
) {
    if let dInput {
        BLAS.gemm(
            transA: false, transB: false, m: N, n: IC, k: OC, alpha: 1, a: dOut, lda: OC,
            b: weight, ldb: IC, beta: 1, c: dInput, ldc: IC)
    }
    BLAS.gemm(
        transA: true, transB: false, m: OC, n: IC, k: N, alpha: 1, a: dOut, lda: OC,
        b: input, ldb: IC, beta: 1, c: dWeight, ldc: IC)
    if let dBias {
        for n in 0..<N {
            let row = dOut + n * OC
            for o in 0..<OC { dBias[o] += row[o] }
        }
    }
}
