// BERT's WordPiece tokenizer, as Hugging Face's `BertTokenizerFast` runs it: `tokenizers`'
// BertNormalizer (normalizers/bert.rs), BertPreTokenizer (pre_tokenizers/bert.rs), the WordPiece
// model (models/wordpiece/mod.rs) and the BertProcessing template. Written from those sources'
// behaviour, over Unicode scalars (Rust `char`s); parity with `tokenizers` 0.23 is proven on real
// texts by Tests/MMODataTests/TokenizerParityTests.swift (fixtures from
// tools/make_tokenizer_fixtures.py).
import Foundation

/// A WordPiece tokenizer with BERT's normalisation and pre-tokenisation.
public struct WordPieceTokenizer: Hashable, Sendable {
    /// BertNormalizer's flags (tokenizer.json `normalizer`).
    public struct Normalization: Hashable, Codable, Sendable {
        /// Drop NUL, U+FFFD and control / format / private-use characters; white space → ' '.
        public var cleanText: Bool
        /// Put spaces around CJK ideographs (each becomes a word of its own).
        public var handleChineseChars: Bool
        /// NFD, then drop non-spacing marks; nil follows `lowercase` (as in `tokenizers`).
        public var stripAccents: Bool?
        public var lowercase: Bool

        public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
            self.cleanText = cleanText
            self.handleChineseChars = handleChineseChars
            self.stripAccents = stripAccents
            self.lowercase = lowercase
        }
    }

    /// Tokens, index = id.
    public let tokens: [String]
    public let normalization: Normalization
    public let unknownToken: String
    public let continuingSubwordPrefix: String
    /// A word longer than this (in Unicode scalars) is `[UNK]` as a whole.
    public let maxInputCharsPerWord: Int
    /// Tokens matched in the raw text before normalisation (`added_tokens`: `[CLS]`, `[MASK]`, …).
    public let specialTokens: [String]
    private let index: [String: Int32]
    private let unknownID: Int32
    private let clsID: Int32?
    private let sepID: Int32?
    private let specialMatcher: AddedTokenMatcher

    /// A tokenizer over `tokens` (index = id). `unknownToken` must be one of them; `[CLS]` and
    /// `[SEP]` are needed for the BERT template only. `specialTokens` default to the tokens of the
    /// form `[…]` among the first ones (`[PAD] [UNK] [CLS] [SEP] [MASK]`), as BERT vocabularies have.
    public init(
        tokens: [String], normalization: Normalization = Normalization(), unknownToken: String = "[UNK]",
        continuingSubwordPrefix: String = "##", maxInputCharsPerWord: Int = 100, specialTokens: [String]? = nil
    ) throws {
        var index: [String: Int32] = [:]
        index.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where index[t] == nil { index[t] = Int32(i) }
        guard let unk = index[unknownToken] else {
            throw TokenizerError.malformed(path: "<vocabulary>", line: nil, reason: "the unknown token '\(unknownToken)' is not in the vocabulary")
        }
        let specials = specialTokens ?? ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].filter { index[$0] != nil }
        self.tokens = tokens
        self.normalization = normalization
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.specialTokens = specials
        self.index = index
        self.unknownID = unk
        self.clsID = index["[CLS]"]
        self.sepID = index["[SEP]"]
        self.specialMatcher = AddedTokenMatcher(specials.compactMap { t in index[t].map { (t, $0) } })
    }

    /// Loads a `vocab.txt` (one token a line, line number − 1 = id) with the given normalisation.
    public static func load(vocabTxt path: String, normalization: Normalization = Normalization()) throws -> WordPieceTokenizer {
        try load(vocabTxt: TokenizerFiles.readData(path), source: path, normalization: normalization)
    }

    /// `load(vocabTxt:)` of a file's bytes; `source` names it in errors.
    public static func load(vocabTxt data: Data, source path: String, normalization: Normalization = Normalization()) throws -> WordPieceTokenizer {
        let text = try TokenizerFiles.text(data, path: path)
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        // `tokenizers` trims each line's trailing white space (vocab.txt may have CRLF endings).
        let tokens = lines.map { line -> String in
            var l = Substring(line)
            while let c = l.unicodeScalars.last, c.properties.isWhitespace { l = Substring(l.unicodeScalars.dropLast()) }
            return String(l)
        }
        if tokens.isEmpty { throw TokenizerError.malformed(path: path, line: nil, reason: "the vocabulary is empty") }
        do {
            return try WordPieceTokenizer(tokens: tokens, normalization: normalization)
        } catch TokenizerError.malformed(_, _, let reason) {
            throw TokenizerError.malformed(path: path, line: nil, reason: reason)
        }
    }

    /// Loads a Hugging Face `tokenizer.json` whose model is WordPiece: `model.vocab`,
    /// `model.unk_token`, `model.continuing_subword_prefix`, `model.max_input_chars_per_word`, the
    /// BertNormalizer flags (absent normalizer: none of them) and the special `added_tokens`.
    public static func load(tokenizerJSON path: String) throws -> WordPieceTokenizer {
        try load(tokenizerJSON: TokenizerFiles.readData(path), source: path)
    }

    /// `load(tokenizerJSON:)` of a file's bytes; `source` names it in errors.
    public static func load(tokenizerJSON data: Data, source path: String) throws -> WordPieceTokenizer {
        let root = try TokenizerFiles.jsonObject(data, path: path)
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "no 'model' object")
        }
        if let type = model["type"] as? String, type != "WordPiece" {
            throw TokenizerError.malformed(path: path, line: nil, reason: "model.type is '\(type)', expected 'WordPiece'")
        }
        let tokens = try TokenizerFiles.vocabulary(model["vocab"], path: path, field: "model.vocab")
        var normalization = Normalization(cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false)
        if let n = root["normalizer"] as? [String: Any] {
            guard n["type"] as? String == "BertNormalizer" else {
                throw TokenizerError.malformed(path: path, line: nil, reason: "normalizer type '\(n["type"] ?? "?")' is not supported (only BertNormalizer)")
            }
            normalization = Normalization(
                cleanText: n["clean_text"] as? Bool ?? true, handleChineseChars: n["handle_chinese_chars"] as? Bool ?? true,
                stripAccents: n["strip_accents"] as? Bool, lowercase: n["lowercase"] as? Bool ?? true)
        }
        if let p = root["pre_tokenizer"] as? [String: Any], let type = p["type"] as? String, type != "BertPreTokenizer" {
            throw TokenizerError.malformed(path: path, line: nil, reason: "pre_tokenizer type '\(type)' is not supported (only BertPreTokenizer)")
        }
        let added = try TokenizerFiles.addedTokens(root, path: path)
        for a in added where a.id < 0 || Int(a.id) >= tokens.count || tokens[Int(a.id)] != a.content {
            throw TokenizerError.malformed(path: path, line: nil, reason: "added token '\(a.content)' (id \(a.id)) is not that entry of model.vocab")
        }
        let maxChars = TokenizerFiles.intValue(model["max_input_chars_per_word"]) ?? 100
        do {
            return try WordPieceTokenizer(
                tokens: tokens, normalization: normalization, unknownToken: model["unk_token"] as? String ?? "[UNK]",
                continuingSubwordPrefix: model["continuing_subword_prefix"] as? String ?? "##",
                maxInputCharsPerWord: maxChars, specialTokens: added.map(\.content))
        } catch TokenizerError.malformed(_, _, let reason) {
            throw TokenizerError.malformed(path: path, line: nil, reason: reason)
        }
    }

    public var vocabularySize: Int { tokens.count }

    /// The id of `token`, if it is in the vocabulary.
    public func id(of token: String) -> Int32? { index[token] }

    // MARK: - Encoding

    /// Ids of `text`: `[CLS] pieces [SEP]` with `template` `.bert` (the default), the pieces
    /// alone with `.none`. With `maxLength` the pieces are cut at the end so that the whole,
    /// specials included, fits (as `tokenizers`' truncation, longest-first, of one sequence).
    public func encode(_ text: String, template: TokenizerTemplate = .bert, maxLength: Int? = nil) -> [Int32] {
        var pieces: [Int32] = []
        for segment in specialMatcher.split(Array(text.unicodeScalars)) {
            switch segment {
            case .token(let id): pieces.append(id)
            case .text(let scalars):
                for word in preTokenize(normalize(scalars)) { wordPieces(word, into: &pieces) }
            }
        }
        let bert = template == .bert
        return TokenizerTemplate.apply(to: pieces, bos: bert ? clsID : nil, eos: bert ? sepID : nil, maxLength: maxLength)
    }

    /// The token strings of `text`'s pieces (no template), for debugging.
    public func tokenize(_ text: String) -> [String] {
        encode(text, template: .none).map { tokens[Int($0)] }
    }

    /// BertNormalizer (normalizers/bert.rs), in its order: clean text, CJK spacing, strip accents,
    /// lowercase.
    public func normalize(_ input: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var s = input
        if normalization.cleanText {
            s = s.compactMap { c in
                if c == "\0" || c == "\u{FFFD}" || WordPieceTokenizer.isControl(c) { return nil }
                return WordPieceTokenizer.isBertWhitespace(c) ? " " : c
            }
        }
        if normalization.handleChineseChars {
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(s.count)
            for c in s {
                if WordPieceTokenizer.isChineseChar(c) {
                    out.append(" ")
                    out.append(c)
                    out.append(" ")
                } else {
                    out.append(c)
                }
            }
            s = out
        }
        if normalization.stripAccents ?? normalization.lowercase {
            var str = String.UnicodeScalarView()
            str.append(contentsOf: s)
            s = String(str).decomposedStringWithCanonicalMapping.unicodeScalars.filter { !HFUnicode.isMarkNonspacing($0) }
        }
        if normalization.lowercase {
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(s.count)
            for c in s {
                if c.isASCII {
                    out.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c)
                } else {
                    out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
                }
            }
            s = out
        }
        return s
    }

    /// BertPreTokenizer (pre_tokenizers/bert.rs): split on white space (dropped), and every
    /// punctuation character (ASCII punctuation or Unicode P*) is a word of its own.
    public func preTokenize(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start = 0
        for (i, c) in s.enumerated() {
            if HFUnicode.isWhitespace(c) {
                if start < i { words.append(s[start..<i]) }
                start = i + 1
            } else if HFUnicode.isASCIIPunctuation(c) || HFUnicode.isPunctuation(c) {
                if start < i { words.append(s[start..<i]) }
                words.append(s[i..<(i + 1)])
                start = i + 1
            }
        }
        if start < s.count { words.append(s[start..<s.count]) }
        return words
    }

    /// WordPiece (models/wordpiece/mod.rs): greedy longest-match-first from the left, pieces after
    /// the first carry the continuing-subword prefix; a word with more than
    /// `maxInputCharsPerWord` scalars, or with a position where no piece matches, is one `[UNK]`.
    public func wordPieces(_ word: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        let chars = Array(word)
        if chars.count > maxInputCharsPerWord {
            out.append(unknownID)
            return
        }
        var found: [Int32] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var match: Int32?
            while start < end {
                var piece = start > 0 ? continuingSubwordPrefix : ""
                piece.unicodeScalars.append(contentsOf: chars[start..<end])
                if let id = index[piece] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let id = match else {
                out.append(unknownID)
                return
            }
            found.append(id)
            start = end
        }
        out.append(contentsOf: found)
    }

    // MARK: - Character classes of normalizers/bert.rs

    /// `is_control`: tab, LF and CR are white space, not control; else `unicode_categories`' other.
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "\t", "\n", "\r": return false
        default: return HFUnicode.isOther(c)
        }
    }

    /// `is_whitespace`: tab, LF, CR or White_Space.
    static func isBertWhitespace(_ c: Unicode.Scalar) -> Bool {
        c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
    }

    /// `is_chinese_char`: the CJK Unified Ideograph blocks as `tokenizers` lists them (its fifth
    /// range starts at U+2B920, not U+2B820 as in Google's BERT; measured, see the tests).
    static func isChineseChar(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default: return false
        }
    }
}

