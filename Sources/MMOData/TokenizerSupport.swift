// What the Hugging Face-compatible tokenizers (WordPieceTokenizer, ByteLevelBPETokenizer) share:
// the error type of their loaders, reading a `tokenizer.json`, the special-token template, and the
// Unicode category tests in the exact versions Hugging Face `tokenizers` uses.
import Foundation

/// Why a tokenizer file could not be loaded. Each case names the file (and line, where there is one).
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read at all.
    case unreadable(path: String, reason: String)
    /// The file was read but its content is wrong; `line` is 1-based when the format has lines.
    case malformed(path: String, line: Int?, reason: String)

    /// The message to show: the file, the line if any, and what is wrong.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read the tokenizer file (\(reason))"
        case .malformed(let path, let line?, let reason):
            return "\(path): line \(line): \(reason)"
        case .malformed(let path, nil, let reason):
            return "\(path): \(reason)"
        }
    }
}

/// Which special tokens wrap an encoded text (Hugging Face's post-processor).
public enum TokenizerTemplate: String, Codable, CaseIterable, Sendable {
    /// No specials (GPT-2; also `tokenizers`' ByteLevel post-processor, which only fixes offsets).
    case none
    /// `[CLS] … [SEP]` (BertProcessing).
    case bert
    /// `<s> … </s>` (RobertaProcessing).
    case roberta

    /// `pieces` cut at the end so that the whole, specials included, fits `maxLength` (as
    /// `tokenizers`' longest-first truncation of one sequence), then wrapped in `bos … eos` when
    /// both exist (a template whose tokens are missing adds nothing).
    static func apply(to pieces: [Int32], bos: Int32?, eos: Int32?, maxLength: Int?) -> [Int32] {
        var pieces = pieces
        let wrap = bos != nil && eos != nil
        if let maxLength {
            let budget = max(0, maxLength - (wrap ? 2 : 0))
            if pieces.count > budget { pieces.removeLast(pieces.count - budget) }
        }
        guard wrap, let bos, let eos else { return pieces }
        return [bos] + pieces + [eos]
    }
}

enum TokenizerFiles {
    static func readData(_ path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TokenizerError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    /// `data` as UTF-8 text; `path` names it in errors.
    static func text(_ data: Data, path: String) throws -> String {
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "not UTF-8 text")
        }
        return text
    }

    /// The top-level JSON object of `data`; `path` names it in errors.
    static func jsonObject(_ data: Data, path: String) throws -> [String: Any] {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw TokenizerError.malformed(path: path, line: nil, reason: "not valid JSON (\(jsonErrorReason(error)))")
        }
        guard let object = value as? [String: Any] else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "the top level is not a JSON object")
        }
        return object
    }

    static func jsonErrorReason(_ error: Error) -> String {
        let ns = error as NSError
        if let detail = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
        return ns.localizedDescription
    }

    /// A `{token: id}` object as a token list indexed by id (ids must be 0..<count, distinct).
    static func vocabulary(_ value: Any?, path: String, field: String) throws -> [String] {
        guard let dict = value as? [String: Any] else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "\(field) is missing or not an object of token → id")
        }
        var tokens = [String?](repeating: nil, count: dict.count)
        for (token, rawID) in dict {
            guard let id = intValue(rawID), id >= 0, id < dict.count else {
                throw TokenizerError.malformed(
                    path: path, line: nil,
                    reason: "\(field): token '\(token)' has id \(rawID), expected an integer in 0..<\(dict.count)")
            }
            if let other = tokens[id] {
                throw TokenizerError.malformed(path: path, line: nil, reason: "\(field): id \(id) is given to both '\(other)' and '\(token)'")
            }
            tokens[id] = token
        }
        return tokens.map { $0! }  // count distinct ids in 0..<count: every slot is filled
    }

    static func intValue(_ value: Any?) -> Int? {
        if let i = value as? Int { return i }
        if let n = value as? NSNumber {
            let d = n.doubleValue
            guard d.rounded() == d, abs(d) < 1e15 else { return nil }
            return n.intValue
        }
        return nil
    }

    /// The `added_tokens` of a tokenizer.json: content → id.
    static func addedTokens(_ root: [String: Any], path: String) throws -> [(content: String, id: Int32, special: Bool)] {
        guard let list = root["added_tokens"] else { return [] }
        guard let items = list as? [Any] else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "added_tokens is not a list")
        }
        return try items.enumerated().map { i, item in
            guard let o = item as? [String: Any], let content = o["content"] as? String, let id = intValue(o["id"]) else {
                throw TokenizerError.malformed(path: path, line: nil, reason: "added_tokens[\(i)] needs a string 'content' and an integer 'id'")
            }
            return (content, Int32(id), (o["special"] as? Bool) ?? false)
        }
    }

    /// The template a tokenizer.json's `post_processor` describes (nil: none or one not modelled).
    static func template(_ root: [String: Any]) -> TokenizerTemplate? {
        guard let pp = root["post_processor"] as? [String: Any], let type = pp["type"] as? String else { return TokenizerTemplate.none }
        switch type {
        case "BertProcessing": return .bert
        case "RobertaProcessing": return .roberta
        case "ByteLevel": return TokenizerTemplate.none
        default: return nil
        }
    }
}

/// Unicode tests as Hugging Face `tokenizers` makes them.
///
/// `tokenizers`' BertNormalizer and BertPreTokenizer take their categories from the
/// `unicode_categories` crate (0.1.1), whose tables are Unicode 8.0: a character assigned later
/// (e.g. U+2E43 DASH WITH LEFT UPTURN, Unicode 9) is not punctuation there, and a later format
/// character is not removed by `clean_text`. Its "other" (`is_other`) is Cc, Cf and Co — its Cn
/// table is empty, so unassigned code points are kept. Measured with tokenizers 0.23.3 (see
/// TokenizerParityTests). White space, lowercasing and NFD come from Rust's standard library and
/// the `unicode-normalization` crate, i.e. current Unicode, as Swift's.
enum HFUnicode {
    /// Assigned in Unicode 8.0 or earlier.
    @inline(__always)
    static func inUnicode8(_ s: Unicode.Scalar) -> Bool {
        guard let age = s.properties.age else { return false }
        return age.major < 8 || (age.major == 8 && age.minor == 0)
    }

    /// `unicode_categories`' `is_other()` (Cc, Cf, Co in Unicode 8.0).
    static func isOther(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .privateUse: return true
        case .format: return inUnicode8(s)
        default: return false
        }
    }

    /// `unicode_categories`' `is_punctuation()` (P* in Unicode 8.0).
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return inUnicode8(s)
        default: return false
        }
    }

    /// `unicode_categories`' `is_mark_nonspacing()` (Mn in Unicode 8.0).
    static func isMarkNonspacing(_ s: Unicode.Scalar) -> Bool {
        s.properties.generalCategory == .nonspacingMark && inUnicode8(s)
    }

    /// Rust's `char::is_whitespace`: the White_Space property.
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    /// Rust's `char::is_ascii_punctuation`.
    @inline(__always)
    static func isASCIIPunctuation(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: return false
        }
    }

    /// \p{L}: Lu, Ll, Lt, Lm, Lo.
    @inline(__always)
    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// \p{N}: Nd, Nl, No.
    @inline(__always)
    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
}
