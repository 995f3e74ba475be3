// Whole-model finite-difference checks: every element of every parameter tensor of a tiny model
// of each family, with dropout off and with dropout on (the dropout stream is rewound before each
// forward, so the masks are fixed and the loss is a smooth function of the parameters).
//
// Tolerance: the loss is a Float32 forward a few dozen ops deep (|L| ≈ 1, rounding ≈ 1e-6), so
// with step h = 1e-2 a central difference carries ≈ 1e-6 / 2e-2 = 5e-5 of rounding noise and
// ≈ h²·|L‴|/6 ≈ 1e-5 of truncation error. Errors are measured against each tensor's max-abs
// gradient with a floor of 1e-2 (below it, as for the mathematically zero key-bias gradient, the
// bound is an absolute 5e-5). 5e-3 of that scale passes the noise (the worst seen is ≈ 1e-3)
// while a wrong term (a missing residual, a transposed weight, a wrong mask) is off by O(1).
import MMOCore
import XCTest
@testable import MMOModels

final class ModelGradientCheckTests: XCTestCase {
    override func setUp() { BLAS.setThreads(1) }

    private func check(_ family: ModelFamily, dropout: Float, objective: ModelObjective = .classification) throws {
        var config = tinyConfig(family, dropout: dropout)
        let batch = tinyBatch(config)
        let model: any TrainableModel
        if objective.isLanguageModel {
            config.objective = objective
            config.numLabels = 0
            model = try MMOModels.makeModel(config: config, seed: 17)
            // Masked LM: a few positions (one per sequence at least); causal LM: next tokens.
            batch.fillTargets(objective == .mlm
                ? [[-100, 4, -100, 10, -100], [6, -100, 12, -100, -100], [9, -100, -100, -100, -100]]
                : [[7, 11, 2, 9, -100], [12, 4, -100, -100, -100], [-100, -100, -100, -100, -100]])
        } else {
            model = try makeModel(config)
        }
        let start = model.dropoutRNG
        func loss() -> Double {
            model.dropoutRNG = start
            return Double(model.forward(batch, training: true))
        }
        let store = model.parameters
        store.zeroGradients()
        _ = loss()
        model.backward()
        let h: Float = 1e-2
        var worst: (Double, String) = (0, "")
        for (i, spec) in store.specs.enumerated() {
            let p = store.value(i)
            var numeric = [Double](repeating: 0, count: spec.count)
            for j in 0..<spec.count {
                let saved = p[j]
                let up = saved + h, down = saved - h
                p[j] = up
                let lUp = loss()
                p[j] = down
                let lDown = loss()
                p[j] = saved
                numeric[j] = (lUp - lDown) / (Double(up) - Double(down))
            }
            let analytic = store.gradientArray(i)
            let scale = max(numeric.map(abs).max() ?? 0, 1e-2)
            let err = zip(analytic, numeric).map { abs(Double($0) - $1) }.max()! / scale
            if err > worst.0 { worst = (err, spec.name) }
            XCTAssertLessThanOrEqual(err, 5e-3, "\(family) \(objective) dropout \(dropout): \(spec.name)")
        }
        print("\(family) \(objective.rawValue) dropout \(dropout): worst relative gradient error \(worst.0) at \(worst.1)")
    }

    func testBert() throws { try check(.bert, dropout: 0) }
    func testRoberta() throws { try check(.roberta, dropout: 0) }
    func testGPT2() throws { try check(.gpt2, dropout: 0) }
    func testBertWithDropout() throws { try check(.bert, dropout: 0.2) }
    func testRobertaWithDropout() throws { try check(.roberta, dropout: 0.2) }
    func testGPT2WithDropout() throws { try check(.gpt2, dropout: 0.2) }
    // The LM heads: transform + LayerNorm + decoder tied to the word embeddings (whose gradient
    // sums the lookup's and the decoder's parts; a missing one fails the embedding tensor).
    func testBertMaskedLM() throws { try check(.bert, dropout: 0, objective: .mlm) }
    func testRobertaMaskedLM() throws { try check(.roberta, dropout: 0.2, objective: .mlm) }
    func testGPT2LMHead() throws { try check(.gpt2, dropout: 0.2, objective: .clm) }
}
