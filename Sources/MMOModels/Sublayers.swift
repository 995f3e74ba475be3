// The two sublayers every family shares, as forward/backward pairs over a `ParameterStore`:
// self-attention (Q/K/V projections → attention → output projection → dropout) and the
// feed-forward block (dense → GELU → dense → dropout). Families differ only in how they wrap
// these with residual adds and LayerNorms (post-LN BERT/RoBERTa, pre-LN GPT-2).
//
// Dimensions: B batch, T tokens, C hidden, NH heads, I intermediate; BT = B·T.
import Foundation
import MMOCore

/// The active shape of one forward/backward.
struct Dims {
    let B: Int, T: Int, C: Int, NH: Int, I: Int
    var BT: Int { B * T }
    /// One row per sequence (`T = 1`): the shape of a classifier's last layer after attention.
    var rowPerSequence: Dims { Dims(B: B, T: 1, C: C, NH: NH, I: I) }
}

/// Dropout probabilities in effect for one forward (all 0 in eval); backward uses the same.
struct DropoutRates {
    var hidden: Float
    var attention: Float
    static let off = DropoutRates(hidden: 0, attention: 0)
}

/// The shape and dropout rates of a forward of `config`'s model on `batch` (every model's
/// forward starts with these; the sequence must fit the position table).
func forwardShape(_ batch: TokenBatch, config: ModelConfig, training: Bool) -> (Dims, DropoutRates) {
    let B = batch.batchSize, T = batch.sequenceLength
    precondition(T <= config.maxSequenceLength, "sequence length \(T) exceeds the model's \(config.maxSequenceLength)")
    let d = Dims(B: B, T: T, C: config.hiddenSize, NH: config.numHeads, I: config.intermediateSize)
    return (d, training ? DropoutRates(hidden: config.hiddenDropout, attention: config.attentionDropout) : .off)
}

extension Workspace {
    /// The start of every model's forward: `batch`'s shape and dropout rates (`forwardShape`) and
    /// the layout for that shape (grown if needed).
    func begin(_ batch: TokenBatch, config: ModelConfig, training: Bool) -> (Layout, Dims, DropoutRates) {
        let (d, r) = forwardShape(batch, config: config, training: training)
        return (reserve(batchSize: d.B, sequenceLength: d.T), d, r)
    }
}

@inline(__always)
func zero(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    memset(p, 0, count * MemoryLayout<Float>.stride)
}

/// `linearForward` with a registered layer's weight and bias.
@inline(__always)
func linear(
    _ p: LinearParameters, out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, store: ParameterStore,
    N: Int, IC: Int, OC: Int
) {
    let bias: UnsafeMutablePointer<Float>? = if let b = p.bias { store.value(b) } else { nil }
    linearForward(out: out, input: input, weight: store.value(p.weight), bias: bias, N: N, IC: IC, OC: OC)
}

/// `linearBackward` into a registered layer's gradients (and `dInput` if given).
@inline(__always)
func linearGradient(
    _ p: LinearParameters, dInput: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
    input: UnsafePointer<Float>, store: ParameterStore, N: Int, IC: Int, OC: Int
) {
    let dBias: UnsafeMutablePointer<Float>? = if let b = p.bias { store.gradient(b) } else { nil }
    linearBackward(
        dInput: dInput, dWeight: store.gradient(p.weight), dBias: dBias, dOut: dOut, input: input,
        weight: store.value(p.weight), N: N, IC: IC, OC: OC)
}

/// `layerNormForward` with a registered LayerNorm.
@inline(__always)
func layerNorm(
    _ p: NormParameters, out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
    rstd: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, store: ParameterStore, N: Int, C: Int, eps: Float
) {
    layerNormForward(
        out: out, mean: mean, rstd: rstd, input: input, weight: store.value(p.weight), bias: store.value(p.bias),
        N: N, C: C, eps: eps)
}

/// `layerNormBackward` into a registered LayerNorm's gradients.
@inline(__always)
func layerNormGradient(
    _ p: NormParameters, dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, store: ParameterStore, N: Int, C: Int
) {
    layerNormBackward(
        dInput: dInput, dWeight: store.gradient(p.weight), dBias: store.gradient(p.bias), dOut: dOut, input: input,
        weight: store.value(p.weight), mean: mean, rstd: rstd, N: N, C: C)
}

