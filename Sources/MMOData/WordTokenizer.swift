// A word-level tokenizer built from the training split. All families share one word table, so a
// word has the same id in every model (their embedding rows are comparable); only the five
// special slots before the words differ by family, in Hugging Face's order for that family.
import Foundation

/// Special-token layout of a model family (ids 0...4).
public enum SpecialTokenScheme: String, Codable, CaseIterable, Sendable {
    /// `[PAD]`=0 `[UNK]`=1 `[CLS]`=2 `[SEP]`=3 `[MASK]`=4; text → `[CLS] words [SEP]`.
    case bert
    /// `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3 `<mask>`=4; text → `<s> words </s>`.
    case roberta
    /// `<pad>`=0 `<unk>`=1 `<|endoftext|>`=2 (3, 4 reserved); text → `words` (the classifier
    /// reads the last word, as GPT2ForSequenceClassification does).
    case gpt2

    /// The five special token strings, index = id.
    public var tokens: [String] {
        switch self {
        case .bert: return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        case .roberta: return ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        case .gpt2: return ["<pad>", "<unk>", "<|endoftext|>", "<|reserved3|>", "<|reserved4|>"]
        }
    }

    public var padID: Int32 { self == .roberta ? 1 : 0 }
    public var unknownID: Int32 { self == .roberta ? 3 : 1 }
    /// The mask token of masked-LM pretraining (`[MASK]`, `<mask>`); nil for GPT-2.
    public var maskID: Int32? { self == .gpt2 ? nil : 4 }
    /// Token put before the words, if any.
    var prefixID: Int32? {
        switch self {
        case .bert: return 2
        case .roberta: return 0
        case .gpt2: return nil
        }
    }
    /// Token put after the words, if any.
    var suffixID: Int32? {
        switch self {
        case .bert: return 3
        case .roberta: return 2
        case .gpt2: return nil
        }
    }
}

/// Lowercasing, punctuation-splitting word tokenizer with a frequency-ranked, capped vocabulary.
public struct WordTokenizer: Codable, Hashable, Sendable {
    /// Number of special ids reserved before the first word.
    public static let specialCount = 5

    /// Words, index + `specialCount` = id. Ranked by training frequency, ties alphabetically.
    public private(set) var words: [String]
    public var lowercase: Bool
    /// Longest encoded sequence, specials included.
    public var maxLength: Int
    private var index: [String: Int32]

    enum CodingKeys: String, CodingKey { case words, lowercase, maxLength }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            words: c.decode([String].self, forKey: .words), lowercase: c.decode(Bool.self, forKey: .lowercase),
            maxLength: c.decode(Int.self, forKey: .maxLength))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(words, forKey: .words)
        try c.encode(lowercase, forKey: .lowercase)
        try c.encode(maxLength, forKey: .maxLength)
    }

    /// A tokenizer over an explicit word list (duplicates are an error).
    public init(words: [String], lowercase: Bool, maxLength: Int) throws {
        guard maxLength >= 3 else {
            throw DataError.invalidOption(field: "data.maxLength", reason: "must be at least 3, got \(maxLength)")
        }
        var index: [String: Int32] = [:]
        for (i, w) in words.enumerated() {
            if index[w] != nil {
                throw DataError.invalidOption(field: "tokenizer.words", reason: "duplicate word '\(w)'")
            }
            index[w] = Int32(i + WordTokenizer.specialCount)
        }
        self.words = words
        self.lowercase = lowercase
        self.maxLength = maxLength
        self.index = index
    }

    /// Builds the vocabulary from `texts`: the `vocabularyLimit` most frequent words (specials
    /// not counted), ties broken alphabetically so the result depends on the texts only.
    public init(training texts: [String], vocabularyLimit: Int, lowercase: Bool = true, maxLength: Int) throws {
        guard vocabularyLimit > 0 else {
            throw DataError.invalidOption(field: "data.vocabularyLimit", reason: "must be positive, got \(vocabularyLimit)")
        }
        var counts: [String: Int] = [:]
        for text in texts {
            for word in WordTokenizer.split(text, lowercase: lowercase) { counts[word, default: 0] += 1 }
        }
        let ranked = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        try self.init(words: ranked.prefix(vocabularyLimit).map(\.key), lowercase: lowercase, maxLength: maxLength)
    }

    /// Vocabulary size including the special slots.
    public var vocabularySize: Int { words.count + WordTokenizer.specialCount }

    /// Splits on white space; every punctuation or symbol character is a word of its own.
    public static func split(_ text: String, lowercase: Bool) -> [String] {
        let source = lowercase ? text.lowercased() : text
        var out: [String] = []
        var current = ""
        for ch in source {
            if ch.isWhitespace {
                if !current.isEmpty { out.append(current); current = "" }
            } else if ch.isPunctuation || ch.isSymbol {
                if !current.isEmpty { out.append(current); current = "" }
                out.append(String(ch))
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Ids of `text` for `scheme`: prefix special, words (unknown → the scheme's unknown id),
    /// suffix special; words are cut so that the whole fits `maxLength`. Never empty.
    public func encode(_ text: String, scheme: SpecialTokenScheme) -> [Int32] {
        let budget = maxLength - (scheme.prefixID == nil ? 0 : 1) - (scheme.suffixID == nil ? 0 : 1)
        var ids: [Int32] = []
        ids.reserveCapacity(maxLength)
        if let p = scheme.prefixID { ids.append(p) }
        for word in WordTokenizer.split(text, lowercase: lowercase).prefix(budget) {
            ids.append(index[word] ?? scheme.unknownID)
        }
        if let s = scheme.suffixID { ids.append(s) }
        if ids.isEmpty { ids.append(scheme.unknownID) }
        return ids
    }

    /// The token string of `id` under `scheme` (for debugging and export).
    public func token(_ id: Int32, scheme: SpecialTokenScheme) -> String {
        let i = Int(id)
        if i < WordTokenizer.specialCount { return scheme.tokens[i] }
        let w = i - WordTokenizer.specialCount
        return w < words.count ? words[w] : scheme.tokens[Int(scheme.unknownID)]
    }
}
