// Parity with PyTorch + transformers: load the reference weights of each family, run forward
// and backward on the reference batch, match logits, loss and every gradient within 1e-4 of each
// tensor's scale (max-abs). Fixtures: tools/make_model_fixtures.py (dropout 0, eager attention).
import MMOCore
import MMOFormat
import XCTest
@testable import MMOModels

final class FixtureParityTests: XCTestCase {
    override func setUp() { BLAS.setThreads(1) }

    private func check(_ family: ModelFamily) throws {
        let fixture = try ModelFixture(family: family)
        let model = try makeClassifier(config: fixture.config, seed: 0)
        let store = model.parameters
        XCTAssertEqual(store.specs.map(\.name), fixture.parameterNames, "\(family): parameter order")
        XCTAssertEqual(store.specs.map(\.shape), fixture.parameterShapes, "\(family): parameter shapes")
        for (i, spec) in store.specs.enumerated() {
            let values = try fixture.floats("param.\(spec.name)")
            XCTAssertEqual(values.count, spec.count)
            store.value(i).update(from: values, count: spec.count)
        }
        let batch = try fixture.batch()
        try model.validate(batch)
        store.zeroGradients()
        let loss = model.forward(batch, training: true)
        model.backward()

        let refLoss = try fixture.floats("loss")[0]
        XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * max(1, abs(refLoss)), "\(family): loss")
        let refLogits = try fixture.floats("logits")
        let logits = Array(UnsafeBufferPointer(start: model.logits, count: refLogits.count))
        XCTAssertLessThanOrEqual(relativeMaxError(logits, refLogits), 1e-4, "\(family): logits \(logits) vs \(refLogits)")
        var worst: (Float, String) = (0, "")
        for (i, spec) in store.specs.enumerated() {
            let ref = try fixture.floats("grad.\(spec.name)")
            // Key biases have a mathematically zero gradient (softmax ignores a shift shared by
            // all keys), so both sides hold float noise of ~1e-8. A scale floor of 1e-2 turns the
            // bound into an absolute 1e-6 for them; every other gradient tensor of the fixtures
            // has max-abs above 2.7e-2, so the floor does not loosen any real comparison.
            let err = relativeMaxError(store.gradientArray(i), ref, floor: 1e-2)
            if err > worst.0 { worst = (err, spec.name) }
            XCTAssertLessThanOrEqual(err, 1e-4, "\(family): gradient of \(spec.name)")
        }
        print("\(family): loss \(loss) vs \(refLoss), worst gradient error \(worst.0) at \(worst.1)")
    }

    /// The LM fixtures: `BertForMaskedLM`, `RobertaForMaskedLM`, `GPT2LMHeadModel` with the
    /// decoder tied to the word embeddings (its gradient there sums both uses).
    private func checkLanguageModel(_ stem: String) throws {
        let fixture = try ModelFixture(stem: stem)
        XCTAssertTrue(fixture.config.objective.isLanguageModel)
        let model = try XCTUnwrap(try makeModel(config: fixture.config, seed: 0) as? any LanguageModel)
        let store = model.parameters
        XCTAssertEqual(store.specs.map(\.name), fixture.parameterNames, "\(stem): parameter order (decoder tied: no tensor of its own)")
        XCTAssertEqual(store.specs.map(\.shape), fixture.parameterShapes, "\(stem): parameter shapes")
        for (i, spec) in store.specs.enumerated() {
            store.value(i).update(from: try fixture.floats("param.\(spec.name)"), count: spec.count)
        }
        let batch = try fixture.batch()
        try model.validate(batch)
        store.zeroGradients()
        let loss = model.forward(batch, training: true)
        let refLoss = try fixture.floats("loss")[0]
        XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * max(1, abs(refLoss)), "\(stem): loss")
        // Reference logits cover every position; ours the predicted ones, in (b, t) order.
        let refAll = try fixture.floats("logits"), V = fixture.config.vocabSize
        let BT = batch.batchSize * batch.sequenceLength
        let rows = (0..<BT).filter { batch.targets[$0] != TokenBatch.ignoredTarget }
        XCTAssertEqual(model.predictionCount, rows.count)
        XCTAssertGreaterThan(rows.count, 3)
        let ref = rows.flatMap { refAll[($0 * V)..<($0 * V + V)] }
        let logits = Array(UnsafeBufferPointer(start: model.logits, count: ref.count))
        XCTAssertLessThanOrEqual(relativeMaxError(logits, ref), 1e-4, "\(stem): logits")
        model.backward()
        var worst: (Float, String) = (0, "")
        for (i, spec) in store.specs.enumerated() {
            // The same 1e-2 floor as the classifiers (zero-gradient key biases).
            let err = relativeMaxError(store.gradientArray(i), try fixture.floats("grad.\(spec.name)"), floor: 1e-2)
            if err > worst.0 { worst = (err, spec.name) }
            XCTAssertLessThanOrEqual(err, 1e-4, "\(stem): gradient of \(spec.name)")
        }
        print("\(stem): loss \(loss) vs \(refLoss), \(rows.count) predictions, worst gradient error \(worst.0) at \(worst.1)")
    }

    func testBertMaskedLMMatchesTransformers() throws { try checkLanguageModel("bert-mlm") }
    func testRobertaMaskedLMMatchesTransformers() throws { try checkLanguageModel("roberta-mlm") }
    func testGPT2LMHeadModelMatchesTransformers() throws { try checkLanguageModel("gpt2-clm") }

    func testBertMatchesTransformers() throws { try check(.bert) }
    func testRobertaMatchesTransformers() throws { try check(.roberta) }
    func testGPT2MatchesTransformers() throws { try check(.gpt2) }
}
