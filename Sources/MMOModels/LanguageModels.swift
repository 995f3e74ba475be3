// Language-model heads on the shared backbones: Hugging Face `BertForMaskedLM` /
// `RobertaForMaskedLM` (transform dense → GELU erf → LayerNorm → decoder tied to the word
// embeddings + bias) and `GPT2LMHeadModel` (ln_f output → `lm_head` tied to `wte`, no bias).
//
// Only positions with a target are projected onto the vocabulary (a gather of their rows, then
// one GEMM of (predicted positions × C) by (C × V)): the masked LM predicts ~15% of the tokens
// and the causal LM skips padding, as a real implementation would, instead of HF's all-rows
// projection followed by an ignore mask. The loss is the same mean over predicted positions.
//
// The decoder weight is the word-embedding tensor itself (one `ParameterStore` entry): the
// forward reads it as an `[V, C]` linear weight, the backward adds the decoder's gradient into
// the embedding's gradient, which the lookup's gradient then joins.
//
// Dimensions: B batch, T tokens, C hidden, V vocabulary, S predicted positions; BT = B·T.
import MMOCore

/// The head's buffers, sized for `S ≤ BT`.
struct LMHeadLayout {
    let rows, targets: UnsafeMutablePointer<Int32>  // (S) gathered row numbers, their targets
    let gathered: UnsafeMutablePointer<Float>  // (S, C) backbone output at the predicted rows
    let transformPre, transformAct: UnsafeMutablePointer<Float>?  // (S, C) masked LM: dense, GELU
    let transformNorm: NormSaved?  // masked LM: LayerNorm → decoder input
    let logits: UnsafeMutablePointer<Float>  // (S, V), turned into its gradient by backward
    let dA, dB: UnsafeMutablePointer<Float>  // (S, C)

    init(arena a: inout ActivationArena, rows S: Int, config: ModelConfig, transform: Bool) {
        let C = config.hiddenSize
        rows = a.ints(S); targets = a.ints(S)
        gathered = a.floats(S * C)
        transformPre = transform ? a.floats(S * C) : nil
        transformAct = transform ? a.floats(S * C) : nil
        transformNorm = transform ? NormSaved(arena: &a, rows: S, C: C) : nil
        logits = a.floats(S * config.vocabSize)
        dA = a.floats(S * C); dB = a.floats(S * C)
    }
}

/// The shared LM head: the optional masked-LM transform and the tied decoder.
struct LMHead {
    /// Masked LM: `cls.predictions.transform.dense` / `lm_head.dense`.
    let transformDense: LinearParameters?
    /// Masked LM: `cls.predictions.transform.LayerNorm` / `lm_head.layer_norm`.
    let transformNorm: NormParameters?
    /// The word-embedding tensor, used as the decoder weight `[V, C]`.
    let decoderWeight: Int
    /// Masked LM: `cls.predictions.bias` / `lm_head.bias` `[V]`; nil for GPT-2.
    let decoderBias: Int?

    /// Registers the masked-LM head's own tensors in Hugging Face's `named_parameters` order
    /// (bias first, then the transform); the decoder weight is `wordEmbeddings`.
    static func registerMasked(_ r: inout ParameterRegistry, config: ModelConfig, wordEmbeddings: Int) -> LMHead {
        let C = config.hiddenSize
        let bert = config.family == .bert
        let bias = r.add(
            bert ? "cls.predictions.bias" : "lm_head.bias", [config.vocabSize], kind: .head, role: "head.decoder.bias",
            block: nil, weightDecay: false, initial: .zeros)
        let dense = r.linear(
            bert ? "cls.predictions.transform.dense" : "lm_head.dense", out: C, in: C, kind: .head, role: "head.transform",
            block: nil)
        let norm = r.norm(bert ? "cls.predictions.transform.LayerNorm" : "lm_head.layer_norm", channels: C, role: "norm.head", block: nil)
        return LMHead(transformDense: dense, transformNorm: norm, decoderWeight: wordEmbeddings, decoderBias: bias)
    }

    /// Collects the predicted rows of `batch` (targets ≠ ignored) into `L.rows` / `L.targets`;
    /// returns their count.
    func gather(_ batch: TokenBatch, layout L: LMHeadLayout, vocabSize: Int) -> Int {
        let BT = batch.batchSize * batch.sequenceLength
        var S = 0
        for n in 0..<BT {
            let target = batch.targets[n]
            if target == TokenBatch.ignoredTarget { continue }
            precondition(target >= 0 && Int(target) < vocabSize, "LM target \(target) out of 0..<\(vocabSize)")
            L.rows[S] = Int32(n)
            L.targets[S] = target
            S += 1
        }
        return S
    }

