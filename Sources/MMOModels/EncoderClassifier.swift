// BERT- and RoBERTa-style sequence classifiers (Hugging Face `BertForSequenceClassification`,
// `RobertaForSequenceClassification`): embeddings → LayerNorm → dropout; post-LN blocks
// (x ← LN(x + Attn(x)); x ← LN(x + FFN(x)), GELU erf); head on token 0. The two families differ
// only in position ids, LayerNorm eps (in the config) and the head, handled here in one class.
//
// Dimensions: B batch, T tokens, C hidden, I intermediate, NH heads, K labels; BT = B·T.
import MMOCore

/// One post-LN encoder block's parameters.
struct EncoderBlock {
    let attention: AttentionSublayer
    let attentionNorm: NormParameters
    let feedForward: FeedForwardSublayer
    let feedForwardNorm: NormParameters
}

/// Everything forward saves and backward needs, laid out for a maximum `(B, T)`.
struct EncoderLayout {
    struct Block {
        let attention: AttentionSublayer.Saved
        let residual1: UnsafeMutablePointer<Float>  // (BT, C) x + attn, LN1 input
        let norm1: NormSaved
        let feedForward: FeedForwardSublayer.Saved
        let residual2: UnsafeMutablePointer<Float>  // (BT, C) a + ffn, LN2 input
        let norm2: NormSaved  // block output
    }
    let ids, positions, tokenTypes: UnsafeMutablePointer<Int32>  // (BT)
    let pooledRows, labels: UnsafeMutablePointer<Int32>  // (B)
    let mask: UnsafeMutablePointer<Float>  // (B, T) additive key mask
    let embeddingSum: UnsafeMutablePointer<Float>  // (BT, C)
    let embedding: NormSaved  // LN output, dropped in place: block 0's input
    let embeddingMask: UnsafeMutablePointer<Float>?  // (BT, C)
    let blocks: [Block]
    let pooled: UnsafeMutablePointer<Float>  // (B, C) token 0, dropped in place for RoBERTa
    let pooledMask: UnsafeMutablePointer<Float>?  // (B, C)
    let dense: UnsafeMutablePointer<Float>  // (B, C) tanh(dense(pooled))
    let denseDropped: UnsafeMutablePointer<Float>  // (B, C)
    let denseMask: UnsafeMutablePointer<Float>?  // (B, C)
    let logits: UnsafeMutablePointer<Float>  // (B, K)
    // Backward only.
    let scratch: BackwardScratch
    let dHiddenA, dHiddenB, dResidual: UnsafeMutablePointer<Float>  // (BT, C)
    let dLogits: UnsafeMutablePointer<Float>  // (B, K)
    let dHeadA, dHeadB, dHeadC: UnsafeMutablePointer<Float>  // (B, C)

    init(arena a: inout ActivationArena, B: Int, T: Int, config: ModelConfig) {
        let C = config.hiddenSize, I = config.intermediateSize, NH = config.numHeads, K = config.numLabels
        let BT = B * T, hiddenOn = config.hiddenDropout > 0
        ids = a.ints(BT); positions = a.ints(BT); tokenTypes = a.ints(BT)
        pooledRows = a.ints(B); labels = a.ints(B)
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
        pooled = a.floats(B * C); pooledMask = a.floats(B * C, if: hiddenOn && config.family == .roberta)
        dense = a.floats(B * C); denseDropped = a.floats(B * C); denseMask = a.floats(B * C, if: hiddenOn)
        logits = a.floats(B * K)
        scratch = BackwardScratch(arena: &a, B: B, T: T, C: C, NH: NH, I: I)
        dHiddenA = a.floats(BT * C); dHiddenB = a.floats(BT * C); dResidual = a.floats(BT * C)
        dLogits = a.floats(B * K)
        dHeadA = a.floats(B * C); dHeadB = a.floats(B * C); dHeadC = a.floats(B * C)
    }
}

/// Indices of an encoder classifier's tensors in its store.
struct EncoderParameters {
    var wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings: Int
    var embeddingNorm: NormParameters
    var blocks: [EncoderBlock]
    var headDense: LinearParameters
    var classifier: LinearParameters
}

/// The BERT / RoBERTa classifier; use `BertForSequenceClassification` or
/// `RobertaForSequenceClassification` (or `makeClassifier(config:seed:)`).
public class EncoderSequenceClassifier: SequenceClassifier {
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

    let wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings: Int
    let embeddingNorm: NormParameters
    let blocks: [EncoderBlock]
    /// BERT: `bert.pooler.dense`; RoBERTa: `classifier.dense`.
    let headDense: LinearParameters
    /// BERT: `classifier`; RoBERTa: `classifier.out_proj`.
    let classifier: LinearParameters
    let workspace: Workspace<EncoderLayout>
    private var layout: EncoderLayout?
    private let placeholderLogits = FloatBuffer(count: 0)
    private var dims = Dims(B: 0, T: 0, C: 0, NH: 0, I: 0)
    private var rates = DropoutRates.off

