// GPT-2 / RoBERTa byte-level BPE, as Hugging Face `tokenizers` runs it: the ByteLevel
// pre-tokenizer (pre_tokenizers/byte_level.rs: optional prefix space, the GPT-2 split regex, bytes
// shown as printable characters through GPT-2's `bytes_to_unicode` table from its `encoder.py`),
// the BPE model (models/bpe: merges applied lowest rank first) and the RobertaProcessing template.
// Written from those sources' behaviour over Unicode scalars; parity with `tokenizers` 0.23 is
// proven by Tests/MMODataTests/TokenizerParityTests.swift.
import Foundation

/// A byte-level BPE tokenizer (GPT-2, RoBERTa).
public struct ByteLevelBPETokenizer: Sendable {
    /// Tokens, index = id.
    public let tokens: [String]
    /// Put a space before a text that does not start with one (RoBERTa's option; default false).
    public let addPrefixSpace: Bool
    /// `tokenizers`' `ignore_merges`: a whole pre-token found in the vocabulary is taken as is.
    public let ignoreMerges: Bool
    /// Tokens matched in the raw text before pre-tokenisation (`added_tokens`).
    public let specialTokens: [String]
    private let index: [String: Int32]
    /// (left id, right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Id of the one-character token of each byte (-1: not in the vocabulary, the byte is dropped).
    private let byteIDs: [Int32]
    private let specialMatcher: AddedTokenMatcher
    private let cache = MergeCache()

    /// GPT-2's `bytes_to_unicode`: the printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand
    /// for themselves, the other 68 bytes, in order, for U+0100, U+0101, …
    public static let byteToUnicode: [Unicode.Scalar] = {
        var table = [Unicode.Scalar?](repeating: nil, count: 256)
        for b in 0..<256 where (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
            table[b] = Unicode.Scalar(UInt32(b))!
        }
        var next: UInt32 = 256
        for b in 0..<256 where table[b] == nil {
            table[b] = Unicode.Scalar(next)!
            next += 1
        }
        return table.map { $0! }
    }()

    /// The inverse of `byteToUnicode`.
    public static let unicodeToByte: [Unicode.Scalar: UInt8] = {
        Dictionary(uniqueKeysWithValues: byteToUnicode.enumerated().map { ($1, UInt8($0)) })
    }()