    /// Logits of the `S` gathered rows of `hidden` `(BT, C)`; returns the mean cross-entropy.
    func forward(hidden: UnsafePointer<Float>, layout L: LMHeadLayout, S: Int, BT: Int, store: ParameterStore, config: ModelConfig) -> Float {
        let C = config.hiddenSize, V = config.vocabSize
        embeddingForward(out: L.gathered, ids: L.rows, table: hidden, N: S, V: BT, C: C)
        var input = UnsafePointer(L.gathered)
        if let dense = transformDense, let norm = transformNorm, let pre = L.transformPre, let act = L.transformAct,
            let saved = L.transformNorm
        {
            linear(dense, out: pre, input: input, store: store, N: S, IC: C, OC: C)
            geluForward(out: act, input: pre, N: S * C, approximation: .none)
            layerNorm(norm, out: saved.out, mean: saved.mean, rstd: saved.rstd, input: act, store: store, N: S, C: C, eps: config.layerNormEps)
            input = UnsafePointer(saved.out)
        }
        let bias: UnsafeMutablePointer<Float>? = decoderBias.map { store.value($0) }
        linearForward(out: L.logits, input: input, weight: store.value(decoderWeight), bias: bias, N: S, IC: C, OC: V)
        return crossEntropyForward(losses: nil, logits: L.logits, labels: L.targets, B: S, K: V)
    }

    /// Adds the head's gradients (decoder into the word embeddings' gradient) and scatters the
    /// gradient w.r.t. the gathered rows into `dHidden` `(BT, C)`, which must be zeroed.
    func backward(dHidden: UnsafeMutablePointer<Float>, layout L: LMHeadLayout, S: Int, BT: Int, store: ParameterStore, config: ModelConfig) {
        let C = config.hiddenSize, V = config.vocabSize
        crossEntropyGradientInPlace(logits: L.logits, labels: L.targets, B: S, K: V, scale: 1 / Float(S))
        let input = L.transformNorm.map { UnsafePointer($0.out) } ?? UnsafePointer(L.gathered)
        let dBias: UnsafeMutablePointer<Float>? = decoderBias.map { store.gradient($0) }
        zero(L.dA, S * C)
        linearBackward(
            dInput: L.dA, dWeight: store.gradient(decoderWeight), dBias: dBias, dOut: L.logits, input: input,
            weight: store.value(decoderWeight), N: S, IC: C, OC: V)
        var dGathered = UnsafePointer(L.dA)
        if let dense = transformDense, let norm = transformNorm, let pre = L.transformPre, let act = L.transformAct,
            let saved = L.transformNorm
        {
            zero(L.dB, S * C)
            layerNormGradient(norm, dInput: L.dB, dOut: L.dA, input: act, mean: saved.mean, rstd: saved.rstd, store: store, N: S, C: C)
            zero(L.dA, S * C)
            geluBackward(dInput: L.dA, dOut: L.dB, input: pre, N: S * C, approximation: .none)
            zero(L.dB, S * C)
            linearGradient(dense, dInput: L.dB, dOut: L.dA, input: L.gathered, store: store, N: S, IC: C, OC: C)
            dGathered = UnsafePointer(L.dB)
        }
        embeddingBackward(dTable: dHidden, dOut: dGathered, ids: L.rows, N: S, V: BT, C: C)
    }
}

/// What a language model needs of its backbone (the encoder or the decoder): its buffers, a
/// forward to the final hidden states and the backward from their gradient.
protocol LanguageModelBackbone {
    associatedtype Layout
    static func layout(arena: inout ActivationArena, B: Int, T: Int, config: ModelConfig) -> Layout
    /// Where the head writes the gradient w.r.t. the backbone output `(BT, C)`.
    static func outputGradient(_ layout: Layout) -> UnsafeMutablePointer<Float>
    /// `rows` is nil here: a language model predicts at many positions of each sequence, so
    /// its last block runs on every row (the classifiers pass their pooled rows).
    func forward(
        _ batch: TokenBatch, layout: Layout, store: ParameterStore, config: ModelConfig, dims: Dims, rates: DropoutRates,
        rng: inout PhiloxRNG, rows: UnsafePointer<Int32>?) -> UnsafePointer<Float>
    func backward(
        layout: Layout, store: ParameterStore, config: ModelConfig, dims: Dims, rates: DropoutRates,
        rows: UnsafePointer<Int32>?)
}

extension EncoderBackbone: LanguageModelBackbone {
    static func layout(arena: inout ActivationArena, B: Int, T: Int, config: ModelConfig) -> EncoderBackboneLayout {
        EncoderBackboneLayout(arena: &arena, B: B, T: T, config: config)
    }
    static func outputGradient(_ layout: EncoderBackboneLayout) -> UnsafeMutablePointer<Float> { layout.dOutput }
}

extension DecoderBackbone: LanguageModelBackbone {
    static func layout(arena: inout ActivationArena, B: Int, T: Int, config: ModelConfig) -> DecoderBackboneLayout {
        DecoderBackboneLayout(arena: &arena, B: B, T: T, config: config)
    }
    static func outputGradient(_ layout: DecoderBackboneLayout) -> UnsafeMutablePointer<Float> { layout.dOutput }
}