    init(config: ModelConfig, family: ModelFamily, initRNG: inout PhiloxRNG, dropoutRNG: PhiloxRNG) throws {
        guard config.family == family else { throw ModelError.wrongFamily(expected: family, got: config.family) }
        try config.validate()
        self.config = config
        self.dropoutRNG = dropoutRNG
        let (r, p) = Self.register(config, family: family)
        wordEmbeddings = p.wordEmbeddings
        positionEmbeddings = p.positionEmbeddings
        tokenTypeEmbeddings = p.tokenTypeEmbeddings
        embeddingNorm = p.embeddingNorm
        blocks = p.blocks
        headDense = p.headDense
        classifier = p.classifier
        parameters = ParameterStore(specs: r.specs)
        r.initialize(parameters, rng: &initRNG)
        workspace = Workspace { arena, b, t in EncoderLayout(arena: &arena, B: b, T: t, config: config) }
    }

    /// Registers the parameters of `config` (Hugging Face's `named_parameters` order) without
    /// allocating them; `parameterSpecs(config:)` and `init` share it.
    static func register(_ config: ModelConfig, family: ModelFamily) -> (ParameterRegistry, EncoderParameters) {
        let C = config.hiddenSize, I = config.intermediateSize
        let base = family == .bert ? "bert" : "roberta"
        var r = ParameterRegistry(std: config.initializerRange)
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
        let K = config.numLabels
        let headDense: LinearParameters, classifier: LinearParameters
        if family == .bert {
            headDense = r.linear("bert.pooler.dense", out: C, in: C, kind: .head, role: "head.dense", block: nil)
            classifier = r.linear("classifier", out: K, in: C, kind: .head, role: "head.classifier", block: nil)
        } else {
            headDense = r.linear("classifier.dense", out: C, in: C, kind: .head, role: "head.dense", block: nil)
            classifier = r.linear("classifier.out_proj", out: K, in: C, kind: .head, role: "head.classifier", block: nil)
        }
        return (r, EncoderParameters(
            wordEmbeddings: wordEmbeddings, positionEmbeddings: position, tokenTypeEmbeddings: tokenTypeEmbeddings,
            embeddingNorm: embeddingNorm, blocks: blocks, headDense: headDense, classifier: classifier))
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
        let (C, BT, eps, pad) = (d.C, d.BT, config.layerNormEps, Int32(config.padTokenID))
        let store = parameters

        // Inputs: ids, positions (RoBERTa: pad + 1 + t for real tokens, pad for padding), types 0.
        L.ids.update(from: batch.inputIDs, count: BT)
        L.labels.update(from: batch.labels, count: B)
        for b in 0..<B {
            let length = Int(batch.lengths[b])
            precondition(length >= 1 && length <= T, "sequence \(b) has length \(length), not in 1...\(T)")
            for t in 0..<T {
                L.positions[b * T + t] = config.family == .roberta ? (t < length ? pad + 1 + Int32(t) : pad) : Int32(t)
            }
            L.pooledRows[b] = Int32(b * T)
        }
        L.tokenTypes.update(repeating: 0, count: BT)
        paddingMaskForward(mask: L.mask, lengths: batch.lengths, B: B, T: T)

        // Embeddings: word + position + token type → LayerNorm → dropout.
        embeddingForward(out: L.embeddingSum, ids: L.ids, table: store.value(wordEmbeddings), N: BT, V: config.vocabSize, C: C)
        embeddingForward(out: L.embeddingSum, ids: L.positions, table: store.value(positionEmbeddings), N: BT, V: config.maxPositions, C: C, accumulate: true)
        embeddingForward(out: L.embeddingSum, ids: L.tokenTypes, table: store.value(tokenTypeEmbeddings), N: BT, V: config.typeVocabSize, C: C, accumulate: true)
        layerNorm(embeddingNorm, out: L.embedding.out, mean: L.embedding.mean, rstd: L.embedding.rstd, input: L.embeddingSum, store: store, N: BT, C: C, eps: eps)
        dropoutInPlace(L.embedding.out, mask: L.embeddingMask, N: BT * C, p: rates.hidden, rng: &dropoutRNG)

        // Post-LN blocks.
        var x = UnsafePointer(L.embedding.out)
        for l in 0..<blocks.count {  // (an index loop: `zip` allocates in debug builds)
            let block = blocks[l], s = L.blocks[l]
            block.attention.forward(input: x, saved: s.attention, store: store, dims: d, mask: L.mask, causal: false, dropout: rates, rng: &dropoutRNG)
            residualForward(out: s.residual1, a: x, b: s.attention.out, N: BT * C)
            layerNorm(block.attentionNorm, out: s.norm1.out, mean: s.norm1.mean, rstd: s.norm1.rstd, input: s.residual1, store: store, N: BT, C: C, eps: eps)
            block.feedForward.forward(input: s.norm1.out, saved: s.feedForward, store: store, dims: d, dropout: rates, rng: &dropoutRNG)
            residualForward(out: s.residual2, a: s.norm1.out, b: s.feedForward.out, N: BT * C)
            layerNorm(block.feedForwardNorm, out: s.norm2.out, mean: s.norm2.mean, rstd: s.norm2.rstd, input: s.residual2, store: store, N: BT, C: C, eps: eps)
            x = UnsafePointer(s.norm2.out)
        }

        // Head on token 0. BERT: tanh(dense) → dropout → classifier.
        // RoBERTa: dropout → dense → tanh → dropout → out_proj.
        embeddingForward(out: L.pooled, ids: L.pooledRows, table: x, N: B, V: BT, C: C)
        if config.family == .roberta {
            dropoutInPlace(L.pooled, mask: L.pooledMask, N: B * C, p: rates.hidden, rng: &dropoutRNG)
        }
        linear(headDense, out: L.dense, input: L.pooled, store: store, N: B, IC: C, OC: C)
        tanhForward(out: L.dense, input: L.dense, N: B * C)
        dropoutForward(out: L.denseDropped, mask: L.denseMask, input: L.dense, N: B * C, probability: rates.hidden, rng: &dropoutRNG)
        linear(classifier, out: L.logits, input: L.denseDropped, store: store, N: B, IC: C, OC: config.numLabels)
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

        // Head.
        // dLogits: set by forward (cross-entropy), plus whatever the caller added.
        zero(L.dHeadA, B * C)
        linearGradient(classifier, dInput: L.dHeadA, dOut: L.dLogits, input: L.denseDropped, store: store, N: B, IC: C, OC: K)
        let dDense = throughDropout(L.dHeadA, mask: L.denseMask, N: B * C, p: rates.hidden, scratch: L.dHeadB)
        zero(L.dHeadC, B * C)
        tanhBackward(dInput: L.dHeadC, dOut: dDense, out: L.dense, N: B * C)
        zero(L.dHeadA, B * C)
        linearGradient(headDense, dInput: L.dHeadA, dOut: L.dHeadC, input: L.pooled, store: store, N: B, IC: C, OC: C)
        let dPooled = config.family == .roberta
            ? throughDropout(L.dHeadA, mask: L.pooledMask, N: B * C, p: rates.hidden, scratch: L.dHeadB)
            : UnsafePointer(L.dHeadA)
        let dOut = L.dHiddenA, dIn = L.dHiddenB
        zero(dOut, BT * C)
        embeddingBackward(dTable: dOut, dOut: dPooled, ids: L.pooledRows, N: B, V: BT, C: C)

        // Blocks in reverse; `dOut` holds the gradient w.r.t. the block output.
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
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
            paddingIndex: config.family == .roberta ? config.padTokenID : nil)
        embeddingBackward(dTable: store.gradient(tokenTypeEmbeddings), dOut: L.dResidual, ids: L.tokenTypes, N: BT, V: config.typeVocabSize, C: C)
    }
}

/// Hugging Face `BertForSequenceClassification`: post-LN encoder, GELU (erf), LayerNorm eps from
/// the config (1e-12), pooler `tanh(dense(h₀))` → dropout → `classifier`.
public final class BertForSequenceClassification: EncoderSequenceClassifier {
    /// Builds the model with Hugging Face initialisation drawn from `initRNG`.
    public init(config: ModelConfig, initRNG: inout PhiloxRNG, dropoutRNG: PhiloxRNG) throws {
        try super.init(config: config, family: .bert, initRNG: &initRNG, dropoutRNG: dropoutRNG)
    }
}

/// Hugging Face `RobertaForSequenceClassification`: as BERT with positions from `padTokenID + 1`,
/// eps 1e-5, no pooler; head dropout → dense → tanh → dropout → `out_proj` on `<s>`.
public final class RobertaForSequenceClassification: EncoderSequenceClassifier {
    /// Builds the model with Hugging Face initialisation drawn from `initRNG`.
    public init(config: ModelConfig, initRNG: inout PhiloxRNG, dropoutRNG: PhiloxRNG) throws {
        try super.init(config: config, family: .roberta, initRNG: &initRNG, dropoutRNG: dropoutRNG)
    }
}
