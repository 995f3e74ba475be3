// Export and restore: a run interrupted after k steps and restored into a fresh optimizer (through
// JSON for the document and copied arrays for the moments) continues bit-identically.
import Foundation
import MMOCore
import XCTest

@testable import MMOOptim

final class StateTests: XCTestCase {
    private func config() -> OptimizerConfig {
        var c = OptimizerConfig()
        c.learningRate = 1e-2
        c.warmupSteps = 3
        c.totalSteps = 15
        c.maxGradientNorm = 1
        c.syncEvery = 3
        c.shareEvery = 2
        c.convergenceWindow = 3
        c.convergenceEvery = 2
        return c
    }

    private func optimizer(_ stores: [ParameterStore]) throws -> MultiModelOptimizer {
        try MultiModelOptimizer(
            models: zip(["bert", "gpt2", "roberta"], zip(stores, [1.0, 0.8, 1.2])).map {
                OptimizedModel(name: $0, store: $1.0, weight: $1.1)
            }, config: config())
    }

    private func step(_ optimizer: MultiModelOptimizer, _ stores: [ParameterStore], _ t: Int) {
        for (m, store) in stores.enumerated() {
            fillGradient(store, model: m, step: t)
            if t == 4 && m == 1 { store.gradients[2] = .nan }
        }
        optimizer.recordMicroBatch()
        optimizer.recordMicroBatch()
        optimizer.step(losses: [3 - 0.2 * Float(t), 2 - 0.05 * Float(t * t % 7), 1 + 1 / Float(t)])
        optimizer.zeroGradients()
    }

    func testRestoreContinuesBitExactly() throws {
        for k in [1, 5, 8] {
            let stores = threeModels()
            let straight = try optimizer(stores)
            for t in 1...k { step(straight, stores, t) }

            let document = try JSONEncoder().encode(straight.exportState())
            let tensors = Dictionary(uniqueKeysWithValues: straight.stateTensors().map { ($0.name, $0.values.array) })
            let resumedStores = stores.map(copyStore)
            let resumed = try optimizer(resumedStores)
            try resumed.restore(JSONDecoder().decode(OptimizerState.self, from: document), tensors: tensors)
            XCTAssertEqual(resumed.exportState(), straight.exportState())
            XCTAssertEqual(resumed.completedSteps, k)

            for t in (k + 1)...14 {
                step(straight, stores, t)
                step(resumed, resumedStores, t)
            }
            for m in 0..<3 {
                XCTAssertEqual(bits(stores[m].values), bits(resumedStores[m].values), "k=\(k) model \(m)")
            }
            XCTAssertEqual(
                straight.stateTensors().map { bits($0.values) }, resumed.stateTensors().map { bits($0.values) })
            XCTAssertEqual(resumed.exportState(), straight.exportState())
            XCTAssertEqual(straight.exportState().models[1].totalSkips, 1)
        }
    }

    func testRestoreRejectsAMismatchAndChangesNothing() throws {
        let stores = threeModels()
        let source = try optimizer(stores)
        for t in 1...3 { step(source, stores, t) }
        let state = source.exportState()
        let tensors = Dictionary(uniqueKeysWithValues: source.stateTensors().map { ($0.name, $0.values.array) })
        let target = try optimizer(threeModels())
        let before = target.exportState()

        var renamed = state
        renamed.models[1].name = "gpt"
        XCTAssertThrowsError(try target.restore(renamed, tensors: tensors)) {
            guard case .modelMismatch(index: 1, _, _) = $0 as? OptimizerStateError else {
                return XCTFail("\($0)")
            }
        }
        var missing = tensors
        missing["optimizer.roberta.exp_avg_sq"] = nil
        XCTAssertThrowsError(try target.restore(state, tensors: missing)) {
            XCTAssertEqual($0 as? OptimizerStateError, .missingTensor("optimizer.roberta.exp_avg_sq"))
        }
        var short = tensors
        short["optimizer.bert.exp_avg"]?.removeLast()
        XCTAssertThrowsError(try target.restore(state, tensors: short)) {
            guard case .tensorLength(name: "optimizer.bert.exp_avg", _, _) = $0 as? OptimizerStateError else {
                return XCTFail("\($0)")
            }
        }
        var damaged = state
        damaged.models[0].convergenceRate = -1
        XCTAssertThrowsError(try target.restore(damaged, tensors: tensors)) {
            XCTAssertEqual($0 as? OptimizerStateError, .invalidField("models[0].convergenceRate"))
        }
        XCTAssertEqual(target.exportState(), before, "failed restores change nothing")
        XCTAssertTrue(target.stateTensors().allSatisfy { $0.values.array.allSatisfy { $0 == 0 } })
    }
}
