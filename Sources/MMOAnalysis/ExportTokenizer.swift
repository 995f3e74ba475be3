// The run's word tokenizer as a Hugging Face `tokenizers` pipeline (tokenizer.json) plus the
// `transformers` files that name its special tokens, so that `AutoTokenizer.from_pretrained`
// yields the ids our `WordTokenizer.encode` gives:
//   normalizer     NFC (Swift matches words by canonical equivalence), then Lowercase and NFC
//                  when the run lowercases (both lowercasings map scalar by scalar, no context)
//   pre-tokenizer  WhitespaceSplit, then every \p{P} / \p{S} character isolated — our split
//   model          WordLevel over the run's vocabulary in NFC (specials 0...4, words from 5), unknown
//                  words → the family's unknown token
//   post-processor TemplateProcessing: `[CLS] $A [SEP]`, `<s> $A </s>`, or `$A` (GPT-2)
//   truncation     to the run's maxLength, specials included (tokenizers reserves the
//                  template's tokens before cutting words, as we do)
// Where the two can differ is documented in `HFTokenizerExport.differences`.
import Foundation
import MMOData
import MMOModels

/// Builds the tokenizer files of an export.
public enum HFTokenizerExport {
    /// Where our tokenizer and the exported Hugging Face one can give different ids (the text
    /// of mmo-export's --help and of the README).
    public static let differences = """
        Our tokenizer splits Swift Characters (grapheme clusters); tokenizers splits Unicode \
        scalars. A punctuation or symbol cluster made of several scalars — an emoji with a \
        skin-tone modifier (👍🏽), a flag (🇫🇷), a ZWJ sequence (👩‍💻), a punctuation mark with \
        a combining accent — is one word for us and several for tokenizers. A letter with \
        combining accents, or a digit with a keycap, is the same word in both. Whitespace \
        followed by a combining mark is dropped whole by us. A GPT-2 text with no words at \
        all (empty, or only spaces) is [<unk>] for us and no ids for tokenizers. Texts holding \
        a special token literally ("[SEP]", "<s>") are split like any text by both, because \
        tokenizer_config.json sets split_special_tokens; with the tokenizers library alone set \
        `tokenizer.encode_special_tokens = True`. transformers applies the maxLength \
        truncation only when called with truncation=True (model_max_length is set to it); \
        the tokenizers library applies it always. Unicode versions of Swift and Rust may \
        differ for characters newer than both. Words are matched in NFC on both sides (Swift \
        compares strings by canonical equivalence; the export adds an NFC normalizer).
        """

    /// Token strings of the family's special roles, as `transformers` names them.
    public static func specialTokens(_ scheme: SpecialTokenScheme) -> [(role: String, token: String)] {
        let t = scheme.tokens
        switch scheme {
        case .bert:
            return [("unk_token", t[1]), ("sep_token", t[3]), ("pad_token", t[0]), ("cls_token", t[2]), ("mask_token", t[4])]
        case .roberta:
            return [
                ("bos_token", t[0]), ("eos_token", t[2]), ("unk_token", t[3]), ("sep_token", t[2]), ("pad_token", t[1]),
                ("cls_token", t[0]), ("mask_token", t[4]),
            ]
        case .gpt2:
            return [("bos_token", t[2]), ("eos_token", t[2]), ("unk_token", t[1]), ("pad_token", t[0])]
        }
    }

    /// Ids of the family's `bos` and `eos` tokens, for config.json (none for BERT).
    public static func configTokenIDs(_ scheme: SpecialTokenScheme) -> [String: Int] {
        switch scheme {
        case .bert: return [:]
        case .roberta: return ["bos": 0, "eos": 2]
        case .gpt2: return ["bos": 2, "eos": 2]
        }
    }

    /// Ids (0...4) of the special tokens that are registered as added tokens: the ones with a role.
    static func namedSpecialIDs(_ scheme: SpecialTokenScheme) -> [Int] {
        let named = Set(specialTokens(scheme).map(\.token))
        return scheme.tokens.indices.filter { named.contains(scheme.tokens[$0]) }
    }

