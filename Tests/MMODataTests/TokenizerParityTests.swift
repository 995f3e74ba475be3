// Parity of WordPieceTokenizer and ByteLevelBPETokenizer with Hugging Face `tokenizers`: the ids
// of every text of fixtures/tokenizers/references.json (made by tools/make_tokenizer_fixtures.py
// from the tokenizers it trained and saved there) must be identical. Plus unit tests of the parts
// and of bad input.
import Foundation
import XCTest

@testable import MMOData

private let tokenizerFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures/tokenizers")

/// fixtures/tokenizers/references.json, id strings decoded (two base-64 digits per id).
private struct References {
    let texts: [String]
    let sources: [String: (first: Int, count: Int)]
    let truncated: Int
    let lists: [String: [[Int32]]]

    static let digits: [Character: Int32] = Dictionary(
        uniqueKeysWithValues: "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_".enumerated().map { ($1, Int32($0)) })

    static func decode(_ s: String) -> [Int32] {
        let c = Array(s)
        return stride(from: 0, to: c.count, by: 2).map { digits[c[$0]]! * 64 + digits[c[$0 + 1]]! }
    }

    static let shared: References = {
        let data = try! Data(contentsOf: tokenizerFixtures.appendingPathComponent("references.json"))
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        var lists: [String: [[Int32]]] = [:]
        for key in ["wordpiece", "wordpiece_t16", "gpt2", "roberta", "roberta_t16"] {
            lists[key] = (root[key] as! [String]).map(decode)
        }
        let sources = (root["sources"] as! [String: [Int]]).mapValues { (first: $0[0], count: $0[1]) }
        return References(texts: root["texts"] as! [String], sources: sources, truncated: root["truncated"] as! Int, lists: lists)
    }()

    func source(of i: Int) -> String {
        sources.first { i >= $0.value.first && i < $0.value.first + $0.value.count }?.key ?? "?"
    }
}

final class TokenizerParityTests: FileTestCase {
    static let wordPiece = try! WordPieceTokenizer.load(tokenizerJSON: tokenizerFixtures.appendingPathComponent("wordpiece/tokenizer.json").path)
    static let bpe = try! ByteLevelBPETokenizer.load(tokenizerJSON: tokenizerFixtures.appendingPathComponent("bytebpe/tokenizer.json").path)

