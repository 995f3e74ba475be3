// AdamW with PyTorch's semantics (torch.optim.AdamW, single-tensor path): decoupled decay
// `p ← p·(1 − lr·wd)`, `m ← lerp(m, g, 1 − β1)`, `v ← β2·v + (1 − β2)·g²`,
// `p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)`. Scalars are formed in Double as Python
// does and rounded to Float once; the element loop repeats PyTorch's operation order.
import Foundation

/// One AdamW update over flat ranges.
public enum AdamW {
    /// The Float scalars of one AdamW update of one parameter group at one step.
    public struct Scalars: Sendable, Equatable {
        /// `1 − lr·wd` (1 where decay does not apply).
        public var decayFactor: Float
        /// `1 − β1` (the `lerp` weight).
        public var oneMinusBeta1: Float
        /// `β2`.
        public var beta2: Float
        /// `1 − β2`.
        public var oneMinusBeta2: Float
        /// `−lr / (1 − β1ᵗ)`.
        public var negativeStepSize: Float
        /// `√(1 − β2ᵗ)`.
        public var biasCorrection2Sqrt: Float
        /// `ε`.
        public var epsilon: Float

        /// Scalars for learning rate `lr`, 1-based AdamW step `t` of this parameter, and whether
        /// decoupled weight decay applies.
        public init(
            learningRate lr: Double, step t: Int, beta1: Double, beta2: Double, epsilon: Double,
            weightDecay: Double, decays: Bool
        ) {
            precondition(t >= 1, "AdamW step is 1-based")
            decayFactor = decays && weightDecay != 0 ? Float(1 - lr * weightDecay) : 1
            oneMinusBeta1 = Float(1 - beta1)
            self.beta2 = Float(beta2)
            oneMinusBeta2 = Float(1 - beta2)
            let biasCorrection1 = 1 - pow(beta1, Double(t))
            let biasCorrection2 = 1 - pow(beta2, Double(t))
            negativeStepSize = Float(-(lr / biasCorrection1))
            biasCorrection2Sqrt = Float(biasCorrection2.squareRoot())
            self.epsilon = Float(epsilon)
        }
    }

    /// Updates `n` parameters in place from their gradients and moments.
    ///
    /// Where decay does not apply `decayFactor` is 1 and the multiply is exact, as PyTorch skipping
    /// it for a group with `weight_decay == 0`.
    public static func update(
        parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
        expAvg m: UnsafeMutablePointer<Float>, expAvgSq v: UnsafeMutablePointer<Float>, count n: Int,
        scalars s: Scalars
    ) {
        sweep(p, UnsafeMutablePointer(mutating: g), m, v, n, s, zeroing: false)
    }

    /// `update`, then sets the `n` gradients to zero in the same sweep (the optimizer's
    /// `zeroesGradients`: no separate zeroing pass over the buffer).
    static func updateAndZero(
        parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafeMutablePointer<Float>,
        expAvg m: UnsafeMutablePointer<Float>, expAvgSq v: UnsafeMutablePointer<Float>, count n: Int,
        scalars s: Scalars
    ) {
        sweep(p, g, m, v, n, s, zeroing: true)
    }

    @inline(__always)
    private static func sweep(
        _ p: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
        _ v: UnsafeMutablePointer<Float>, _ n: Int, _ s: Scalars, zeroing: Bool
    ) {
        // One pass over memory: the decay product is rounded on its own, as PyTorch's separate
        // `mul_` rounds it, before the Adam update is added. Lanes are explicit because the
        // compiler leaves this loop scalar; lane arithmetic is the same IEEE operations.
        typealias Lanes = FlatKernels.Lanes
        let lanes = FlatKernels.lanes
        var i = 0
        while i + lanes <= n {
            let gi = FlatKernels.load(g + i)
            let (pi, mi, vi) = step(FlatKernels.load(p + i), gi, FlatKernels.load(m + i), FlatKernels.load(v + i), s)
            FlatKernels.store(mi, m + i)
            FlatKernels.store(vi, v + i)
            FlatKernels.store(pi, p + i)
            if zeroing { FlatKernels.store(Lanes(), g + i) }
            i += lanes
        }
        while i < n {
            let (pi, mi, vi) = step(
                Lanes(repeating: p[i]), Lanes(repeating: g[i]), Lanes(repeating: m[i]), Lanes(repeating: v[i]), s)
            m[i] = mi[0]
            v[i] = vi[0]
            p[i] = pi[0]
            if zeroing { g[i] = 0 }
            i += 1
        }
    }

    /// The element update, lane by lane.
    @inline(__always)
    static func step(
        _ p: FlatKernels.Lanes, _ g: FlatKernels.Lanes, _ m: FlatKernels.Lanes, _ v: FlatKernels.Lanes,
        _ s: Scalars
    ) -> (p: FlatKernels.Lanes, m: FlatKernels.Lanes, v: FlatKernels.Lanes) {
        // torch.lerp with weight < 0.5: m + w·(g − m)
        let m = m + s.oneMinusBeta1 * (g - m)
        // mul_(β2).addcmul_(g, g, value=1 − β2): v·β2 + (1 − β2)·g·g
        let v = v * s.beta2 + s.oneMinusBeta2 * g * g
        let denom = FlatKernels.squareRoot(v) / s.biasCorrection2Sqrt + s.epsilon
        // addcdiv_(m, denom, value=−step_size): p + (−step_size·m) / denom
        let p = p * s.decayFactor + s.negativeStepSize * m / denom
        return (p, m, v)
    }
}
