// `models[].init`: a model's initial weights from a Hugging Face folder (config.json, safetensors
// — one file or shards listed by model.safetensors.index.json — and tokenizer files) or from one
// model of one of our checkpoints (`CKPT.mmo#model`). As transformers' `from_pretrained` into
// `…ForSequenceClassification`: the architecture comes from the source, tensors are matched by
// name (with or without the base model's prefix, `bert.` / `roberta.` / `transformer.`), the
// head tensors the source lacks keep their seeded initialisation, and the source's tensors the
// classifier does not use are ignored; the report lists all three. Unlike `from_pretrained`, a
// missing or mis-shaped backbone tensor is an error, not a warning.
// References: transformers `modeling_utils.PreTrainedModel.from_pretrained` (prefix handling,
// missing / unexpected keys), `models/bert/configuration_bert.py`, `roberta/configuration_roberta.py`,
// `gpt2/configuration_gpt2.py` (the defaults of absent fields).
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels

/// What initialising one model from a source did, kept with the run (`models[].init` of the
/// state document) and printed by `mmo-train`, like `from_pretrained`'s warnings.
public struct InitializationReport: Codable, Sendable, Equatable {
    /// The source as the run config gives it (a folder, or `CKPT.mmo#model`).
    public var source: String
    /// `huggingface` (a folder) or `checkpoint`.
    public var kind: String
    /// The source's element types of the tensors read (`F32`, `F16`, `BF16`).
    public var dtypes: [String]
    /// Our tensors (Hugging Face names) read from the source.
    public var loaded: [String]
    /// Our tensors the source does not have: the head, initialised from the run seed.
    public var newlyInitialized: [String]
    /// The source's tensors the classifier does not use (`cls.*`, `lm_head.weight`, a pooler).
    public var ignored: [String]

    /// A report.
    public init(source: String, kind: String, dtypes: [String], loaded: [String], newlyInitialized: [String], ignored: [String]) {
        self.source = source
        self.kind = kind
        self.dtypes = dtypes
        self.loaded = loaded
        self.newlyInitialized = newlyInitialized
        self.ignored = ignored
    }

    /// Lines for the terminal, from_pretrained-style.
    public func text(model: String, family: ModelFamily) -> String {
        var lines = ["\(model): initialised from \(source) (\(loaded.count) tensors loaded, \(dtypes.joined(separator: "/")) → f32)"]
        if !newlyInitialized.isEmpty {
            lines.append("  newly initialised from the run seed (not in the source; train them): \(newlyInitialized.joined(separator: ", "))")
        }
        if !ignored.isEmpty {
            let shown = ignored.count > 8 ? ignored.prefix(8).joined(separator: ", ") + ", … (\(ignored.count) in all)" : ignored.joined(separator: ", ")
            lines.append("  ignored (not used by \(HFLayout.architecture(family))): \(shown)")
        }
        return lines.joined(separator: "\n")
    }
}

/// A model built from its `init` source: the classifier, its tokenizer and the report.
public struct ImportedModel {
    /// The classifier with the source's tensors loaded.
    public var model: any SequenceClassifier
    /// The tokenizer the source was trained with.
    public var tokenizer: ModelTokenizer
    /// Loaded, newly initialised and ignored tensors.
    public var report: InitializationReport
}

/// Reads `models[].init` sources.
public enum PretrainedImport {
    /// The Hugging Face `model_type`s this build imports.
    public static let modelTypes = ModelFamily.allCases.map(\.rawValue)

    /// Where `models[].init` points.
    enum Source {
        case folder(String)
        case checkpoint(path: String, model: String)

        init(_ text: String) {
            if let hash = text.lastIndex(of: "#"), text[..<hash].hasSuffix(".mmo") {
                self = .checkpoint(path: String(text[..<hash]), model: String(text[text.index(after: hash)...]))
            } else {
                self = .folder(text)
            }
        }
    }

