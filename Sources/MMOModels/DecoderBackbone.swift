// The GPT-2 decoder without a head (Hugging Face `GPT2Model`): token + position embeddings →
// dropout; pre-LN blocks (x ← x + Attn(ln_1 x), causal; x ← x + FFN(ln_2 x), GELU tanh); ln_f.
// The sequence classifier and the LM head model put their heads on it and register its tensors
// under the same names first. Conv1D weights are kept `[out, in]` and c_attn as three tensors;
// export restores HF's layout.
//
// Dimensions: B batch, T tokens, C hidden, I intermediate, NH heads; BT = B·T.
import MMOCore

/// One pre-LN GPT-2 block's parameters.
struct DecoderBlock {
    let attentionNorm: NormParameters
    let attention: AttentionSublayer
    let feedForwardNorm: NormParameters
    let feedForward: FeedForwardSublayer
}

/// What the decoder's forward saves and its backward needs, for a maximum `(B, T)`.
struct DecoderBackboneLayout {
    struct Block {
        let norm1: NormSaved  // ln_1(x)
        let attention: AttentionSublayer.Saved
        let residual1: UnsafeMutablePointer<Float>  // (BT, C) x + attn
        let norm2: NormSaved  // ln_2(residual1)
        let feedForward: FeedForwardSublayer.Saved
        let residual2: UnsafeMutablePointer<Float>  // (BT, C) block output
    }
    let ids, positions: UnsafeMutablePointer<Int32>  // (BT)
    let mask: UnsafeMutablePointer<Float>  // (B, T) additive key mask
    let embedding: UnsafeMutablePointer<Float>  // (BT, C) wte + wpe, dropped in place
    let embeddingMask: UnsafeMutablePointer<Float>?  // (BT, C)
    let blocks: [Block]
    let final: NormSaved  // ln_f: the decoder output
    // Backward only.
    let scratch: BackwardScratch
    let dHidden: UnsafeMutablePointer<Float>  // (BT, C)
    /// `(BT, C)`: the head writes the gradient w.r.t. the decoder output (ln_f's output) here,
    /// after zeroing it; backward then uses it as scratch.
    let dOutput: UnsafeMutablePointer<Float>
    /// `(B, C)`: a classifier's last layer on its pooled rows (`DecoderBackbone.forward(rows:)`):
    /// those rows of the block input and of ln_1's output, and the query path's gradient.
    let rowsInput, rowsNormed, dRows: UnsafeMutablePointer<Float>

    init(arena a: inout ActivationArena, B: Int, T: Int, config: ModelConfig) {
        let C = config.hiddenSize, I = config.intermediateSize, NH = config.numHeads
        let BT = B * T
        ids = a.ints(BT); positions = a.ints(BT)
        mask = a.floats(B * T)
        embedding = a.floats(BT * C)
        embeddingMask = a.floats(BT * C, if: config.hiddenDropout > 0)
        var blocks: [Block] = []
        for _ in 0..<config.numLayers {
            blocks.append(Block(
                norm1: NormSaved(arena: &a, rows: BT, C: C),
                attention: .init(arena: &a, B: B, T: T, C: C, NH: NH, config: config),
                residual1: a.floats(BT * C),
                norm2: NormSaved(arena: &a, rows: BT, C: C),
                feedForward: .init(arena: &a, B: B, T: T, C: C, I: I, config: config),
                residual2: a.floats(BT * C)))
        }
        self.blocks = blocks
        final = NormSaved(arena: &a, rows: BT, C: C)
        scratch = BackwardScratch(arena: &a, B: B, T: T, C: C, NH: NH, I: I)
        dHidden = a.floats(BT * C); dOutput = a.floats(BT * C)
        rowsInput = a.floats(B * C); rowsNormed = a.floats(B * C); dRows = a.floats(B * C)
    }
}

/// The decoder's tensors (indices into the model's store) and its forward/backward.
struct DecoderBackbone {
    let tokenEmbeddings, positionEmbeddings: Int
    let blocks: [DecoderBlock]
    let finalNorm: NormParameters

