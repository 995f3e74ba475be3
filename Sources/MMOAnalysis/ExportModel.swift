// One model of a checkpoint as a Hugging Face folder: model.safetensors (transformers names and
// layout through `HFLayout`, f32, metadata {"format": "pt"}), config.json (architecture, labels,
// special token ids), and the run's tokenizer (tokenizer.json, tokenizer_config.json,
// special_tokens_map.json). `AutoModelForSequenceClassification.from_pretrained(folder)` loads
// it with no missing or unexpected keys (checked by tools/check_export.py); a pretraining run's
// model exports as `BertForMaskedLM` / `RobertaForMaskedLM` / `GPT2LMHeadModel`, its decoder
// tied to the word embeddings and stored once, as `save_pretrained` does
// (tools/check_lm_export.py).
import Foundation
import MMOCore
import MMOData
import MMOFormat
import MMOModels
import MMORun

/// What an export wrote.
public struct ExportReport: Codable, Sendable {
    /// One written file.
    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var bytes: Int
    }
    /// The checkpoint, its step and the model exported.
    public var checkpoint: String
    public var step: Int
    public var model: String
    public var family: ModelFamily
    /// The transformers class, e.g. `GPT2ForSequenceClassification` or `BertForMaskedLM`.
    public var architecture: String
    /// The output folder.
    public var directory: String
    public var files: [File]
    /// Tensors in model.safetensors and their elements.
    public var tensors: Int
    public var parameters: Int
    /// Tokenizer vocabulary (specials included), truncation length, lowercasing.
    public var vocabularySize: Int
    public var maxLength: Int
    public var lowercase: Bool
    /// Class names, index = label id (config.json `id2label`).
    public var labels: [String]
}

/// Exports models of a checkpoint in Hugging Face's layout.
public enum ModelExport {
    /// The files of an export folder.
    public static let fileNames = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

    /// The Hugging Face state dict of model `name` of `checkpoint`, tensors in our registration
    /// order (a fused GPT-2 `c_attn` where its `q` part is), with metadata {"format": "pt"}.
    public static func stateDict(_ checkpoint: Checkpoint, model name: String) throws -> SafeTensorsFile {
        let record = try checkpoint.model(named: name)
        let specs = try checkpoint.specs(of: record)
        // All parameters in one flat buffer: the fused tensors need q, k and v at once.
        var offsets: [Int] = []
        var total = 0
        for spec in specs {
            offsets.append(total)
            total += spec.count
        }
        let values = UnsafeMutablePointer<Float>.allocate(capacity: max(1, total))
        defer { values.deallocate() }
        for (i, spec) in specs.enumerated() {
            try checkpoint.readTensor(CheckpointNames.parameter(model: name, spec.name), shape: spec.shape, into: values + offsets[i])
        }
        var file = SafeTensorsFile(metadata: ["format": "pt"], source: "\(checkpoint.path) model '\(name)'")
        for tensor in HFLayout.tensors(specs: specs, family: record.family) {
            var out = [Float](repeating: 0, count: tensor.count)
            out.withUnsafeMutableBufferPointer { buffer in
                HFLayout.gather(tensor, specs: specs, source: { UnsafePointer(values + offsets[$0]) }, into: buffer.baseAddress!)
            }
            try file.add(tensor.name, SafeTensor(floats: out, shape: tensor.shape))
        }
        return file
    }

    /// The config.json object of model `record` with the run's labels and the special token ids
    /// of the tokenizer it was trained with.
    public static func configObject(_ record: CheckpointState.ModelRecord, labels: [String]) -> [String: Any] {
        var ids = HFTokenizerExport.configTokenIDs(SpecialTokenScheme(record.family))
        if case .pretrained(let t)? = record.tokenizer {
            ids = [:]
            let (bos, eos) = record.family == .gpt2 ? ("<|endoftext|>", "<|endoftext|>") : ("<s>", "</s>")
            if record.family != .bert, let b = t.id(of: bos), let e = t.id(of: eos) { ids = ["bos": Int(b), "eos": Int(e)] }
        }
        return HFLayout.configObject(record.config, labels: labels, specialTokens: ids)
    }

