import Foundation
import MMOCore
import XCTest

@testable import MMOData

final class DataTests: FileTestCase {
    // MARK: - Synthetic data

    func testSyntheticPaperSplitIsSeededBalancedAndSized() {
        let a = SyntheticSentiment.paperSplit(seed: 7)
        let b = SyntheticSentiment.paperSplit(seed: 7)
        let c = SyntheticSentiment.paperSplit(seed: 8)
        XCTAssertEqual(a.train.count, 500)
        XCTAssertEqual(a.validation.count, 100)
        XCTAssertEqual(a.train, b.train)
        XCTAssertNotEqual(a.train, c.train)
        XCTAssertEqual(a.train.labelCounts, [250, 250])
        XCTAssertEqual(a.validation.labelCounts, [50, 50])
        XCTAssertNotEqual(a.train.examples.map(\.text), a.validation.examples.map(\.text))
        // The sentiment is carried by the words: a positive sentence holds a positive word.
        for e in a.train.examples {
            let words = Set(e.text.split(separator: " ").map(String.init))
            let pos = !words.isDisjoint(with: SyntheticSentiment.positiveAdjectives + SyntheticSentiment.positiveVerbs)
            let neg = !words.isDisjoint(with: SyntheticSentiment.negativeAdjectives + SyntheticSentiment.negativeVerbs)
            XCTAssertEqual(pos, e.label == 1, e.text)
            XCTAssertEqual(neg, e.label == 0, e.text)
        }
    }

    // MARK: - Files

    func testSST2TSVWithNumericLabels() throws {
        let path = try write("train.tsv", "sentence\tlabel\nit 's a \"charming\" journey \t1\nbad , bad movie\t0\n\n")
        let ds = try DatasetLoader.load(path: path, options: TextFileOptions(format: .tsv), labels: nil)
        XCTAssertEqual(ds.labelNames, ["0", "1"])
        XCTAssertEqual(ds.examples, [
            LabeledExample(text: "it 's a \"charming\" journey ", label: 1),
            LabeledExample(text: "bad , bad movie", label: 0),
        ])
    }

    func testCSVWithQuotesAndCustomColumns() throws {
        let path = try write("c.csv", "sentiment,confidence,text\npositive,0.9,\"great, really great\"\nnegative,1,\"not \"\"good\"\"\"\nneutral,0.5,meh\n")
        let ds = try DatasetLoader.load(
            path: path, options: TextFileOptions(format: .csv, textColumn: "text", labelColumn: "sentiment"),
            labels: ["negative", "neutral", "positive"])
        XCTAssertEqual(ds.examples.map(\.text), ["great, really great", "not \"good\"", "meh"])
        XCTAssertEqual(ds.examples.map(\.label), [2, 0, 1])
    }

    func testJSONLWithNumberAndStringLabels() throws {
        let path = try write("d.jsonl", "{\"text\": \"a\", \"y\": 1}\n\n{\"text\": \"b\", \"y\": \"0\"}\n")
        let ds = try DatasetLoader.load(
            path: path, options: TextFileOptions(format: .jsonl, textColumn: "text", labelColumn: "y"), labels: nil)
        XCTAssertEqual(ds.examples, [LabeledExample(text: "a", label: 1), LabeledExample(text: "b", label: 0)])
    }

    func testErrorsNameFileRowAndWhatToDo() throws {
        let unknown = try write("v.tsv", "sentence\tlabel\nok\t1\nhmm\t7\n")
        XCTAssertThrowsError(try DatasetLoader.load(path: unknown, options: TextFileOptions(format: .tsv), labels: ["0", "1"])) {
            XCTAssertEqual($0 as? DataError, .unknownLabel(path: unknown, row: 3, label: "7", known: ["0", "1"]))
            XCTAssertTrue("\($0)".contains("v.tsv: row 3: unknown label '7'"))
        }
        let empty = try write("e.tsv", "sentence\tlabel\n")
        XCTAssertThrowsError(try DatasetLoader.load(path: empty, options: TextFileOptions(format: .tsv), labels: nil)) {
            XCTAssertEqual($0 as? DataError, .empty(path: empty))
        }
        let noColumn = try write("n.tsv", "text\tlabel\nx\t1\n")
        XCTAssertThrowsError(try DatasetLoader.load(path: noColumn, options: TextFileOptions(format: .tsv), labels: nil)) {
            XCTAssertEqual($0 as? DataError, .missingColumn(path: noColumn, column: "sentence", available: ["text", "label"]))
        }
        let short = try write("s.tsv", "sentence\tlabel\nno tab here\n")
        XCTAssertThrowsError(try DatasetLoader.load(path: short, options: TextFileOptions(format: .tsv), labels: nil)) {
            guard case .badRow(_, 2, _)? = $0 as? DataError else { return XCTFail("\($0)") }
        }
        let missing = dir.appendingPathComponent("nope.tsv").path
        XCTAssertThrowsError(try DatasetLoader.load(path: missing, options: TextFileOptions(format: .tsv), labels: nil)) {
            guard case .unreadable(let p, _)? = $0 as? DataError else { return XCTFail("\($0)") }
            XCTAssertEqual(p, missing)
        }
        let badJSON = try write("b.jsonl", "{\"text\": \"a\", \"label\": 1}\n{not json\n")
        XCTAssertThrowsError(try DatasetLoader.load(path: badJSON, options: TextFileOptions(format: .jsonl, textColumn: "text"), labels: nil)) {
            guard case .badRow(_, 2, _)? = $0 as? DataError else { return XCTFail("\($0)") }
        }
    }

