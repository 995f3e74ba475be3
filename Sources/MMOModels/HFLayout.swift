// The Hugging Face layout of our models: which `transformers` tensor each of our tensors becomes,
// decided by role (never by matching names), and the `config.json` of each family. Our layout
// keeps Hugging Face's dotted names and `[out, in]` linear weights; GPT-2 is the one exception:
// Hugging Face's `Conv1D` stores `[in, out]` (`attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`) and fuses
// q, k, v into `attn.c_attn` (`[C, 3C]` weight, `[3C]` bias), which we keep as three tensors.
// References: transformers `pytorch_utils.Conv1D`, `models/gpt2/modeling_gpt2.py`
// (`GPT2Attention.c_attn`), `models/bert/configuration_bert.py`, `roberta/configuration_roberta.py`,
// `gpt2/configuration_gpt2.py`. `tools/hf_layout.py` is the same mapping in Python.
import Foundation
import MMOCore

/// Mapping between our parameter layout and a Hugging Face `state_dict`.
public enum HFLayout {
    /// How a Hugging Face tensor is made from ours.
    public enum Transform: String, Sendable, Equatable {
        /// Same values, same shape.
        case copy
        /// A `[out, in]` matrix stored `[in, out]` (GPT-2 `Conv1D`).
        case transpose
        /// GPT-2 `c_attn.weight`: three `[C, C]` `[out, in]` matrices (q, k, v) → `[C, 3C]` `[in, out]`.
        case fuseWeights
        /// GPT-2 `c_attn.bias`: three `[C]` vectors → `[3C]`.
        case fuseBiases
    }

    /// One tensor of the Hugging Face state dict.
    public struct Tensor: Sendable, Equatable {
        /// Hugging Face name, e.g. `transformer.h.0.attn.c_attn.weight`.
        public var name: String
        /// Hugging Face shape.
        public var shape: [Int]
        /// Indices of our tensors it is made of (one, or q, k, v for the fused ones).
        public var sources: [Int]
        /// How.
        public var transform: Transform

        /// Number of elements.
        public var count: Int { shape.reduce(1, *) }
    }

    /// The Hugging Face tensors of a `family` model with our `specs`, in our registration order
    /// (a fused tensor takes the place of its `q` part).
    public static func tensors(specs: [ParameterSpec], family: ModelFamily) -> [Tensor] {
        guard family == .gpt2 else {
            return specs.enumerated().map { Tensor(name: $1.name, shape: $1.shape, sources: [$0], transform: .copy) }
        }
        // q, k, v of one block, by role.
        func part(_ role: String, block: Int?) -> Int? {
            specs.firstIndex { $0.role == role && $0.block == block }
        }
        var out: [Tensor] = []
        for (i, spec) in specs.enumerated() {
            switch spec.role {
            case "attention.query.weight", "attention.query.bias":
                let suffix = spec.role.hasSuffix(".weight") ? "weight" : "bias"
                guard let k = part("attention.key.\(suffix)", block: spec.block),
                    let v = part("attention.value.\(suffix)", block: spec.block)
                else { preconditionFailure("GPT-2 block \(spec.block ?? -1) lacks key/value \(suffix)") }
                let name = fusedName(spec.name)
                if suffix == "weight" {
                    out.append(Tensor(name: name, shape: [spec.shape[1], 3 * spec.shape[0]], sources: [i, k, v], transform: .fuseWeights))
                } else {
                    out.append(Tensor(name: name, shape: [3 * spec.shape[0]], sources: [i, k, v], transform: .fuseBiases))
                }
            case "attention.key.weight", "attention.key.bias", "attention.value.weight", "attention.value.bias":
                continue  // fused with the query part
            case "attention.output.weight", "ffn.in.weight", "ffn.out.weight":
                out.append(Tensor(name: spec.name, shape: [spec.shape[1], spec.shape[0]], sources: [i], transform: .transpose))
            default:
                out.append(Tensor(name: spec.name, shape: spec.shape, sources: [i], transform: .copy))
            }
        }
        return out
    }

    /// `transformer.h.0.attn.c_attn.q.weight` → `transformer.h.0.attn.c_attn.weight`.
    static func fusedName(_ name: String) -> String {
        var parts = name.split(separator: ".").map(String.init)
        if parts.count >= 2 { parts.remove(at: parts.count - 2) }
        return parts.joined(separator: ".")
    }

    /// Writes Hugging Face tensor `t` into `out` (`t.count` floats) from our tensors.
    public static func gather(
        _ t: Tensor, specs: [ParameterSpec], source: (Int) -> UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        switch t.transform {
        case .copy:
            out.update(from: source(t.sources[0]), count: t.count)
        case .transpose:
            let rows = specs[t.sources[0]].shape[0], cols = specs[t.sources[0]].shape[1]
            transpose(source(t.sources[0]), rows: rows, cols: cols, into: out, rowStride: rows, columnOffset: 0)
        case .fuseWeights:
            let c = specs[t.sources[0]].shape[0], inputs = specs[t.sources[0]].shape[1]
            for (p, s) in t.sources.enumerated() {
                transpose(source(s), rows: c, cols: inputs, into: out, rowStride: 3 * c, columnOffset: p * c)
            }
        case .fuseBiases:
            let c = specs[t.sources[0]].shape[0]
            for (p, s) in t.sources.enumerated() { (out + p * c).update(from: source(s), count: c) }
        }
    }