    /// Writes model `name` of `checkpoint` into `directory` (created if missing). An existing
    /// folder that is not empty is refused unless `force`, which replaces the export's files and
    /// leaves any others alone. Each file is written atomically.
    public static func export(_ checkpoint: Checkpoint, model name: String, to directory: URL, force: Bool = false) throws -> ExportReport {
        let record = try checkpoint.model(named: name)
        let state = checkpoint.state
        let labels = state.data.labelNames
        guard labels.count == record.config.numLabels else {
            throw TrainingError.checkpoint(
                path: checkpoint.path, reason: "model '\(name)' has \(record.config.numLabels) classes but the run records \(labels.count) label names")
        }
        let tokenizer = state.tokenizer(of: record)
        if tokenizer.vocabularySize > record.config.vocabSize {
            throw TrainingError.checkpoint(
                path: checkpoint.path,
                reason: "the tokenizer has \(tokenizer.vocabularySize) ids but model '\(name)' only \(record.config.vocabSize) embedding rows; the checkpoint is inconsistent")
        }
        if tokenizer.maxLength > record.config.maxSequenceLength {
            throw TrainingError.checkpoint(
                path: checkpoint.path,
                reason: "the tokenizer's maxLength \(tokenizer.maxLength) exceeds model '\(name)''s \(record.config.maxSequenceLength) positions; the checkpoint is inconsistent")
        }
        // Everything is built before the folder is touched: a failure leaves no half export.
        let weights = try stateDict(checkpoint, model: name)
        var documents: [(String, Data)] = [
            ("model.safetensors", try weights.serialized()),
            ("config.json", try json(configObject(record, labels: labels))),
        ]
        let lowercase: Bool
        switch tokenizer {
        case .word(let words, let scheme):
            documents += [
                ("tokenizer.json", try json(HFTokenizerExport.tokenizerObject(words, scheme: scheme))),
                ("tokenizer_config.json", try json(HFTokenizerExport.tokenizerConfigObject(words, scheme: scheme))),
                ("special_tokens_map.json", try json(HFTokenizerExport.specialTokensMapObject(scheme))),
            ]
            lowercase = words.lowercase
        case .pretrained(let t):
            // The files the model was imported with, byte for byte: AutoTokenizer reads them
            // exactly as it read the source folder.
            documents += PretrainedTokenizer.fileNames.compactMap { file in t.files[file].map { (file, Data($0.utf8)) } }
            lowercase = t.lowercases
        }
        try prepare(directory, force: force)
        var files: [ExportReport.File] = []
        for (fileName, data) in documents {
            let url = directory.appendingPathComponent(fileName)
            do {
                try data.write(to: url, options: .atomic)
            } catch {
                throw TrainingError.io(path: url.path, reason: "cannot write: \(error.localizedDescription)")
            }
            files.append(ExportReport.File(name: fileName, bytes: data.count))
        }
        let parameters = weights.names.reduce(0) { $0 + (weights[$1]?.elementCount ?? 0) }
        return ExportReport(
            checkpoint: checkpoint.path, step: state.progress.step, model: name, family: record.family,
            architecture: HFLayout.architecture(record.config), directory: directory.path, files: files, tensors: weights.names.count,
            parameters: parameters, vocabularySize: tokenizer.vocabularySize, maxLength: tokenizer.maxLength,
            lowercase: lowercase, labels: labels)
    }

    /// Creates `directory`, or checks that it may be written into.
    static func prepare(_ directory: URL, force: Bool) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw TrainingError.io(path: directory.path, reason: "exists and is not a folder; give a folder to export into")
            }
            let contents = (try? manager.contentsOfDirectory(atPath: directory.path)) ?? []
            if !contents.isEmpty && !force {
                throw TrainingError.io(
                    path: directory.path,
                    reason: "is not empty (\(contents.count) entr\(contents.count == 1 ? "y" : "ies")); give an empty or new folder, or --force to replace the export's files in it")
            }
        } else {
            do {
                try manager.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw TrainingError.io(path: directory.path, reason: "cannot create the folder: \(error.localizedDescription)")
            }
        }
    }

    /// Pretty JSON with sorted keys (one text per export, easy to diff).
    static func json(_ object: [String: Any]) throws -> Data {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }
}
