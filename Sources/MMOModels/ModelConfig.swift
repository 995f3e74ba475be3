// The architecture of one classifier: everything needed to rebuild it, and nothing else.

/// The transformer family, with Hugging Face's class semantics.
public enum ModelFamily: String, Codable, CaseIterable, Sendable {
    /// `BertForSequenceClassification`
    case bert
    /// `GPT2ForSequenceClassification`
    case gpt2
    /// `RobertaForSequenceClassification`
    case roberta
}

/// What a model is trained to predict, and so which head it carries.
public enum ModelObjective: String, Codable, CaseIterable, Sendable {
    /// A sequence classifier (`…ForSequenceClassification`): one label per sequence.
    case classification
    /// Masked language modelling (`BertForMaskedLM`, `RobertaForMaskedLM`): the original token
    /// at each selected position; BERT and RoBERTa only.
    case mlm
    /// Causal language modelling (`GPT2LMHeadModel`): the next token at every position; GPT-2
    /// only.
    case clm

    /// Whether this objective predicts tokens (a language-model head) rather than labels.
    public var isLanguageModel: Bool { self != .classification }

    /// The objective a family pretrains with: `mlm` for BERT and RoBERTa, `clm` for GPT-2.
    public static func languageModel(for family: ModelFamily) -> ModelObjective { family == .gpt2 ? .clm : .mlm }
}

/// Architecture hyper-parameters of a sequence classifier (Hugging Face config field names in
/// the comments; `mmo-export` writes them to `config.json`).
public struct ModelConfig: Codable, Hashable, Sendable {
    /// Which Hugging Face class this describes.
    public var family: ModelFamily
    /// `vocab_size`
    public var vocabSize: Int
    /// `hidden_size` / `n_embd`
    public var hiddenSize: Int
    /// `num_hidden_layers` / `n_layer`
    public var numLayers: Int
    /// `num_attention_heads` / `n_head`
    public var numHeads: Int
    /// `intermediate_size` / `n_inner`
    public var intermediateSize: Int
    /// `max_position_embeddings` / `n_positions`. For RoBERTa this includes the
    /// `padTokenID + 1` offset, as in Hugging Face (514 for 512 usable positions).
    public var maxPositions: Int
    /// `num_labels`
    public var numLabels: Int
    /// `hidden_dropout_prob` / `resid_pdrop` (GPT-2 also uses it for `embd_pdrop`)
    public var hiddenDropout: Float
    /// `attention_probs_dropout_prob` / `attn_pdrop`
    public var attentionDropout: Float
    /// `layer_norm_eps` / `layer_norm_epsilon`: 1e-12 for BERT, 1e-5 for RoBERTa and GPT-2.
    public var layerNormEps: Float
    /// `pad_token_id`: padding for BERT (0) and RoBERTa (1); GPT-2 pools the last token that is
    /// not this id.
    public var padTokenID: Int
    /// `type_vocab_size` (BERT 2, RoBERTa 1; unused by GPT-2).
    public var typeVocabSize: Int
    /// Std of the normal initialiser (`initializer_range`), 0.02.
    public var initializerRange: Float
    /// The head: classification (default), or a masked / causal language-model head whose
    /// decoder is tied to the word embeddings. Only written to JSON when not `classification`,
    /// so classification records are byte-identical to those saved before the field existed.
    public var objective: ModelObjective = .classification

    /// A config with Hugging Face's per-family defaults for eps, pad id and token types
    /// (language models: `numLabels` 0).
    public init(
        family: ModelFamily, vocabSize: Int, hiddenSize: Int, numLayers: Int, numHeads: Int,
        intermediateSize: Int, maxPositions: Int, numLabels: Int, hiddenDropout: Float = 0.1,
        attentionDropout: Float = 0.1, layerNormEps: Float? = nil, padTokenID: Int? = nil,
        typeVocabSize: Int? = nil, initializerRange: Float = 0.02, objective: ModelObjective = .classification
    ) {
        self.objective = objective
        self.family = family
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.numLabels = numLabels
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
        self.layerNormEps = layerNormEps ?? (family == .bert ? 1e-12 : 1e-5)
        self.padTokenID = padTokenID ?? (family == .roberta ? 1 : 0)
        self.typeVocabSize = typeVocabSize ?? (family == .bert ? 2 : 1)
        self.initializerRange = initializerRange
    }

    enum CodingKeys: String, CodingKey {
        case family, vocabSize, hiddenSize, numLayers, numHeads, intermediateSize, maxPositions, numLabels,
            hiddenDropout, attentionDropout, layerNormEps, padTokenID, typeVocabSize, initializerRange, objective
    }

