// BERT- and RoBERTa-style sequence classifiers (Hugging Face `BertForSequenceClassification`,
// `RobertaForSequenceClassification`): the encoder (EncoderBackbone.swift), then a head on token
// 0. The two families differ only in position ids, LayerNorm eps (in the config) and the head,
// handled here in one class.
//
// Dimensions: B batch, T tokens, C hidden, K labels; BT = B·T.
import MMOCore

/// Everything forward saves and backward needs, laid out for a maximum `(B, T)`.
struct EncoderLayout {
    let backbone: EncoderBackboneLayout
    let pooledRows, labels: UnsafeMutablePointer<Int32>  // (B)
    let pooled: UnsafeMutablePointer<Float>  // (B, C) token 0, dropped in place for RoBERTa
    let pooledMask: UnsafeMutablePointer<Float>?  // (B, C)
    let dense: UnsafeMutablePointer<Float>  // (B, C) tanh(dense(pooled))
    let denseDropped: UnsafeMutablePointer<Float>  // (B, C)
    let denseMask: UnsafeMutablePointer<Float>?  // (B, C)
    let logits: UnsafeMutablePointer<Float>  // (B, K)
    // Backward only.
    let dLogits: UnsafeMutablePointer<Float>  // (B, K)
    let dHeadA, dHeadB, dHeadC: UnsafeMutablePointer<Float>  // (B, C)

    init(arena a: inout ActivationArena, B: Int, T: Int, config: ModelConfig) {
        let C = config.hiddenSize, K = config.numLabels
        let hiddenOn = config.hiddenDropout > 0
        backbone = EncoderBackboneLayout(arena: &a, B: B, T: T, config: config)
        pooledRows = a.ints(B); labels = a.ints(B)
        pooled = a.floats(B * C); pooledMask = a.floats(B * C, if: hiddenOn && config.family == .roberta)
        dense = a.floats(B * C); denseDropped = a.floats(B * C); denseMask = a.floats(B * C, if: hiddenOn)
        logits = a.floats(B * K)
        dLogits = a.floats(B * K)
        dHeadA = a.floats(B * C); dHeadB = a.floats(B * C); dHeadC = a.floats(B * C)
    }
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

    let backbone: EncoderBackbone
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
        guard config.objective == .classification else { throw ModelError.wrongObjective(expected: .classification, got: config.objective) }
        self.config = config
        self.dropoutRNG = dropoutRNG
        let (r, p) = Self.register(config, family: family)
        backbone = p.backbone
        headDense = p.headDense
        classifier = p.classifier
        parameters = ParameterStore(specs: r.specs)
        r.initialize(parameters, rng: &initRNG)
        workspace = Workspace { arena, b, t in EncoderLayout(arena: &arena, B: b, T: t, config: config) }
    }

    /// Registers the parameters of `config` (Hugging Face's `named_parameters` order) without
    /// allocating them; `parameterSpecs(config:)` and `init` share it.
    static func register(_ config: ModelConfig, family: ModelFamily) -> (ParameterRegistry, (backbone: EncoderBackbone, headDense: LinearParameters, classifier: LinearParameters)) {
        let C = config.hiddenSize, K = config.numLabels
        var r = ParameterRegistry(std: config.initializerRange)
        let backbone = EncoderBackbone.register(&r, config: config, family: family)
        let headDense: LinearParameters, classifier: LinearParameters
        if family == .bert {
            headDense = r.linear("bert.pooler.dense", out: C, in: C, kind: .head, role: "head.dense", block: nil)
            classifier = r.linear("classifier", out: K, in: C, kind: .head, role: "head.classifier", block: nil)
        } else {
            headDense = r.linear("classifier.dense", out: C, in: C, kind: .head, role: "head.dense", block: nil)
            classifier = r.linear("classifier.out_proj", out: K, in: C, kind: .head, role: "head.classifier", block: nil)
        }
        return (r, (backbone, headDense, classifier))
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

        L.labels.update(from: batch.labels, count: B)
        for b in 0..<B { L.pooledRows[b] = Int32(b * T) }
        // The backbone's last block only on the rows the head reads: its output is (B, C).
        let x = backbone.forward(
            batch, layout: L.backbone, store: store, config: config, dims: d, rates: rates, rng: &dropoutRNG,
            rows: L.pooledRows)

        // Head on token 0. BERT: tanh(dense) → dropout → classifier.
        // RoBERTa: dropout → dense → tanh → dropout → out_proj.
        L.pooled.update(from: x, count: B * C)
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
        let (B, C, K) = (d.B, d.C, config.numLabels)

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
        L.backbone.dOutput.update(from: dPooled, count: B * C)
        backbone.backward(layout: L.backbone, store: store, config: config, dims: d, rates: rates, rows: L.pooledRows)
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
