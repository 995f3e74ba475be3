// GPT-2-style sequence classifier (Hugging Face `GPT2ForSequenceClassification`): token +
// position embeddings → dropout; pre-LN blocks (x ← x + Attn(ln_1 x), causal; x ← x +
// FFN(ln_2 x), GELU tanh); ln_f; `score` (no bias) on the last real token of each sequence.
// Conv1D weights are kept `[out, in]` and c_attn as three tensors; export restores HF's layout.
//
// Dimensions: B batch, T tokens, C hidden, I intermediate, NH heads, K labels; BT = B·T.
import MMOCore

/// One pre-LN GPT-2 block's parameters.
struct DecoderBlock {
    let attentionNorm: NormParameters
    let attention: AttentionSublayer
    let feedForwardNorm: NormParameters
    let feedForward: FeedForwardSublayer
}

/// Everything forward saves and backward needs, laid out for a maximum `(B, T)`.
struct DecoderLayout {
    struct Block {
        let norm1: NormSaved  // ln_1(x)
        let attention: AttentionSublayer.Saved
        let residual1: UnsafeMutablePointer<Float>  // (BT, C) x + attn
        let norm2: NormSaved  // ln_2(residual1)
        let feedForward: FeedForwardSublayer.Saved
        let residual2: UnsafeMutablePointer<Float>  // (BT, C) block output
    }
    let ids, positions: UnsafeMutablePointer<Int32>  // (BT)
    let pooledRows, labels: UnsafeMutablePointer<Int32>  // (B)
    let mask: UnsafeMutablePointer<Float>  // (B, T) additive key mask
    let embedding: UnsafeMutablePointer<Float>  // (BT, C) wte + wpe, dropped in place
    let embeddingMask: UnsafeMutablePointer<Float>?  // (BT, C)
    let blocks: [Block]
    let final: NormSaved  // ln_f
    let pooled: UnsafeMutablePointer<Float>  // (B, C)
    let logits: UnsafeMutablePointer<Float>  // (B, K)
    // Backward only.
    let scratch: BackwardScratch
    let dHidden, dTemp: UnsafeMutablePointer<Float>  // (BT, C)
    let dLogits: UnsafeMutablePointer<Float>  // (B, K)
    let dPooled: UnsafeMutablePointer<Float>  // (B, C)

    init(arena a: inout ActivationArena, B: Int, T: Int, config: ModelConfig) {
        let C = config.hiddenSize, I = config.intermediateSize, NH = config.numHeads, K = config.numLabels
        let BT = B * T
        ids = a.ints(BT); positions = a.ints(BT); pooledRows = a.ints(B); labels = a.ints(B)
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
        pooled = a.floats(B * C)
        logits = a.floats(B * K)
        scratch = BackwardScratch(arena: &a, B: B, T: T, C: C, NH: NH, I: I)
        dHidden = a.floats(BT * C); dTemp = a.floats(BT * C)
        dLogits = a.floats(B * K)
        dPooled = a.floats(B * C)
    }
}

/// Indices of a GPT-2 classifier's tensors in its store.
struct DecoderParameters {
    var tokenEmbeddings, positionEmbeddings: Int
    var blocks: [DecoderBlock]
    var finalNorm: NormParameters
    var score: LinearParameters
}

/// Hugging Face `GPT2ForSequenceClassification`.
public final class GPT2ForSequenceClassification: SequenceClassifier {
    /// The architecture.
    public let config: ModelConfig
    /// Parameters and gradients in Hugging Face's `named_parameters` order.
    public let parameters: ParameterStore
    /// The dropout stream (saved in checkpoints).
    public var dropoutRNG: PhiloxRNG
    /// Logits of the last forward, `(batchSize, numLabels)`.
    public var logits: UnsafePointer<Float> { UnsafePointer(layout?.logits ?? placeholderLogits.pointer) }
    /// d(loss)/d(logits) of the last forward (see `SequenceClassifier.logitGradient`).
    public var logitGradient: UnsafeMutablePointer<Float> { layout?.dLogits ?? placeholderLogits.pointer }

    let tokenEmbeddings, positionEmbeddings: Int
    let blocks: [DecoderBlock]
    let finalNorm: NormParameters
    let score: LinearParameters
    let workspace: Workspace<DecoderLayout>
    private var layout: DecoderLayout?
    private let placeholderLogits = FloatBuffer(count: 0)
    private var dims = Dims(B: 0, T: 0, C: 0, NH: 0, I: 0)
    private var rates = DropoutRates.off