/// Splits raw text on added (special) tokens before normalisation, as `tokenizers`'
/// AddedVocabulary does for tokens with `normalized: false`: leftmost match, longest at a position
/// (its Aho-Corasick `LeftmostLongest`). `lstrip` / `rstrip` / `single_word` are not modelled.
struct AddedTokenMatcher: Hashable, Sendable {
    enum Segment: Equatable {
        case text([Unicode.Scalar])
        case token(Int32)
    }

    private let tokens: [[Unicode.Scalar]]
    private let ids: [Int32]
    private let firstScalars: Set<Unicode.Scalar>

    init(_ pairs: [(String, Int32)]) {
        let sorted = pairs.filter { !$0.0.isEmpty }.sorted { $0.0.unicodeScalars.count > $1.0.unicodeScalars.count }
        tokens = sorted.map { Array($0.0.unicodeScalars) }
        ids = sorted.map(\.1)
        firstScalars = Set(tokens.map { $0[0] })
    }

    func split(_ s: [Unicode.Scalar]) -> [Segment] {
        if tokens.isEmpty { return [.text(s)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        while i < s.count {
            if firstScalars.contains(s[i]), let k = tokens.firstIndex(where: { t in
                i + t.count <= s.count && s[i..<(i + t.count)].elementsEqual(t)
            }) {
                if textStart < i { out.append(.text(Array(s[textStart..<i]))) }
                out.append(.token(ids[k]))
                i += tokens[k].count
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < s.count || out.isEmpty { out.append(.text(Array(s[textStart..<s.count]))) }
        return out
    }
}