    /// Compares `encode(text i)` with `expected[i]` for every i; reports each mismatch and the
    /// count matched per source (printed, for the record).
    func checkParity(_ name: String, _ expected: [[Int32]], file: StaticString = #filePath, line: UInt = #line, _ encode: (String) -> [Int32]) {
        let refs = References.shared
        var matched: [String: (ok: Int, all: Int)] = [:]
        var failures = 0
        for (i, want) in expected.enumerated() {
            let text = refs.texts[i]
            let got = encode(text)
            let src = refs.source(of: i)
            matched[src, default: (0, 0)].all += 1
            if got == want {
                matched[src]!.ok += 1
            } else {
                failures += 1
                if failures <= 20 {
                    XCTFail("\(name): text \(i) (\(src)) \(text.debugDescription): got \(got), expected \(want)", file: file, line: line)
                }
            }
        }
        let summary = matched.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.ok)/\($0.value.all)" }.joined(separator: ", ")
        let total = matched.values.reduce(0) { $0 + $1.ok }
        print("parity \(name): \(total)/\(expected.count) texts identical (\(summary))")
        XCTAssertEqual(failures, 0, "\(name): \(failures) of \(expected.count) texts differ", file: file, line: line)
        XCTAssertGreaterThan(expected.count, 0, file: file, line: line)
    }

    // MARK: - Parity with the fixtures

    func testWordPieceMatchesHuggingFaceOnEveryText() {
        checkParity("wordpiece [CLS] … [SEP]", References.shared.lists["wordpiece"]!) { Self.wordPiece.encode($0) }
    }

    func testWordPieceTruncationMatchesHuggingFace() {
        checkParity("wordpiece max_length 16", References.shared.lists["wordpiece_t16"]!) { Self.wordPiece.encode($0, maxLength: 16) }
    }

    func testWordPieceFromVocabTxtMatchesTokenizerJSON() throws {
        let fromTxt = try WordPieceTokenizer.load(vocabTxt: tokenizerFixtures.appendingPathComponent("wordpiece/vocab.txt").path)
        XCTAssertEqual(fromTxt.tokens, Self.wordPiece.tokens)
        checkParity("wordpiece (vocab.txt)", References.shared.lists["wordpiece"]!) { fromTxt.encode($0) }
    }

    func testByteLevelBPEMatchesHuggingFaceOnEveryText() {
        checkParity("byte-level BPE (GPT-2, no specials)", References.shared.lists["gpt2"]!) { Self.bpe.encode($0) }
    }

    func testRobertaTemplateMatchesHuggingFace() {
        checkParity("byte-level BPE <s> … </s>", References.shared.lists["roberta"]!) { Self.bpe.encode($0, template: .roberta) }
        checkParity("byte-level BPE <s> … </s> max_length 16", References.shared.lists["roberta_t16"]!) {
            Self.bpe.encode($0, template: .roberta, maxLength: 16)
        }
    }

    func testByteLevelBPEFromVocabAndMergesMatchesTokenizerJSON() throws {
        let b = try ByteLevelBPETokenizer.load(
            vocabJSON: tokenizerFixtures.appendingPathComponent("bytebpe/vocab.json").path,
            mergesTxt: tokenizerFixtures.appendingPathComponent("bytebpe/merges.txt").path)
        XCTAssertEqual(b.tokens, Self.bpe.tokens)
        checkParity("byte-level BPE (vocab.json + merges.txt)", References.shared.lists["gpt2"]!) { b.encode($0) }
    }

    func testFixturesCoverTheRequiredTexts() {
        let refs = References.shared
        XCTAssertEqual(refs.sources["sst2"]?.count, 44)
        XCTAssertEqual(refs.sources["synthetic"]?.count, 300)
        XCTAssertGreaterThanOrEqual(refs.sources["edge"]?.count ?? 0, 50)
        let texts = Set(refs.texts)
        for t in ["", "café", "日本語のテキスト", String(repeating: "x", count: 300), "wow!!!", "really?!?"] {
            XCTAssertTrue(texts.contains(t), t)
        }
        XCTAssertTrue(refs.texts.contains { $0.contains("👍🏽") } && refs.texts.contains { $0.contains("🇫🇷") })
        XCTAssertTrue(refs.texts.contains { $0.contains("\u{200D}") } && refs.texts.contains { $0.contains("https://") })
        XCTAssertTrue(refs.texts.contains { $0.contains("\t") } && refs.texts.contains { $0.contains("\n") })
    }

    // MARK: - The pieces

    func testByteTableIsABijectionOf256PrintableCharacters() {
        let table = ByteLevelBPETokenizer.byteToUnicode
        XCTAssertEqual(table.count, 256)
        XCTAssertEqual(Set(table).count, 256)
        XCTAssertEqual(table[Int(UInt8(ascii: "A"))], "A")
        XCTAssertEqual(table[Int(UInt8(ascii: " "))], "\u{0120}")  // Ġ
        XCTAssertEqual(table[Int(UInt8(ascii: "\n"))], "\u{010A}")  // Ċ
        XCTAssertEqual(table[0], "\u{0100}")
        XCTAssertEqual(table[0xAD], "\u{0143}")  // the soft hyphen, the last non-printable byte
        for (b, s) in table.enumerated() {
            XCTAssertEqual(ByteLevelBPETokenizer.unicodeToByte[s], UInt8(b))
            XCTAssertFalse(s.properties.isWhitespace || s.properties.generalCategory == .control, "byte \(b)")
        }
        // Every byte is a token of the trained vocabulary, so no byte is ever lost.
        for s in table { XCTAssertNotNil(Self.bpe.id(of: String(s))) }
    }

    func testGPT2SplitMatchesTheRegexOnHandPickedCases() {
        func split(_ s: String) -> [String] {
            ByteLevelBPETokenizer.preTokenize(Array(s.unicodeScalars)).map { slice in
                var v = String.UnicodeScalarView()
                v.append(contentsOf: slice)
                return String(v)
            }
        }
        // Expected values from `tokenizers`' ByteLevel(add_prefix_space=False, use_regex=True).
        XCTAssertEqual(split("Hello world"), ["Hello", " world"])
        XCTAssertEqual(split("it's don't"), ["it", "'s", " don", "'t"])
        XCTAssertEqual(split("I'LL we'll"), ["I", "'", "LL", " we", "'ll"])
        XCTAssertEqual(split("a  b"), ["a", " ", " b"])
        XCTAssertEqual(split("a \n b"), ["a", " \n", " b"])
        XCTAssertEqual(split("end  "), ["end", "  "])
        XCTAssertEqual(split("x\ny"), ["x", "\n", "y"])
        XCTAssertEqual(split("in 2024!!! ok"), ["in", " 2024", "!!!", " ok"])
        XCTAssertEqual(split(" 's"), [" '", "s"])
        XCTAssertEqual(split("caf\u{E9} e\u{301}"), ["caf\u{E9}", " e", "\u{301}"])
        XCTAssertEqual(split(""), [])
        XCTAssertEqual(split("x   \u{3000}y"), ["x", "   ", "\u{3000}", "y"])
    }

    func testWordPieceIsGreedyLongestMatchFirst() throws {
        let t = try WordPieceTokenizer(tokens: ["[UNK]", "un", "##aff", "##able", "##a", "##ff", "unaff", "##b"])
        XCTAssertEqual(t.tokenize("unaffable"), ["unaff", "##able"])
        XCTAssertEqual(t.tokenize("unaffb"), ["unaff", "##b"])
        XCTAssertEqual(t.tokenize("unab"), ["un", "##a", "##b"])
        // No piece matches at some position: the whole word is [UNK], not a partial match.
        XCTAssertEqual(t.tokenize("unaffablez"), ["[UNK]"])
        XCTAssertEqual(t.tokenize("unab unaffable"), ["un", "##a", "##b", "unaff", "##able"])
    }

    func testWordPieceUnknownPastMaxInputChars() throws {
        let t = try WordPieceTokenizer(tokens: ["[UNK]", "a", "##a"], maxInputCharsPerWord: 5)
        XCTAssertEqual(t.tokenize("aaaaa"), ["a", "##a", "##a", "##a", "##a"])
        XCTAssertEqual(t.tokenize("aaaaaa"), ["[UNK]"])
        XCTAssertEqual(t.tokenize("aaaaaa a"), ["[UNK]", "a"])
        // The default limit, 100, as BertTokenizerFast.
        XCTAssertEqual(Self.wordPiece.maxInputCharsPerWord, 100)
        XCTAssertEqual(Self.wordPiece.encode(String(repeating: "a", count: 101), template: .none), [Self.wordPiece.id(of: "[UNK]")!])
        XCTAssertNotEqual(Self.wordPiece.encode(String(repeating: "a", count: 100), template: .none), [Self.wordPiece.id(of: "[UNK]")!])
    }

    func testBasicTokenizerNormalisesAndSplits() throws {
        let t = try WordPieceTokenizer(tokens: ["[UNK]"])
        func words(_ s: String) -> [String] {
            t.preTokenize(t.normalize(Array(s.unicodeScalars))).map { w in
                var v = String.UnicodeScalarView()
                v.append(contentsOf: w)
                return String(v)
            }
        }
        XCTAssertEqual(words("Café NAÏVE Ångström"), ["cafe", "naive", "angstrom"])
        XCTAssertEqual(words("wow!!! ok?"), ["wow", "!", "!", "!", "ok", "?"])
        XCTAssertEqual(words("日本語 abc"), ["日", "本", "語", "abc"])
        XCTAssertEqual(words("a\tb\nc\u{00A0}d"), ["a", "b", "c", "d"])
        XCTAssertEqual(words("zero\u{200B}width bell\u{07}x"), ["zerowidth", "bellx"])
        XCTAssertEqual(words("\u{2E43}dash"), ["\u{2E43}dash"])  // Unicode 9 punctuation: not in tokenizers' tables
        XCTAssertEqual(words("$5"), ["$", "5"])
        let cased = try WordPieceTokenizer(tokens: ["[UNK]"], normalization: .init(lowercase: false))
        XCTAssertEqual(cased.normalize(Array("Café".unicodeScalars)), Array("Café".unicodeScalars))
        let stripped = try WordPieceTokenizer(tokens: ["[UNK]"], normalization: .init(stripAccents: true, lowercase: false))
        XCTAssertEqual(String(String.UnicodeScalarView(stripped.normalize(Array("Café".unicodeScalars)))), "Cafe")
    }

    func testTruncationKeepsTheTemplate() throws {
        let t = try WordPieceTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])
        XCTAssertEqual(t.encode("a b a b a"), [2, 5, 6, 5, 6, 5, 3])
        XCTAssertEqual(t.encode("a b a b a", maxLength: 4), [2, 5, 6, 3])
        XCTAssertEqual(t.encode("a b a b a", maxLength: 2), [2, 3])
        XCTAssertEqual(t.encode("a b a b a", template: .none, maxLength: 3), [5, 6, 5])
        XCTAssertEqual(t.encode(""), [2, 3])
        XCTAssertEqual(t.encode("a [MASK] b"), [2, 5, 4, 6, 3])  // special tokens are matched in the raw text
        let roberta = Self.bpe.encode("hello there", template: .roberta, maxLength: 3)
        XCTAssertEqual(roberta.count, 3)
        XCTAssertEqual(roberta.first, Self.bpe.id(of: "<s>"))
        XCTAssertEqual(roberta.last, Self.bpe.id(of: "</s>"))
    }

    func testBPEAppliesMergesByRankAndRoundTrips() throws {
        // Ranks: "b c" before "a b", so "abc" → a + bc, not ab + c.
        let t = try ByteLevelBPETokenizer(tokens: ["a", "b", "c", "ab", "bc", "abc"], merges: [("b", "c"), ("a", "b"), ("a", "bc")])
        XCTAssertEqual(t.tokenize("abc"), ["abc"])
        XCTAssertEqual(t.tokenize("ab"), ["ab"])
        let u = try ByteLevelBPETokenizer(tokens: ["a", "b", "c", "ab", "bc"], merges: [("b", "c"), ("a", "b")])
        XCTAssertEqual(u.tokenize("abc"), ["a", "bc"])
        XCTAssertEqual(u.tokenize("abcabc"), ["a", "bc", "a", "bc"])
        for text in References.shared.texts.prefix(500) {
            XCTAssertEqual(Self.bpe.decode(Self.bpe.encode(text)), text)
        }
    }

    // MARK: - Bad input

    func testTokenizerJSONThatDoesNotParseIsAnErrorNamingTheFile() throws {
        let path = try write("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0,}")
        for load in [{ _ = try WordPieceTokenizer.load(tokenizerJSON: path) }, { _ = try ByteLevelBPETokenizer.load(tokenizerJSON: path) }] {
            XCTAssertThrowsError(try load()) { error in
                guard case TokenizerError.malformed(let p, _, let reason) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(p, path)
                XCTAssertTrue(reason.contains("not valid JSON"), reason)
                XCTAssertTrue("\(error)".hasPrefix(path), "\(error)")
            }
        }
        let missing = dir.appendingPathComponent("absent.json").path
        XCTAssertThrowsError(try WordPieceTokenizer.load(tokenizerJSON: missing)) { error in
            guard case TokenizerError.unreadable(let p, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, missing)
        }
        let wrongModel = try write("bpe-as-wp.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}")
        XCTAssertThrowsError(try WordPieceTokenizer.load(tokenizerJSON: wrongModel)) { error in
            XCTAssertTrue("\(error)".contains("expected 'WordPiece'"), "\(error)")
        }
        let badIDs = try write("ids.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"a\": 0}}}")
        XCTAssertThrowsError(try WordPieceTokenizer.load(tokenizerJSON: badIDs)) { error in
            XCTAssertTrue("\(error)".contains("model.vocab"), "\(error)")
        }
        let noUnk = try write("nounk.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}")
        XCTAssertThrowsError(try WordPieceTokenizer.load(tokenizerJSON: noUnk)) { error in
            XCTAssertEqual(error as? TokenizerError, .malformed(path: noUnk, line: nil, reason: "the unknown token '[UNK]' is not in the vocabulary"))
        }
        let badMerge = try write("badmerge.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}")
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(tokenizerJSON: badMerge)) { error in
            XCTAssertTrue("\(error)".contains("model.merges[0]"), "\(error)")
        }
    }

    func testMalformedMergesLineIsAnErrorNamingFileAndLine() throws {
        let vocab = try write("vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2, \"c\": 3}")
        let good = try write("good.txt", "#version: 0.2\na b\n")
        XCTAssertEqual(try ByteLevelBPETokenizer.load(vocabJSON: vocab, mergesTxt: good).tokenize("ab"), ["ab"])
        let cases: [(String, Int)] = [
            ("#version: 0.2\na b\nab c d\n", 3),  // three parts
            ("#version: 0.2\na b\n\nb a\n", 3),  // empty line
            ("a b\nab\n", 2),  // one part
            ("a  b\n", 1),  // two spaces
        ]
        for (i, (text, line)) in cases.enumerated() {
            let merges = try write("merges-\(i).txt", text)
            XCTAssertThrowsError(try ByteLevelBPETokenizer.load(vocabJSON: vocab, mergesTxt: merges)) { error in
                guard case TokenizerError.malformed(let p, let l, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(p, merges)
                XCTAssertEqual(l, line, "\(error)")
                XCTAssertTrue("\(error)".hasPrefix("\(merges): line \(line): "), "\(error)")
            }
        }
        // A merge of tokens that are not in the vocabulary names its line too.
        let unknown = try write("unknown.txt", "#version: 0.2\na b\nb z\n")
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(vocabJSON: vocab, mergesTxt: unknown)) { error in
            XCTAssertEqual(error as? TokenizerError, .malformed(path: unknown, line: 3, reason: "merge 'b z': token 'z' is not in the vocabulary"))
        }
        let notJSON = try write("vocab-bad.json", "[1, 2]")
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(vocabJSON: notJSON, mergesTxt: good)) { error in
            XCTAssertEqual(error as? TokenizerError, .malformed(path: notJSON, line: nil, reason: "the top level is not a JSON object"))
        }
    }
}
