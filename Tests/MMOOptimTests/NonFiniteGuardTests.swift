// The non-finite guard: a model with a NaN/Inf loss or gradient takes no part in the step, so the
// other models evolve exactly as if it were not there, and the model itself is left untouched.
import MMOCore
import XCTest

@testable import MMOOptim

final class NonFiniteGuardTests: XCTestCase {
    private func config() -> OptimizerConfig {
        var c = OptimizerConfig()
        c.learningRate = 1e-2
        c.warmupSteps = 2
        c.totalSteps = 20
        c.maxGradientNorm = 1
        c.syncEvery = 2
        c.convergenceWindow = 3
        c.convergenceEvery = 1
        c.maxConsecutiveSkips = 5
        c.logGradientSimilarity = true
        return c
    }

    /// Model C is poisoned on every step (NaN gradients, then an Inf gradient, then a NaN loss):
    /// A and B end bit-identical to a run built with A and B only, and C never changes.
    /// Weights 1, 0.5, 0.75 keep `mean(w)` equal in both runs (0.75), so rates are comparable.
    func testPoisonedModelIsExactlyExcluded() throws {
        let stores = threeModels()
        let pair = [copyStore(stores[0]), copyStore(stores[1])]
        let initialC = bits(stores[2].values)
        let weights = [1.0, 0.5, 0.75]
        let joint = try MultiModelOptimizer(
            models: (0..<3).map { OptimizedModel(name: "m\($0)", store: stores[$0], weight: weights[$0]) },
            config: config())
        let alone = try MultiModelOptimizer(
            models: (0..<2).map { OptimizedModel(name: "m\($0)", store: pair[$0], weight: weights[$0]) },
            config: config())
        var overLimitAt: Int?
        for t in 1...8 {
            for m in 0..<2 {
                fillGradient(stores[m], model: m, step: t)
                fillGradient(pair[m], model: m, step: t)
            }
            fillGradient(stores[2], model: 2, step: t)
            var lossC: Float = 0.5
            switch t % 3 {
            case 0: stores[2].gradients[5] = .nan
            case 1: stores[2].gradients[stores[2].totalCount - 1] = -.infinity
            default: lossC = .nan
            }
            let losses: [Float] = [2 - Float(t) * 0.1, 1.5 - Float(t) * 0.05]
            let report = joint.step(losses: losses + [lossC])
            alone.step(losses: losses)
            XCTAssertEqual(report.models.map(\.skipped), [false, false, true], "step \(t)")
            XCTAssertEqual(bits(stores[0].values), bits(pair[0].values), "model A at step \(t)")
            XCTAssertEqual(bits(stores[1].values), bits(pair[1].values), "model B at step \(t)")
            XCTAssertEqual(bits(stores[2].values), initialC, "model C at step \(t)")
            XCTAssertEqual(joint.convergenceRates[0..<2], alone.convergenceRates[0..<2])
            XCTAssertTrue(report.similarities.allSatisfy { $0.cosine == nil || ($0.modelA != 2 && $0.modelB != 2) })
            XCTAssertTrue(report.similarities.contains { $0.cosine != nil }, "A–B similarities still computed")
            if overLimitAt == nil, joint.modelOverSkipLimit != nil { overLimitAt = t }
        }
        XCTAssertEqual(overLimitAt, 6, "more than maxConsecutiveSkips = 5 skips in a row")
        XCTAssertEqual(joint.modelOverSkipLimit, 2)
        let state = joint.exportState()
        XCTAssertEqual(state.models.map(\.adamSteps), [8, 8, 0])
        XCTAssertEqual(state.models[2].consecutiveSkips, 8)
        XCTAssertEqual(state.models[2].totalSkips, 8)
        XCTAssertEqual(state.models[2].lossCount, 0, "non-finite steps record no loss")
        XCTAssertEqual(state.models[2].convergenceRate, 1)
    }

    /// A single skipped step in the middle: the model's parameters and moments are untouched,
    /// its AdamW step count does not advance, and the streak resets on the next good step.
    func testSkipInTheMiddleOfARun() throws {
        let stores = threeModels()
        let optimizer = try MultiModelOptimizer(
            models: (0..<3).map { OptimizedModel(name: "m\($0)", store: stores[$0], weight: 1) }, config: config())
        func run(_ t: Int, poison: Bool) -> StepReport {
            for m in 0..<3 { fillGradient(stores[m], model: m, step: t) }
            if poison { stores[1].gradients[0] = .infinity }
            let report = optimizer.step(losses: [1, 1, 1])
            optimizer.zeroGradients()
            return report
        }
        for t in 1...3 { _ = run(t, poison: false) }
        let values = bits(stores[1].values)
        let moments = optimizer.stateTensors().filter { $0.name.contains(".m1.") }.map { bits($0.values) }
        let report = run(4, poison: true)
        XCTAssertTrue(report.models[1].skipped)
        XCTAssertFalse(report.models[1].gradientNorm.isFinite)
        XCTAssertTrue(report.gradientsShared && report.parametersSynchronized, "the others still share and sync")
        XCTAssertEqual(bits(stores[1].values), values)
        XCTAssertEqual(optimizer.stateTensors().filter { $0.name.contains(".m1.") }.map { bits($0.values) }, moments)
        XCTAssertEqual(optimizer.exportState().models.map(\.adamSteps), [4, 3, 4])
        let next = run(5, poison: false)
        XCTAssertFalse(next.models[1].skipped)
        XCTAssertEqual(next.models[1].consecutiveSkips, 0)
        XCTAssertEqual(optimizer.exportState().models[1].totalSkips, 1)
        XCTAssertNotEqual(bits(stores[1].values), values)
    }
}