/// Registers `BertForMaskedLM` / `RobertaForMaskedLM`: the encoder (named as in the classifier),
/// then the head (Hugging Face's `named_parameters` order).
func registerMaskedLM(_ config: ModelConfig) -> (ParameterRegistry, EncoderBackbone, LMHead) {
    var r = ParameterRegistry(std: config.initializerRange)
    let backbone = EncoderBackbone.register(&r, config: config, family: config.family)
    let head = LMHead.registerMasked(&r, config: config, wordEmbeddings: backbone.wordEmbeddings)
    return (r, backbone, head)
}

/// Registers `GPT2LMHeadModel`: the decoder (named as in the classifier); `lm_head` is `wte`.
func registerCausalLM(_ config: ModelConfig) -> (ParameterRegistry, DecoderBackbone, LMHead) {
    var r = ParameterRegistry(std: config.initializerRange)
    let backbone = DecoderBackbone.register(&r, config: config)
    return (r, backbone, LMHead(transformDense: nil, transformNorm: nil, decoderWeight: backbone.tokenEmbeddings, decoderBias: nil))
}

/// Buffers of a language model: its backbone's and its head's.
struct LanguageModelLayout<BackboneLayout> {
    let backbone: BackboneLayout
    let head: LMHeadLayout
}

/// Hugging Face `BertForMaskedLM` / `RobertaForMaskedLM` (`EncoderBackbone`, objective `mlm`)
/// and `GPT2LMHeadModel` (`DecoderBackbone`, objective `clm`); build them with
/// `makeModel(config:seed:)`. Parameters: the backbone tensors under the classifier's names,
/// then the head's own (masked LM only); the decoder is the word-embedding tensor.
final class BackboneLanguageModel<Backbone: LanguageModelBackbone>: LanguageModel {
    let config: ModelConfig
    let parameters: ParameterStore
    var dropoutRNG: PhiloxRNG
    private(set) var predictionCount = 0
    var logits: UnsafePointer<Float> { UnsafePointer(layout?.head.logits ?? placeholder.pointer) }

    let backbone: Backbone
    let head: LMHead
    let workspace: Workspace<LanguageModelLayout<Backbone.Layout>>
    private var layout: LanguageModelLayout<Backbone.Layout>?
    private let placeholder = FloatBuffer(count: 0)
    private var dims = Dims(B: 0, T: 0, C: 0, NH: 0, I: 0)
    private var rates = DropoutRates.off

    /// Builds the model of `config` (validated, objective `objective`) registered by `register`,
    /// with Hugging Face initialisation drawn from `initRNG` (backbone first, as the classifier's).
    init(
        config: ModelConfig, objective: ModelObjective, initRNG: inout PhiloxRNG, dropoutRNG: PhiloxRNG,
        register: (ModelConfig) -> (ParameterRegistry, Backbone, LMHead)
    ) throws {
        try config.validate()
        guard config.objective == objective else { throw ModelError.wrongObjective(expected: objective, got: config.objective) }
        self.config = config
        self.dropoutRNG = dropoutRNG
        let (r, backbone, head) = register(config)
        self.backbone = backbone
        self.head = head
        parameters = ParameterStore(specs: r.specs)
        r.initialize(parameters, rng: &initRNG)
        let transform = head.transformDense != nil
        workspace = Workspace { arena, b, t in
            let backbone = Backbone.layout(arena: &arena, B: b, T: t, config: config)
            return LanguageModelLayout(backbone: backbone, head: LMHeadLayout(arena: &arena, rows: b * t, config: config, transform: transform))
        }
    }

    /// How many times activation memory was (re)allocated (once per new largest batch shape).
    var activationAllocations: Int { workspace.allocations }

    /// Runs the model; returns the mean cross-entropy over the positions with a target (causal
    /// LM: the data layer sets position t's target to token t + 1).
    func forward(_ batch: TokenBatch, training: Bool) -> Float {
        let (L, d, r) = workspace.begin(batch, config: config, training: training)
        layout = L
        dims = d
        rates = r
        let x = backbone.forward(batch, layout: L.backbone, store: parameters, config: config, dims: d, rates: rates, rng: &dropoutRNG, rows: nil)
        predictionCount = head.gather(batch, layout: L.head, vocabSize: config.vocabSize)
        guard predictionCount > 0 else { return 0 }
        return head.forward(hidden: x, layout: L.head, S: predictionCount, BT: d.BT, store: parameters, config: config)
    }

    /// Adds the gradient of the last forward's loss (nothing when it predicted no position).
    func backward() {
        guard let L = layout else { preconditionFailure("backward() called before forward()") }
        guard predictionCount > 0 else { return }
        let d = dims, dHidden = Backbone.outputGradient(L.backbone)
        zero(dHidden, d.BT * d.C)
        head.backward(dHidden: dHidden, layout: L.head, S: predictionCount, BT: d.BT, store: parameters, config: config)
        backbone.backward(layout: L.backbone, store: parameters, config: config, dims: d, rates: rates, rows: nil)
    }
}
