// Cross-model gradient cosine similarities per kind (§5.2): computed on the gradients before
// sharing mixes them, from tensor pairs matched in registration order.
import MMOCore
import XCTest

@testable import MMOOptim

final class SimilarityTests: XCTestCase {
    func testCosinePerKindBeforeMixing() throws {
        // attention[2]: a has two tensors, b has one: only a's first pairs with b's.
        let a = makeStore(
            [
                spec("a.q", [2], .attention, "attention.query.bias"), spec("a.k", [2], .attention, "attention.key.bias"),
                spec("a.f", [1, 3], .ffn, "ffn.in.weight"),
            ], values: .init(repeating: 0, count: 7))
        let b = makeStore(
            [spec("b.q", [2], .attention, "attention.query.bias"), spec("b.f", [1, 3], .ffn, "ffn.in.weight")],
            values: .init(repeating: 0, count: 5))
        for (i, g) in [Float(1), 0, 100, -100, 1, 2, 2].enumerated() { a.gradients[i] = g }
        for (i, g) in [Float(1), 1, -2, -4, -4].enumerated() { b.gradients[i] = g }
        var c = plainConfig()
        c.learningRate = 0
        c.gradientSharing = true
        c.sharingCoefficient = 1
        c.logGradientSimilarity = true
        let optimizer = try MultiModelOptimizer(
            models: [OptimizedModel(name: "a", store: a, weight: 1), OptimizedModel(name: "b", store: b, weight: 1)], config: c)
        let report = optimizer.step(losses: [1, 1])
        XCTAssertEqual(report.similarities.map(\.kind), [.attention, .ffn])
        XCTAssertEqual(try XCTUnwrap(report.similarities[0].cosine), 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(report.similarities[1].cosine), -1, accuracy: 1e-12)
        // With α = 1 the shared gradients are now equal: the report still shows the similarity before.
        XCTAssertEqual(a.gradient(named: "a.f")[0], b.gradient(named: "b.f")[0])

        c.logGradientSimilarity = false
        let quiet = try MultiModelOptimizer(
            models: [OptimizedModel(name: "a", store: a, weight: 1), OptimizedModel(name: "b", store: b, weight: 1)], config: c)
        XCTAssertTrue(quiet.step(losses: [1, 1]).similarities.allSatisfy { $0.cosine == nil })
    }
}
