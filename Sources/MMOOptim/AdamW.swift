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
    /// The decay multiply is skipped when `decayFactor == 1`, as PyTorch skips it for a group
    /// with `weight_decay == 0`.
    public static func update(
        parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
        expAvg m: UnsafeMutablePointer<Float>, expAvgSq v: UnsafeMutablePointer<Float>, count n: Int,
        scalars s: Scalars
    ) {
        if s.decayFactor != 1 {
            for i in 0..<n { p[i] = p[i] * s.decayFactor }
        }
        let w1 = s.oneMinusBeta1
        let b2 = s.beta2
        let w2 = s.oneMinusBeta2
        let step = s.negativeStepSize
        let bc2 = s.biasCorrection2Sqrt
        let eps = s.epsilon
        for i in 0..<n {
            let gi = g[i]
            // torch.lerp with weight < 0.5: m + w·(g − m)
            let mi = m[i] + w1 * (gi - m[i])
            // mul_(β2).addcmul_(g, g, value=1 − β2): v·β2 + (1 − β2)·g·g
            let vi = v[i] * b2 + w2 * gi * gi
            m[i] = mi
            v[i] = vi
            let denom = vi.squareRoot() / bc2 + eps
            // addcdiv_(m, denom, value=−step_size): p + (−step_size·m) / denom
            p[i] = p[i] + step * mi / denom
        }
    }
}