    /// The inverse of `gather`: scatters Hugging Face tensor `t` (`t.count` floats at `input`)
    /// into our tensors.
    public static func scatter(
        _ t: Tensor, specs: [ParameterSpec], from input: UnsafePointer<Float>, target: (Int) -> UnsafeMutablePointer<Float>
    ) {
        switch t.transform {
        case .copy:
            target(t.sources[0]).update(from: input, count: t.count)
        case .transpose:
            // HF [in, out] → ours [out, in]
            let rows = t.shape[0], cols = t.shape[1]
            transpose(input, rows: rows, cols: cols, into: target(t.sources[0]), rowStride: rows, columnOffset: 0)
        case .fuseWeights:
            let inputs = t.shape[0], c = t.shape[1] / 3
            for (p, s) in t.sources.enumerated() {
                let dst = target(s)
                for o in 0..<c {
                    for i in 0..<inputs { dst[o * inputs + i] = input[i * 3 * c + p * c + o] }
                }
            }
        case .fuseBiases:
            let c = t.shape[0] / 3
            for (p, s) in t.sources.enumerated() { target(s).update(from: input + p * c, count: c) }
        }
    }

    /// `out[j, columnOffset + i] = a[i, j]` for `a` of `rows × cols`, `out` rows of `rowStride`.
    private static func transpose(
        _ a: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, rowStride: Int, columnOffset: Int
    ) {
        for i in 0..<rows {
            for j in 0..<cols { out[j * rowStride + columnOffset + i] = a[i * cols + j] }
        }
    }

    // MARK: - config.json

    /// The `transformers` class of a family's sequence classifier.
    public static func architecture(_ family: ModelFamily) -> String {
        switch family {
        case .bert: return "BertForSequenceClassification"
        case .gpt2: return "GPT2ForSequenceClassification"
        case .roberta: return "RobertaForSequenceClassification"
        }
    }

    /// The `transformers` class of a model: the family's sequence classifier, or with a
    /// language-model objective `BertForMaskedLM`, `RobertaForMaskedLM`, `GPT2LMHeadModel`.
    public static func architecture(_ config: ModelConfig) -> String {
        switch (config.objective, config.family) {
        case (.classification, let family): return architecture(family)
        case (_, .bert): return "BertForMaskedLM"
        case (_, .roberta): return "RobertaForMaskedLM"
        case (_, .gpt2): return "GPT2LMHeadModel"
        }
    }

    /// A float as the shortest decimal that reads back as the same `Float` (0.1, not 0.100000001).
    static func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// The `config.json` object `transformers` builds `config`'s model from, with `labels` as
    /// `id2label` / `label2id` and the special token ids of the family's tokenizer. Dropouts are
    /// the training values (`from_pretrained` models start in eval mode, where they do nothing).
    /// A language model has no labels; `tie_word_embeddings` makes `transformers` tie its
    /// decoder to the word embeddings, which is how the file stores it (one tensor).
    public static func configObject(_ config: ModelConfig, labels: [String], specialTokens: [String: Int]) -> [String: Any] {
        var id2label: [String: String] = [:]
        var label2id: [String: Int] = [:]
        for (i, label) in labels.enumerated() {
            id2label["\(i)"] = label
            label2id[label] = i
        }
        var object: [String: Any] = [
            "architectures": [architecture(config)],
            "model_type": config.family.rawValue,
            "vocab_size": config.vocabSize,
            "initializer_range": decimal(config.initializerRange),
            "id2label": id2label,
            "label2id": label2id,
            "pad_token_id": config.padTokenID,
            // `dtype` (transformers 5 warns that `torch_dtype` is deprecated; 4.x defaults to
            // float32 when it reads neither).
            "dtype": "float32",
            "problem_type": "single_label_classification",
        ]
        if config.objective.isLanguageModel {
            for key in ["id2label", "label2id", "problem_type"] { object.removeValue(forKey: key) }
            object["tie_word_embeddings"] = true
        }
        switch config.family {
        case .gpt2:
            object.merge([
                "n_embd": config.hiddenSize, "n_layer": config.numLayers, "n_head": config.numHeads,
                "n_inner": config.intermediateSize, "n_positions": config.maxPositions, "n_ctx": config.maxPositions,
                "activation_function": "gelu_new", "resid_pdrop": decimal(config.hiddenDropout),
                "embd_pdrop": decimal(config.hiddenDropout), "attn_pdrop": decimal(config.attentionDropout),
                "summary_first_dropout": decimal(config.hiddenDropout),
                "layer_norm_epsilon": decimal(config.layerNormEps), "scale_attn_weights": true,
                "scale_attn_by_inverse_layer_idx": false, "reorder_and_upcast_attn": false,
                "bos_token_id": specialTokens["bos"] ?? NSNull(), "eos_token_id": specialTokens["eos"] ?? NSNull(),
            ]) { $1 }
        case .bert, .roberta:
            object.merge([
                "hidden_size": config.hiddenSize, "num_hidden_layers": config.numLayers,
                "num_attention_heads": config.numHeads, "intermediate_size": config.intermediateSize,
                "max_position_embeddings": config.maxPositions, "type_vocab_size": config.typeVocabSize,
                "hidden_act": "gelu", "hidden_dropout_prob": decimal(config.hiddenDropout),
                "attention_probs_dropout_prob": decimal(config.attentionDropout),
                "layer_norm_eps": decimal(config.layerNormEps), "position_embedding_type": "absolute",
                "classifier_dropout": NSNull(), "use_cache": true,
            ]) { $1 }
            if config.family == .roberta {
                object["bos_token_id"] = specialTokens["bos"] ?? 0
                object["eos_token_id"] = specialTokens["eos"] ?? 2
            }
        }
        return object
    }
}
