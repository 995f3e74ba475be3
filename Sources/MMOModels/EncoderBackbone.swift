// The BERT / RoBERTa encoder without a head (Hugging Face `BertModel` / `RobertaModel` with
// `add_pooling_layer=False`): embeddings → LayerNorm → dropout; post-LN blocks
// (x ← LN(x + Attn(x)); x ← LN(x + FFN(x)), GELU erf). The sequence classifier and the masked-LM
// model put their heads on it; both register its tensors under the same names first, so a
// backbone trained under one head loads into the other by name.
//
// Dimensions: B batch, T tokens, C hidden, I intermediate, NH heads; BT = B·T.
import MMOCore

/// One post-LN encoder block's parameters.
struct EncoderBlock {
    let attention: AttentionSublayer
    let attentionNorm: NormParameters
    let feedForward: FeedForwardSublayer
    let feedForwardNorm: NormParameters
}

/// What the encoder's forward saves and its backward needs, for a maximum `(B, T)`.
struct EncoderBackboneLayout {
    struct Block {
        let attention: AttentionSublayer.Saved
        let residual1: UnsafeMutablePointer<Float>  // (BT, C) x + attn, LN1 input
        let norm1: NormSaved
        let feedForward: FeedForwardSublayer.Saved
        let residual2: UnsafeMutablePointer<Float>  // (BT, C) a + ffn, LN2 input
        let norm2: NormSaved  // block output
    }
    let ids, positions, tokenTypes: UnsafeMutablePointer<Int32>  // (BT)
    let mask: UnsafeMutablePointer<Float>  // (B, T) additive key mask
    let embeddingSum: UnsafeMutablePointer<Float>  // (BT, C)
    let embedding: NormSaved  // LN output, dropped in place: block 0's input
    let embeddingMask: UnsafeMutablePointer<Float>?  // (BT, C)
    let blocks: [Block]
    // Backward only.
    let scratch: BackwardScratch
    /// `(BT, C)`: the head writes the gradient w.r.t. the encoder output here (after zeroing it).
    let dOutput: UnsafeMutablePointer<Float>
    let dHiddenB, dResidual: UnsafeMutablePointer<Float>  // (BT, C)
    /// `(B, C)`: a classifier's last layer on its pooled rows (`EncoderBackbone.forward(rows:)`):
    /// those rows of the layer input, and their gradient on the query path.
    let rowsInput, dRows: UnsafeMutablePointer<Float>

    init(arena a: inout ActivationArena, B: Int, T: Int, config: ModelConfig) {
        let C = config.hiddenSize, I = config.intermediateSize, NH = config.numHeads
        let BT = B * T, hiddenOn = config.hiddenDropout > 0
        ids = a.ints(BT); positions = a.ints(BT); tokenTypes = a.ints(BT)
        mask = a.floats(B * T)
        embeddingSum = a.floats(BT * C)
        embedding = NormSaved(arena: &a, rows: BT, C: C)
        embeddingMask = a.floats(BT * C, if: hiddenOn)
        var blocks: [Block] = []
        for _ in 0..<config.numLayers {
            blocks.append(Block(
                attention: .init(arena: &a, B: B, T: T, C: C, NH: NH, config: config),
                residual1: a.floats(BT * C), norm1: NormSaved(arena: &a, rows: BT, C: C),
                feedForward: .init(arena: &a, B: B, T: T, C: C, I: I, config: config),
                residual2: a.floats(BT * C), norm2: NormSaved(arena: &a, rows: BT, C: C)))
        }
        self.blocks = blocks
        scratch = BackwardScratch(arena: &a, B: B, T: T, C: C, NH: NH, I: I)
        dOutput = a.floats(BT * C); dHiddenB = a.floats(BT * C); dResidual = a.floats(BT * C)
        rowsInput = a.floats(B * C); dRows = a.floats(B * C)
    }

    /// The encoder output of the last forward, `(BT, C)`.
    var output: UnsafePointer<Float> { UnsafePointer(blocks.last!.norm2.out) }
}

/// The encoder's tensors (indices into the model's store) and its forward/backward.
struct EncoderBackbone {
    let family: ModelFamily
    let wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings: Int
    let embeddingNorm: NormParameters
    let blocks: [EncoderBlock]

    /// The `bert.` / `roberta.` prefix of every backbone tensor.
    static func prefix(_ family: ModelFamily) -> String { family == .bert ? "bert" : "roberta" }