    /// A tokenizer over `tokens` (index = id) and `merges` (pairs of token strings, index = rank).
    /// `source` names the file the merges come from in errors; `mergeLines` their line numbers.
    public init(
        tokens: [String], merges: [(String, String)], addPrefixSpace: Bool = false, ignoreMerges: Bool = false,
        specialTokens: [String] = [], source: String = "<merges>", mergeLines: [Int]? = nil
    ) throws {
        var index: [String: Int32] = [:]
        index.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where index[t] == nil { index[t] = Int32(i) }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            let line = mergeLines?[rank]
            guard let ia = index[a], let ib = index[b] else {
                let missing = index[a] == nil ? a : b
                throw TokenizerError.malformed(path: source, line: line, reason: "merge '\(a) \(b)': token '\(missing)' is not in the vocabulary")
            }
            guard let merged = index[a + b] else {
                throw TokenizerError.malformed(path: source, line: line, reason: "merge '\(a) \(b)': the merged token '\(a + b)' is not in the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if table[key] == nil { table[key] = (Int32(rank), merged) }
        }
        self.tokens = tokens
        self.addPrefixSpace = addPrefixSpace
        self.ignoreMerges = ignoreMerges
        self.specialTokens = specialTokens
        self.index = index
        self.merges = table
        self.byteIDs = ByteLevelBPETokenizer.byteToUnicode.map { index[String($0)] ?? -1 }
        self.specialMatcher = AddedTokenMatcher(specialTokens.compactMap { t in index[t].map { (t, $0) } })
    }

    /// Loads GPT-2's `vocab.json` (`{token: id}`) and `merges.txt` (an optional `#version` line,
    /// then one `left right` pair a line, rank = order). A malformed line is an error naming the
    /// file and line. `specialTokens` default to RoBERTa's / GPT-2's that are in the vocabulary.
    public static func load(
        vocabJSON vocabPath: String, mergesTxt mergesPath: String, addPrefixSpace: Bool = false, specialTokens: [String]? = nil
    ) throws -> ByteLevelBPETokenizer {
        try load(
            vocabJSON: TokenizerFiles.readData(vocabPath), vocabSource: vocabPath, mergesTxt: TokenizerFiles.readData(mergesPath),
            mergesSource: mergesPath, addPrefixSpace: addPrefixSpace, specialTokens: specialTokens)
    }

    /// `load(vocabJSON:mergesTxt:)` of the two files' bytes; the sources name them in errors.
    public static func load(
        vocabJSON vocabData: Data, vocabSource vocabPath: String, mergesTxt mergesData: Data, mergesSource mergesPath: String,
        addPrefixSpace: Bool = false, specialTokens: [String]? = nil
    ) throws -> ByteLevelBPETokenizer {
        let root = try TokenizerFiles.jsonObject(vocabData, path: vocabPath)
        let tokens = try TokenizerFiles.vocabulary(root, path: vocabPath, field: "the vocabulary")
        let text = try TokenizerFiles.text(mergesData, path: mergesPath)
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        var merges: [(String, String)] = []
        var numbers: [Int] = []
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.malformed(
                    path: mergesPath, line: i + 1, reason: "a merge is two tokens separated by one space, got '\(line)'")
            }
            merges.append((String(parts[0]), String(parts[1])))
            numbers.append(i + 1)
        }
        let present = Set(tokens)
        let specials = specialTokens ?? ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "<|endoftext|>"].filter { present.contains($0) }
        return try ByteLevelBPETokenizer(
            tokens: tokens, merges: merges, addPrefixSpace: addPrefixSpace, specialTokens: specials,
            source: mergesPath, mergeLines: numbers)
    }

    /// Loads a Hugging Face `tokenizer.json` whose model is BPE with a ByteLevel pre-tokenizer:
    /// `model.vocab`, `model.merges` (`"a b"` strings or `["a", "b"]` pairs), `model.ignore_merges`,
    /// the pre-tokenizer's `add_prefix_space` and the `added_tokens`.
    public static func load(tokenizerJSON path: String) throws -> ByteLevelBPETokenizer {
        try load(tokenizerJSON: TokenizerFiles.readData(path), source: path)
    }

    /// `load(tokenizerJSON:)` of a file's bytes; `source` names it in errors.
    public static func load(tokenizerJSON data: Data, source path: String) throws -> ByteLevelBPETokenizer {
        let root = try TokenizerFiles.jsonObject(data, path: path)
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "no 'model' object")
        }
        if let type = model["type"] as? String, type != "BPE" {
            throw TokenizerError.malformed(path: path, line: nil, reason: "model.type is '\(type)', expected 'BPE'")
        }
        let tokens = try TokenizerFiles.vocabulary(model["vocab"], path: path, field: "model.vocab")
        guard let rawMerges = model["merges"] as? [Any] else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "model.merges is missing or not a list")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(rawMerges.count)
        for (i, m) in rawMerges.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty {
                    merges.append((String(parts[0]), String(parts[1])))
                    continue
                }
            } else if let pair = m as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                merges.append((a, b))
                continue
            }
            throw TokenizerError.malformed(path: path, line: nil, reason: "model.merges[\(i)] is not 'a b' or [\"a\", \"b\"]: \(m)")
        }
        var prefixSpace = false
        if let p = root["pre_tokenizer"] as? [String: Any] {
            guard p["type"] as? String == "ByteLevel" else {
                throw TokenizerError.malformed(path: path, line: nil, reason: "pre_tokenizer type '\(p["type"] ?? "?")' is not supported (only ByteLevel)")
            }
            if p["use_regex"] as? Bool == false {
                throw TokenizerError.malformed(path: path, line: nil, reason: "pre_tokenizer.use_regex false is not supported")
            }
            prefixSpace = p["add_prefix_space"] as? Bool ?? false
        }
        if let n = root["normalizer"], !(n is NSNull) {
            throw TokenizerError.malformed(path: path, line: nil, reason: "a normalizer is not supported for byte-level BPE")
        }
        let added = try TokenizerFiles.addedTokens(root, path: path)
        for a in added where a.id < 0 || Int(a.id) >= tokens.count || tokens[Int(a.id)] != a.content {
            throw TokenizerError.malformed(path: path, line: nil, reason: "added token '\(a.content)' (id \(a.id)) is not that entry of model.vocab")
        }
        do {
            return try ByteLevelBPETokenizer(
                tokens: tokens, merges: merges, addPrefixSpace: prefixSpace, ignoreMerges: model["ignore_merges"] as? Bool ?? false,
                specialTokens: added.map(\.content), source: path)
        } catch TokenizerError.malformed(_, _, let reason) {
            throw TokenizerError.malformed(path: path, line: nil, reason: "model.merges: " + reason)
        }
    }

    public var vocabularySize: Int { tokens.count }

    /// The id of `token`, if it is in the vocabulary.
    public func id(of token: String) -> Int32? { index[token] }

    // MARK: - Encoding

    /// Ids of `text`. `template` `.none` (the default, GPT-2) gives the pieces alone, `.roberta`
    /// `<s> pieces </s>` (`.bert`: `[CLS] pieces [SEP]`, if the vocabulary has them; a template
    /// whose tokens are missing adds nothing). With `maxLength` the pieces are cut at the end so that the whole,
    /// specials included, fits.
    public func encode(_ text: String, template: TokenizerTemplate = .none, maxLength: Int? = nil) -> [Int32] {
        var pieces: [Int32] = []
        for segment in specialMatcher.split(Array(text.unicodeScalars)) {
            switch segment {
            case .token(let id): pieces.append(id)
            case .text(var scalars):
                // `tokenizers` adds the prefix space to every piece of text between added tokens.
                if addPrefixSpace && scalars.first != " " { scalars.insert(" ", at: 0) }
                for word in ByteLevelBPETokenizer.preTokenize(scalars) { bpe(word, into: &pieces) }
            }
        }
        var bos: Int32?
        var eos: Int32?
        if template == .roberta { bos = index["<s>"]; eos = index["</s>"] }
        if template == .bert { bos = index["[CLS]"]; eos = index["[SEP]"] }
        return TokenizerTemplate.apply(to: pieces, bos: bos, eos: eos, maxLength: maxLength)
    }

    /// The token strings of `text`'s pieces (byte-level characters), for debugging.
    public func tokenize(_ text: String) -> [String] {
        encode(text).map { tokens[Int($0)] }
    }

    /// The text of `ids` (bytes back through `unicodeToByte`; invalid UTF-8 is repaired).
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokens.count {
            for s in tokens[Int(id)].unicodeScalars {
                if let b = ByteLevelBPETokenizer.unicodeToByte[s] { bytes.append(b) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The GPT-2 split (byte_level.rs), matched by hand over Unicode scalars:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, alternatives
    /// tried in order at each position, `\s` = White_Space. Returns the pieces in order; together
    /// they are the whole input.
    public static func preTokenize(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        let n = s.count
        var out: [ArraySlice<Unicode.Scalar>] = []
        @inline(__always) func ws(_ i: Int) -> Bool { HFUnicode.isWhitespace(s[i]) }
        @inline(__always) func letter(_ i: Int) -> Bool { HFUnicode.isLetter(s[i]) }
        @inline(__always) func number(_ i: Int) -> Bool { HFUnicode.isNumber(s[i]) }
        @inline(__always) func other(_ i: Int) -> Bool { !ws(i) && !letter(i) && !number(i) }
        func run(from i: Int, _ test: (Int) -> Bool) -> Int {
            var j = i
            while j < n && test(j) { j += 1 }
            return j
        }
        var i = 0
        while i < n {
            var end = 0
            // 's 't 're 've 'm 'll 'd
            if s[i] == "'" && i + 1 < n {
                let c = s[i + 1]
                if c == "s" || c == "t" || c == "m" || c == "d" {
                    end = i + 2
                } else if i + 2 < n
                    && ((c == "r" && s[i + 2] == "e") || (c == "v" && s[i + 2] == "e") || (c == "l" && s[i + 2] == "l"))
                {
                    end = i + 3
                }
            }
            if end == 0 {
                // ` ?X+` for X = \p{L}, \p{N}, [^\s\p{L}\p{N}]
                let start = s[i] == " " && i + 1 < n ? i + 1 : i
                for test in [letter, number, other] where end == 0 {
                    if test(start) { end = run(from: start, test) }
                    else if start != i && test(i) { end = run(from: i, test) }
                }
            }
            if end == 0 {
                // \s+(?!\S) — the white-space run, less its last character when a non-space
                // follows it — else \s+
                let j = run(from: i, ws)
                if j == n || j - i == 1 { end = j } else { end = j - 1 }
            }
            out.append(s[i..<end])
            i = end
        }
        return out
    }

    /// BPE (models/bpe/word.rs) of one pre-token: its UTF-8 bytes as byte-level tokens, then the
    /// lowest-ranked adjacent pair merged, leftmost first on ties, until no pair has a merge.
    func bpe(_ word: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        var key = String.UnicodeScalarView()
        key.append(contentsOf: word)
        let text = String(key)
        if let hit = cache.get(text) {
            out.append(contentsOf: hit)
            return
        }
        var symbols: [Int32] = []
        var mapped = ""
        for b in text.utf8 {
            mapped.unicodeScalars.append(ByteLevelBPETokenizer.byteToUnicode[Int(b)])
            let id = byteIDs[Int(b)]
            if id >= 0 { symbols.append(id) }
        }
        if ignoreMerges, let whole = index[mapped] {
            symbols = [whole]
        } else {
            while symbols.count > 1 {
                var best = -1
                var bestRank = Int32.max
                var bestID: Int32 = 0
                for k in 0..<(symbols.count - 1) {
                    let pair = UInt64(UInt32(symbols[k])) << 32 | UInt64(UInt32(symbols[k + 1]))
                    if let m = merges[pair], m.rank < bestRank {
                        best = k
                        bestRank = m.rank
                        bestID = m.id
                    }
                }
                if best < 0 { break }
                symbols[best] = bestID
                symbols.remove(at: best + 1)
            }
        }
        cache.put(text, symbols)
        out.append(contentsOf: symbols)
    }
}

/// The word → ids cache of BPE (`tokenizers` keeps one of 10,000 entries); thread-safe.
final class MergeCache: @unchecked Sendable {
    static let capacity = 10_000
    private var entries: [String: [Int32]] = [:]
    private let lock = NSLock()

    func get(_ word: String) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[word]
    }

    func put(_ word: String, _ ids: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count < MergeCache.capacity { entries[word] = ids }
    }
}
