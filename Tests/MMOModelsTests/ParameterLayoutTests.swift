// The exact parameter registry of each family: names (Hugging Face, in `named_parameters`
// order), shapes, kinds, roles, blocks and weight-decay flags, written out by hand.
import MMOCore
import XCTest
@testable import MMOModels

final class ParameterLayoutTests: XCTestCase {
    private typealias Row = (String, [Int], ParameterKind, String, Int?, Bool)

    private func assertLayout(_ family: ModelFamily, _ expected: [Row], file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try makeModel(tinyConfig(family, layers: 1))
        let specs = model.parameters.specs
        XCTAssertEqual(specs.count, expected.count, "\(family): parameter count", file: file, line: line)
        for (spec, row) in zip(specs, expected) {
            let got = "\(spec.name) \(spec.shape) \(spec.kind) \(spec.role) \(spec.block.map(String.init) ?? "-") \(spec.weightDecay)"
            let want = "\(row.0) \(row.1) \(row.2) \(row.3) \(row.4.map(String.init) ?? "-") \(row.5)"
            XCTAssertEqual(got, want, file: file, line: line)
        }
        let total = specs.reduce(0) { $0 + $1.count }
        XCTAssertEqual(model.parameters.totalCount, total)
        XCTAssertEqual(model.parameters.offsets.last.map { $0 + specs.last!.count }, total, "tensors are back to back")
    }

    // tinyConfig: C = 8, I = 12, vocabulary 13, 3 labels, 1 layer.
    func testBert() throws {
        let p = "bert.encoder.layer.0"
        try assertLayout(.bert, [
            ("bert.embeddings.word_embeddings.weight", [13, 8], .embedding, "embedding.word", nil, true),
            ("bert.embeddings.position_embeddings.weight", [8, 8], .embedding, "embedding.position", nil, true),
            ("bert.embeddings.token_type_embeddings.weight", [2, 8], .embedding, "embedding.token_type", nil, true),
            ("bert.embeddings.LayerNorm.weight", [8], .norm, "norm.embedding.weight", nil, false),
            ("bert.embeddings.LayerNorm.bias", [8], .norm, "norm.embedding.bias", nil, false),
            ("\(p).attention.self.query.weight", [8, 8], .attention, "attention.query.weight", 0, true),
            ("\(p).attention.self.query.bias", [8], .attention, "attention.query.bias", 0, false),
            ("\(p).attention.self.key.weight", [8, 8], .attention, "attention.key.weight", 0, true),
            ("\(p).attention.self.key.bias", [8], .attention, "attention.key.bias", 0, false),
            ("\(p).attention.self.value.weight", [8, 8], .attention, "attention.value.weight", 0, true),
            ("\(p).attention.self.value.bias", [8], .attention, "attention.value.bias", 0, false),
            ("\(p).attention.output.dense.weight", [8, 8], .attention, "attention.output.weight", 0, true),
            ("\(p).attention.output.dense.bias", [8], .attention, "attention.output.bias", 0, false),
            ("\(p).attention.output.LayerNorm.weight", [8], .norm, "norm.attention.weight", 0, false),
            ("\(p).attention.output.LayerNorm.bias", [8], .norm, "norm.attention.bias", 0, false),
            ("\(p).intermediate.dense.weight", [12, 8], .ffn, "ffn.in.weight", 0, true),
            ("\(p).intermediate.dense.bias", [12], .ffn, "ffn.in.bias", 0, false),
            ("\(p).output.dense.weight", [8, 12], .ffn, "ffn.out.weight", 0, true),
            ("\(p).output.dense.bias", [8], .ffn, "ffn.out.bias", 0, false),
            ("\(p).output.LayerNorm.weight", [8], .norm, "norm.ffn.weight", 0, false),
            ("\(p).output.LayerNorm.bias", [8], .norm, "norm.ffn.bias", 0, false),
            ("bert.pooler.dense.weight", [8, 8], .head, "head.dense.weight", nil, true),
            ("bert.pooler.dense.bias", [8], .head, "head.dense.bias", nil, false),
            ("classifier.weight", [3, 8], .head, "head.classifier.weight", nil, true),
            ("classifier.bias", [3], .head, "head.classifier.bias", nil, false),
        ])
    }