    /// Registers the encoder's tensors in Hugging Face's `named_parameters` order (the same for
    /// every head).
    static func register(_ r: inout ParameterRegistry, config: ModelConfig, family: ModelFamily) -> EncoderBackbone {
        let C = config.hiddenSize, I = config.intermediateSize
        let base = prefix(family)
        // Registration follows Hugging Face's `named_parameters` order, which differs in the
        // embeddings: RoBERTa declares its position table last.
        let wordEmbeddings = r.embedding(
            "\(base).embeddings.word_embeddings.weight", rows: config.vocabSize, channels: C, role: "embedding.word",
            paddingRow: config.padTokenID)
        func positionTable(_ r: inout ParameterRegistry) -> Int {
            r.embedding(
                "\(base).embeddings.position_embeddings.weight", rows: config.maxPositions, channels: C,
                role: "embedding.position", paddingRow: family == .roberta ? config.padTokenID : nil)
        }
        var position = family == .bert ? positionTable(&r) : -1
        let tokenTypeEmbeddings = r.embedding(
            "\(base).embeddings.token_type_embeddings.weight", rows: config.typeVocabSize, channels: C,
            role: "embedding.token_type")
        let embeddingNorm = r.norm("\(base).embeddings.LayerNorm", channels: C, role: "norm.embedding", block: nil)
        if family == .roberta { position = positionTable(&r) }
        var blocks: [EncoderBlock] = []
        for l in 0..<config.numLayers {
            let p = "\(base).encoder.layer.\(l)"
            let q = r.linear("\(p).attention.self.query", out: C, in: C, kind: .attention, role: "attention.query", block: l)
            let k = r.linear("\(p).attention.self.key", out: C, in: C, kind: .attention, role: "attention.key", block: l)
            let v = r.linear("\(p).attention.self.value", out: C, in: C, kind: .attention, role: "attention.value", block: l)
            let o = r.linear("\(p).attention.output.dense", out: C, in: C, kind: .attention, role: "attention.output", block: l)
            let n1 = r.norm("\(p).attention.output.LayerNorm", channels: C, role: "norm.attention", block: l)
            let fi = r.linear("\(p).intermediate.dense", out: I, in: C, kind: .ffn, role: "ffn.in", block: l)
            let fo = r.linear("\(p).output.dense", out: C, in: I, kind: .ffn, role: "ffn.out", block: l)
            let n2 = r.norm("\(p).output.LayerNorm", channels: C, role: "norm.ffn", block: l)
            blocks.append(EncoderBlock(
                attention: AttentionSublayer(query: q, key: k, value: v, output: o), attentionNorm: n1,
                feedForward: FeedForwardSublayer(inner: fi, outer: fo, approximation: .none), feedForwardNorm: n2))
        }
        return EncoderBackbone(
            family: family, wordEmbeddings: wordEmbeddings, positionEmbeddings: position,
            tokenTypeEmbeddings: tokenTypeEmbeddings, embeddingNorm: embeddingNorm, blocks: blocks)
    }