    /// Registers the decoder's tensors in Hugging Face's `named_parameters` order (the same for
    /// every head), with GPT-2's residual-projection init scaling.
    static func register(_ r: inout ParameterRegistry, config: ModelConfig) -> DecoderBackbone {
        let C = config.hiddenSize, I = config.intermediateSize
        let residualStd = config.initializerRange / Float(2 * config.numLayers).squareRoot()
        let tokenEmbeddings = r.embedding("transformer.wte.weight", rows: config.vocabSize, channels: C, role: "embedding.word")
        let positionEmbeddings = r.embedding("transformer.wpe.weight", rows: config.maxPositions, channels: C, role: "embedding.position")
        var blocks: [DecoderBlock] = []
        for l in 0..<config.numLayers {
            let p = "transformer.h.\(l)"
            let n1 = r.norm("\(p).ln_1", channels: C, role: "norm.attention", block: l)
            // c_attn split in Hugging Face's order once fused: q, k, v weights, then q, k, v biases.
            let weights = ["q", "k", "v"].map { part in
                r.add(
                    "\(p).attn.c_attn.\(part).weight", [C, C], kind: .attention, role: "attention.\(qkvRole(part)).weight",
                    block: l, weightDecay: true, initial: .normal(std: config.initializerRange))
            }
            let biases = ["q", "k", "v"].map { part in
                r.add(
                    "\(p).attn.c_attn.\(part).bias", [C], kind: .attention, role: "attention.\(qkvRole(part)).bias",
                    block: l, weightDecay: false, initial: .zeros)
            }
            let o = r.linear("\(p).attn.c_proj", out: C, in: C, kind: .attention, role: "attention.output", block: l, weightStd: residualStd)
            let n2 = r.norm("\(p).ln_2", channels: C, role: "norm.ffn", block: l)
            let fi = r.linear("\(p).mlp.c_fc", out: I, in: C, kind: .ffn, role: "ffn.in", block: l)
            let fo = r.linear("\(p).mlp.c_proj", out: C, in: I, kind: .ffn, role: "ffn.out", block: l, weightStd: residualStd)
            let attention = AttentionSublayer(
                query: LinearParameters(weight: weights[0], bias: biases[0]),
                key: LinearParameters(weight: weights[1], bias: biases[1]),
                value: LinearParameters(weight: weights[2], bias: biases[2]), output: o)
            blocks.append(DecoderBlock(
                attentionNorm: n1, attention: attention, feedForwardNorm: n2,
                feedForward: FeedForwardSublayer(inner: fi, outer: fo, approximation: .tanh)))
        }
        let finalNorm = r.norm("transformer.ln_f", channels: C, role: "norm.final", block: nil)
        return DecoderBackbone(tokenEmbeddings: tokenEmbeddings, positionEmbeddings: positionEmbeddings, blocks: blocks, finalNorm: finalNorm)
    }

    private static func qkvRole(_ part: String) -> String {
        switch part {
        case "q": return "query"
        case "k": return "key"
        default: return "value"
        }
    }