/// What forward saves of one LayerNorm (its input is saved by whoever produced it).
struct NormSaved {
    let out: UnsafeMutablePointer<Float>  // (BT, C)
    let mean, rstd: UnsafeMutablePointer<Float>  // (BT)

    init(arena: inout ActivationArena, rows: Int, C: Int) {
        out = arena.floats(rows * C)
        mean = arena.floats(rows)
        rstd = arena.floats(rows)
    }
}

/// Gradient scratch shared by all layers of a model (nothing here outlives one backward step).
struct BackwardScratch {
    /// `(BT, C)` buffers.
    let a, b, c, d, e, f: UnsafeMutablePointer<Float>
    /// `(BT, I)` buffers.
    let wideA, wideB: UnsafeMutablePointer<Float>
    /// `(B, NH, T, T)`.
    let attention: UnsafeMutablePointer<Float>

    init(arena: inout ActivationArena, B: Int, T: Int, C: Int, NH: Int, I: Int) {
        let n = B * T * C
        a = arena.floats(n); b = arena.floats(n); c = arena.floats(n)
        d = arena.floats(n); e = arena.floats(n); f = arena.floats(n)
        wideA = arena.floats(B * T * I); wideB = arena.floats(B * T * I)
        attention = arena.floats(B * NH * T * T)
    }
}

/// Applies inverted dropout in place on `x` (`N` elements) when `p > 0`.
@inline(__always)
func dropoutInPlace(_ x: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>?, N: Int, p: Float, rng: inout PhiloxRNG) {
    guard p > 0 else { return }
    dropoutForward(out: x, mask: mask, input: x, N: N, probability: p, rng: &rng)
}

/// The gradient before an in-place dropout: `dOut ⊙ mask` in `scratch`, or `dOut` itself.
@inline(__always)
func throughDropout(
    _ dOut: UnsafePointer<Float>, mask: UnsafeMutablePointer<Float>?, N: Int, p: Float,
    scratch: UnsafeMutablePointer<Float>
) -> UnsafePointer<Float> {
    guard p > 0 else { return dOut }
    zero(scratch, N)
    dropoutBackward(dInput: scratch, dOut: dOut, mask: mask, N: N, probability: p)
    return UnsafePointer(scratch)
}

// MARK: - Self-attention

/// Q/K/V projections, scaled dot-product attention, output projection, dropout.
struct AttentionSublayer {
    let query, key, value, output: LinearParameters

    /// What forward saves for backward, per layer.
    struct Saved {
        let q, k, v, context, out: UnsafeMutablePointer<Float>  // (BT, C)
        let probs: UnsafeMutablePointer<Float>  // (B, NH, T, T)
        let droppedProbs, probsMask: UnsafeMutablePointer<Float>?  // (B, NH, T, T), attention dropout
        let outMask: UnsafeMutablePointer<Float>?  // (BT, C), hidden dropout

        init(arena: inout ActivationArena, B: Int, T: Int, C: Int, NH: Int, config: ModelConfig) {
            let n = B * T * C, att = B * NH * T * T
            q = arena.floats(n); k = arena.floats(n); v = arena.floats(n)
            context = arena.floats(n); out = arena.floats(n)
            probs = arena.floats(att)
            droppedProbs = arena.floats(att, if: config.attentionDropout > 0)
            probsMask = arena.floats(att, if: config.attentionDropout > 0)
            outMask = arena.floats(n, if: config.hiddenDropout > 0)
        }
    }

    /// `saved.out = dropout(Wo · attention(Wq x, Wk x, Wv x) + bo)`; `input` is `(BT, C)`.
    func forward(
        input: UnsafePointer<Float>, saved s: Saved, store: ParameterStore, dims d: Dims,
        mask: UnsafePointer<Float>, causal: Bool, dropout: DropoutRates, rng: inout PhiloxRNG
    ) {
        linear(query, out: s.q, input: input, store: store, N: d.BT, IC: d.C, OC: d.C)
        linear(key, out: s.k, input: input, store: store, N: d.BT, IC: d.C, OC: d.C)
        linear(value, out: s.v, input: input, store: store, N: d.BT, IC: d.C, OC: d.C)
        let on = dropout.attention > 0
        attentionForward(
            out: s.context, probs: s.probs, droppedProbs: on ? s.droppedProbs : nil, dropoutMask: on ? s.probsMask : nil,
            query: s.q, key: s.k, value: s.v, additiveMask: mask, B: d.B, T: d.T, C: d.C, NH: d.NH, causal: causal,
            dropout: dropout.attention, rng: &rng)
        linear(output, out: s.out, input: s.context, store: store, N: d.BT, IC: d.C, OC: d.C)
        dropoutInPlace(s.out, mask: s.outMask, N: d.BT * d.C, p: dropout.hidden, rng: &rng)
    }