    /// Runs the encoder on `batch`; returns its output `(BT, C)` (also `L.output`).
    ///
    /// With `rows` (B row indices into the `BT` rows, one per sequence: the rows a classifier's
    /// head reads) the last block runs attention's K and V on every row and everything else on
    /// those rows only, and the output is `(B, C)`, row b = encoder output at `rows[b]`. The
    /// loss is the same function (no other row of the last block reaches the head), at about a
    /// fifth less work for 4 layers; the gradients agree with the full path to rounding
    /// (tests against transformers). Pass the same `rows` to `backward`.
    func forward(
        _ batch: TokenBatch, layout L: EncoderBackboneLayout, store: ParameterStore, config: ModelConfig, dims d: Dims,
        rates: DropoutRates, rng: inout PhiloxRNG, rows: UnsafePointer<Int32>? = nil
    ) -> UnsafePointer<Float> {
        let (B, T, C, BT, eps, pad) = (d.B, d.T, d.C, d.BT, config.layerNormEps, Int32(config.padTokenID))
        // Inputs: ids, positions (RoBERTa: pad + 1 + t for real tokens, pad for padding), types 0.
        L.ids.update(from: batch.inputIDs, count: BT)
        for b in 0..<B {
            let length = Int(batch.lengths[b])
            precondition(length >= 1 && length <= T, "sequence \(b) has length \(length), not in 1...\(T)")
            for t in 0..<T {
                L.positions[b * T + t] = family == .roberta ? (t < length ? pad + 1 + Int32(t) : pad) : Int32(t)
            }
        }
        L.tokenTypes.update(repeating: 0, count: BT)
        paddingMaskForward(mask: L.mask, lengths: batch.lengths, B: B, T: T)

        // Embeddings: word + position + token type → LayerNorm → dropout.
        embeddingForward(out: L.embeddingSum, ids: L.ids, table: store.value(wordEmbeddings), N: BT, V: config.vocabSize, C: C)
        embeddingForward(out: L.embeddingSum, ids: L.positions, table: store.value(positionEmbeddings), N: BT, V: config.maxPositions, C: C, accumulate: true)
        embeddingForward(out: L.embeddingSum, ids: L.tokenTypes, table: store.value(tokenTypeEmbeddings), N: BT, V: config.typeVocabSize, C: C, accumulate: true)
        layerNorm(embeddingNorm, out: L.embedding.out, mean: L.embedding.mean, rstd: L.embedding.rstd, input: L.embeddingSum, store: store, N: BT, C: C, eps: eps)
        dropoutInPlace(L.embedding.out, mask: L.embeddingMask, N: BT * C, p: rates.hidden, rng: &rng)

        // Post-LN blocks.
        var x = UnsafePointer(L.embedding.out)
        let full = rows == nil ? blocks.count : blocks.count - 1
        for l in 0..<full {  // (an index loop: `zip` allocates in debug builds)
            let block = blocks[l], s = L.blocks[l]
            block.attention.forward(input: x, saved: s.attention, store: store, dims: d, mask: L.mask, causal: false, dropout: rates, rng: &rng)
            residualForward(out: s.residual1, a: x, b: s.attention.out, N: BT * C)
            layerNorm(block.attentionNorm, out: s.norm1.out, mean: s.norm1.mean, rstd: s.norm1.rstd, input: s.residual1, store: store, N: BT, C: C, eps: eps)
            block.feedForward.forward(input: s.norm1.out, saved: s.feedForward, store: store, dims: d, dropout: rates, rng: &rng)
            residualForward(out: s.residual2, a: s.norm1.out, b: s.feedForward.out, N: BT * C)
            layerNorm(block.feedForwardNorm, out: s.norm2.out, mean: s.norm2.mean, rstd: s.norm2.rstd, input: s.residual2, store: store, N: BT, C: C, eps: eps)
            x = UnsafePointer(s.norm2.out)
        }
        if let rows {
            // The last block on the pooled rows (K and V of every row inside the attention).
            let block = blocks[blocks.count - 1], s = L.blocks[blocks.count - 1]
            let r = d.rowPerSequence, n = B * C
            block.attention.forwardRows(
                input: x, rows: rows, rowsInput: L.rowsInput, saved: s.attention, store: store, dims: d, mask: L.mask,
                dropout: rates, rng: &rng)
            residualForward(out: s.residual1, a: L.rowsInput, b: s.attention.out, N: n)
            layerNorm(block.attentionNorm, out: s.norm1.out, mean: s.norm1.mean, rstd: s.norm1.rstd, input: s.residual1, store: store, N: B, C: C, eps: eps)
            block.feedForward.forward(input: s.norm1.out, saved: s.feedForward, store: store, dims: r, dropout: rates, rng: &rng)
            residualForward(out: s.residual2, a: s.norm1.out, b: s.feedForward.out, N: n)
            layerNorm(block.feedForwardNorm, out: s.norm2.out, mean: s.norm2.mean, rstd: s.norm2.rstd, input: s.residual2, store: store, N: B, C: C, eps: eps)
            x = UnsafePointer(s.norm2.out)
        }
        return x
    }

