// One entry point that builds the right family from a config, with named seeded streams.
import MMOCore

/// Builds the classifier `config.family` describes, initialised as Hugging Face does from the
/// stream `init/<family>` of `seed`; dropout draws from the stream `dropout/<family>` of `seed`.
/// Give each model of a run its own seed to make two models of one family differ.
///
/// - Throws: `ModelError.invalidConfig` naming the field when the config is not buildable.
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

/// The parameter specs (names, shapes, kinds, roles, blocks) of the classifier `config`
/// describes, in registration order, without allocating or initialising it: what a tool needs
/// to interpret a checkpoint's tensors.
///
/// - Throws: `ModelError.invalidConfig` naming the field when the config is not buildable.
public func parameterSpecs(config: ModelConfig) throws -> [ParameterSpec] {
    try config.validate()
    switch config.family {
    case .bert, .roberta: return EncoderSequenceClassifier.register(config, family: config.family).0.specs
    case .gpt2: return GPT2ForSequenceClassification.register(config).0.specs
    }
}
