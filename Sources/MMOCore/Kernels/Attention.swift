// Scaled dot-product multi-head attention over `(B, T, C)` activations (Vaswani et al. 2017):
// `softmax(Q Kᵀ / √HS + mask) V` per (batch, head), with dropout on the probabilities.
// Heads are interleaved as in Hugging Face: head h owns channels `h·HS ..< (h+1)·HS`, so a head
// is a strided sub-matrix (leading dimension C) and no transpose copies are needed.
//
// Dimensions: B batch, T tokens, C channels, NH heads, HS = C / NH head size.

/// `out = softmax(Q Kᵀ/√HS + mask) V` with optional dropout on the probabilities.
///
/// With `queries: R` each sequence has R query rows (default T, every token) against its T keys:
/// a classifier's last layer needs the attention of one token per sequence only (R = 1), and
/// its K and V of all T.
///
/// - Parameters:
///   - out: `(B, R, C)`, overwritten.
///   - probs: `(B, NH, R, T)`, the softmax output (before dropout), saved for backward.
///   - droppedProbs: `(B, NH, R, T)`, `probs ⊙ dropoutMask`, saved; nil when `dropout == 0`.
///   - dropoutMask: `(B, NH, R, T)`, 0 or `1/(1−dropout)`, saved; nil when `dropout == 0`.
///   - query: `(B, R, C)`; key, value: `(B, T, C)`.
///   - additiveMask: `(B, T)` key mask (see `paddingMaskForward`), or nil.
///   - causal: GPT-2's causal mask (query t sees keys ≤ t; needs R = T).
///   - dropout: probability of zeroing an attention probability (0 in eval).
///   - rng: the dropout stream; untouched when `dropout == 0`.
public func attentionForward(
    out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
    droppedProbs: UnsafeMutablePointer<Float>?, dropoutMask: UnsafeMutablePointer<Float>?,
    query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
    additiveMask: UnsafePointer<Float>?,
    B: Int, T: Int, C: Int, NH: Int, queries: Int? = nil, causal: Bool, dropout: Float, rng: inout PhiloxRNG
) {
    precondition(NH > 0 && C % NH == 0, "attention: C = \(C) is not a multiple of NH = \(NH)")
    let R = queries ?? T
    precondition(R >= 1 && R <= T && (!causal || R == T), "attention: \(R) query rows for \(T) keys (causal needs all)")
    let HS = C / NH
    let scale = 1 / Float(HS).squareRoot()
    let TT = R * T
    for b in 0..<B {
        let q = query + b * R * C
        let k = key + b * T * C
        let att = probs + b * NH * TT
        // scores[h] = scale · Q_h K_hᵀ, (R, T) per head; head h starts at channel h·HS.
        BLAS.gemmBatched(
            batch: NH, transA: false, transB: true, m: R, n: T, k: HS, alpha: scale,
            a: q, lda: C, strideA: HS, b: k, ldb: C, strideB: HS,
            beta: 0, c: att, ldc: T, strideC: TT)
        let mask = additiveMask.map { $0 + b * T }
        for h in 0..<NH {
            softmaxForward(out: att + h * TT, input: att + h * TT, additiveMask: mask, R: R, N: T, causal: causal)
        }
    }
    var used = UnsafePointer(probs)
    if dropout > 0 {
        guard let droppedProbs, let dropoutMask else {
            preconditionFailure("attention: dropout > 0 needs droppedProbs and dropoutMask buffers")
        }
        dropoutForward(out: droppedProbs, mask: dropoutMask, input: probs, N: B * NH * TT, probability: dropout, rng: &rng)
        used = UnsafePointer(droppedProbs)
    }
    for b in 0..<B {
        // out_h = P_h V_h, (R, HS) per head, written into channels h·HS..<(h+1)·HS.
        BLAS.gemmBatched(
            batch: NH, transA: false, transB: false, m: R, n: HS, k: T, alpha: 1,
            a: used + b * NH * TT, lda: T, strideA: TT, b: value + b * T * C, ldb: C, strideB: HS,
            beta: 0, c: out + b * R * C, ldc: C, strideC: HS)
    }
}

