// A model's own tokenizer: the Hugging Face tokenizer files of the folder it was initialised
// from, kept verbatim (so a checkpoint holds them and `mmo-export` writes them back unchanged),
// or the run's word tokenizer with the family's special tokens (every model not initialised from
// a folder, and every run written before per-model tokenizers existed).
import Foundation

/// The tokenizer files of a Hugging Face folder, verbatim, and the tokenizer they make.
public struct PretrainedTokenizer: Codable, Sendable, Equatable {
    /// Which algorithm the files describe.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// WordPiece (`BertTokenizer` / `BertTokenizerFast`).
        case wordPiece
        /// Byte-level BPE (GPT-2 / RoBERTa).
        case byteLevelBPE
    }

    /// The files that can make or describe a tokenizer, in the order they are looked for.
    public static let fileNames = [
        "tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
    ]

    /// The algorithm.
    public let kind: Kind
    /// The family's special-token template (`[CLS] … [SEP]`, `<s> … </s>`, none for GPT-2).
    public let template: TokenizerTemplate
    /// Longest encoding, specials included (`data.maxLength`); longer texts are cut at the end.
    public let maxLength: Int
    /// File name → its text, as read (the tokenizer is rebuilt from these on every load).
    public let files: [String: String]
    private let engine: Engine

    private enum Engine: @unchecked Sendable {
        case wordPiece(WordPieceTokenizer)
        case byteLevelBPE(ByteLevelBPETokenizer)
    }

    enum CodingKeys: String, CodingKey { case kind, template, maxLength, files }

    /// Builds the tokenizer `files` describe. `source` names where they come from in errors
    /// (the folder, or a checkpoint's state field).
    public init(files: [String: String], template: TokenizerTemplate, maxLength: Int, source: String) throws {
        func path(_ name: String) -> String { source.hasSuffix("/") ? source + name : "\(source)/\(name)" }
        func data(_ name: String) -> Data { Data(files[name, default: ""].utf8) }
        var config: [String: Any] = [:]
        if files["tokenizer_config.json"] != nil {
            config = try TokenizerFiles.jsonObject(data("tokenizer_config.json"), path: path("tokenizer_config.json"))
        }
        if files["tokenizer.json"] != nil {
            let root = try TokenizerFiles.jsonObject(data("tokenizer.json"), path: path("tokenizer.json"))
            switch (root["model"] as? [String: Any])?["type"] as? String {
            case "WordPiece":
                kind = .wordPiece
                engine = .wordPiece(try WordPieceTokenizer.load(tokenizerJSON: data("tokenizer.json"), source: path("tokenizer.json")))
            case "BPE":
                kind = .byteLevelBPE
                engine = .byteLevelBPE(try ByteLevelBPETokenizer.load(tokenizerJSON: data("tokenizer.json"), source: path("tokenizer.json")))
            case let other:
                throw TokenizerError.malformed(
                    path: path("tokenizer.json"), line: nil,
                    reason: "model.type is \(other.map { "'\($0)'" } ?? "missing"); only WordPiece and BPE (byte-level) are supported")
            }
        } else if files["vocab.txt"] != nil {
            // BertTokenizer's options (tokenizer_config.json), with its defaults.
            let normalization = WordPieceTokenizer.Normalization(
                cleanText: true, handleChineseChars: config["tokenize_chinese_chars"] as? Bool ?? true,
                stripAccents: config["strip_accents"] as? Bool, lowercase: config["do_lower_case"] as? Bool ?? true)
            kind = .wordPiece
            engine = .wordPiece(try WordPieceTokenizer.load(vocabTxt: data("vocab.txt"), source: path("vocab.txt"), normalization: normalization))
        } else if files["vocab.json"] != nil, files["merges.txt"] != nil {
            kind = .byteLevelBPE
            engine = .byteLevelBPE(
                try ByteLevelBPETokenizer.load(
                    vocabJSON: data("vocab.json"), vocabSource: path("vocab.json"), mergesTxt: data("merges.txt"),
                    mergesSource: path("merges.txt"), addPrefixSpace: config["add_prefix_space"] as? Bool ?? false))
        } else {
            throw TokenizerError.unreadable(
                path: source, reason: "no tokenizer files: needs tokenizer.json, vocab.txt, or vocab.json with merges.txt")
        }
        guard maxLength >= 1 else {
            throw DataError.invalidOption(field: "data.maxLength", reason: "must be at least 1, got \(maxLength)")
        }
        self.template = template
        self.maxLength = maxLength
        self.files = files
    }

    /// Reads the tokenizer files of Hugging Face folder `folder` (those of `fileNames` present).
    public static func load(folder: String, template: TokenizerTemplate, maxLength: Int) throws -> PretrainedTokenizer {
        var files: [String: String] = [:]
        for name in fileNames {
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            files[name] = try TokenizerFiles.text(TokenizerFiles.readData(path), path: path)
        }
        return try PretrainedTokenizer(files: files, template: template, maxLength: maxLength, source: folder)
    }

    /// Decodes the stored files and rebuilds the tokenizer (an error names the field's path).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(Kind.self, forKey: .kind)
        let path = decoder.codingPath.map(\.stringValue).joined(separator: ".")
        do {
            try self.init(
                files: c.decode([String: String].self, forKey: .files), template: c.decode(TokenizerTemplate.self, forKey: .template),
                maxLength: c.decode(Int.self, forKey: .maxLength), source: path.isEmpty ? "tokenizer.files" : "\(path).files")
        } catch let error as TokenizerError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
        guard self.kind == kind else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "kind is \(kind.rawValue) but the files describe \(self.kind.rawValue)"))
        }
    }

    /// Writes kind, template, maxLength and the files.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(template, forKey: .template)
        try c.encode(maxLength, forKey: .maxLength)
        try c.encode(files, forKey: .files)
    }

    /// Equal when the stored fields are (the tokenizer is a function of them).
    public static func == (a: PretrainedTokenizer, b: PretrainedTokenizer) -> Bool {
        a.kind == b.kind && a.template == b.template && a.maxLength == b.maxLength && a.files == b.files
    }

    /// Ids and token strings in the vocabulary.
    public var vocabularySize: Int {
        switch engine {
        case .wordPiece(let t): return t.vocabularySize
        case .byteLevelBPE(let t): return t.vocabularySize
        }
    }

    /// Whether texts are lowercased (WordPiece's normalizer; byte-level BPE never lowercases).
    public var lowercases: Bool {
        switch engine {
        case .wordPiece(let t): return t.normalization.lowercase
        case .byteLevelBPE: return false
        }
    }

    /// The id of `token`, if it is in the vocabulary.
    public func id(of token: String) -> Int32? {
        switch engine {
        case .wordPiece(let t): return t.id(of: token)
        case .byteLevelBPE(let t): return t.id(of: token)
        }
    }

    /// Ids of `text` with the template, cut to `maxLength` (possibly empty: a GPT-2 text with no
    /// pieces).
    public func encode(_ text: String) -> [Int32] {
        switch engine {
        case .wordPiece(let t): return t.encode(text, template: template, maxLength: maxLength)
        case .byteLevelBPE(let t): return t.encode(text, template: template, maxLength: maxLength)
        }
    }

    /// The same tokenizer with another truncation length.
    public func with(maxLength: Int) throws -> PretrainedTokenizer {
        try PretrainedTokenizer(files: files, template: template, maxLength: maxLength, source: "tokenizer")
    }
}

