// One entry point that builds the right family and head from a config, with named seeded streams.
import MMOCore

/// Builds the model `config.family` and `config.objective` describe (a classifier or a language
/// model), initialised as Hugging Face does from the stream `init/<family>` of `seed`; dropout
/// draws from the stream `dropout/<family>` of `seed`. Give each model of a run its own seed to
/// make two models of one family differ. The backbone draws first, so a classifier and a
/// language model of one config and seed start from the same backbone.
///
/// - Throws: `ModelError.invalidConfig` naming the field when the config is not buildable.
public func makeModel(config: ModelConfig, seed: UInt64) throws -> any TrainableModel {
    var initRNG = PhiloxRNG(seed: seed, stream: "init/\(config.family.rawValue)")
    let dropoutRNG = PhiloxRNG(seed: seed, stream: "dropout/\(config.family.rawValue)")
    // (`validate` inside each initialiser refuses a family the objective does not fit.)
    switch config.objective {
    case .classification: return try makeClassifier(config: config, seed: seed)
    case .mlm:
        return try BackboneLanguageModel(config: config, objective: .mlm, initRNG: &initRNG, dropoutRNG: dropoutRNG, register: registerMaskedLM)
    case .clm:
        guard config.family == .gpt2 else { try config.validate(); throw ModelError.wrongFamily(expected: .gpt2, got: config.family) }
        return try BackboneLanguageModel(config: config, objective: .clm, initRNG: &initRNG, dropoutRNG: dropoutRNG, register: registerCausalLM)
    }
}

/// Builds the classifier `config.family` describes, initialised as Hugging Face does from the
/// stream `init/<family>` of `seed`; dropout draws from the stream `dropout/<family>` of `seed`.
/// Give each model of a run its own seed to make two models of one family differ.
///
/// - Throws: `ModelError.invalidConfig` naming the field when the config is not buildable,
///   `ModelError.wrongObjective` for a language-model config (use `makeModel`).
public func makeClassifier(config: ModelConfig, seed: UInt64) throws -> any SequenceClassifier {
    var initRNG = PhiloxRNG(seed: seed, stream: "init/\(config.family.rawValue)")
    let dropoutRNG = PhiloxRNG(seed: seed, stream: "dropout/\(config.family.rawValue)")
    switch config.family {
    case .bert:
        return try BertForSequenceClassification(config: config, initRNG: &initRNG, dropoutRNG: dropoutRNG)
    case .roberta:
        return try RobertaForSequenceClassification(config: config, initRNG: &initRNG, dropoutRNG: dropoutRNG)
    case .gpt2:
        return try GPT2ForSequenceClassification(config: config, initRNG: &initRNG, dropoutRNG: dropoutRNG)
    }
}

/// The parameter specs (names, shapes, kinds, roles, blocks) of the model `config` describes
/// (classifier or language model), in registration order, without allocating or initialising
/// it: what a tool needs to interpret a checkpoint's tensors.
///
/// - Throws: `ModelError.invalidConfig` naming the field when the config is not buildable.
public func parameterSpecs(config: ModelConfig) throws -> [ParameterSpec] {
    try config.validate()
    switch (config.objective, config.family) {
    case (.classification, .bert), (.classification, .roberta):
        return EncoderSequenceClassifier.register(config, family: config.family).0.specs
    case (.classification, .gpt2): return GPT2ForSequenceClassification.register(config).0.specs
    // (`validate` has refused mlm for GPT-2 and clm for the encoders.)
    case (.mlm, _): return registerMaskedLM(config).0.specs
    case (.clm, _): return registerCausalLM(config).0.specs
    }
}