    /// Adds the gradients of the encoder given `L.dOutput` (the gradient w.r.t. its output,
    /// which the head has written: `(B, C)` when forward had `rows`, which are passed again).
    /// Overwrites `L.dOutput`.
    func backward(
        layout L: EncoderBackboneLayout, store: ParameterStore, config: ModelConfig, dims d: Dims, rates: DropoutRates,
        rows: UnsafePointer<Int32>? = nil
    ) {
        let (B, C, BT) = (d.B, d.C, d.BT)
        let dOut = L.dOutput, dIn = L.dHiddenB
        if let rows {
            // The last block on the pooled rows, as forward ran it; leaves the gradient w.r.t.
            // its input, every row, in `dOut`.
            let l = blocks.count - 1, block = blocks[l], s = L.blocks[l], n = B * C
            let x = l == 0 ? UnsafePointer(L.embedding.out) : UnsafePointer(L.blocks[l - 1].norm2.out)
            zero(L.dResidual, n)
            layerNormGradient(block.feedForwardNorm, dInput: L.dResidual, dOut: dOut, input: s.residual2, mean: s.norm2.mean, rstd: s.norm2.rstd, store: store, N: B, C: C)
            dIn.update(from: L.dResidual, count: n)
            block.feedForward.backward(dInput: dIn, dOut: L.dResidual, input: s.norm1.out, saved: s.feedForward, store: store, dims: d.rowPerSequence, dropout: rates, scratch: L.scratch)
            zero(L.dResidual, n)
            layerNormGradient(block.attentionNorm, dInput: L.dResidual, dOut: dIn, input: s.residual1, mean: s.norm1.mean, rstd: s.norm1.rstd, store: store, N: B, C: C)
            // d(residual1) reaches the pooled rows of x directly and through the attention.
            L.dRows.update(from: L.dResidual, count: n)
            zero(dOut, BT * C)
            block.attention.backwardRows(
                dInput: dOut, dRows: L.dRows, dOut: L.dResidual, input: x, rowsInput: L.rowsInput, saved: s.attention,
                store: store, dims: d, dropout: rates, scratch: L.scratch)
            embeddingBackward(dTable: dOut, dOut: L.dRows, ids: rows, N: B, V: BT, C: C)
        }
        // Blocks in reverse; `dOut` holds the gradient w.r.t. the block output.
        for l in stride(from: blocks.count - (rows == nil ? 1 : 2), through: 0, by: -1) {
            let block = blocks[l], s = L.blocks[l]
            let x = l == 0 ? UnsafePointer(L.embedding.out) : UnsafePointer(L.blocks[l - 1].norm2.out)
            // out = LN2(a + ffn(a)): dResidual = LN2ᵀ dOut; da = dResidual + ffnᵀ dResidual.
            zero(L.dResidual, BT * C)
            layerNormGradient(block.feedForwardNorm, dInput: L.dResidual, dOut: dOut, input: s.residual2, mean: s.norm2.mean, rstd: s.norm2.rstd, store: store, N: BT, C: C)
            dIn.update(from: L.dResidual, count: BT * C)
            block.feedForward.backward(dInput: dIn, dOut: L.dResidual, input: s.norm1.out, saved: s.feedForward, store: store, dims: d, dropout: rates, scratch: L.scratch)
            // a = LN1(x + attn(x)): same pattern, into dOut (free now).
            zero(L.dResidual, BT * C)
            layerNormGradient(block.attentionNorm, dInput: L.dResidual, dOut: dIn, input: s.residual1, mean: s.norm1.mean, rstd: s.norm1.rstd, store: store, N: BT, C: C)
            dOut.update(from: L.dResidual, count: BT * C)
            block.attention.backward(dInput: dOut, dOut: L.dResidual, input: x, saved: s.attention, store: store, dims: d, dropout: rates, scratch: L.scratch)
        }

        // Embeddings: dropout → LayerNorm → three tables (padding rows of tables with a
        // padding_idx get nothing, as in `nn.Embedding`).
        let dNorm = throughDropout(dOut, mask: L.embeddingMask, N: BT * C, p: rates.hidden, scratch: dIn)
        zero(L.dResidual, BT * C)
        layerNormGradient(embeddingNorm, dInput: L.dResidual, dOut: dNorm, input: L.embeddingSum, mean: L.embedding.mean, rstd: L.embedding.rstd, store: store, N: BT, C: C)
        embeddingBackward(dTable: store.gradient(wordEmbeddings), dOut: L.dResidual, ids: L.ids, N: BT, V: config.vocabSize, C: C, paddingIndex: config.padTokenID)
        embeddingBackward(
            dTable: store.gradient(positionEmbeddings), dOut: L.dResidual, ids: L.positions, N: BT, V: config.maxPositions, C: C,
            paddingIndex: family == .roberta ? config.padTokenID : nil)
        embeddingBackward(dTable: store.gradient(tokenTypeEmbeddings), dOut: L.dResidual, ids: L.tokenTypes, N: BT, V: config.typeVocabSize, C: C)
    }
}
