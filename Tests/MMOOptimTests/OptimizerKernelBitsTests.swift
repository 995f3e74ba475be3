// The optimizer's element passes give the same bits in every build (see
// Tests/MMOCoreTests/KernelBitsTests.swift: MMOOptim is compiled for `haswell` where the build
// machine has AVX2). Hashes from the baseline build (`MMO_TARGET_CPU=x86-64`).
import MMOCore
@testable import MMOOptim
import XCTest

final class OptimizerKernelBitsTests: XCTestCase {
    private func hash(_ p: UnsafePointer<Float>, _ n: Int) -> UInt64 {
        var h = FNV1a64()
        h.combine(UnsafeRawBufferPointer(start: p, count: n * MemoryLayout<Float>.stride))
        return h.value
    }

    private func inputs(_ name: String, _ n: Int, std: Float) -> [Float] {
        var rng = PhiloxRNG(seed: 2026, stream: name)
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: n, std: std) }
        return out
    }

    func testAdamWAndTheFusedShareGiveTheBaselineBuildsBits() {
        let n = 4099  // past a multiple of every lane width
        var p = inputs("p", n, std: 0.02), g = inputs("g", n, std: 1)
        var m = inputs("m", n, std: 0.1), v = inputs("v", n, std: 0.1).map { $0 * $0 }
        let average = inputs("a", n, std: 1)
        let scalars = AdamW.Scalars(learningRate: 3e-4, step: 7, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, decays: true)
        var hashes: [String: UInt64] = [:]
        AdamW.update(parameters: &p, gradients: g, expAvg: &m, expAvgSq: &v, count: n, scalars: scalars)
        hashes["adamW"] = hash(p, n) ^ hash(m, n) &* 3 ^ hash(v, n) &* 7
        FusedUpdate.shareAndAdamW(
            parameters: &p, gradients: &g, expAvg: &m, expAvgSq: &v, average: average, count: n, scale: 0.5,
            keep: 0.8, take: 0.2, scalars: scalars)
        hashes["shareAndAdamW"] = hash(p, n) ^ hash(m, n) &* 3 ^ hash(v, n) &* 7 ^ hash(g, n) &* 11
        var sum = [Float](repeating: 0, count: n)
        FusedUpdate.accumulateScaled(into: &sum, g, n, scale: 0.7, weight: 1.2, first: true)
        FusedUpdate.accumulateScaled(into: &sum, average, n, scale: 1, weight: 0.8, first: false)
        hashes["accumulateScaled"] = hash(sum, n)

        let expected: [String: UInt64] = [
            "accumulateScaled": 0x490dcec750aa2b34,
            "adamW": 0x8b10da6dbab3b429,
            "shareAndAdamW": 0xfb5a1281ed6742d9,
        ]
        for key in hashes.keys.sorted() {
            XCTAssertEqual(hashes[key], expected[key], "\(key): 0x\(String(hashes[key]!, radix: 16))")
        }
    }
}
