// The per-tensor arithmetic of `mmo-merge`: weighted averages (soups), SLERP, and the
// task-vector family (task arithmetic, TIES, DARE). Pure functions over flat Float32 ranges, so
// the merge driver can stream one tensor at a time and the tests can check them on a handful of
// hand-computed numbers.
//
// The task-vector definitions follow mergekit (github.com/arcee-ai/mergekit, read at a6e40288):
//   * `mergekit/merge_methods/generalized_task_arithmetic.py`, `GTATask.execute`, `get_task_vectors`
//     and `get_mask`: deltas against the base, optional sparsification per delta, weights,
//     optional sign consensus ("sum" method), optional normalisation by the (masked) weight sum,
//     then `lambda` scaling, added back to the base;
//   * `mergekit/merge_methods/registry.py`: which switches each named method uses —
//     `task_arithmetic` (no sparsification, no consensus, no normalisation), `ties` (magnitude
//     sparsification, sum consensus, normalised), `dare_linear` (random sparsification with L1
//     rescale, no consensus, not normalised); our `dare` is mergekit's `dare_linear`;
//   * `mergekit/sparsify.py`, `magnitude`, `bernoulli` and `rescaled_masked_tensor`;
//   * `mergekit/merge_methods/slerp.py`, `slerp` (DOT_THRESHOLD 0.9995, eps 1e-8, lerp fallback).
// Where mergekit computes in the tensors' dtype we compute each element in Double and round once
// to Float: identical on exactly representable inputs (the tests), and never less accurate.
import Foundation
import MMOCore

/// The task-vector merge methods (mergekit's generalized task arithmetic).
public enum TaskVectorMethod: Sendable, Equatable {
    /// `base + λ · Σ wᵢ (xᵢ − base)`.
    case taskArithmetic
    /// Trim each delta to its `density` largest magnitudes, elect a sign per element from the
    /// sum of the weighted deltas, average the agreeing ones (weighted), scale by λ.
    case ties(density: Double)
    /// Drop each delta element with probability `1 − density` (seeded per tensor), rescale the
    /// kept ones so the delta keeps its L1 norm, `base + λ · Σ wᵢ δ̃ᵢ`.
    case dare(density: Double)
}

/// Flat per-tensor merge kernels.
public enum MergeMath {
    /// `acc (+)= weight · x` in Double (`first` overwrites). Soups accumulate in Double so that
    /// a soup of a tensor with itself, or with weights (1, 0), gives that tensor bit for bit.
    public static func accumulate(_ acc: UnsafeMutablePointer<Double>, _ x: UnsafePointer<Float>, _ n: Int, weight: Double, first: Bool) {
        if first {
            for i in 0..<n { acc[i] = weight * Double(x[i]) }
        } else {
            for i in 0..<n { acc[i] += weight * Double(x[i]) }
        }
    }

    /// `out = Float(acc / total)`.
    public static func finish(_ acc: UnsafePointer<Double>, _ n: Int, dividedBy total: Double, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<n { out[i] = Float(acc[i] / total) }
    }

    /// mergekit's `slerp(t, v0, v1)`: spherical interpolation between the two tensors seen as
    /// flat vectors; when their normalised dot product exceeds 0.9995 in magnitude (nearly
    /// collinear, where the angle is ill-conditioned), plain `lerp`. `t = 0` gives `a`.
    /// Returns whether the lerp fallback was taken.
    @discardableResult
    public static func slerp(
        t: Double, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, into out: UnsafeMutablePointer<Float>
    ) -> Bool {
        let eps = 1e-8, threshold = 0.9995
        var aa = 0.0, bb = 0.0, ab = 0.0
        for i in 0..<n {
            let x = Double(a[i]), y = Double(b[i])
            aa += x * x
            bb += y * y
            ab += x * y
        }
        // mergekit's `normalize` divides only a vector whose norm exceeds eps.
        let na = aa.squareRoot(), nb = bb.squareRoot()
        let dot = ab / (na > eps ? na : 1) / (nb > eps ? nb : 1)
        let s0: Double, s1: Double
        let lerp = Swift.abs(dot) > threshold
        if lerp {
            s0 = 1 - t
            s1 = t
        } else {
            let theta0 = acos(Swift.min(1, Swift.max(-1, dot)))
            let sinTheta0 = sin(theta0)
            s0 = sin(theta0 - theta0 * t) / sinTheta0
            s1 = sin(theta0 * t) / sinTheta0
        }
        for i in 0..<n { out[i] = Float(s0 * Double(a[i]) + s1 * Double(b[i])) }
        return lerp
    }