    /// The architecture of model `index` of `config` as its `init` source describes it, with
    /// `numLabels` classes, checked against the run config's explicit fields and
    /// `data.maxLength`. Reads only config.json or the checkpoint's state document.
    public static func architecture(entry: ModelEntry, index: Int, config: RunConfig, numLabels: Int, file: String = "config") throws -> ModelConfig {
        let architecture: ModelConfig
        let origin: String
        switch try source(entry, index: index, file: file) {
        case .folder(let folder):
            origin = (folder as NSString).appendingPathComponent("config.json")
            architecture = try modelConfig(configJSON: origin, entry: entry, index: index, numLabels: numLabels, file: file)
        case .checkpoint(let path, let name):
            origin = "\(path)#\(name)"
            architecture = try checkpointArchitecture(
                Checkpoint.open(URL(fileURLWithPath: path)), model: name, entry: entry, index: index, numLabels: numLabels, file: file)
        }
        if config.data.maxLength > architecture.maxSequenceLength {
            throw ConfigError(
                file: file, field: "data.maxLength",
                reason: "is \(config.data.maxLength) but model \(index) ('\(entry.name)', \(origin)) has only \(architecture.maxSequenceLength) positions; use at most \(architecture.maxSequenceLength)")
        }
        return architecture
    }