    func testRoberta() throws {
        let p = "roberta.encoder.layer.0"
        try assertLayout(.roberta, [
            ("roberta.embeddings.word_embeddings.weight", [13, 8], .embedding, "embedding.word", nil, true),
            ("roberta.embeddings.token_type_embeddings.weight", [1, 8], .embedding, "embedding.token_type", nil, true),
            ("roberta.embeddings.LayerNorm.weight", [8], .norm, "norm.embedding.weight", nil, false),
            ("roberta.embeddings.LayerNorm.bias", [8], .norm, "norm.embedding.bias", nil, false),
            ("roberta.embeddings.position_embeddings.weight", [10, 8], .embedding, "embedding.position", nil, true),
            ("\(p).attention.self.query.weight", [8, 8], .attention, "attention.query.weight", 0, true),
            ("\(p).attention.self.query.bias", [8], .attention, "attention.query.bias", 0, false),
            ("\(p).attention.self.key.weight", [8, 8], .attention, "attention.key.weight", 0, true),
            ("\(p).attention.self.key.bias", [8], .attention, "attention.key.bias", 0, false),
            ("\(p).attention.self.value.weight", [8, 8], .attention, "attention.value.weight", 0, true),
            ("\(p).attention.self.value.bias", [8], .attention, "attention.value.bias", 0, false),
            ("\(p).attention.output.dense.weight", [8, 8], .attention, "attention.output.weight", 0, true),
            ("\(p).attention.output.dense.bias", [8], .attention, "attention.output.bias", 0, false),
            ("\(p).attention.output.LayerNorm.weight", [8], .norm, "norm.attention.weight", 0, false),
            ("\(p).attention.output.LayerNorm.bias", [8], .norm, "norm.attention.bias", 0, false),
            ("\(p).intermediate.dense.weight", [12, 8], .ffn, "ffn.in.weight", 0, true),
            ("\(p).intermediate.dense.bias", [12], .ffn, "ffn.in.bias", 0, false),
            ("\(p).output.dense.weight", [8, 12], .ffn, "ffn.out.weight", 0, true),
            ("\(p).output.dense.bias", [8], .ffn, "ffn.out.bias", 0, false),
            ("\(p).output.LayerNorm.weight", [8], .norm, "norm.ffn.weight", 0, false),
            ("\(p).output.LayerNorm.bias", [8], .norm, "norm.ffn.bias", 0, false),
            ("classifier.dense.weight", [8, 8], .head, "head.dense.weight", nil, true),
            ("classifier.dense.bias", [8], .head, "head.dense.bias", nil, false),
            ("classifier.out_proj.weight", [3, 8], .head, "head.classifier.weight", nil, true),
            ("classifier.out_proj.bias", [3], .head, "head.classifier.bias", nil, false),
        ])
    }

    func testGPT2() throws {
        let p = "transformer.h.0"
        try assertLayout(.gpt2, [
            ("transformer.wte.weight", [13, 8], .embedding, "embedding.word", nil, true),
            ("transformer.wpe.weight", [8, 8], .embedding, "embedding.position", nil, true),
            ("\(p).ln_1.weight", [8], .norm, "norm.attention.weight", 0, false),
            ("\(p).ln_1.bias", [8], .norm, "norm.attention.bias", 0, false),
            ("\(p).attn.c_attn.q.weight", [8, 8], .attention, "attention.query.weight", 0, true),
            ("\(p).attn.c_attn.k.weight", [8, 8], .attention, "attention.key.weight", 0, true),
            ("\(p).attn.c_attn.v.weight", [8, 8], .attention, "attention.value.weight", 0, true),
            ("\(p).attn.c_attn.q.bias", [8], .attention, "attention.query.bias", 0, false),
            ("\(p).attn.c_attn.k.bias", [8], .attention, "attention.key.bias", 0, false),
            ("\(p).attn.c_attn.v.bias", [8], .attention, "attention.value.bias", 0, false),
            ("\(p).attn.c_proj.weight", [8, 8], .attention, "attention.output.weight", 0, true),
            ("\(p).attn.c_proj.bias", [8], .attention, "attention.output.bias", 0, false),
            ("\(p).ln_2.weight", [8], .norm, "norm.ffn.weight", 0, false),
            ("\(p).ln_2.bias", [8], .norm, "norm.ffn.bias", 0, false),
            ("\(p).mlp.c_fc.weight", [12, 8], .ffn, "ffn.in.weight", 0, true),
            ("\(p).mlp.c_fc.bias", [12], .ffn, "ffn.in.bias", 0, false),
            ("\(p).mlp.c_proj.weight", [8, 12], .ffn, "ffn.out.weight", 0, true),
            ("\(p).mlp.c_proj.bias", [8], .ffn, "ffn.out.bias", 0, false),
            ("transformer.ln_f.weight", [8], .norm, "norm.final.weight", nil, false),
            ("transformer.ln_f.bias", [8], .norm, "norm.final.bias", nil, false),
            ("score.weight", [3, 8], .head, "head.classifier.weight", nil, true),
        ])
    }

    /// Families share roles: every role of GPT-2's blocks also exists in BERT's, with equal
    /// shapes when the sizes agree, so `role`-granularity sharing pairs them.
    func testBlockRolesAreSharedAcrossFamilies() throws {
        let bert = try makeModel(tinyConfig(.bert, layers: 1)).parameters.specs
        let gpt2 = try makeModel(tinyConfig(.gpt2, layers: 1)).parameters.specs
        let bertKeys = Set(bert.filter { $0.block != nil }.map { "\($0.role)\($0.shape)" })
        let gptKeys = Set(gpt2.filter { $0.block != nil }.map { "\($0.role)\($0.shape)" })
        XCTAssertEqual(bertKeys, gptKeys)
    }
}
