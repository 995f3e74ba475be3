// Learning rates at the points of the schedule that matter (warm-up, its end, mid-cosine, the
// floor), the adaptive factors, and the convergence estimator on loss sequences with known slopes.
import MMOCore
import XCTest

@testable import MMOOptim

final class ScheduleTests: XCTestCase {
    private func config(adaptive: Bool) -> OptimizerConfig {
        var c = OptimizerConfig()
        c.learningRate = 1
        c.warmupSteps = 10
        c.totalSteps = 110
        c.minLearningRateRatio = 0.1
        c.adaptiveLearningRate = adaptive
        return c
    }

    func testWarmupCosineAndFloor() {
        let c = config(adaptive: false)
        func lr(_ t: Int) -> Double {
            LearningRateSchedule.learningRate(step: t, config: c, convergenceRate: 1, weight: 1, meanWeight: 1)
        }
        XCTAssertEqual(lr(1), 0.1, accuracy: 1e-15, "warm-up is t / warmupSteps with t 1-based")
        XCTAssertEqual(lr(5), 0.5, accuracy: 1e-15)
        XCTAssertEqual(lr(10), 1, accuracy: 1e-15, "end of warm-up: p = 0, full rate")
        XCTAssertEqual(lr(35), 0.5 * (1 + cos(Double.pi * 0.25)), accuracy: 1e-15)
        XCTAssertEqual(lr(60), 0.5, accuracy: 1e-15, "mid-cosine")
        XCTAssertEqual(lr(80), 0.5 * (1 + cos(Double.pi * 0.7)), accuracy: 1e-15, "≈ 0.206, still above the floor")
        XCTAssertEqual(lr(100), 0.1, accuracy: 1e-15, "½(1 + cos 0.9π) ≈ 0.024 is floored at 0.1")
        XCTAssertEqual(lr(110), 0.1, accuracy: 1e-15)
        XCTAssertEqual(lr(500), 0.1, accuracy: 1e-15, "past totalSteps p stays 1")
    }

    func testNoWarmupAndNoDecayPhase() {
        XCTAssertEqual(LearningRateSchedule.warmupFactor(step: 1, warmupSteps: 0), 1)
        XCTAssertEqual(LearningRateSchedule.decayFactor(step: 50, warmupSteps: 100, totalSteps: 100, minRatio: 0.1), 1)
    }

    func testAdaptiveFactors() {
        let c = config(adaptive: true)
        func lr(_ r: Double, _ w: Double) -> Double {
            LearningRateSchedule.learningRate(step: 10, config: c, convergenceRate: r, weight: w, meanWeight: 1)
        }
        XCTAssertEqual(lr(1, 1), 1, accuracy: 1e-15)
        XCTAssertEqual(lr(0.8, 1), 1.25, accuracy: 1e-15)
        XCTAssertEqual(lr(0.5, 1), 1.5, accuracy: 1e-15, "1/r = 2 clamps to 1.5")
        XCTAssertEqual(lr(4, 1), 0.5, accuracy: 1e-15, "1/r = 0.25 clamps to 0.5")
        XCTAssertEqual(lr(1, 1.2), 1.2, accuracy: 1e-15)
        XCTAssertEqual(lr(0.8, 0.8), 1.0, accuracy: 1e-15)
        let off = config(adaptive: false)
        XCTAssertEqual(
            LearningRateSchedule.learningRate(step: 10, config: off, convergenceRate: 0.5, weight: 1.2, meanWeight: 1),
            1, accuracy: 1e-15, "adaptive off: neither factor applies")
    }

    /// Per-model rates in a step report: weights 1.0 / 0.8 / 1.2 (mean 1) at step 1 of warm-up 100.
    func testReportedRatesUsePaperWeights() throws {
        var c = OptimizerConfig()
        c.gradientSharing = false
        c.parameterSync = false
        let stores = threeModels()
        let optimizer = try MultiModelOptimizer(
            models: zip(["bert", "gpt2", "roberta"], zip(stores, [1.0, 0.8, 1.2])).map {
                OptimizedModel(name: $0, store: $1.0, weight: $1.1)
            }, config: c)
        let report = optimizer.step(losses: [1, 1, 1])
        XCTAssertEqual(report.models.map(\.learningRate)[0], 3e-7, accuracy: 1e-20)
        XCTAssertEqual(report.models.map(\.learningRate)[1], 3e-7 * 0.8, accuracy: 1e-20)
        XCTAssertEqual(report.models.map(\.learningRate)[2], 3e-7 * 1.2, accuracy: 1e-20)
    }

    func testLeastSquaresSlope() {
        XCTAssertEqual(ConvergenceEstimator.leastSquaresSlope([5, 4, 3, 2, 1]), -1, accuracy: 1e-15)
        XCTAssertEqual(ConvergenceEstimator.leastSquaresSlope([2, 2, 2]), 0, accuracy: 1e-15)
        XCTAssertEqual(ConvergenceEstimator.leastSquaresSlope([0, 1, 4, 9]), 3, accuracy: 1e-14)
        XCTAssertEqual(ConvergenceEstimator.leastSquaresSlope([1, 3, 2]), 0.5, accuracy: 1e-15)
    }

    func testConvergenceUsesLastWindowAndStartsAtOne() {
        var estimator = ConvergenceEstimator(models: 2, window: 4)
        XCTAssertEqual(estimator.rates, [1, 1])
        for loss: Float in [100, 50, 8, 6, 4, 2] { estimator.record(loss, model: 0) }
        for loss: Float in [1, 1, 1] { estimator.record(loss, model: 1) }
        XCTAssertEqual(estimator.slope(model: 0), -2, accuracy: 1e-12, "only the last 4 losses count")
        XCTAssertTrue(estimator.update(model: 0))
        XCTAssertFalse(estimator.update(model: 1), "fewer than window losses: r unchanged")
        XCTAssertEqual(estimator.rates[0], 0.9 + 0.1 / 3, accuracy: 1e-15)
        XCTAssertEqual(estimator.rates[1], 1)
        XCTAssertEqual(estimator.history(model: 0), [8, 6, 4, 2])
        estimator.update(model: 0)
        XCTAssertEqual(estimator.rates[0], 0.9 * (0.9 + 0.1 / 3) + 0.1 / 3, accuracy: 1e-15)
    }

    /// Through the optimizer: rates move every `convergenceEvery` steps once `window` losses exist.
    func testConvergenceCadenceInOptimizer() throws {
        var c = plainConfig()
        c.learningRate = 0
        c.convergenceWindow = 3
        c.convergenceEvery = 2
        let store = makeStore([spec("w", [2], .ffn, "ffn.in.bias")])
        let optimizer = try MultiModelOptimizer(models: [OptimizedModel(name: "m", store: store, weight: 1)], config: c)
        var rates: [Double] = []
        for loss: Float in [9, 7, 5, 3, 2, 1] {
            rates.append(optimizer.step(losses: [loss]).models[0].convergenceRate)
        }
        // t = 2: 2 losses < window; t = 4: slope of [7, 5, 3] = −2; t = 6: slope of [3, 2, 1] = −1.
        let r4 = 0.9 + 0.1 / 3
        let r6 = 0.9 * r4 + 0.1 / 2
        XCTAssertEqual(rates[0], 1)
        XCTAssertEqual(rates[1], 1)
        XCTAssertEqual(rates[2], 1)
        XCTAssertEqual(rates[3], r4, accuracy: 1e-15)
        XCTAssertEqual(rates[4], r4, accuracy: 1e-15)
        XCTAssertEqual(rates[5], r6, accuracy: 1e-15)
    }
}
