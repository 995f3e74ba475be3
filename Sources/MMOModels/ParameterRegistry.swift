// Registration of a model's parameters: each tensor is declared once with its Hugging Face
// name, shape, kind, role, block and weight-decay flag; the store's layout and every behaviour
// that depends on a parameter's function follow from this list.
//
// Roles (shared by all families, so that compatible tensors of different models get the same
// key under the `role` and `layer` sharing granularities):
//
// | role                                   | BERT / RoBERTa                          | GPT-2                  |
// | -------------------------------------- | --------------------------------------- | ---------------------- |
// | `embedding.word`                       | `embeddings.word_embeddings`            | `wte`                  |
// | `embedding.position`                   | `embeddings.position_embeddings`        | `wpe`                  |
// | `embedding.token_type`                 | `embeddings.token_type_embeddings`      | —                      |
// | `norm.embedding.{weight,bias}`         | `embeddings.LayerNorm`                  | —                      |
// | `attention.{query,key,value}.{weight,bias}` | `attention.self.{query,key,value}` | `attn.c_attn.{q,k,v}`  |
// | `attention.output.{weight,bias}`       | `attention.output.dense`                | `attn.c_proj`          |
// | `norm.attention.{weight,bias}`         | `attention.output.LayerNorm` (post-LN)  | `ln_1` (pre-LN)        |
// | `ffn.in.{weight,bias}`                 | `intermediate.dense`                    | `mlp.c_fc`             |
// | `ffn.out.{weight,bias}`                | `output.dense`                          | `mlp.c_proj`           |
// | `norm.ffn.{weight,bias}`               | `output.LayerNorm` (post-LN)            | `ln_2` (pre-LN)        |
// | `norm.final.{weight,bias}`             | —                                       | `ln_f`                 |
// | `head.dense.{weight,bias}`             | `bert.pooler.dense` / `classifier.dense`| —                      |
// | `head.classifier.{weight,bias}`        | `classifier` / `classifier.out_proj`    | `score` (no bias)      |
// | `head.decoder.bias` (masked LM)        | `cls.predictions.bias` / `lm_head.bias` | —                      |
// | `head.transform.{weight,bias}` (MLM)   | `cls.predictions.transform.dense` / `lm_head.dense` | —          |
// | `norm.head.{weight,bias}` (masked LM)  | `cls.predictions.transform.LayerNorm` / `lm_head.layer_norm` | — |
//
// The LM decoders (`cls.predictions.decoder.weight`, `lm_head.decoder.weight`, GPT-2's
// `lm_head.weight`) are tied to the word embeddings and registered only as those.
//
// Kinds: embedding tables → `embedding`; Q/K/V/output projections → `attention`; FFN linears →
// `ffn`; every LayerNorm → `norm`; pooler / head dense and classifier → `head`. Weight decay: on
// for matrices and embedding tables, off for biases and norm parameters (the usual AdamW
// practice of Hugging Face's `Trainer`).
import MMOCore

/// Indices (into a `ParameterStore`) of a linear layer's weight `[out, in]` and optional bias.
struct LinearParameters {
    var weight: Int
    var bias: Int?
}

/// Indices of a LayerNorm's weight and bias.
struct NormParameters {
    var weight: Int
    var bias: Int
}

/// How a tensor is initialised (Hugging Face `_init_weights`).
enum InitRule {
    /// N(0, std²): linear weights and embedding tables.
    case normal(std: Float)
    /// N(0, std²) with row `paddingRow` zeroed (`nn.Embedding(padding_idx:)`).
    case normalWithZeroRow(std: Float, paddingRow: Int)
    /// Biases and LayerNorm biases.
    case zeros
    /// LayerNorm weights.
    case ones
}

/// Collects `ParameterSpec`s in registration order (= Hugging Face's `named_parameters` order)
/// together with each tensor's initialisation rule.
struct ParameterRegistry {
    private(set) var specs: [ParameterSpec] = []
    private(set) var rules: [InitRule] = []
    /// Default std of weights and embeddings (`initializer_range`).
    let std: Float

    init(std: Float) { self.std = std }

    /// Registers one tensor; returns its index in the future store.
    mutating func add(
        _ name: String, _ shape: [Int], kind: ParameterKind, role: String, block: Int?, weightDecay: Bool,
        initial: InitRule
    ) -> Int {
        specs.append(ParameterSpec(name: name, shape: shape, kind: kind, role: role, block: block, weightDecay: weightDecay))
        rules.append(initial)
        return specs.count - 1
    }

    /// Registers `<prefix>.weight` `[out, in]` (decayed, N(0, std²) or `weightStd`) and, if
    /// `bias`, `<prefix>.bias` `[out]` (zeros).
    mutating func linear(
        _ prefix: String, out: Int, in inputs: Int, kind: ParameterKind, role: String, block: Int?,
        bias: Bool = true, weightStd: Float? = nil
    ) -> LinearParameters {
        let w = add(
            "\(prefix).weight", [out, inputs], kind: kind, role: "\(role).weight", block: block, weightDecay: true,
            initial: .normal(std: weightStd ?? std))
        let b = bias
            ? add("\(prefix).bias", [out], kind: kind, role: "\(role).bias", block: block, weightDecay: false, initial: .zeros)
            : nil
        return LinearParameters(weight: w, bias: b)
    }

    /// Registers a LayerNorm's `<prefix>.weight` (ones) and `<prefix>.bias` (zeros) `[channels]`,
    /// never decayed.
    mutating func norm(_ prefix: String, channels: Int, role: String, block: Int?) -> NormParameters {
        let w = add("\(prefix).weight", [channels], kind: .norm, role: "\(role).weight", block: block, weightDecay: false, initial: .ones)
        let b = add("\(prefix).bias", [channels], kind: .norm, role: "\(role).bias", block: block, weightDecay: false, initial: .zeros)
        return NormParameters(weight: w, bias: b)
    }

    /// Registers an embedding table `<name>` `[rows, channels]` (decayed, N(0, std²), the
    /// `paddingRow` zeroed).
    mutating func embedding(_ name: String, rows: Int, channels: Int, role: String, paddingRow: Int? = nil) -> Int {
        let rule: InitRule = if let paddingRow { .normalWithZeroRow(std: std, paddingRow: paddingRow) } else { .normal(std: std) }
        return add(name, [rows, channels], kind: .embedding, role: role, block: nil, weightDecay: true, initial: rule)
    }

    /// Fills `store` (laid out from `specs`) by the rules, drawing normals from `rng` tensor by
    /// tensor in registration order.
    func initialize(_ store: ParameterStore, rng: inout PhiloxRNG) {
        precondition(store.specs == specs, "initialize: store was not built from this registry")
        for (i, rule) in rules.enumerated() {
            let p = store.value(i), n = specs[i].count
            switch rule {
            case .normal(let s):
                rng.fillNormal(p, count: n, std: s)
            case .normalWithZeroRow(let s, let row):
                rng.fillNormal(p, count: n, std: s)
                let width = specs[i].shape[1]
                (p + row * width).update(repeating: 0, count: width)
            case .zeros:
                p.update(repeating: 0, count: n)
            case .ones:
                p.update(repeating: 1, count: n)
            }
        }
    }
}
