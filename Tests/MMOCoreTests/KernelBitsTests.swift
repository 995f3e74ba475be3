// The element-wise kernels give the same bits whatever vector width the build uses: Package.swift
// compiles MMOCore, MMOModels and MMOOptim for `haswell` (AVX2) on a build machine that has it,
// baseline x86-64 (SSE2) otherwise. These hashes were produced by the baseline build
// (`MMO_TARGET_CPU=x86-64 swift test …`) and must come out of every build: a change that makes a
// kernel's result depend on the target (a contracted multiply-add, a reassociated sum) fails here.
// A deliberate change of a kernel's arithmetic updates the hash, with the reason in the commit.
// BLAS is not covered (OpenBLAS picks its kernels by CPU at run time, independently of our build).
import MMOCore
import XCTest

final class KernelBitsTests: XCTestCase {
    /// FNV-1a 64 of the bytes of `n` Floats.
    private func hash(_ p: UnsafePointer<Float>, _ n: Int) -> UInt64 {
        var h = FNV1a64()
        h.combine(UnsafeRawBufferPointer(start: p, count: n * MemoryLayout<Float>.stride))
        return h.value
    }

    /// `n` normal values (std `std`) from a named stream: the same inputs in every build.
    private func inputs(_ name: String, _ n: Int, std: Float = 2) -> [Float] {
        var rng = PhiloxRNG(seed: 2026, stream: name)
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: n, std: std) }
        return out
    }

    func testElementwiseKernelsGiveTheBaselineBuildsBits() {
        let (N, C) = (37, 96)  // rows not a multiple of any vector width, channels that are
        let n = N * C
        let x = inputs("x", n), dy = inputs("dy", n, std: 1), w = inputs("w", C, std: 1), bias = inputs("b", C, std: 1)
        var hashes: [String: UInt64] = [:]
        var out = [Float](repeating: 0, count: n), derivative = x, dx = [Float](repeating: 0, count: n)
        var mean = [Float](repeating: 0, count: N), rstd = [Float](repeating: 0, count: N)
        var dw = [Float](repeating: 0, count: C), db = [Float](repeating: 0, count: C)

        for approximation in [GELUApproximation.none, .tanh] {
            derivative = x
            geluForward(out: &out, inputToDerivative: &derivative, N: n, approximation: approximation)
            hashes["gelu.\(approximation.rawValue).value"] = hash(out, n)
            hashes["gelu.\(approximation.rawValue).derivative"] = hash(derivative, n)
            geluBackward(dInput: &dx, dOut: dy, input: x, N: n, approximation: approximation)
            hashes["gelu.\(approximation.rawValue).backward"] = hash(dx, n)
        }
        tanhForward(out: &out, input: x, N: n)
        hashes["tanh"] = hash(out, n)

        layerNormForward(out: &out, mean: &mean, rstd: &rstd, input: x, weight: w, bias: bias, N: N, C: C, eps: 1e-5)
        hashes["layerNorm.forward"] = hash(out, n) ^ hash(mean, N) &* 3 ^ hash(rstd, N) &* 7
        dx = [Float](repeating: 0, count: n)
        layerNormBackward(dInput: &dx, dWeight: &dw, dBias: &db, dOut: dy, input: x, weight: w, mean: mean, rstd: rstd, N: N, C: C)
        hashes["layerNorm.backward"] = hash(dx, n) ^ hash(dw, C) &* 3 ^ hash(db, C) &* 7

        var mask = [Float](repeating: 0, count: C)
        for c in 0..<C where c % 5 == 4 { mask[c] = -.greatestFiniteMagnitude }
        softmaxForward(out: &out, input: x, additiveMask: mask, R: N, N: C, causal: false)
        hashes["softmax.forward"] = hash(out, n)
        let probs = out
        softmaxBackward(dInput: &dx, dOut: dy, probs: probs, R: N, N: C)
        hashes["softmax.backward"] = hash(dx, n)

        var rng = PhiloxRNG(seed: 2026, stream: "dropout")
        var dropMask = [Float](repeating: 0, count: n)
        dropoutForward(out: &out, mask: &dropMask, input: x, N: n, probability: 0.1, rng: &rng)
        hashes["dropout"] = hash(out, n) ^ hash(dropMask, n) &* 3
        hashes["fastExp"] = hash(x.map { fastExp($0) }, n)

        let expected: [String: UInt64] = [
            "dropout": 0x5dcc8daab64997f7,
            "fastExp": 0xaa1b20eed352fe69,
            "gelu.none.backward": 0x62257aa6f4eb16c1,
            "gelu.none.derivative": 0xf4c7122667f1f814,
            "gelu.none.value": 0x218e923fbecb4aa1,
            "gelu.tanh.backward": 0xe8d2f24162adf5f7,
            "gelu.tanh.derivative": 0xa429ed3eaefdb934,
            "gelu.tanh.value": 0x559d307092a6d9e4,
            "layerNorm.backward": 0x76e55944b12e64df,
            "layerNorm.forward": 0x65207a051fe42ec4,
            "softmax.backward": 0x493f7871cf316a,
            "softmax.forward": 0xf5c92464d3216675,
            "tanh": 0xaeb27e05a29c9026,
        ]
        for key in hashes.keys.sorted() {
            XCTAssertEqual(hashes[key], expected[key], "\(key): 0x\(String(hashes[key]!, radix: 16))")
        }
    }
}