    /// Adds the gradients w.r.t. the parameters and `dInput` (`(BT, C)`) given `dOut`.
    /// Uses scratch `a…e` and `attention`.
    func backward(
        dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
        saved s: Saved, store: ParameterStore, dims d: Dims, dropout: DropoutRates, scratch x: BackwardScratch
    ) {
        backward(
            queries: d.T, dInput: dInput, dQueryInput: dInput, dOut: dOut, input: input, queryInput: input, saved: s,
            store: store, dims: d, dropout: dropout, scratch: x)
    }

    /// The backward of `queries` query rows per sequence (T, or 1 for `forwardRows`): the K and V
    /// paths add into `dInput` `(BT, C)`, the query path into `dQueryInput` `(B·queries, C)`.
    private func backward(
        queries R: Int, dInput: UnsafeMutablePointer<Float>, dQueryInput: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, queryInput: UnsafePointer<Float>, saved s: Saved,
        store: ParameterStore, dims d: Dims, dropout: DropoutRates, scratch x: BackwardScratch
    ) {
        let rows = d.B * R, n = rows * d.C, all = d.BT * d.C
        let dPre = throughDropout(dOut, mask: s.outMask, N: n, p: dropout.hidden, scratch: x.a)
        zero(x.b, n)
        linearGradient(output, dInput: x.b, dOut: dPre, input: s.context, store: store, N: rows, IC: d.C, OC: d.C)
        zero(x.c, n); zero(x.d, all); zero(x.e, all)
        let on = dropout.attention > 0
        attentionBackward(
            dQuery: x.c, dKey: x.d, dValue: x.e, scratch: x.attention, dOut: x.b, probs: s.probs,
            droppedProbs: on ? s.droppedProbs : nil, dropoutMask: on ? s.probsMask : nil,
            query: s.q, key: s.k, value: s.v, B: d.B, T: d.T, C: d.C, NH: d.NH, queries: R)
        linearGradient(query, dInput: dQueryInput, dOut: x.c, input: queryInput, store: store, N: rows, IC: d.C, OC: d.C)
        linearGradient(key, dInput: dInput, dOut: x.d, input: input, store: store, N: d.BT, IC: d.C, OC: d.C)
        linearGradient(value, dInput: dInput, dOut: x.e, input: input, store: store, N: d.BT, IC: d.C, OC: d.C)
    }

    /// A classifier's last layer: K and V of all `BT` rows of `input`, the queries, attention,
    /// output projection and dropout for the `B` rows `rows` (one per sequence, the row the head
    /// reads) only; nothing else of the layer reaches the loss. `rowsInput` `(B, C)` receives
    /// those rows of `input`; `saved.q`, `context` and `out` hold `(B, C)`, `probs` `(B, NH, 1, T)`.
    /// The query row sees the keys the padding mask leaves, which for GPT-2's last real token
    /// (right padding) are exactly the keys the causal mask leaves.
    func forwardRows(
        input: UnsafePointer<Float>, rows: UnsafePointer<Int32>, rowsInput: UnsafeMutablePointer<Float>, saved s: Saved,
        store: ParameterStore, dims d: Dims, mask: UnsafePointer<Float>, dropout: DropoutRates, rng: inout PhiloxRNG
    ) {
        linear(key, out: s.k, input: input, store: store, N: d.BT, IC: d.C, OC: d.C)
        linear(value, out: s.v, input: input, store: store, N: d.BT, IC: d.C, OC: d.C)
        embeddingForward(out: rowsInput, ids: rows, table: input, N: d.B, V: d.BT, C: d.C)
        linear(query, out: s.q, input: rowsInput, store: store, N: d.B, IC: d.C, OC: d.C)
        let on = dropout.attention > 0
        attentionForward(
            out: s.context, probs: s.probs, droppedProbs: on ? s.droppedProbs : nil, dropoutMask: on ? s.probsMask : nil,
            query: s.q, key: s.k, value: s.v, additiveMask: mask, B: d.B, T: d.T, C: d.C, NH: d.NH, queries: 1,
            causal: false, dropout: dropout.attention, rng: &rng)
        linear(output, out: s.out, input: s.context, store: store, N: d.B, IC: d.C, OC: d.C)
        dropoutInPlace(s.out, mask: s.outMask, N: d.B * d.C, p: dropout.hidden, rng: &rng)
    }

