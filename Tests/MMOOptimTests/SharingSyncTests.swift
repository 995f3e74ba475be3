// Exact-math checks of gradient sharing (Alg. 1), parameter synchronization (Alg. 2), gradient
// accumulation, clipping and AdamW on hand-built models whose results are computed by hand.
// The learning rate is 0 where only the mixing is under test: AdamW then leaves parameters as
// they are, and the gradients after `step` are the shared gradients.
import MMOCore
import XCTest

@testable import MMOOptim

final class SharingSyncTests: XCTestCase {
    private func assertClose(
        _ actual: UnsafeMutablePointer<Float>, _ expected: [Double], tolerance: Double = 1e-6,
        _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        for (i, e) in expected.enumerated() {
            XCTAssertEqual(Double(actual[i]), e, accuracy: tolerance, "\(message)[\(i)]", file: file, line: line)
        }
    }

    /// Two models, one shared key; keys held by one model only stay bit-identical.
    func testSharingTwoModels() throws {
        let a = makeStore(
            [spec("a.x", [2], .attention, "attention.query.bias"), spec("a.only", [3], .ffn, "ffn.in.bias")],
            values: [0, 0, 0, 0, 0])
        let b = makeStore(
            [spec("b.x", [2], .attention, "attention.query.bias"), spec("b.n", [2], .norm, "norm.bias")],
            values: [0, 0, 0, 0])
        for (i, g) in [Float(1), 2, 7, 8, 9].enumerated() { a.gradients[i] = g }
        for (i, g) in [Float(5), 6, 1, 1].enumerated() { b.gradients[i] = g }
        var config = plainConfig()
        config.learningRate = 0
        config.gradientSharing = true
        config.sharingCoefficient = 0.5
        let optimizer = try MultiModelOptimizer(
            models: [OptimizedModel(name: "a", store: a, weight: 1), OptimizedModel(name: "b", store: b, weight: 3)],
            config: config)
        XCTAssertEqual(optimizer.groups.count, 1)
        XCTAssertEqual(optimizer.groups[0].members, [GroupMember(model: 0, tensor: 0), GroupMember(model: 1, tensor: 0)])
        let report = optimizer.step(losses: [1, 1])
        XCTAssertTrue(report.gradientsShared)
        // G = (1·[1, 2] + 3·[5, 6]) / 4 = [4, 5]; ∇ ← ½∇ + ½G.
        assertClose(a.gradient(named: "a.x"), [2.5, 3.5], "a.x")
        assertClose(b.gradient(named: "b.x"), [4.5, 5.5], "b.x")
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.gradient(named: "a.only"), count: 3)), [7, 8, 9])
        XCTAssertEqual(Array(UnsafeBufferPointer(start: b.gradient(named: "b.n"), count: 2)), [1, 1])
        XCTAssertEqual(bits(a.values), [Float](repeating: 0, count: 5).map(\.bitPattern), "lr 0 leaves parameters")
    }

    /// Three models; one model holds two tensors under the shared key (both contribute and both
    /// receive); a key with two tensors of one model only is not a group.
    func testSharingThreeModelsSeveralTensorsOfOneModel() throws {
        let a = makeStore(
            [
                spec("a.x1", [2], .attention, "attention.query.bias"),
                spec("a.f1", [5], .ffn, "ffn.in.bias"),
                spec("a.x2", [2], .attention, "attention.key.bias"),
                spec("a.f2", [5], .ffn, "ffn.out.bias"),
            ], values: .init(repeating: 0, count: 14))
        let b = makeStore([spec("b.x", [2], .attention, "attention.query.bias")], values: [0, 0])
        let c = makeStore(
            [spec("c.n", [3], .norm, "norm.weight"), spec("c.x", [2], .attention, "attention.value.bias")],
            values: [0, 0, 0, 0, 0])
        let ga: [Float] = [1, 1, 10, 11, 12, 13, 14, 3, 3, 20, 21, 22, 23, 24]
        for (i, g) in ga.enumerated() { a.gradients[i] = g }
        b.gradients[0] = 6
        b.gradients[1] = 0
        for (i, g) in [Float(-1), -2, -3, 0, 6].enumerated() { c.gradients[i] = g }
        var config = plainConfig()
        config.learningRate = 0
        config.gradientSharing = true
        config.sharingCoefficient = 0.2
        let optimizer = try MultiModelOptimizer(
            models: [
                OptimizedModel(name: "a", store: a, weight: 1), OptimizedModel(name: "b", store: b, weight: 2),
                OptimizedModel(name: "c", store: c, weight: 0.5),
            ], config: config)
        XCTAssertEqual(optimizer.groups.map(\.key.description), ["attention[2]"])
        XCTAssertEqual(optimizer.groups[0].members.count, 4)
        optimizer.step(losses: [1, 1, 1])
        // G = (1·[1, 1] + 1·[3, 3] + 2·[6, 0] + 0.5·[0, 6]) / 4.5 = [16, 7] / 4.5.
        let g = [16.0 / 4.5, 7.0 / 4.5]
        func mixed(_ x: [Double]) -> [Double] { zip(x, g).map { 0.8 * $0 + 0.2 * $1 } }
        assertClose(a.gradient(named: "a.x1"), mixed([1, 1]), "a.x1")
        assertClose(a.gradient(named: "a.x2"), mixed([3, 3]), "a.x2")
        assertClose(b.gradient(named: "b.x"), mixed([6, 0]), "b.x")
        assertClose(c.gradient(named: "c.x"), mixed([0, 6]), "c.x")
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.gradient(named: "a.f1"), count: 5)), [10, 11, 12, 13, 14])
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.gradient(named: "a.f2"), count: 5)), [20, 21, 22, 23, 24])
        XCTAssertEqual(Array(UnsafeBufferPointer(start: c.gradient(named: "c.n"), count: 3)), [-1, -2, -3])
    }

    /// Alg. 2 on parameters: two and three models, β = 0.25, every step; a one-model key untouched.
    func testSynchronizationTwoAndThreeModels() throws {
        let a = makeStore(
            [spec("a.w", [2, 1], .ffn, "ffn.in.weight"), spec("a.u", [3], .head, "head.out.bias")],
            values: [2, 4, 9, 9, 9])
        let b = makeStore([spec("b.w", [2, 1], .ffn, "ffn.in.weight"), spec("b.e", [2], .norm, "norm.bias")], values: [6, 0, 1, 1])
        let c = makeStore([spec("c.e", [2], .norm, "norm.bias")], values: [3, 5])
        var config = plainConfig()
        config.learningRate = 0
        config.parameterSync = true
        config.syncCoefficient = 0.25
        config.syncEvery = 1
        let optimizer = try MultiModelOptimizer(
            models: [
                OptimizedModel(name: "a", store: a, weight: 1), OptimizedModel(name: "b", store: b, weight: 3),
                OptimizedModel(name: "c", store: c, weight: 1),
            ], config: config)
        let report = optimizer.step(losses: [1, 1, 1])
        XCTAssertTrue(report.parametersSynchronized)
        // ffn[2, 1]: avg = (1·[2, 4] + 3·[6, 0]) / 4 = [5, 1].
        assertClose(a.value(named: "a.w"), [0.75 * 2 + 0.25 * 5, 0.75 * 4 + 0.25 * 1], "a.w")
        assertClose(b.value(named: "b.w"), [0.75 * 6 + 0.25 * 5, 0.75 * 0 + 0.25 * 1], "b.w")
        // norm[2]: avg = (3·[1, 1] + 1·[3, 5]) / 4 = [1.5, 2].
        assertClose(b.value(named: "b.e"), [0.75 + 0.375, 0.75 + 0.5], "b.e")
        assertClose(c.value(named: "c.e"), [2.25 + 0.375, 3.75 + 0.5], "c.e")
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.value(named: "a.u"), count: 3)), [9, 9, 9])
    }

    /// Sharing and synchronization run only on their intervals; the report says when.
    func testIntervals() throws {
        let stores = threeModels()
        var config = plainConfig()
        config.learningRate = 0
        config.gradientSharing = true
        config.shareEvery = 2
        config.parameterSync = true
        config.syncEvery = 3
        let optimizer = try MultiModelOptimizer(
            models: stores.enumerated().map { OptimizedModel(name: "m\($0)", store: $1, weight: 1) }, config: config)
        var shared: [Int] = []
        var synced: [Int] = []
        for t in 1...7 {
            for (m, s) in stores.enumerated() { fillGradient(s, model: m, step: t) }
            let before = bits(stores[0].gradients)
            let report = optimizer.step(losses: [1, 1, 1])
            if report.gradientsShared { shared.append(t) }
            if report.parametersSynchronized { synced.append(t) }
            XCTAssertEqual(bits(stores[0].gradients) == before, !report.gradientsShared, "step \(t)")
        }
        XCTAssertEqual(shared, [2, 4, 6])
        XCTAssertEqual(synced, [3, 6])
    }

    /// Accumulated gradients are divided by `accumulationSteps`; the norm is reported before
    /// clipping; clipping follows `clip_grad_norm_` (coef = max / (norm + 1e-6) when < 1).
    func testAccumulationAndClipping() throws {
        let a = makeStore([spec("a.w", [2, 1], .ffn, "ffn.in.weight")], values: [0, 0])
        let b = makeStore([spec("b.w", [2, 1], .ffn, "ffn.in.weight")], values: [0, 0])
        var config = plainConfig()
        config.learningRate = 0
        config.accumulationSteps = 4
        config.maxGradientNorm = 1
        let optimizer = try MultiModelOptimizer(
            models: [OptimizedModel(name: "a", store: a, weight: 1), OptimizedModel(name: "b", store: b, weight: 1)],
            config: config)
        a.gradients[0] = 12
        a.gradients[1] = 16  // mean [3, 4], norm 5: clipped to [0.6, 0.8]
        b.gradients[0] = 1.2
        b.gradients[1] = 1.6  // mean [0.3, 0.4], norm 0.5: untouched
        let report = optimizer.step(losses: [1, 1])
        XCTAssertEqual(report.models[0].gradientNorm, 5, accuracy: 1e-12)
        XCTAssertEqual(report.models[1].gradientNorm, 0.5, accuracy: 1e-7)
        XCTAssertTrue(report.models[0].clipped)
        XCTAssertFalse(report.models[1].clipped)
        assertClose(a.gradients.pointer, [3 / (5 + 1e-6), 4 / (5 + 1e-6)], tolerance: 2e-7, "clipped")
        XCTAssertEqual(b.gradients.array, [Float(1.2) / 4, Float(1.6) / 4])
    }

    /// One AdamW step by hand, with and without decoupled decay (PyTorch semantics).
    func testAdamWFirstStepByHand() throws {
        let store = makeStore([spec("w", [1, 1], .ffn, "ffn.in.weight"), spec("b", [1], .ffn, "ffn.in.bias")], values: [1, 1])
        store.gradients[0] = 0.5
        store.gradients[1] = 0.5
        var config = plainConfig()
        config.learningRate = 0.1
        config.weightDecay = 0.01
        let optimizer = try MultiModelOptimizer(models: [OptimizedModel(name: "m", store: store, weight: 1)], config: config)
        optimizer.step(losses: [1])
        // m̂ = 0.5, v̂ = 0.25: update = 0.1 · 0.5 / (0.5 + 1e-8); decay multiplies by 1 − 0.001 first.
        let update = 0.1 * 0.5 / (0.5 + 1e-8)
        assertClose(store.values.pointer, [0.999 - update, 1 - update], tolerance: 1e-7, "adamw")
        // Second step, same gradient: m̂ = 0.5, v̂ = 0.25 again (bias correction at t = 2).
        store.gradients[0] = 0.5
        store.gradients[1] = 0.5
        optimizer.step(losses: [1])
        assertClose(
            store.values.pointer, [(0.999 - update) * 0.999 - update, 1 - 2 * update], tolerance: 1e-6, "adamw t=2")
    }
}
