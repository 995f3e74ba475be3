// Small builders shared by the optimizer tests: parameter stores from compact spec lists, a
// deterministic gradient source, and bit-level comparison of buffers.
import MMOCore
import XCTest

@testable import MMOOptim

/// A spec with the weight-decay flag following DESIGN's rule (matrices yes, vectors no).
func spec(
    _ name: String, _ shape: [Int], _ kind: ParameterKind, _ role: String, block: Int? = nil
) -> ParameterSpec {
    ParameterSpec(name: name, shape: shape, kind: kind, role: role, block: block, weightDecay: shape.count > 1)
}

/// A store over `specs` with values `values` (or a seeded pattern when nil).
func makeStore(_ specs: [ParameterSpec], values: [Float]? = nil, seed: UInt64 = 1) -> ParameterStore {
    let store = ParameterStore(specs: specs)
    if let values {
        precondition(values.count == store.totalCount)
        for (i, v) in values.enumerated() { store.values[i] = v }
    } else {
        var rng = PhiloxRNG(seed: seed, stream: "test/values")
        rng.fillNormal(store.values.pointer, count: store.totalCount, std: 0.5)
    }
    return store
}

/// Writes a seeded gradient for `step` into `store` (the same call gives the same gradient).
func fillGradient(_ store: ParameterStore, model: Int, step: Int, scale: Float = 0.3) {
    var rng = PhiloxRNG(seed: UInt64(1000 * step + model), stream: "test/gradients")
    rng.fillNormal(store.gradients.pointer, count: store.totalCount, std: scale)
}

/// A copy of `store` (same specs, same values, zero gradients).
func copyStore(_ store: ParameterStore) -> ParameterStore {
    let copy = ParameterStore(specs: store.specs)
    copy.values.copy(from: store.values)
    return copy
}

/// Bit patterns of a buffer, for exact comparisons that also distinguish -0 and NaN payloads.
func bits(_ buffer: FloatBuffer) -> [UInt32] { buffer.array.map(\.bitPattern) }

/// A config with every periodic mechanism off and a constant learning rate.
func plainConfig() -> OptimizerConfig {
    var c = OptimizerConfig()
    c.accumulationSteps = 1
    c.warmupSteps = 0
    c.totalSteps = 1_000_000
    c.minLearningRateRatio = 1
    c.gradientSharing = false
    c.parameterSync = false
    c.adaptiveLearningRate = false
    return c
}

/// Three small models of differing shapes used across tests (paper keys: some shared by all
/// three, some by two, some by one).
func threeModels(seed: UInt64 = 7) -> [ParameterStore] {
    let a = [
        spec("a.emb", [6, 4], .embedding, "embedding.word"),
        spec("a.ln.w", [4], .norm, "norm.weight"),
        spec("a.q", [4, 4], .attention, "attention.query.weight", block: 0),
        spec("a.k", [4, 4], .attention, "attention.key.weight", block: 0),
        spec("a.q.b", [4], .attention, "attention.query.bias", block: 0),
        spec("a.fc", [8, 4], .ffn, "ffn.in.weight", block: 0),
        spec("a.head", [2, 4], .head, "head.out.weight"),
    ]
    let b = [
        spec("b.emb", [6, 4], .embedding, "embedding.word"),
        spec("b.pos", [5, 4], .embedding, "embedding.position"),
        spec("b.ln.w", [4], .norm, "norm.weight", block: 0),
        spec("b.q", [4, 4], .attention, "attention.query.weight", block: 0),
        spec("b.k", [4, 4], .attention, "attention.key.weight", block: 0),
        spec("b.v", [4, 4], .attention, "attention.value.weight", block: 0),
        spec("b.fc", [8, 4], .ffn, "ffn.in.weight", block: 0),
        spec("b.head", [2, 4], .head, "head.out.weight"),
    ]
    let c = [
        spec("c.emb", [7, 4], .embedding, "embedding.word"),
        spec("c.ln.w", [4], .norm, "norm.weight"),
        spec("c.q", [4, 4], .attention, "attention.query.weight", block: 0),
        spec("c.fc", [6, 4], .ffn, "ffn.in.weight", block: 0),
        spec("c.head", [2, 4], .head, "head.out.weight"),
    ]
    return [a, b, c].enumerated().map { makeStore($1, seed: seed + UInt64($0)) }
}