    /// Runs the decoder on `batch`; returns ln_f's output `(BT, C)`.
    ///
    /// With `rows` (B row indices, one per sequence: the last real token a classifier scores)
    /// the last block runs ln_1, K and V on every row and everything else, ln_f included, on
    /// those rows only; the output is then `(B, C)` (see `EncoderBackbone.forward`). The query
    /// of the last real token sees the keys up to itself, which the padding mask gives.
    func forward(
        _ batch: TokenBatch, layout L: DecoderBackboneLayout, store: ParameterStore, config: ModelConfig, dims d: Dims,
        rates: DropoutRates, rng: inout PhiloxRNG, rows: UnsafePointer<Int32>? = nil
    ) -> UnsafePointer<Float> {
        let (B, T, C, BT, eps) = (d.B, d.T, d.C, d.BT, config.layerNormEps)
        // Inputs: positions 0..<T (right padding).
        L.ids.update(from: batch.inputIDs, count: BT)
        for b in 0..<B {
            let length = Int(batch.lengths[b])
            precondition(length >= 1 && length <= T, "sequence \(b) has length \(length), not in 1...\(T)")
            for t in 0..<T { L.positions[b * T + t] = Int32(t) }
        }
        paddingMaskForward(mask: L.mask, lengths: batch.lengths, B: B, T: T)

        embeddingForward(out: L.embedding, ids: L.ids, table: store.value(tokenEmbeddings), N: BT, V: config.vocabSize, C: C)
        embeddingForward(out: L.embedding, ids: L.positions, table: store.value(positionEmbeddings), N: BT, V: config.maxPositions, C: C, accumulate: true)
        dropoutInPlace(L.embedding, mask: L.embeddingMask, N: BT * C, p: rates.hidden, rng: &rng)

        var x = UnsafePointer(L.embedding)
        for l in 0..<(rows == nil ? blocks.count : blocks.count - 1) {  // (an index loop: `zip` allocates in debug builds)
            let block = blocks[l], s = L.blocks[l]
            layerNorm(block.attentionNorm, out: s.norm1.out, mean: s.norm1.mean, rstd: s.norm1.rstd, input: x, store: store, N: BT, C: C, eps: eps)
            block.attention.forward(input: s.norm1.out, saved: s.attention, store: store, dims: d, mask: L.mask, causal: true, dropout: rates, rng: &rng)
            residualForward(out: s.residual1, a: x, b: s.attention.out, N: BT * C)
            layerNorm(block.feedForwardNorm, out: s.norm2.out, mean: s.norm2.mean, rstd: s.norm2.rstd, input: s.residual1, store: store, N: BT, C: C, eps: eps)
            block.feedForward.forward(input: s.norm2.out, saved: s.feedForward, store: store, dims: d, dropout: rates, rng: &rng)
            residualForward(out: s.residual2, a: s.residual1, b: s.feedForward.out, N: BT * C)
            x = UnsafePointer(s.residual2)
        }
        guard let rows else {
            layerNorm(finalNorm, out: L.final.out, mean: L.final.mean, rstd: L.final.rstd, input: x, store: store, N: BT, C: C, eps: eps)
            return UnsafePointer(L.final.out)
        }
        // The last block on the pooled rows (ln_1, K and V of every row), then ln_f on them.
        let block = blocks[blocks.count - 1], s = L.blocks[blocks.count - 1], n = B * C
        layerNorm(block.attentionNorm, out: s.norm1.out, mean: s.norm1.mean, rstd: s.norm1.rstd, input: x, store: store, N: BT, C: C, eps: eps)
        block.attention.forwardRows(
            input: s.norm1.out, rows: rows, rowsInput: L.rowsNormed, saved: s.attention, store: store, dims: d, mask: L.mask,
            dropout: rates, rng: &rng)
        embeddingForward(out: L.rowsInput, ids: rows, table: x, N: B, V: BT, C: C)
        residualForward(out: s.residual1, a: L.rowsInput, b: s.attention.out, N: n)
        layerNorm(block.feedForwardNorm, out: s.norm2.out, mean: s.norm2.mean, rstd: s.norm2.rstd, input: s.residual1, store: store, N: B, C: C, eps: eps)
        block.feedForward.forward(input: s.norm2.out, saved: s.feedForward, store: store, dims: d.rowPerSequence, dropout: rates, rng: &rng)
        residualForward(out: s.residual2, a: s.residual1, b: s.feedForward.out, N: n)
        layerNorm(finalNorm, out: L.final.out, mean: L.final.mean, rstd: L.final.rstd, input: s.residual2, store: store, N: B, C: C, eps: eps)
        return UnsafePointer(L.final.out)
    }