    /// The `tokenizer.json` object. Throws when a vocabulary word is also a special token string
    /// of the family (the two ids could not both be kept).
    public static func tokenizerObject(_ tokenizer: WordTokenizer, scheme: SpecialTokenScheme) throws -> [String: Any] {
        var vocab: [String: Int] = [:]
        for (id, token) in scheme.tokens.enumerated() { vocab[token] = id }
        for (i, word) in tokenizer.words.enumerated() {
            if vocab[word.precomposedStringWithCanonicalMapping] != nil {
                throw DataError.invalidOption(
                    field: "tokenizer.words",
                    reason: "word '\(word)' (id \(i + WordTokenizer.specialCount)) is also a special token of \(scheme.rawValue); the vocabulary cannot be exported as a Hugging Face tokenizer")
            }
            vocab[word.precomposedStringWithCanonicalMapping] = i + WordTokenizer.specialCount
        }
        let addedTokens: [[String: Any]] = namedSpecialIDs(scheme).map {
            ["id": $0, "content": scheme.tokens[$0], "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true]
        }
        func special(_ id: Int, _ typeID: Int = 0) -> [String: Any] { ["SpecialToken": ["id": scheme.tokens[id], "type_id": typeID]] }
        func sequence(_ name: String, _ typeID: Int) -> [String: Any] { ["Sequence": ["id": name, "type_id": typeID]] }
        let single: [[String: Any]], pair: [[String: Any]], templateIDs: [Int]
        switch scheme {
        case .bert:  // BertTokenizerFast's template
            single = [special(2), sequence("A", 0), special(3)]
            pair = [special(2), sequence("A", 0), special(3), sequence("B", 1), special(3, 1)]
            templateIDs = [2, 3]
        case .roberta:  // RobertaTokenizerFast's template
            single = [special(0), sequence("A", 0), special(2)]
            pair = [special(0), sequence("A", 0), special(2), special(2), sequence("B", 0), special(2)]
            templateIDs = [0, 2]
        case .gpt2:  // words only: the classifier reads the last word
            single = [sequence("A", 0)]
            pair = [sequence("A", 0), sequence("B", 1)]
            templateIDs = []
        }
        var templateTokens: [String: Any] = [:]
        for id in templateIDs { templateTokens[scheme.tokens[id]] = ["id": scheme.tokens[id], "ids": [id], "tokens": [scheme.tokens[id]]] }
        return [
            "version": "1.0",
            "truncation": ["direction": "Right", "max_length": tokenizer.maxLength, "strategy": "LongestFirst", "stride": 0],
            "padding": NSNull(),
            "added_tokens": addedTokens,
            // Swift compares strings by canonical equivalence, so for us "cafe\u{301}" is the
            // word "café" whatever form the vocabulary holds; tokenizers compares bytes. NFC on
            // both sides (vocabulary above, text here) gives the same matches. NFC again after
            // lowercasing, which can in principle leave a composable sequence.
            "normalizer": [
                "type": "Sequence",
                "normalizers": tokenizer.lowercase ? [["type": "NFC"], ["type": "Lowercase"], ["type": "NFC"]] : [["type": "NFC"]],
            ],
            "pre_tokenizer": [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "WhitespaceSplit"],
                    // Swift's Character.isPunctuation / isSymbol are the general categories P* and S*.
                    ["type": "Split", "pattern": ["Regex": "[\\p{P}\\p{S}]"], "behavior": "Isolated", "invert": false],
                ],
            ],
            "post_processor": ["type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": templateTokens],
            "decoder": NSNull(),
            "model": ["type": "WordLevel", "vocab": vocab, "unk_token": scheme.tokens[Int(scheme.unknownID)]],
        ]
    }

    /// The `tokenizer_config.json` object: the generic fast tokenizer over tokenizer.json, the
    /// family's special tokens, `model_max_length` = the run's maxLength.
    public static func tokenizerConfigObject(_ tokenizer: WordTokenizer, scheme: SpecialTokenScheme) -> [String: Any] {
        var decoder: [String: Any] = [:]
        for id in namedSpecialIDs(scheme) {
            decoder["\(id)"] = ["content": scheme.tokens[id], "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true]
        }
        var object: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": tokenizer.maxLength,
            "padding_side": "right",
            "truncation_side": "right",
            "do_lower_case": tokenizer.lowercase,
            // The text "[SEP]" is three words for our tokenizer, not the special token.
            "split_special_tokens": true,
            "clean_up_tokenization_spaces": false,
            // GPT-2 and RoBERTa get no token_type_ids: GPT2Model would add wte(token_type_ids)
            // to every position, which our GPT-2 does not do.
            "model_input_names": scheme == .bert ? ["input_ids", "token_type_ids", "attention_mask"] : ["input_ids", "attention_mask"],
            "added_tokens_decoder": decoder,
        ]
        for (role, token) in specialTokens(scheme) { object[role] = token }
        return object
    }

    /// The `special_tokens_map.json` object.
    public static func specialTokensMapObject(_ scheme: SpecialTokenScheme) -> [String: Any] {
        var object: [String: Any] = [:]
        for (role, token) in specialTokens(scheme) { object[role] = token }
        return object
    }
}