    static func source(_ entry: ModelEntry, index: Int, file: String) throws -> Source {
        guard let text = entry.initFrom else { throw ConfigError(file: file, field: "models[\(index)].init", reason: "is not set") }
        let source = Source(text)
        if case .folder(let folder) = source {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigError(
                    file: file, field: "models[\(index)].init",
                    reason: "'\(folder)' is not a folder; give a Hugging Face model folder (config.json, model.safetensors, tokenizer files) or CKPT.mmo#model")
            }
        }
        return source
    }

    /// Builds model `index` of `config` from its `init` source, with `numLabels` classes; `seed`
    /// seeds the tensors the source lacks (the head), as for a new model. `file` names the run
    /// config in errors.
    public static func load(
        entry: ModelEntry, index: Int, config: RunConfig, numLabels: Int, seed: UInt64, file: String = "config"
    ) throws -> ImportedModel {
        let architecture = try self.architecture(entry: entry, index: index, config: config, numLabels: numLabels, file: file)
        switch try source(entry, index: index, file: file) {
        case .checkpoint(let path, let name):
            return try loadCheckpoint(path: path, model: name, architecture: architecture, config: config, seed: seed)
        case .folder(let folder):
            return try loadFolder(folder, architecture: architecture, entry: entry, index: index, config: config, seed: seed, file: file)
        }
    }

    // MARK: - Hugging Face folder

    static func loadFolder(
        _ folder: String, architecture: ModelConfig, entry: ModelEntry, index: Int, config: RunConfig, seed: UInt64, file: String
    ) throws -> ImportedModel {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        let template: TokenizerTemplate = entry.family == .bert ? .bert : entry.family == .roberta ? .roberta : .none
        let tokenizer: PretrainedTokenizer
        do {
            tokenizer = try PretrainedTokenizer.load(folder: folder, template: template, maxLength: config.data.maxLength)
        } catch let error as TokenizerError {
            throw ConfigError(file: file, field: "models[\(index)].init", reason: "\(error)")
        }
        if tokenizer.vocabularySize > architecture.vocabSize {
            throw ConfigError(
                file: configPath, field: "vocab_size",
                reason: "is \(architecture.vocabSize) but the folder's tokenizer has \(tokenizer.vocabularySize) ids; the tokenizer does not belong to this model")
        }
        let tensors = try SourceTensors(folder: folder)
        let model = try makeClassifier(config: architecture, seed: seed)
        var report = try load(into: model, from: tensors, prefixes: [basePrefix(entry.family)])
        report.source = folder
        report.kind = "huggingface"
        return ImportedModel(model: model, tokenizer: .pretrained(tokenizer), report: report)
    }

    static func basePrefix(_ family: ModelFamily) -> String {
        switch family {
        case .bert: return "bert."
        case .roberta: return "roberta."
        case .gpt2: return "transformer."
        }
    }

    /// The architecture `config.json` describes, for `numLabels` classes, checked against the
    /// fields the run config sets for the model. Absent fields take transformers' defaults.
    public static func modelConfig(configJSON path: String, entry: ModelEntry, index: Int, numLabels: Int, file: String) throws -> ModelConfig {
        let object: [String: Any]
        do {
            let data = try readFile(path, what: "config.json of a Hugging Face model folder")
            guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigError(file: path, field: "", reason: "the top level is not a JSON object")
            }
            object = o
        } catch let error as FileReadError {
            throw ConfigError(file: path, field: "", reason: error.reason + " (models[\(index)].init needs a Hugging Face model folder)")
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: path, field: "", reason: "is not valid JSON (\((error as NSError).userInfo[NSDebugDescriptionErrorKey] ?? error))")
        }
        func fail(_ field: String, _ reason: String) -> ConfigError { ConfigError(file: path, field: field, reason: reason) }
        func int(_ key: String, _ fallback: Int?) throws -> Int {
            switch object[key] {
            case nil, is NSNull:
                guard let fallback else { throw fail(key, "is missing") }
                return fallback
            case let n as NSNumber where n.doubleValue.rounded() == n.doubleValue && abs(n.doubleValue) < 1e9:
                return n.intValue
            case let other?: throw fail(key, "must be an integer, got \(other)")
            }
        }
        func float(_ key: String, _ fallback: Float) throws -> Float {
            switch object[key] {
            case nil, is NSNull: return fallback
            case let n as NSNumber: return n.floatValue
            case let other?: throw fail(key, "must be a number, got \(other)")
            }
        }
        func string(_ key: String, _ fallback: String) throws -> String {
            switch object[key] {
            case nil, is NSNull: return fallback
            case let s as String: return s
            case let other?: throw fail(key, "must be a string, got \(other)")
            }
        }
        func flag(_ key: String, _ fallback: Bool) -> Bool { object[key] as? Bool ?? fallback }
        guard let type = object["model_type"] as? String else {
            throw fail("model_type", "is missing; this build imports model_type \(modelTypes.joined(separator: ", "))")
        }
        guard let family = ModelFamily(rawValue: type) else {
            throw fail("model_type", "'\(type)' is not supported; this build imports \(modelTypes.joined(separator: ", "))")
        }
        if family != entry.family {
            throw ConfigError(
                file: file, field: "models[\(index)].family",
                reason: "is \(entry.family.rawValue) but \(path) has model_type \(type); set family: \(type)")
        }
        var c: ModelConfig
        switch family {
        case .bert, .roberta:
            let act = try string("hidden_act", "gelu")
            guard act == "gelu" else {
                throw fail("hidden_act", "'\(act)' is not implemented (BERT and RoBERTa here use 'gelu', the erf GELU)")
            }
            let positions = try string("position_embedding_type", "absolute")
            guard positions == "absolute" else { throw fail("position_embedding_type", "'\(positions)' is not implemented (only 'absolute')") }
            if flag("is_decoder", false) || flag("add_cross_attention", false) {
                throw fail("is_decoder", "decoder BERT / RoBERTa models are not implemented")
            }
            c = ModelConfig(
                family: family, vocabSize: try int("vocab_size", family == .bert ? 30522 : 50265),
                hiddenSize: try int("hidden_size", 768), numLayers: try int("num_hidden_layers", 12),
                numHeads: try int("num_attention_heads", 12), intermediateSize: try int("intermediate_size", 3072),
                maxPositions: try int("max_position_embeddings", 512), numLabels: numLabels,
                hiddenDropout: entry.hiddenDropout, attentionDropout: entry.attentionDropout,
                layerNormEps: try float("layer_norm_eps", 1e-12), padTokenID: try int("pad_token_id", family == .bert ? 0 : 1),
                typeVocabSize: try int("type_vocab_size", 2), initializerRange: try float("initializer_range", 0.02))
        case .gpt2:
            let act = try string("activation_function", "gelu_new")
            guard act == "gelu_new" || act == "gelu_pytorch_tanh" else {
                throw fail("activation_function", "'\(act)' is not implemented (GPT-2 here uses the tanh GELU, 'gelu_new')")
            }
            if !flag("scale_attn_weights", true) || flag("scale_attn_by_inverse_layer_idx", false) || flag("add_cross_attention", false) {
                throw fail("scale_attn_weights", "only GPT-2's default attention (scaled by 1/√d, no layer-index scaling, no cross-attention) is implemented")
            }
            let hidden = try int("n_embd", 768)
            // GPT2ForSequenceClassification needs a pad id to find each text's last token; GPT-2
            // has none, so the end-of-text token stands in (the usual choice).
            let pad = try int("pad_token_id", try int("eos_token_id", 50256))
            c = ModelConfig(
                family: .gpt2, vocabSize: try int("vocab_size", 50257), hiddenSize: hidden, numLayers: try int("n_layer", 12),
                numHeads: try int("n_head", 12), intermediateSize: try int("n_inner", 4 * hidden), maxPositions: try int("n_positions", 1024),
                numLabels: numLabels, hiddenDropout: entry.hiddenDropout, attentionDropout: entry.attentionDropout,
                layerNormEps: try float("layer_norm_epsilon", 1e-5), padTokenID: pad, typeVocabSize: 1,
                initializerRange: try float("initializer_range", 0.02))
        }
        let hfNames = family == .gpt2
            ? ["hiddenSize": "n_embd", "numLayers": "n_layer", "numHeads": "n_head", "intermediateSize": "n_inner"]
            : ["hiddenSize": "hidden_size", "numLayers": "num_hidden_layers", "numHeads": "num_attention_heads", "intermediateSize": "intermediate_size"]
        try checkExplicit(entry, against: c, index: index, file: file, sourceName: { "\(path) has \(hfNames[$0]!)" })
        do {
            try c.validate()
        } catch {
            throw fail("", "does not describe a buildable model: \(error)")
        }
        return c
    }

    /// The run config's explicit architecture fields must equal the source's.
    static func checkExplicit(_ entry: ModelEntry, against c: ModelConfig, index: Int, file: String, sourceName: (String) -> String) throws {
        let pairs: [(String, Int?, Int)] = [
            ("hiddenSize", entry.hiddenSize, c.hiddenSize), ("numLayers", entry.numLayers, c.numLayers),
            ("numHeads", entry.numHeads, c.numHeads), ("intermediateSize", entry.intermediateSize, c.intermediateSize),
        ]
        for (field, given, source) in pairs {
            if let given, given != source {
                throw ConfigError(
                    file: file, field: "models[\(index)].\(field)",
                    reason: "is \(given) but \(sourceName(field)) \(source); remove the field or make them agree")
            }
        }
    }

    /// The tensors of a folder: `model.safetensors`, or the shards `model.safetensors.index.json`
    /// lists. Every tensor name is unique across the shards.
    struct SourceTensors {
        var tensors: [String: (tensor: SafeTensor, file: String)] = [:]
        /// Names in file order (for the ignored list).
        var names: [String] = []
        var description: String

        init(folder: String) throws {
            let single = (folder as NSString).appendingPathComponent("model.safetensors")
            let indexPath = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
            var files: [String] = []
            if FileManager.default.fileExists(atPath: single) {
                files = [single]
                description = single
            } else if FileManager.default.fileExists(atPath: indexPath) {
                let data: Data
                do { data = try readFile(indexPath, what: "safetensors index") } catch let e as FileReadError {
                    throw ConfigError(file: indexPath, field: "", reason: e.reason)
                }
                guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                    let map = root["weight_map"] as? [String: String]
                else {
                    throw ConfigError(file: indexPath, field: "weight_map", reason: "is missing or not an object of tensor name → shard file")
                }
                for shard in Set(map.values).sorted() {
                    guard !shard.contains("/"), !shard.hasPrefix(".") else {
                        throw ConfigError(file: indexPath, field: "weight_map", reason: "shard '\(shard)' is not a file name in the folder")
                    }
                    files.append((folder as NSString).appendingPathComponent(shard))
                }
                description = indexPath
            } else {
                throw ConfigError(
                    file: folder, field: "",
                    reason: "has no model.safetensors or model.safetensors.index.json (PyTorch .bin weights are not read; convert them with safetensors first)")
            }
            for path in files {
                let file: SafeTensorsFile
                do {
                    file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
                } catch let error as SafeTensorsError {
                    throw ConfigError(file: path, field: "", reason: "\(error)")
                } catch {
                    throw ConfigError(file: path, field: "", reason: "cannot read the safetensors file (\(systemReason(error)))")
                }
                for name in file.names {
                    if let other = tensors[name] {
                        throw ConfigError(file: path, field: "", reason: "tensor `\(name)` is also in \(other.file)")
                    }
                    tensors[name] = (file[name]!, path)
                    names.append(name)
                }
            }
        }
    }

    /// Scatters the source's tensors into `model` (already initialised from its seed) by name
    /// (optionally with one of `prefixes` removed); head tensors the source lacks keep their
    /// initialisation. Missing backbone tensors, wrong shapes and non-float dtypes are errors.
    static func load(into model: any SequenceClassifier, from source: SourceTensors, prefixes: [String]) throws -> InitializationReport {
        let store = model.parameters
        let specs = store.specs
        var used = Set<String>()
        var loaded: [String] = [], fresh: [String] = [], dtypes = Set<String>()
        for t in HFLayout.tensors(specs: specs, family: model.config.family) {
            let candidates = [t.name] + prefixes.compactMap { t.name.hasPrefix($0) ? String(t.name.dropFirst($0.count)) : nil }
            guard let name = candidates.first(where: { source.tensors[$0] != nil }), let (tensor, file) = source.tensors[name] else {
                if t.sources.allSatisfy({ specs[$0].kind == .head }) {
                    fresh.append(t.name)
                    continue
                }
                throw ConfigError(
                    file: source.description, field: "",
                    reason: "tensor `\(t.name)` (shape \(t.shape)) is missing\(candidates.count > 1 ? " (also looked for `\(candidates.dropFirst().joined(separator: "`, `"))`)" : ""); the weights do not belong to this \(model.config.family.rawValue) model")
            }
            guard tensor.shape == t.shape else {
                if t.sources.allSatisfy({ specs[$0].kind == .head }) {
                    // A head for another label count: a new head (transformers' ignore_mismatched_sizes).
                    fresh.append(t.name)
                    continue
                }
                throw ConfigError(
                    file: file, field: "",
                    reason: "tensor `\(name)` has shape \(tensor.shape), the model (config.json) needs \(t.shape)")
            }
            let values: [Float]
            do {
                values = try tensor.floatsWidening(name: name)
            } catch {
                throw ConfigError(file: file, field: "", reason: "tensor `\(name)` is \(tensor.dtype.rawValue); weights must be F32, F16 or BF16")
            }
            values.withUnsafeBufferPointer { buffer in
                HFLayout.scatter(t, specs: specs, from: buffer.baseAddress!, target: { store.value($0) })
            }
            used.insert(name)
            loaded.append(t.name)
            dtypes.insert(tensor.dtype.rawValue)
        }
        return InitializationReport(
            source: "", kind: "", dtypes: dtypes.sorted(), loaded: loaded, newlyInitialized: fresh,
            ignored: source.names.filter { !used.contains($0) })
    }

    // MARK: - One model of a checkpoint

    /// Model `name` of `checkpoint` as the architecture of run model `entry`.
    static func checkpointArchitecture(
        _ checkpoint: Checkpoint, model name: String, entry: ModelEntry, index: Int, numLabels: Int, file: String
    ) throws -> ModelConfig {
        let record = try checkpoint.model(named: name)
        if record.family != entry.family {
            throw ConfigError(
                file: file, field: "models[\(index)].family",
                reason: "is \(entry.family.rawValue) but model '\(name)' of \(checkpoint.path) is \(record.family.rawValue)")
        }
        var architecture = record.config
        architecture.numLabels = numLabels
        // A pretrained (masked / causal LM) source becomes a classifier here: its LM head
        // tensors are reported as ignored.
        architecture.objective = .classification
        architecture.hiddenDropout = entry.hiddenDropout
        architecture.attentionDropout = entry.attentionDropout
        try checkExplicit(entry, against: architecture, index: index, file: file, sourceName: { "model '\(name)' of \(checkpoint.path) has \($0)" })
        return architecture
    }

    static func loadCheckpoint(path: String, model name: String, architecture: ModelConfig, config: RunConfig, seed: UInt64) throws -> ImportedModel {
        let checkpoint = try Checkpoint.open(URL(fileURLWithPath: path))
        let record = try checkpoint.model(named: name)
        // The tokenizer the source model was trained with, cut to this run's length.
        let tokenizer: ModelTokenizer
        do {
            switch checkpoint.state.tokenizer(of: record) {
            case .word(let t, let scheme):
                tokenizer = .word(try WordTokenizer(words: t.words, lowercase: t.lowercase, maxLength: config.data.maxLength), scheme)
            case .pretrained(let t):
                tokenizer = .pretrained(try t.with(maxLength: config.data.maxLength))
            }
        } catch {
            throw TrainingError.checkpoint(path: path, reason: "model '\(name)': its tokenizer cannot be rebuilt: \(error)")
        }
        // Every parameter blob of the source model as a named tensor (our names are the Hugging
        // Face ones, in our unfused layout), matched spec by spec.
        var source = SourceTensors(description: "\(path)#\(name)")
        for blob in checkpoint.reader.blobs {
            let parsed = CheckpointNames.parse(blob.name)
            guard parsed.group == .parameters, parsed.model == name, let parameter = parsed.parameter else { continue }
            var values = [Float](repeating: 0, count: blob.shape.reduce(1, *))
            try values.withUnsafeMutableBufferPointer { try checkpoint.readTensor(blob.name, shape: blob.shape, into: $0.baseAddress!) }
            source.tensors[parameter] = (SafeTensor(floats: values, shape: blob.shape), path)
            source.names.append(parameter)
        }
        let model = try makeClassifier(config: architecture, seed: seed)
        var report = try loadOurs(into: model, from: source)
        report.source = "\(path)#\(name)"
        report.kind = "checkpoint"
        return ImportedModel(model: model, tokenizer: tokenizer, report: report)
    }

    /// `load(into:from:prefixes:)` for tensors in our own layout (one per parameter spec).
    static func loadOurs(into model: any SequenceClassifier, from source: SourceTensors) throws -> InitializationReport {
        let store = model.parameters
        var used = Set<String>()
        var loaded: [String] = [], fresh: [String] = []
        for (i, spec) in store.specs.enumerated() {
            guard let (tensor, file) = source.tensors[spec.name] else {
                if spec.kind == .head {
                    fresh.append(spec.name)
                    continue
                }
                throw TrainingError.checkpoint(path: source.description, reason: "has no tensor `\(spec.name)` (shape \(spec.shape)), which the \(model.config.family.rawValue) classifier needs")
            }
            guard tensor.shape == spec.shape else {
                if spec.kind == .head {
                    // A classification head for another label count: a new head, as for a folder without one.
                    fresh.append(spec.name)
                    continue
                }
                throw TrainingError.checkpoint(path: file, reason: "tensor `\(spec.name)` has shape \(tensor.shape), the model needs \(spec.shape)")
            }
            let values = try tensor.floats(name: spec.name)
            store.value(i).update(from: values, count: values.count)
            used.insert(spec.name)
            loaded.append(spec.name)
        }
        return InitializationReport(
            source: "", kind: "", dtypes: ["F32"], loaded: loaded, newlyInitialized: fresh, ignored: source.names.filter { !used.contains($0) })
    }
}

extension PretrainedImport.SourceTensors {
    init(description: String) {
        self.description = description
    }
}