    /// Decodes a config; `objective` is optional (absent: `classification`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        family = try c.decode(ModelFamily.self, forKey: .family)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        maxPositions = try c.decode(Int.self, forKey: .maxPositions)
        numLabels = try c.decode(Int.self, forKey: .numLabels)
        hiddenDropout = try c.decode(Float.self, forKey: .hiddenDropout)
        attentionDropout = try c.decode(Float.self, forKey: .attentionDropout)
        layerNormEps = try c.decode(Float.self, forKey: .layerNormEps)
        padTokenID = try c.decode(Int.self, forKey: .padTokenID)
        typeVocabSize = try c.decode(Int.self, forKey: .typeVocabSize)
        initializerRange = try c.decode(Float.self, forKey: .initializerRange)
        objective = try c.decodeIfPresent(ModelObjective.self, forKey: .objective) ?? .classification
    }

    /// Encodes every field; `objective` only when it is not `classification`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(family, forKey: .family)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(numLayers, forKey: .numLayers)
        try c.encode(numHeads, forKey: .numHeads)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(maxPositions, forKey: .maxPositions)
        try c.encode(numLabels, forKey: .numLabels)
        try c.encode(hiddenDropout, forKey: .hiddenDropout)
        try c.encode(attentionDropout, forKey: .attentionDropout)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        try c.encode(padTokenID, forKey: .padTokenID)
        try c.encode(typeVocabSize, forKey: .typeVocabSize)
        try c.encode(initializerRange, forKey: .initializerRange)
        if objective != .classification { try c.encode(objective, forKey: .objective) }
    }
}

// MARK: - Derived values and validation

extension ModelConfig {
    /// Channels per attention head (`hiddenSize / numHeads`).
    public var headSize: Int { hiddenSize / numHeads }

    /// The longest sequence the position table allows: `maxPositions`, minus RoBERTa's
    /// `padTokenID + 1` offset.
    public var maxSequenceLength: Int {
        family == .roberta ? maxPositions - padTokenID - 1 : maxPositions
    }

    /// Checks that the numbers describe a buildable classifier; throws `ModelError.invalidConfig`
    /// naming the field and what to change.
    public func validate() throws {
        func fail(_ field: String, _ message: String) -> ModelError {
            .invalidConfig(field: field, message: message)
        }
        if vocabSize < 1 { throw fail("vocabSize", "must be at least 1 (got \(vocabSize))") }
        if hiddenSize < 1 { throw fail("hiddenSize", "must be at least 1 (got \(hiddenSize))") }
        if numLayers < 1 { throw fail("numLayers", "must be at least 1 (got \(numLayers))") }
        if numHeads < 1 || hiddenSize % numHeads != 0 {
            throw fail("numHeads", "must be positive and divide hiddenSize \(hiddenSize) (got \(numHeads))")
        }
        if intermediateSize < 1 { throw fail("intermediateSize", "must be at least 1 (got \(intermediateSize))") }
        switch objective {
        case .classification:
            if numLabels < 2 {
                throw fail("numLabels", "must be at least 2: these are single-label classifiers (got \(numLabels))")
            }
        case .mlm, .clm:
            if numLabels != 0 {
                throw fail("numLabels", "must be 0 for a language model (objective \(objective.rawValue)), which predicts tokens, not labels (got \(numLabels))")
            }
            if objective != ModelObjective.languageModel(for: family) {
                throw fail(
                    "objective", "\(objective.rawValue) is not available for \(family.rawValue); use \(ModelObjective.languageModel(for: family).rawValue) (masked LM for BERT and RoBERTa, causal LM for GPT-2)")
            }
        }
        if !(0..<vocabSize).contains(padTokenID) {
            throw fail("padTokenID", "must be a token id in 0..<\(vocabSize) (got \(padTokenID))")
        }
        if maxSequenceLength < 1 {
            let need = family == .roberta ? "padTokenID + 2 = \(padTokenID + 2)" : "1"
            throw fail("maxPositions", "must be at least \(need) (got \(maxPositions))")
        }
        if typeVocabSize < 1 { throw fail("typeVocabSize", "must be at least 1 (got \(typeVocabSize))") }
        for (field, p) in [("hiddenDropout", hiddenDropout), ("attentionDropout", attentionDropout)] where !(p >= 0 && p < 1) {
            throw fail(field, "must be in [0, 1) (got \(p))")
        }
        if !(layerNormEps > 0) { throw fail("layerNormEps", "must be positive (got \(layerNormEps))") }
        if !(initializerRange >= 0 && initializerRange.isFinite) {
            throw fail("initializerRange", "must be a finite non-negative std (got \(initializerRange))")
        }
    }
}