/// Adds the gradients of `attentionForward` into `dQuery`, `dKey` and `dValue`.
///
/// With `P̃` the dropped probabilities: `dV += P̃ᵀ dOut`, `dP̃ = dOut Vᵀ`, `dP = dP̃ ⊙ mask`,
/// `dS = P ⊙ (dP − Σ P ⊙ dP)`, `dQ += scale · dS K`, `dK += scale · dSᵀ Q`.
///
/// - Parameters:
///   - dQuery: `(B, R, C)`; dKey, dValue: `(B, T, C)`; accumulated.
///   - scratch: `(B, NH, R, T)`, overwritten (holds dP, then dS).
///   - dOut: `(B, R, C)`.
///   - probs, droppedProbs, dropoutMask: as saved by forward (the last two nil without dropout).
///   - query, key, value: as passed to forward, with the same `queries` (R, default T).
public func attentionBackward(
    dQuery: UnsafeMutablePointer<Float>, dKey: UnsafeMutablePointer<Float>,
    dValue: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    dOut: UnsafePointer<Float>, probs: UnsafePointer<Float>,
    droppedProbs: UnsafePointer<Float>?, dropoutMask: UnsafePointer<Float>?,
    query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
    B: Int, T: Int, C: Int, NH: Int, queries: Int? = nil
) {
    precondition(NH > 0 && C % NH == 0, "attention: C = \(C) is not a multiple of NH = \(NH)")
    precondition((droppedProbs == nil) == (dropoutMask == nil), "attention: droppedProbs and dropoutMask go together")
    let R = queries ?? T
    precondition(R >= 1 && R <= T, "attention: \(R) query rows for \(T) keys")
    let HS = C / NH
    let scale = 1 / Float(HS).squareRoot()
    let TT = R * T
    let used = droppedProbs ?? probs
    for b in 0..<B {
        let dO = dOut + b * R * C
        let dP = scratch + b * NH * TT
        // dV_h += P̃_hᵀ dOut_h
        BLAS.gemmBatched(
            batch: NH, transA: true, transB: false, m: T, n: HS, k: R, alpha: 1,
            a: used + b * NH * TT, lda: T, strideA: TT, b: dO, ldb: C, strideB: HS,
            beta: 1, c: dValue + b * T * C, ldc: C, strideC: HS)
        // dP̃_h = dOut_h V_hᵀ
        BLAS.gemmBatched(
            batch: NH, transA: false, transB: true, m: R, n: T, k: HS, alpha: 1,
            a: dO, lda: C, strideA: HS, b: value + b * T * C, ldb: C, strideB: HS,
            beta: 0, c: dP, ldc: T, strideC: TT)
        // Through dropout and softmax, in place: dS = P ⊙ (dP − Σ_c P ⊙ dP) per row.
        let p = probs + b * NH * TT
        let m = dropoutMask.map { $0 + b * NH * TT }
        for r in 0..<(NH * R) {
            let pr = p + r * T
            let dr = dP + r * T
            if let m {
                let mr = m + r * T
                for c in 0..<T { dr[c] *= mr[c] }
            }
            var dot: Float = 0
            for c in 0..<T { dot += pr[c] * dr[c] }
            for c in 0..<T { dr[c] = pr[c] * (dr[c] - dot) }
        }
        // dQ_h += scale · dS_h K_h ; dK_h += scale · dS_hᵀ Q_h
        BLAS.gemmBatched(
            batch: NH, transA: false, transB: false, m: R, n: HS, k: T, alpha: scale,
            a: dP, lda: T, strideA: TT, b: key + b * T * C, ldb: C, strideB: HS,
            beta: 1, c: dQuery + b * R * C, ldc: C, strideC: HS)
        BLAS.gemmBatched(
            batch: NH, transA: true, transB: false, m: T, n: HS, k: R, alpha: scale,
            a: dP, lda: T, strideA: TT, b: query + b * R * C, ldb: C, strideB: HS,
            beta: 1, c: dKey + b * T * C, ldc: C, strideC: HS)
    }
}
