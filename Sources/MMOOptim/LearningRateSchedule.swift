// The per-model learning rate of paper §3.4 Eq. 1 as DESIGN.md pins it down:
// lr_i = lr · warmup(t) · decay(t) · clamp(1/r_i, 0.5, 1.5) · (w_i / mean(w)), t 1-based.
// Computed in Double, in this factor order (the PyTorch reference multiplies in the same order).
import Foundation

/// Warm-up, cosine decay and the adaptive factors of the per-model learning rate.
public enum LearningRateSchedule {
    /// `min(1, t / warmupSteps)`; 1 when `warmupSteps` is 0.
    public static func warmupFactor(step t: Int, warmupSteps: Int) -> Double {
        warmupSteps > 0 ? min(1, Double(t) / Double(warmupSteps)) : 1
    }

    /// `max(minRatio, ½(1 + cos(π·p)))` with `p = clamp((t − warmup) / (total − warmup), 0, 1)`;
    /// 1 throughout when `totalSteps ≤ warmupSteps` (no decay phase).
    public static func decayFactor(
        step t: Int, warmupSteps: Int, totalSteps: Int, minRatio: Double
    ) -> Double {
        guard totalSteps > warmupSteps else { return 1 }
        let p = min(1, max(0, Double(t - warmupSteps) / Double(totalSteps - warmupSteps)))
        return max(minRatio, 0.5 * (1 + cos(Double.pi * p)))
    }

    /// `clamp(1 / r, 0.5, 1.5)`: a model whose loss still falls fast (small r) learns faster.
    public static func convergenceFactor(rate r: Double) -> Double {
        min(1.5, max(0.5, 1 / r))
    }

    /// The learning rate of one model at 1-based step `t`.
    ///
    /// With `adaptiveLearningRate` off, the convergence factor and the weight ratio are 1.
    public static func learningRate(
        step t: Int, config: OptimizerConfig, convergenceRate r: Double, weight: Double,
        meanWeight: Double
    ) -> Double {
        let scheduled =
            config.learningRate * warmupFactor(step: t, warmupSteps: config.warmupSteps)
            * decayFactor(
                step: t, warmupSteps: config.warmupSteps, totalSteps: config.totalSteps,
                minRatio: config.minLearningRateRatio)
        guard config.adaptiveLearningRate else { return scheduled }
        return scheduled * convergenceFactor(rate: r) * (weight / meanWeight)
    }
}