    /// The gradients of `forwardRows` given `dOut` `(B, C)`: the K and V paths add into `dInput`
    /// `(BT, C)`, the query path into `dRows` `(B, C)` (the caller adds those rows into
    /// `dInput`). Uses scratch `a…e` and `attention`.
    func backwardRows(
        dInput: UnsafeMutablePointer<Float>, dRows: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        input: UnsafePointer<Float>, rowsInput: UnsafePointer<Float>, saved s: Saved, store: ParameterStore, dims d: Dims,
        dropout: DropoutRates, scratch x: BackwardScratch
    ) {
        backward(
            queries: 1, dInput: dInput, dQueryInput: dRows, dOut: dOut, input: input, queryInput: rowsInput, saved: s,
            store: store, dims: d, dropout: dropout, scratch: x)
    }
}

// MARK: - Feed-forward

/// `dropout(W2 · GELU(W1 x + b1) + b2)`.
struct FeedForwardSublayer {
    let inner, outer: LinearParameters
    let approximation: GELUApproximation

    /// What forward saves for backward, per layer.
    struct Saved {
        /// `W1 x + b1`, then (after the GELU) GELU′ of it: all backward needs of it.
        let preActivation: UnsafeMutablePointer<Float>  // (BT, I)
        let activation: UnsafeMutablePointer<Float>  // (BT, I)
        let out: UnsafeMutablePointer<Float>  // (BT, C)
        let outMask: UnsafeMutablePointer<Float>?  // (BT, C)

        init(arena: inout ActivationArena, B: Int, T: Int, C: Int, I: Int, config: ModelConfig) {
            preActivation = arena.floats(B * T * I); activation = arena.floats(B * T * I)
            out = arena.floats(B * T * C)
            outMask = arena.floats(B * T * C, if: config.hiddenDropout > 0)
        }
    }

    func forward(
        input: UnsafePointer<Float>, saved s: Saved, store: ParameterStore, dims d: Dims,
        dropout: DropoutRates, rng: inout PhiloxRNG
    ) {
        linear(inner, out: s.preActivation, input: input, store: store, N: d.BT, IC: d.C, OC: d.I)
        geluForward(out: s.activation, inputToDerivative: s.preActivation, N: d.BT * d.I, approximation: approximation)
        linear(outer, out: s.out, input: s.activation, store: store, N: d.BT, IC: d.I, OC: d.C)
        dropoutInPlace(s.out, mask: s.outMask, N: d.BT * d.C, p: dropout.hidden, rng: &rng)
    }

    /// Adds the gradients w.r.t. the parameters and `dInput` given `dOut`. Uses scratch `a`,
    /// `wideA`, `wideB`.
    func backward(
        dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
        saved s: Saved, store: ParameterStore, dims d: Dims, dropout: DropoutRates, scratch x: BackwardScratch
    ) {
        let dPre = throughDropout(dOut, mask: s.outMask, N: d.BT * d.C, p: dropout.hidden, scratch: x.a)
        let wide = d.BT * d.I
        zero(x.wideA, wide)
        linearGradient(outer, dInput: x.wideA, dOut: dPre, input: s.activation, store: store, N: d.BT, IC: d.I, OC: d.C)
        geluBackward(dInput: x.wideB, dOut: x.wideA, derivative: s.preActivation, N: wide)
        linearGradient(inner, dInput: dInput, dOut: x.wideB, input: input, store: store, N: d.BT, IC: d.C, OC: d.I)
    }
}