    // MARK: - Tokenizer

    func testTokenizerSplitRankAndSpecials() throws {
        XCTAssertEqual(WordTokenizer.split("Great, GREAT movie!!", lowercase: true), ["great", ",", "great", "movie", "!", "!"])
        let tok = try WordTokenizer(training: ["b a a", "c b a", "d"], vocabularyLimit: 3, maxLength: 6)
        XCTAssertEqual(tok.words, ["a", "b", "c"])  // a:3 b:2 then c/d tie at 1 → alphabetical, capped at 3
        XCTAssertEqual(tok.vocabularySize, 8)
        XCTAssertEqual(tok.encode("a d c", scheme: .bert), [2, 5, 1, 7, 3])
        XCTAssertEqual(tok.encode("a d c", scheme: .roberta), [0, 5, 3, 7, 2])
        XCTAssertEqual(tok.encode("a d c", scheme: .gpt2), [5, 1, 7])
        // Truncation keeps the closing special token and the length cap.
        XCTAssertEqual(tok.encode("a b c a b c a", scheme: .bert), [2, 5, 6, 7, 5, 3])
        XCTAssertEqual(tok.encode("", scheme: .gpt2), [1])
        let decoded = try JSONDecoder().decode(WordTokenizer.self, from: JSONEncoder().encode(tok))
        XCTAssertEqual(decoded, tok)
        XCTAssertEqual(decoded.encode("c b", scheme: .roberta), [0, 7, 6, 2])
        XCTAssertThrowsError(try WordTokenizer(training: ["x"], vocabularyLimit: 0, maxLength: 6))
    }

    // MARK: - Batching

    func testEpochOrderIsAPermutationFixedBySeedAndEpoch() {
        let s = EpochSampler(count: 10, batchSize: 4, seed: 3)
        XCTAssertEqual(s.batchesPerEpoch, 3)
        XCTAssertEqual(s.order(epoch: 0).sorted(), Array(0..<10))
        XCTAssertEqual(s.order(epoch: 1), EpochSampler(count: 10, batchSize: 4, seed: 3).order(epoch: 1))
        XCTAssertNotEqual(s.order(epoch: 0), s.order(epoch: 1))
        let order = s.order(epoch: 0)
        var cursor = DataCursor()
        var seen: [Int] = []
        for _ in 0..<3 {
            let (indices, next) = s.batch(at: cursor, order: order)
            seen += indices
            cursor = next
        }
        XCTAssertEqual(seen, order)
        XCTAssertEqual(cursor, DataCursor(epoch: 1, position: 0))
    }

    func testFillPadsToLongestInBatch() throws {
        let tok = try WordTokenizer(words: ["x", "y"], lowercase: true, maxLength: 8)
        let ds = LabeledDataset(examples: [.init(text: "x y x", label: 1), .init(text: "y", label: 0)], labelNames: ["n", "p"])
        let enc = EncodedDataset(ds, tokenizer: tok, scheme: .roberta)
        let batch = TokenBatch(maxBatchSize: 4, maxSequenceLength: 8)
        enc.fill(batch, indices: [1, 0])
        XCTAssertEqual(batch.batchSize, 2)
        XCTAssertEqual(batch.sequenceLength, 5)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: batch.inputIDs, count: 10)), [0, 6, 2, 1, 1, 0, 5, 6, 5, 2])
        XCTAssertEqual([batch.lengths[0], batch.lengths[1]], [3, 5])
        XCTAssertEqual([batch.labels[0], batch.labels[1]], [0, 1])
    }
}
