// GPT-2-style sequence classifier (Hugging Face `GPT2ForSequenceClassification`): the decoder
// (DecoderBackbone.swift), then `score` (no bias) on the last real token of each sequence.
//
// Dimensions: B batch, T tokens, C hidden, K labels; BT = B·T.
import MMOCore

/// Everything forward saves and backward needs, laid out for a maximum `(B, T)`.
struct DecoderLayout {
    let backbone: DecoderBackboneLayout
    let pooledRows, labels: UnsafeMutablePointer<Int32>  // (B)
    let pooled: UnsafeMutablePointer<Float>  // (B, C)
    let logits: UnsafeMutablePointer<Float>  // (B, K)
    // Backward only.
    let dLogits: UnsafeMutablePointer<Float>  // (B, K)
    let dPooled: UnsafeMutablePointer<Float>  // (B, C)

    init(arena a: inout ActivationArena, B: Int, T: Int, config: ModelConfig) {
        let C = config.hiddenSize, K = config.numLabels
        backbone = DecoderBackboneLayout(arena: &a, B: B, T: T, config: config)
        pooledRows = a.ints(B); labels = a.ints(B)
        pooled = a.floats(B * C)
        logits = a.floats(B * K)
        dLogits = a.floats(B * K)
        dPooled = a.floats(B * C)
    }
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

    let backbone: DecoderBackbone
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
        guard config.objective == .classification else { throw ModelError.wrongObjective(expected: .classification, got: config.objective) }
        self.config = config
        self.dropoutRNG = dropoutRNG
        let (r, p) = Self.register(config)
        backbone = p.backbone
        score = p.score
        parameters = ParameterStore(specs: r.specs)
        r.initialize(parameters, rng: &initRNG)
        workspace = Workspace { arena, b, t in DecoderLayout(arena: &arena, B: b, T: t, config: config) }
    }

    /// Registers the parameters of `config` (Hugging Face's `named_parameters` order) without
    /// allocating them; `parameterSpecs(config:)` and `init` share it.
    static func register(_ config: ModelConfig) -> (ParameterRegistry, (backbone: DecoderBackbone, score: LinearParameters)) {
        var r = ParameterRegistry(std: config.initializerRange)
        let backbone = DecoderBackbone.register(&r, config: config)
        let score = r.linear("score", out: config.numLabels, in: config.hiddenSize, kind: .head, role: "head.classifier", block: nil, bias: false)
        return (r, (backbone, score))
    }

    /// Bytes of activation and scratch memory currently reserved.
    public var activationBytes: Int { workspace.bytes }
    /// How many times activation memory was (re)allocated (once per new largest batch shape).
    public var activationAllocations: Int { workspace.allocations }

    /// Runs the model on `batch` and returns the mean cross-entropy (see `SequenceClassifier`).
    public func forward(_ batch: TokenBatch, training: Bool) -> Float {
        let (L, d, r) = workspace.begin(batch, config: config, training: training)
        layout = L
        let (B, T) = (d.B, d.T)
        dims = d
        rates = r
        let C = d.C
        let store = parameters

        // Pooled row = the last real token (right padding).
        L.labels.update(from: batch.labels, count: B)
        for b in 0..<B { L.pooledRows[b] = Int32(b * T + Int(batch.lengths[b]) - 1) }
        // The last block and ln_f only on the pooled rows: the backbone's output is (B, C).
        let x = backbone.forward(
            batch, layout: L.backbone, store: store, config: config, dims: d, rates: rates, rng: &dropoutRNG,
            rows: L.pooledRows)

        // `score` is linear, so scoring only the pooled rows equals HF's score-then-pool.
        L.pooled.update(from: x, count: B * C)
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
        let (B, C, K) = (d.B, d.C, config.numLabels)

        // dLogits: set by forward (cross-entropy), plus whatever the caller added.
        zero(L.dPooled, B * C)
        linearGradient(score, dInput: L.dPooled, dOut: L.dLogits, input: L.pooled, store: store, N: B, IC: C, OC: K)
        L.backbone.dOutput.update(from: L.dPooled, count: B * C)
        backbone.backward(layout: L.backbone, store: store, config: config, dims: d, rates: rates, rows: L.pooledRows)
    }
}