/// The tokenizer one model of a run encodes its texts with.
public enum ModelTokenizer: Sendable, Equatable {
    /// The run's word tokenizer with a family's special tokens (ids 0–4).
    case word(WordTokenizer, SpecialTokenScheme)
    /// Hugging Face tokenizer files.
    case pretrained(PretrainedTokenizer)

    /// Ids of `text`, specials included, cut to the tokenizer's maximum length; never empty
    /// (`fallback` stands in for a text with no tokens at all).
    public func encode(_ text: String, fallback: Int32) -> [Int32] {
        switch self {
        case .word(let t, let scheme): return t.encode(text, scheme: scheme)
        case .pretrained(let t):
            let ids = t.encode(text)
            return ids.isEmpty ? [fallback] : ids
        }
    }

    /// Ids the tokenizer can produce (0..<vocabularySize).
    public var vocabularySize: Int {
        switch self {
        case .word(let t, _): return t.vocabularySize
        case .pretrained(let t): return t.vocabularySize
        }
    }

    /// Longest encoding, specials included.
    public var maxLength: Int {
        switch self {
        case .word(let t, _): return t.maxLength
        case .pretrained(let t): return t.maxLength
        }
    }
}

extension ModelTokenizer: Codable {
    enum CodingKeys: String, CodingKey { case kind, scheme, words }

    /// `{"kind": "word", "scheme": …, "words": {…}}`, or a `PretrainedTokenizer`'s fields
    /// (`kind` `wordPiece` / `byteLevelBPE`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if try c.decode(String.self, forKey: .kind) == "word" {
            self = .word(try c.decode(WordTokenizer.self, forKey: .words), try c.decode(SpecialTokenScheme.self, forKey: .scheme))
        } else {
            self = .pretrained(try PretrainedTokenizer(from: decoder))
        }
    }

    /// The inverse of `init(from:)`.
    public func encode(to encoder: Encoder) throws {
        switch self {
        case .word(let t, let scheme):
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode("word", forKey: .kind)
            try c.encode(scheme, forKey: .scheme)
            try c.encode(t, forKey: .words)
        case .pretrained(let t):
            try t.encode(to: encoder)
        }
    }
}
