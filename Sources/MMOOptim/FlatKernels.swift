// Element-wise loops over flat Float32 ranges used by one optimizer step. Reductions accumulate in
// 16-lane Float blocks of at most 4096 elements, each block then added in Double: a fixed order
// (deterministic for every thread count) and accurate enough for norms of millions of values.
// The arithmetic of the mixing loops follows the PyTorch ops the reference uses
// (`add_(x, alpha=w)`, `div_`, `mul_(keep).add_(avg, alpha=take)`).
#if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
import _Builtin_intrinsics.intel
#endif

/// Flat loops; `n` is an element count, pointers are views into `FloatBuffer`s.
enum FlatKernels {
    typealias Lanes = SIMD16<Float>
    static let lanes = 16
    static let block = 4096

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    @inline(__always)
    static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    }

    /// `√v` lane by lane, correctly rounded (IEEE), as `squareRoot()`. On Linux `squareRoot()`
    /// becomes a scalar `sqrtss` per lane with a branch to `sqrtf` for errno (16 of them per
    /// vector: most of AdamW's instructions); `sqrtps` gives the same bits four lanes at a time.
    @inline(__always)
    static func squareRoot(_ v: Lanes) -> Lanes {
        #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
        let low = SIMD8(lowHalf: _mm_sqrt_ps(v.lowHalf.lowHalf), highHalf: _mm_sqrt_ps(v.lowHalf.highHalf))
        let high = SIMD8(lowHalf: _mm_sqrt_ps(v.highHalf.lowHalf), highHalf: _mm_sqrt_ps(v.highHalf.highHalf))
        return Lanes(lowHalf: low, highHalf: high)
        #else
        return v.squareRoot()
        #endif
    }

    /// Lane `lane`'s part `[lo, hi)` of `0 ..< n` split into `lanes` contiguous parts, cut at
    /// multiples of `block` (so a reduction's blocks, and the SIMD lanes inside them, are the
    /// same however the range is split).
    @inline(__always)
    static func slice(_ n: Int, lane: Int, of lanes: Int) -> (Int, Int) {
        if lanes == 1 { return (0, n) }
        let blocks = (n + block - 1) / block
        let lo = min(n, (blocks * lane / lanes) * block)
        let hi = min(n, (blocks * (lane + 1) / lanes) * block)
        return (lo, hi)
    }

    /// Divides the blocks of `0 ..< n` that start in `lo ..< hi` (`lo` a multiple of `block`) by
    /// `divisor` in place (skipped when it is 1) and writes each block's `Σ x²` to
    /// `partials[block index]`. Adding `partials` in block order from 0.0 gives one result however
    /// the blocks are split between lanes. A NaN or ±Inf anywhere makes its partial non-finite, so
    /// this pass is also the non-finite check.
    static func divideAndBlockSums(
        _ x: UnsafeMutablePointer<Float>, _ n: Int, divisor: Float, lo: Int, hi: Int, into partials: UnsafeMutablePointer<Double>
    ) {
        let d = Lanes(repeating: divisor)
        var start = lo
        while start < hi {
            let end = min(n, start + block)
            var acc = Lanes()
            var i = start
            if divisor == 1 {
                while i + lanes <= end {
                    let v = load(x + i)
                    acc += v * v
                    i += lanes
                }
            } else {
                while i + lanes <= end {
                    let v = load(x + i) / d
                    store(v, x + i)
                    acc += v * v
                    i += lanes
                }
            }
            var partial = Double(acc.sum())
            while i < end {
                let v = divisor == 1 ? x[i] : x[i] / divisor
                x[i] = v
                partial += Double(v * v)
                i += 1
            }
            partials[start / block] = partial
            start = end
        }
    }

    /// `(Σ a·b, Σ a², Σ b²)` in one pass (cosine similarity).
    static func dotAndNorms(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int
    ) -> (dot: Double, aa: Double, bb: Double) {
        var dot = 0.0
        var aa = 0.0
        var bb = 0.0
        var start = 0
        while start < n {
            let end = min(n, start + block)
            var accAB = Lanes()
            var accAA = Lanes()
            var accBB = Lanes()
            var i = start
            while i + lanes <= end {
                let va = load(a + i)
                let vb = load(b + i)
                accAB += va * vb
                accAA += va * va
                accBB += vb * vb
                i += lanes
            }
            var pAB = Double(accAB.sum())
            var pAA = Double(accAA.sum())
            var pBB = Double(accBB.sum())
            while i < end {
                pAB += Double(a[i] * b[i])
                pAA += Double(a[i] * a[i])
                pBB += Double(b[i] * b[i])
                i += 1
            }
            dot += pAB
            aa += pAA
            bb += pBB
            start = end
        }
        return (dot, aa, bb)
    }

    /// `x *= factor`.
    static func scale(_ x: UnsafeMutablePointer<Float>, _ n: Int, by factor: Float) {
        for i in 0..<n { x[i] *= factor }
    }

    /// `sum = weight · x` (when `first`) or `sum += weight · x`.
    static func accumulate(
        into sum: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, weight: Float,
        first: Bool
    ) {
        if first {
            for i in 0..<n { sum[i] = weight * x[i] }
        } else {
            for i in 0..<n { sum[i] = sum[i] + weight * x[i] }
        }
    }

    /// `x /= divisor`.
    static func divide(_ x: UnsafeMutablePointer<Float>, _ n: Int, by divisor: Float) {
        for i in 0..<n { x[i] = x[i] / divisor }
    }

    /// `target = keep · target + take · average` (Alg. 1 line 15, Alg. 2 line 14).
    static func mix(
        _ target: UnsafeMutablePointer<Float>, _ average: UnsafePointer<Float>, _ n: Int,
        keep: Float, take: Float
    ) {
        for i in 0..<n { target[i] = target[i] * keep + take * average[i] }
    }
}