    /// Builds the model with Hugging Face initialisation drawn from `initRNG` (including GPT-2's
    /// residual-projection scaling, std / √(2·numLayers) for `attn.c_proj` and `mlp.c_proj`).
    public init(config: ModelConfig, initRNG: inout PhiloxRNG, dropoutRNG: PhiloxRNG) throws {
        guard config.family == .gpt2 else { throw ModelError.wrongFamily(expected: .gpt2, got: config.family) }
        try config.validate()
        self.config = config
        self.dropoutRNG = dropoutRNG
        let (r, p) = Self.register(config)
        tokenEmbeddings = p.tokenEmbeddings
        positionEmbeddings = p.positionEmbeddings
        blocks = p.blocks
        finalNorm = p.finalNorm
        score = p.score
        parameters = ParameterStore(specs: r.specs)
        r.initialize(parameters, rng: &initRNG)
        workspace = Workspace { arena, b, t in DecoderLayout(arena: &arena, B: b, T: t, config: config) }
    }

    /// Registers the parameters of `config` (Hugging Face's `named_parameters` order) without
    /// allocating them; `parameterSpecs(config:)` and `init` share it.
    static func register(_ config: ModelConfig) -> (ParameterRegistry, DecoderParameters) {
        let C = config.hiddenSize, I = config.intermediateSize
        let residualStd = config.initializerRange / Float(2 * config.numLayers).squareRoot()
        var r = ParameterRegistry(std: config.initializerRange)
        let tokenEmbeddings = r.embedding("transformer.wte.weight", rows: config.vocabSize, channels: C, role: "embedding.word")
        let positionEmbeddings = r.embedding("transformer.wpe.weight", rows: config.maxPositions, channels: C, role: "embedding.position")
        var blocks: [DecoderBlock] = []
        for l in 0..<config.numLayers {
            let p = "transformer.h.\(l)"
            let n1 = r.norm("\(p).ln_1", channels: C, role: "norm.attention", block: l)
            // c_attn split in Hugging Face's order once fused: q, k, v weights, then q, k, v biases.
            let weights = ["q", "k", "v"].map { part in
                r.add(
                    "\(p).attn.c_attn.\(part).weight", [C, C], kind: .attention, role: "attention.\(Self.qkvRole(part)).weight",
                    block: l, weightDecay: true, initial: .normal(std: config.initializerRange))
            }
            let biases = ["q", "k", "v"].map { part in
                r.add(
                    "\(p).attn.c_attn.\(part).bias", [C], kind: .attention, role: "attention.\(Self.qkvRole(part)).bias",
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
        let score = r.linear("score", out: config.numLabels, in: C, kind: .head, role: "head.classifier", block: nil, bias: false)
        return (r, DecoderParameters(
            tokenEmbeddings: tokenEmbeddings, positionEmbeddings: positionEmbeddings, blocks: blocks, finalNorm: finalNorm,
            score: score))
    }

    private static func qkvRole(_ part: String) -> String {
        switch part {
        case "q": return "query"
        case "k": return "key"
        default: return "value"
        }
    }

    /// Bytes of activation and scratch memory currently reserved.
    public var activationBytes: Int { workspace.bytes }
    /// How many times activation memory was (re)allocated (once per new largest batch shape).
    public var activationAllocations: Int { workspace.allocations }

    /// Runs the model on `batch` and returns the mean cross-entropy (see `SequenceClassifier`).
    public func forward(_ batch: TokenBatch, training: Bool) -> Float {
        let B = batch.batchSize, T = batch.sequenceLength
        precondition(T <= config.maxSequenceLength, "sequence length \(T) exceeds the model's \(config.maxSequenceLength)")
        let L = workspace.reserve(batchSize: B, sequenceLength: T)
        layout = L
        let d = Dims(B: B, T: T, C: config.hiddenSize, NH: config.numHeads, I: config.intermediateSize)
        dims = d
        rates = training ? DropoutRates(hidden: config.hiddenDropout, attention: config.attentionDropout) : .off
        let (C, BT, eps) = (d.C, d.BT, config.layerNormEps)
        let store = parameters

        // Inputs: positions 0..<T; pooled row = the last real token (right padding).
        L.ids.update(from: batch.inputIDs, count: BT)
        L.labels.update(from: batch.labels, count: B)
        for b in 0..<B {
            let length = Int(batch.lengths[b])
            precondition(length >= 1 && length <= T, "sequence \(b) has length \(length), not in 1...\(T)")
            for t in 0..<T { L.positions[b * T + t] = Int32(t) }
            L.pooledRows[b] = Int32(b * T + length - 1)
        }
        paddingMaskForward(mask: L.mask, lengths: batch.lengths, B: B, T: T)

        embeddingForward(out: L.embedding, ids: L.ids, table: store.value(tokenEmbeddings), N: BT, V: config.vocabSize, C: C)
        embeddingForward(out: L.embedding, ids: L.positions, table: store.value(positionEmbeddings), N: BT, V: config.maxPositions, C: C, accumulate: true)
        dropoutInPlace(L.embedding, mask: L.embeddingMask, N: BT * C, p: rates.hidden, rng: &dropoutRNG)

        var x = UnsafePointer(L.embedding)
        for l in 0..<blocks.count {  // (an index loop: `zip` allocates in debug builds)
            let block = blocks[l], s = L.blocks[l]
            layerNorm(block.attentionNorm, out: s.norm1.out, mean: s.norm1.mean, rstd: s.norm1.rstd, input: x, store: store, N: BT, C: C, eps: eps)
            block.attention.forward(input: s.norm1.out, saved: s.attention, store: store, dims: d, mask: L.mask, causal: true, dropout: rates, rng: &dropoutRNG)
            residualForward(out: s.residual1, a: x, b: s.attention.out, N: BT * C)
            layerNorm(block.feedForwardNorm, out: s.norm2.out, mean: s.norm2.mean, rstd: s.norm2.rstd, input: s.residual1, store: store, N: BT, C: C, eps: eps)
            block.feedForward.forward(input: s.norm2.out, saved: s.feedForward, store: store, dims: d, dropout: rates, rng: &dropoutRNG)
            residualForward(out: s.residual2, a: s.residual1, b: s.feedForward.out, N: BT * C)
            x = UnsafePointer(s.residual2)
        }
        layerNorm(finalNorm, out: L.final.out, mean: L.final.mean, rstd: L.final.rstd, input: x, store: store, N: BT, C: C, eps: eps)

        // `score` is linear, so scoring only the pooled rows equals HF's score-then-pool.
        embeddingForward(out: L.pooled, ids: L.pooledRows, table: L.final.out, N: B, V: BT, C: C)
        linear(score, out: L.logits, input: L.pooled, store: store, N: B, IC: C, OC: config.numLabels)
        let loss = crossEntropyForward(losses: nil, logits: L.logits, labels: L.labels, B: B, K: config.numLabels)
        // The loss's gradient on the logits now, so that a caller can add further terms to it.
        zero(L.dLogits, B * config.numLabels)
        crossEntropyBackward(dLogits: L.dLogits, logits: L.logits, labels: L.labels, B: B, K: config.numLabels)
        return loss
    }

    /// Adds the gradient `logitGradient` holds to `parameters.gradients` (see `SequenceClassifier`).
    public func backward() {
        guard let L = layout else { preconditionFailure("backward() called before forward()") }
        let d = dims, store = parameters
        let (B, C, BT, K) = (d.B, d.C, d.BT, config.numLabels)

        // dLogits: set by forward (cross-entropy), plus whatever the caller added.
        zero(L.dPooled, B * C)
        linearGradient(score, dInput: L.dPooled, dOut: L.dLogits, input: L.pooled, store: store, N: B, IC: C, OC: K)
        zero(L.dTemp, BT * C)
        embeddingBackward(dTable: L.dTemp, dOut: L.dPooled, ids: L.pooledRows, N: B, V: BT, C: C)
        let last = UnsafePointer(L.blocks[blocks.count - 1].residual2)
        zero(L.dHidden, BT * C)
        layerNormGradient(finalNorm, dInput: L.dHidden, dOut: L.dTemp, input: last, mean: L.final.mean, rstd: L.final.rstd, store: store, N: BT, C: C)

        // Blocks in reverse; `dHidden` holds the gradient w.r.t. the block output and, after
        // each block, w.r.t. its input (the residual path passes it through unchanged and each
        // branch adds its contribution through its LayerNorm).
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let block = blocks[l], s = L.blocks[l]
            let x = l == 0 ? UnsafePointer(L.embedding) : UnsafePointer(L.blocks[l - 1].residual2)
            zero(L.dTemp, BT * C)
            block.feedForward.backward(dInput: L.dTemp, dOut: L.dHidden, input: s.norm2.out, saved: s.feedForward, store: store, dims: d, dropout: rates, scratch: L.scratch)
            layerNormGradient(block.feedForwardNorm, dInput: L.dHidden, dOut: L.dTemp, input: s.residual1, mean: s.norm2.mean, rstd: s.norm2.rstd, store: store, N: BT, C: C)
            zero(L.dTemp, BT * C)
            block.attention.backward(dInput: L.dTemp, dOut: L.dHidden, input: s.norm1.out, saved: s.attention, store: store, dims: d, dropout: rates, scratch: L.scratch)
            layerNormGradient(block.attentionNorm, dInput: L.dHidden, dOut: L.dTemp, input: x, mean: s.norm1.mean, rstd: s.norm1.rstd, store: store, N: BT, C: C)
        }

        let dEmbedding = throughDropout(L.dHidden, mask: L.embeddingMask, N: BT * C, p: rates.hidden, scratch: L.dTemp)
        embeddingBackward(dTable: store.gradient(tokenEmbeddings), dOut: dEmbedding, ids: L.ids, N: BT, V: config.vocabSize, C: C)
        embeddingBackward(dTable: store.gradient(positionEmbeddings), dOut: dEmbedding, ids: L.positions, N: BT, V: config.maxPositions, C: C)
    }
}
