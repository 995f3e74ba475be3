// The agreement gate (`sharingGate: agreement`, docs/RESULTS.md "Our mechanism"): a member's
// average runs over itself and the members whose gradient has a positive dot product with its
// own. Checked by hand on three models, and against ungated sharing when every pair agrees.
import MMOCore
import XCTest

@testable import MMOOptim

final class AgreementGateTests: XCTestCase {
    /// `phaseLanes`: the optimizer's passes (and the gated mix) on that many of the pool's lanes.
    func optimizer(
        _ stores: [ParameterStore], weights: [Double], gate: SharingGate, lanes: Int = 1, phaseLanes: Int? = nil
    ) throws -> MultiModelOptimizer {
        var config = plainConfig()
        config.learningRate = 0
        config.gradientSharing = true
        config.sharingCoefficient = 0.5
        config.sharingGate = gate
        let o = try MultiModelOptimizer(
            models: stores.enumerated().map { OptimizedModel(name: "m\($0)", store: $1, weight: weights[$0]) }, config: config)
        if lanes > 1 { o.use(pool: WorkerPool(lanes: lanes), lanes: phaseLanes) }
        return o
    }

    /// a = [1, 0], b = [1, 1] (a·b = 1 > 0), c = [−1, 0] (a·c = −1, b·c = −1): a and b mix with
    /// each other only, c with no one.
    func testAPairWithNegativeCosineIsNotMixed() throws {
        let stores = (0..<3).map { _ in makeStore([spec("x", [2], .attention, "attention.query.bias")], values: [0, 0]) }
        for (m, g) in [[Float(1), 0], [1, 1], [-1, 0]].enumerated() {
            stores[m].gradients[0] = g[0]
            stores[m].gradients[1] = g[1]
        }
        let o = try optimizer(stores, weights: [1, 1, 2], gate: .agreement)
        _ = o.step(losses: [1, 1, 1])
        // avg(a) = avg(b) = ([1, 0] + [1, 1]) / 2 = [1, 0.5]; ∇ ← ½∇ + ½avg.
        XCTAssertEqual(stores[0].gradients.array, [1, 0.25])
        XCTAssertEqual(stores[1].gradients.array, [1, 0.75])
        XCTAssertEqual(stores[2].gradients.array, [-1, 0], "c agrees with no one: untouched")
        // Ungated, c is pulled toward the weighted average of all three.
        let ungated = (0..<3).map { _ in makeStore([spec("x", [2], .attention, "attention.query.bias")], values: [0, 0]) }
        for (m, g) in [[Float(1), 0], [1, 1], [-1, 0]].enumerated() {
            ungated[m].gradients[0] = g[0]
            ungated[m].gradients[1] = g[1]
        }
        _ = try optimizer(ungated, weights: [1, 1, 2], gate: .none).step(losses: [1, 1, 1])
        // G = (1·[1, 0] + 1·[1, 1] + 2·[−1, 0]) / 4 = [0, 0.25].
        XCTAssertEqual(ungated[2].gradients.array, [-0.5, 0.125])
    }

    /// With every pair agreeing the gate is ungated sharing bit for bit (also split over lanes,
    /// and over tensors longer than the gate's chunk).
    func testAllCosinesPositiveEqualsUngatedSharing() throws {
        for lanes in [1, 2] {
            func run(_ gate: SharingGate) throws -> [[UInt32]] {
                let stores = (0..<3).map { m in
                    makeStore(
                        [spec("w", [50, 60], .attention, "attention.query.weight"), spec("w2", [50, 60], .attention, "attention.key.weight")],
                        seed: UInt64(m))
                }
                // Positive gradients everywhere: every dot product is positive.
                for (m, s) in stores.enumerated() {
                    var rng = PhiloxRNG(seed: UInt64(m), stream: "gate")
                    rng.fillNormal(s.gradients.pointer, count: s.totalCount, std: 0.3)
                    for i in 0..<s.totalCount { s.gradients[i] = abs(s.gradients[i]) + 0.01 }
                }
                let o = try optimizer(stores, weights: [1, 0.8, 1.2], gate: gate, lanes: lanes)
                _ = o.step(losses: [1, 1, 1])
                return stores.map { bits($0.gradients) }
            }
            XCTAssertEqual(try run(.agreement), try run(.none), "\(lanes) lane(s)")
        }
    }

    /// A gated mix where the pairs disagree gives the same bits on one or two lanes (and on two
    /// of a three-lane pool, the trainer's arrangement for three models on two cores) and differs
    /// from ungated sharing.
    func testGatedMixIsTheSameOnAnyLaneCount() throws {
        func run(_ gate: SharingGate, lanes: Int, phaseLanes: Int? = nil) throws -> [[UInt32]] {
            let stores = threeModels()
            for (m, s) in stores.enumerated() { fillGradient(s, model: m, step: 1) }
            _ = try optimizer(stores, weights: [1, 0.8, 1.2], gate: gate, lanes: lanes, phaseLanes: phaseLanes)
                .step(losses: [1, 1, 1])
            return stores.map { bits($0.gradients) }
        }
        XCTAssertEqual(try run(.agreement, lanes: 1), try run(.agreement, lanes: 2))
        XCTAssertEqual(try run(.agreement, lanes: 1), try run(.agreement, lanes: 3, phaseLanes: 2))
        XCTAssertNotEqual(try run(.agreement, lanes: 1), try run(.none, lanes: 1), "random gradients disagree somewhere")
    }
}
