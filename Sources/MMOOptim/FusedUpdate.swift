// The element loops of the optimizer's fused pass over a compatibility group: the clipped
// gradients' weighted sum, then per member share + AdamW in one sweep. Each loop performs the
// Float operations of the separate phases in their order (clip `g·c`, `add_(g, alpha=w)`,
// `div_`, `mul_(keep).add_(avg, alpha=take)`, then AdamW), so fusing changes no bit.

/// Loops of the fused optimizer pass; pointers are views into `FloatBuffer`s.
enum FusedUpdate {
    /// Elements of a group handled at once: the members' chunks of gradients stay in cache
    /// between the sum and the update (at most 48 members × 16 KiB at `paper` granularity, in a
    /// 1 MiB L2). The size only tiles the loops, never changes a result. 4096 against 1024: the
    /// fused pass of the three `small` stores on 2 lanes took 13.3–14.1 ms against 14.5–15.6
    /// (`mmo-bench optim --lanes 2`, alternating; 512: 18–23 ms, 16384: no better than 4096):
    /// longer runs per stream keep the hardware prefetchers ahead.
    static let chunk = 4096

    /// `sum = weight · (x · scale)` (when `first`) or `sum += weight · (x · scale)`.
    static func accumulateScaled(
        into sum: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, scale: Float, weight: Float,
        first: Bool
    ) {
        let lanes = FlatKernels.lanes
        let s = FlatKernels.Lanes(repeating: scale)
        var i = 0
        if first {
            while i + lanes <= n {
                FlatKernels.store(weight * (FlatKernels.load(x + i) * s), sum + i)
                i += lanes
            }
            while i < n {
                sum[i] = weight * (x[i] * scale)
                i += 1
            }
        } else {
            while i + lanes <= n {
                FlatKernels.store(FlatKernels.load(sum + i) + weight * (FlatKernels.load(x + i) * s), sum + i)
                i += lanes
            }
            while i < n {
                sum[i] = sum[i] + weight * (x[i] * scale)
                i += 1
            }
        }
    }

    /// For `n` elements: `g ← (g·scale)·keep + take·average` (written back: the shared gradient,
    /// or 0 with `zeroing`) and the AdamW update of parameters and moments from it.
    static func shareAndAdamW(
        parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
        expAvg m: UnsafeMutablePointer<Float>, expAvgSq v: UnsafeMutablePointer<Float>,
        average: UnsafePointer<Float>, count n: Int, scale: Float, keep: Float, take: Float,
        scalars: AdamW.Scalars, zeroing: Bool = false
    ) {
        typealias Lanes = FlatKernels.Lanes
        let lanes = FlatKernels.lanes
        let s = Lanes(repeating: scale)
        var i = 0
        while i + lanes <= n {
            let gi = (FlatKernels.load(g + i) * s) * keep + take * FlatKernels.load(average + i)
            FlatKernels.store(zeroing ? Lanes() : gi, g + i)
            let (pi, mi, vi) = AdamW.step(FlatKernels.load(p + i), gi, FlatKernels.load(m + i), FlatKernels.load(v + i), scalars)
            FlatKernels.store(mi, m + i)
            FlatKernels.store(vi, v + i)
            FlatKernels.store(pi, p + i)
            i += lanes
        }
        while i < n {
            let gi = (g[i] * scale) * keep + take * average[i]
            g[i] = zeroing ? 0 : gi
            let (pi, mi, vi) = AdamW.step(
                Lanes(repeating: p[i]), Lanes(repeating: gi), Lanes(repeating: m[i]), Lanes(repeating: v[i]), scalars)
            m[i] = mi[0]
            v[i] = vi[0]
            p[i] = pi[0]
            i += 1
        }
    }
}
