// MultiModelOptimizer against the PyTorch reference (tools/optim_reference.py: torch.optim.AdamW
// plus sharing, sync, learning rates and convergence written in PyTorch): 50 steps of the same
// gradient sequence for three small models; every parameter after every step within 1e-6 of the
// tensor's scale, learning rates and convergence rates to 1e-12, skips exactly.
import Foundation
import MMOCore
import XCTest

@testable import MMOOptim

/// `fixtures/optim/reference.json`: the index of the raw float32 blob beside it.
private struct ReferenceFixture: Decodable {
    struct Model: Decodable {
        var name: String
        var weight: Double
        var parameters: [ParameterSpec]
    }
    struct Entry: Decodable {
        var offset: Int
        var count: Int
    }
    var steps: Int
    var config: OptimizerConfig
    var models: [Model]
    var learningRates: [[Double]]
    var convergenceRates: [[Double]]
    var skipped: [[Bool]]
    var adamSteps: [Int]
    var blob: String
    var index: [String: Entry]
}

final class PyTorchReferenceTests: XCTestCase {
    private static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/optim")

    func testFiftyStepsMatchPyTorch() throws {
        let fixture = try JSONDecoder().decode(
            ReferenceFixture.self, from: Data(contentsOf: Self.directory.appendingPathComponent("reference.json")))
        let raw = try Data(contentsOf: Self.directory.appendingPathComponent(fixture.blob))
        XCTAssertEqual(raw.count % 4, 0)
        let blob: [Float] = raw.withUnsafeBytes { bytes in
            (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        func array(_ name: String) throws -> ArraySlice<Float> {
            let entry = try XCTUnwrap(fixture.index[name], "fixture has no array \(name)")
            return blob[entry.offset..<entry.offset + entry.count]
        }

        let stores = fixture.models.map { ParameterStore(specs: $0.parameters) }
        for (m, model) in fixture.models.enumerated() {
            for (i, v) in try array("initial.\(model.name)").enumerated() { stores[m].values[i] = v }
        }
        let optimizer = try MultiModelOptimizer(
            models: zip(fixture.models, stores).map { OptimizedModel(name: $0.name, store: $1, weight: $0.weight) },
            config: fixture.config)
        XCTAssertEqual(fixture.config.granularity, .paper)
        let allLosses = try array("losses")
        var worst = 0.0
        for t in 1...fixture.steps {
            for (m, model) in fixture.models.enumerated() {
                let n = stores[m].totalCount
                let grads = try array("gradients.\(model.name)")
                for i in 0..<n { stores[m].gradients[i] = grads[grads.startIndex + (t - 1) * n + i] }
            }
            let losses = (0..<stores.count).map { allLosses[allLosses.startIndex + (t - 1) * stores.count + $0] }
            let report = optimizer.step(losses: losses)
            XCTAssertEqual(report.models.map(\.skipped), fixture.skipped[t - 1], "step \(t)")
            for m in stores.indices {
                let expected = fixture.learningRates[t - 1][m]
                XCTAssertEqual(report.models[m].learningRate, expected, accuracy: 1e-12 * expected, "lr step \(t)")
                let rate = fixture.convergenceRates[t - 1][m]
                XCTAssertEqual(report.models[m].convergenceRate, rate, accuracy: 1e-12, "r step \(t)")
            }
            for (m, model) in fixture.models.enumerated() {
                let after = try array("parameters.\(model.name)")
                let n = stores[m].totalCount
                let base = after.startIndex + (t - 1) * n
                for (k, spec) in stores[m].specs.enumerated() {
                    let offset = stores[m].offsets[k]
                    let reference = (0..<spec.count).map { Double(after[base + offset + $0]) }
                    let scale = max(reference.map(abs).max() ?? 0, 1e-12)
                    for j in 0..<spec.count {
                        let error = abs(Double(stores[m].values[offset + j]) - reference[j]) / scale
                        worst = max(worst, error)
                        if error > 1e-6 {
                            XCTFail("step \(t) \(spec.name)[\(j)]: \(stores[m].values[offset + j]) vs \(reference[j])")
                            return
                        }
                    }
                }
            }
            optimizer.zeroGradients()
        }
        XCTAssertEqual(optimizer.exportState().models.map(\.adamSteps), fixture.adamSteps)
        print("PyTorch reference: worst error relative to tensor scale over \(fixture.steps) steps: \(worst)")
    }
}
