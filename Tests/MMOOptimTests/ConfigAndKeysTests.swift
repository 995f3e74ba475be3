// Config defaults, decoding with absent fields, validation naming the field; compatibility keys at
// the three granularities and the groups they form.
import Foundation
import MMOCore
import XCTest

@testable import MMOOptim

final class ConfigAndKeysTests: XCTestCase {
    func testPaperDefaults() {
        let c = OptimizerConfig()
        XCTAssertEqual(c.learningRate, 3e-5)
        XCTAssertEqual([c.beta1, c.beta2, c.epsilon, c.weightDecay], [0.9, 0.999, 1e-8, 0.01])
        XCTAssertEqual([c.accumulationSteps, c.warmupSteps, c.shareEvery, c.syncEvery], [2, 100, 1, 10])
        XCTAssertEqual([c.sharingCoefficient, c.syncCoefficient, c.minLearningRateRatio], [0.2, 0.1, 0.1])
        XCTAssertTrue(c.gradientSharing && c.parameterSync && c.adaptiveLearningRate)
        XCTAssertEqual(c.granularity, .paper)
        XCTAssertNil(c.maxGradientNorm)
        XCTAssertNoThrow(try c.validate())
        let baseline = OptimizerConfig.independentBaseline
        XCTAssertFalse(baseline.gradientSharing || baseline.parameterSync || baseline.adaptiveLearningRate)
    }