    /// Adds the gradients of the decoder given `L.dOutput` (written by the head: `(B, C)` when
    /// forward had `rows`, which are passed again).
    func backward(
        layout L: DecoderBackboneLayout, store: ParameterStore, config: ModelConfig, dims d: Dims, rates: DropoutRates,
        rows: UnsafePointer<Int32>? = nil
    ) {
        let (B, C, BT) = (d.B, d.C, d.BT)
        let finalRows = rows == nil ? BT : B
        let last = UnsafePointer(L.blocks[blocks.count - 1].residual2)
        zero(L.dHidden, finalRows * C)
        layerNormGradient(finalNorm, dInput: L.dHidden, dOut: L.dOutput, input: last, mean: L.final.mean, rstd: L.final.rstd, store: store, N: finalRows, C: C)
        let dTemp = L.dOutput
        if let rows {
            // The last block on the pooled rows; leaves the gradient w.r.t. its input, every
            // row, in `dHidden`.
            let l = blocks.count - 1, block = blocks[l], s = L.blocks[l], n = B * C
            let x = l == 0 ? UnsafePointer(L.embedding) : UnsafePointer(L.blocks[l - 1].residual2)
            zero(dTemp, n)
            block.feedForward.backward(dInput: dTemp, dOut: L.dHidden, input: s.norm2.out, saved: s.feedForward, store: store, dims: d.rowPerSequence, dropout: rates, scratch: L.scratch)
            layerNormGradient(block.feedForwardNorm, dInput: L.dHidden, dOut: dTemp, input: s.residual1, mean: s.norm2.mean, rstd: s.norm2.rstd, store: store, N: B, C: C)
            // `dHidden` (B, C) = d(residual1): straight to the pooled rows of x, and through the
            // attention (K and V of every row of ln_1's output, the query of the pooled rows).
            zero(dTemp, BT * C)
            zero(L.dRows, n)
            block.attention.backwardRows(
                dInput: dTemp, dRows: L.dRows, dOut: L.dHidden, input: s.norm1.out, rowsInput: L.rowsNormed,
                saved: s.attention, store: store, dims: d, dropout: rates, scratch: L.scratch)
            embeddingBackward(dTable: dTemp, dOut: L.dRows, ids: rows, N: B, V: BT, C: C)
            L.dRows.update(from: L.dHidden, count: n)
            zero(L.dHidden, BT * C)
            embeddingBackward(dTable: L.dHidden, dOut: L.dRows, ids: rows, N: B, V: BT, C: C)
            layerNormGradient(block.attentionNorm, dInput: L.dHidden, dOut: dTemp, input: x, mean: s.norm1.mean, rstd: s.norm1.rstd, store: store, N: BT, C: C)
        }

        // Blocks in reverse; `dHidden` holds the gradient w.r.t. the block output and, after
        // each block, w.r.t. its input (the residual path passes it through unchanged and each
        // branch adds its contribution through its LayerNorm).
        for l in stride(from: blocks.count - (rows == nil ? 1 : 2), through: 0, by: -1) {
            let block = blocks[l], s = L.blocks[l]
            let x = l == 0 ? UnsafePointer(L.embedding) : UnsafePointer(L.blocks[l - 1].residual2)
            zero(dTemp, BT * C)
            block.feedForward.backward(dInput: dTemp, dOut: L.dHidden, input: s.norm2.out, saved: s.feedForward, store: store, dims: d, dropout: rates, scratch: L.scratch)
            layerNormGradient(block.feedForwardNorm, dInput: L.dHidden, dOut: dTemp, input: s.residual1, mean: s.norm2.mean, rstd: s.norm2.rstd, store: store, N: BT, C: C)
            zero(dTemp, BT * C)
            block.attention.backward(dInput: dTemp, dOut: L.dHidden, input: s.norm1.out, saved: s.attention, store: store, dims: d, dropout: rates, scratch: L.scratch)
            layerNormGradient(block.attentionNorm, dInput: L.dHidden, dOut: dTemp, input: x, mean: s.norm1.mean, rstd: s.norm1.rstd, store: store, N: BT, C: C)
        }

        let dEmbedding = throughDropout(L.dHidden, mask: L.embeddingMask, N: BT * C, p: rates.hidden, scratch: dTemp)
        embeddingBackward(dTable: store.gradient(tokenEmbeddings), dOut: dEmbedding, ids: L.ids, N: BT, V: config.vocabSize, C: C)
        embeddingBackward(dTable: store.gradient(positionEmbeddings), dOut: dEmbedding, ids: L.positions, N: BT, V: config.maxPositions, C: C)
    }
}