    /// Keeps the `k = max(1, ⌊density · n⌋)` largest magnitudes of `delta` and zeroes the rest
    /// (mergekit `sparsify.magnitude`, no rescale). Ties in magnitude keep the lower index
    /// (a stable order; torch's argsort leaves it unspecified). mergekit asserts `k > 0`; we
    /// keep at least the largest element instead, so small tensors (biases, norms) at low
    /// densities stay mergeable. `scratch` holds `n` floats.
    public static func trimByMagnitude(_ delta: UnsafeMutablePointer<Float>, _ n: Int, density: Double, scratch: UnsafeMutablePointer<Float>) {
        guard density < 1, n > 0 else { return }
        let k = Swift.max(1, Swift.min(n, Int(density * Double(n))))
        for i in 0..<n { scratch[i] = Swift.abs(delta[i]) }
        var buffer = UnsafeMutableBufferPointer(start: scratch, count: n)
        buffer.sort(by: >)
        let threshold = scratch[k - 1]
        // Everything strictly above the k-th magnitude stays; of those equal to it, the first
        // ones in index order fill up to k.
        var above = 0
        for i in 0..<n where Swift.abs(delta[i]) > threshold { above += 1 }
        var equalLeft = k - above
        for i in 0..<n {
            let m = Swift.abs(delta[i])
            if m > threshold { continue }
            if m == threshold && equalLeft > 0 {
                equalLeft -= 1
            } else {
                delta[i] = 0
            }
        }
    }

    /// Drops each element of `delta` unless a uniform draw from `rng` is below `density`, then
    /// rescales the kept elements so the L1 norm of the delta is unchanged (mergekit
    /// `sparsify.bernoulli` with `RescaleNorm.l1`, which `dare_linear` enables by default; the
    /// DARE paper's 1/density factor is the expectation of this ratio). When either norm is
    /// below 1e-7 nothing is rescaled, as in `rescaled_masked_tensor`.
    public static func dropAndRescale(_ delta: UnsafeMutablePointer<Float>, _ n: Int, density: Double, rng: inout PhiloxRNG) {
        guard density < 1 else { return }
        var before = 0.0, after = 0.0
        for i in 0..<n {
            let x = delta[i]
            before += Double(Swift.abs(x))
            // 24 random bits: a uniform float in [0, 1), one draw per element in index order.
            let u = Double(rng.nextUInt32() >> 8) * 0x1p-24
            if u < density {
                after += Double(Swift.abs(x))
            } else {
                delta[i] = 0
            }
        }
        let eps = 1e-7
        guard before >= eps, after >= eps else { return }
        let scale = before / after
        for i in 0..<n { delta[i] = Float(Double(delta[i]) * scale) }
    }

    /// One tensor of a task-vector merge. `inputs[j]` holds input j's tensor on entry and is
    /// overwritten by its (sparsified) delta; `weights[j]` is its weight; `rngs[j]` is input j's
    /// DARE stream for this tensor (ignored by the other methods). Writes the merged tensor to
    /// `out` (which may alias nothing else). `scratch` holds `n` floats (TIES trimming).
    public static func taskVectorMerge(
        _ method: TaskVectorMethod, base: UnsafePointer<Float>, inputs: [UnsafeMutablePointer<Float>], _ n: Int,
        weights: [Double], lambda: Double, rngs: inout [PhiloxRNG], scratch: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        precondition(inputs.count == weights.count, "one weight per input")
        // Deltas (mergekit `get_task_vectors`: x − base in the base's dtype, f32 here).
        for x in inputs {
            for i in 0..<n { x[i] = x[i] - base[i] }
        }
        switch method {
        case .taskArithmetic: break
        case .ties(let density):
            for x in inputs { trimByMagnitude(x, n, density: density, scratch: scratch) }
        case .dare(let density):
            for (j, x) in inputs.enumerated() { dropAndRescale(x, n, density: density, rng: &rngs[j]) }
        }
        let consensus: Bool
        if case .ties = method { consensus = true } else { consensus = false }
        for i in 0..<n {
            var mixed = 0.0
            if consensus {
                // `get_mask(method="sum")`: the majority sign is that of Σ wⱼδⱼ (≥ 0 → +1); an
                // input takes part where its weighted delta has that sign (a zero never does).
                var total = 0.0
                for (j, x) in inputs.enumerated() { total += weights[j] * Double(x[i]) }
                let majority: Double = total >= 0 ? 1 : -1
                var divisor = 0.0
                for (j, x) in inputs.enumerated() {
                    let weighted = weights[j] * Double(x[i])
                    if weighted != 0 && (weighted > 0) == (majority > 0) {
                        mixed += weighted
                        divisor += weights[j]
                    }
                }
                // TIES normalises by the agreeing weights (mergekit's `default_normalize`);
                // a zero divisor (nobody agrees) becomes 1, leaving the base.
                mixed /= divisor == 0 ? 1 : divisor
            } else {
                for (j, x) in inputs.enumerated() { mixed += weights[j] * Double(x[i]) }
            }
            out[i] = Float(Double(base[i]) + mixed * lambda)
        }
    }

    /// The DARE stream of input `input` for tensor `blob` (`model/<m>/<p>`): a stream of its own
    /// per (seed, input, tensor), so a tensor's mask does not depend on which other models or
    /// tensors are merged, or in what order.
    public static func dareStream(seed: UInt64, input: Int, blob: String) -> PhiloxRNG {
        PhiloxRNG(seed: seed, stream: "mmo-merge/dare/\(input)/\(blob)")
    }
}