    func testDecodingFillsDefaultsAndRoundTrips() throws {
        let json = #"{"sharingCoefficient": 0.5, "granularity": "layer", "maxGradientNorm": 1.0}"#
        let c = try JSONDecoder().decode(OptimizerConfig.self, from: Data(json.utf8))
        XCTAssertEqual(c.sharingCoefficient, 0.5)
        XCTAssertEqual(c.granularity, .layer)
        XCTAssertEqual(c.maxGradientNorm, 1.0)
        XCTAssertEqual(c.syncEvery, 10, "absent field takes its default")
        let again = try JSONDecoder().decode(OptimizerConfig.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(again, c)
    }

    func testValidationNamesTheField() {
        func failure(_ edit: (inout OptimizerConfig) -> Void) -> String? {
            var c = OptimizerConfig()
            edit(&c)
            do {
                try c.validate()
                return nil
            } catch let error as OptimizerConfigError {
                XCTAssertTrue(error.description.contains("`\(error.field)`"))
                return error.field
            } catch {
                return "unexpected \(error)"
            }
        }
        XCTAssertEqual(failure { $0.sharingCoefficient = 1.5 }, "sharingCoefficient")
        XCTAssertEqual(failure { $0.sharingCoefficient = -0.1 }, "sharingCoefficient")
        XCTAssertEqual(failure { $0.syncCoefficient = 2 }, "syncCoefficient")
        XCTAssertEqual(failure { $0.beta2 = 1 }, "beta2")
        XCTAssertEqual(failure { $0.epsilon = 0 }, "epsilon")
        XCTAssertEqual(failure { $0.learningRate = .nan }, "learningRate")
        XCTAssertEqual(failure { $0.accumulationSteps = 0 }, "accumulationSteps")
        XCTAssertEqual(failure { $0.syncEvery = 0 }, "syncEvery")
        XCTAssertEqual(failure { $0.convergenceWindow = 1 }, "convergenceWindow")
        XCTAssertEqual(failure { $0.maxGradientNorm = 0 }, "maxGradientNorm")
        XCTAssertEqual(failure { $0.minLearningRateRatio = 1.1 }, "minLearningRateRatio")
        XCTAssertNil(failure { $0.sharingCoefficient = 1 })
    }

    func testSetupErrors() {
        let store = makeStore([spec("w", [2], .ffn, "ffn.in.bias")])
        XCTAssertThrowsError(try MultiModelOptimizer(models: [], config: OptimizerConfig())) {
            XCTAssertEqual($0 as? OptimizerSetupError, .noModels)
        }
        XCTAssertThrowsError(
            try MultiModelOptimizer(
                models: [OptimizedModel(name: "x", store: store, weight: 1), OptimizedModel(name: "x", store: store, weight: 1)],
                config: OptimizerConfig())
        ) { XCTAssertEqual($0 as? OptimizerSetupError, .duplicateModelName("x")) }
        XCTAssertThrowsError(
            try MultiModelOptimizer(models: [OptimizedModel(name: "x", store: store, weight: 0)], config: OptimizerConfig())
        ) { XCTAssertEqual($0 as? OptimizerSetupError, .invalidWeight(model: "x", weight: 0)) }
        var bad = OptimizerConfig()
        bad.sharingCoefficient = 3
        XCTAssertThrowsError(
            try MultiModelOptimizer(models: [OptimizedModel(name: "x", store: store, weight: 1)], config: bad)
        ) { XCTAssertEqual(($0 as? OptimizerConfigError)?.field, "sharingCoefficient") }
    }

    func testKeysAtEachGranularity() {
        let q0 = spec("l0.q", [4, 4], .attention, "attention.query.weight", block: 0)
        let k0 = spec("l0.k", [4, 4], .attention, "attention.key.weight", block: 0)
        let q1 = spec("l1.q", [4, 4], .attention, "attention.query.weight", block: 1)
        let f = spec("l0.f", [4, 4], .ffn, "ffn.out.weight", block: 0)
        func key(_ s: ParameterSpec, _ g: SharingGranularity) -> CompatibilityKey { CompatibilityKey(spec: s, granularity: g) }
        XCTAssertEqual(key(q0, .paper), key(k0, .paper))
        XCTAssertEqual(key(q0, .paper), key(q1, .paper))
        XCTAssertNotEqual(key(q0, .paper), key(f, .paper), "kind is part of the paper key")
        XCTAssertNotEqual(key(q0, .role), key(k0, .role))
        XCTAssertEqual(key(q0, .role), key(q1, .role))
        XCTAssertNotEqual(key(q0, .layer), key(q1, .layer))
        XCTAssertEqual(key(q0, .layer), key(spec("x", [4, 4], .attention, "attention.query.weight", block: 0), .layer))
        XCTAssertNotEqual(key(q0, .paper), key(spec("r", [4, 2], .attention, "attention.query.weight"), .paper))
        XCTAssertEqual(key(q0, .paper).description, "attention[4, 4]")
        XCTAssertEqual(key(q1, .layer).description, "attention.query.weight@1[4, 4]")
    }

    func testGroupsAtEachGranularity() {
        let specs = threeModels().map(\.specs)
        func describe(_ g: SharingGranularity) -> [String] {
            CompatibilityGroup.groups(models: specs, granularity: g).map { group in
                "\(group.key) " + group.members.map { "\($0.model).\(specs[$0.model][$0.tensor].name)" }.joined(separator: ",")
            }
        }
        XCTAssertEqual(describe(.paper), [
            "embedding[6, 4] 0.a.emb,1.b.emb",
            "norm[4] 0.a.ln.w,1.b.ln.w,2.c.ln.w",
            "attention[4, 4] 0.a.q,0.a.k,1.b.q,1.b.k,1.b.v,2.c.q",
            "ffn[8, 4] 0.a.fc,1.b.fc",
            "head[2, 4] 0.a.head,1.b.head,2.c.head",
        ])
        XCTAssertEqual(describe(.role), [
            "embedding.word[6, 4] 0.a.emb,1.b.emb",
            "norm.weight[4] 0.a.ln.w,1.b.ln.w,2.c.ln.w",
            "attention.query.weight[4, 4] 0.a.q,1.b.q,2.c.q",
            "attention.key.weight[4, 4] 0.a.k,1.b.k",
            "ffn.in.weight[8, 4] 0.a.fc,1.b.fc",
            "head.out.weight[2, 4] 0.a.head,1.b.head,2.c.head",
        ])
        // b.ln.w sits in block 0, a's and c's are outside blocks.
        XCTAssertEqual(describe(.layer), [
            "embedding.word[6, 4] 0.a.emb,1.b.emb",
            "norm.weight[4] 0.a.ln.w,2.c.ln.w",
            "attention.query.weight@0[4, 4] 0.a.q,1.b.q,2.c.q",
            "attention.key.weight@0[4, 4] 0.a.k,1.b.k",
            "ffn.in.weight@0[8, 4] 0.a.fc,1.b.fc",
            "head.out.weight[2, 4] 0.a.head,1.b.head,2.c.head",
        ])
    }
}
