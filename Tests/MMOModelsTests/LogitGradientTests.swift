// The `logitGradient` contract that distillation and mutual learning rely on: after `forward` it
// holds d(mean cross-entropy)/d(logits), and `backward` propagates whatever it holds, so a term
// added to it between the two gives the gradient of CE + term, checked here by finite differences
// through a whole tiny model.
import MMOCore
import XCTest

@testable import MMOModels

final class LogitGradientTests: XCTestCase {
    /// The total loss of `student` with a KL term toward `target`'s logits (constant), as the
    /// trainer's distillation (`temperature` 2) and mutual learning (`temperature` 1) add it.
    func checkKLTerm(temperature: Float, weight: Float, studentFamily: ModelFamily, targetFamily: ModelFamily) throws {
        let student = try makeModel(tinyConfig(studentFamily), seed: 3)
        let target = try makeModel(tinyConfig(targetFamily), seed: 5)
        let batch = tinyBatch(student.config)
        let targetBatch = tinyBatch(target.config)
        let (B, K) = (batch.batchSize, student.config.numLabels)
        _ = target.forward(targetBatch, training: false)
        let targetLogits = FloatBuffer(count: B * K)
        targetLogits.pointer.update(from: target.logits, count: B * K)

        func total() -> Double {
            let ce = student.forward(batch, training: false)
            return Double(ce + weight * klDivergenceForward(input: student.logits, target: targetLogits.pointer, temperature: temperature, B: B, K: K))
        }
        // Analytic: forward, add the term's gradient to logitGradient, backward.
        student.parameters.zeroGradients()
        _ = student.forward(batch, training: false)
        klDivergenceBackward(
            dInput: student.logitGradient, dTarget: nil, input: student.logits, target: targetLogits.pointer, temperature: temperature,
            B: B, K: K, dLoss: weight)
        student.backward()
        let store = student.parameters
        // A few entries of every tensor, central differences in Double of the Float loss.
        var checked = 0
        for t in store.specs.indices {
            let offset = store.offsets[t], count = store.specs[t].count
            for k in Set([0, count / 2, count - 1]) {
                let p = store.values.pointer + offset + k
                let saved = p.pointee
                let h: Float = 1e-2
                p.pointee = saved + h
                let up = total()
                p.pointee = saved - h
                let down = total()
                p.pointee = saved
                let numeric = (up - down) / Double(2 * h)
                let analytic = Double(store.gradients.pointer[offset + k])
                XCTAssertEqual(
                    analytic, numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                    "\(studentFamily) \(store.specs[t].name)[\(k)] T=\(temperature)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20)
        // The term is not zero here, so the test could fail: the gradient differs from CE alone.
        XCTAssertGreaterThan(
            Double(klDivergenceForward(input: student.logits, target: targetLogits.pointer, temperature: temperature, B: B, K: K)), 1e-4)
    }

    func testDistillationTermGradientThroughATinyModel() throws {
        try checkKLTerm(temperature: 2, weight: 0.5, studentFamily: .bert, targetFamily: .gpt2)
        try checkKLTerm(temperature: 2, weight: 0.5, studentFamily: .gpt2, targetFamily: .roberta)
    }

    func testMutualLearningTermGradientThroughATinyModel() throws {
        try checkKLTerm(temperature: 1, weight: 1, studentFamily: .roberta, targetFamily: .bert)
    }

    func testForwardLeavesTheCrossEntropyGradientInLogitGradient() throws {
        let model = try makeModel(tinyConfig(.bert))
        let batch = tinyBatch(model.config)
        _ = model.forward(batch, training: false)
        let (B, K) = (batch.batchSize, model.config.numLabels)
        let expected = FloatBuffer(count: B * K)
        crossEntropyBackward(dLogits: expected.pointer, logits: model.logits, labels: batch.labels, B: B, K: K)
        for i in 0..<(B * K) { XCTAssertEqual(model.logitGradient[i], expected[i]) }
    }
}
