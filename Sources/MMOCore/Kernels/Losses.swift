// Classification losses over logits: cross-entropy against labels (PyTorch `cross_entropy`,
// mean over the batch) and the temperature-softened KL divergence used by knowledge distillation
// (Hinton et al. 2015) and deep mutual learning (Zhang et al. 2018).
//
// Dimensions: B rows (sequences), K classes.
import Foundation

/// Log-sum-exp of `n` values scaled by `1/temperature`, with the maximum subtracted.
@inline(__always)
private func logSumExp(_ x: UnsafePointer<Float>, _ n: Int, invTemperature: Float) -> (max: Float, lse: Float) {
    var m = -Float.infinity
    for k in 0..<n { m = max(m, x[k] * invTemperature) }
    var s: Float = 0
    for k in 0..<n { s += expf(x[k] * invTemperature - m) }
    return (m, m + logf(s))
}

/// Mean cross-entropy `−(1/B) Σ_b log softmax(logits[b])[labels[b]]`.
///
/// - Parameters:
///   - losses: `(B)` per-example losses, or nil.
///   - logits: `(B, K)`; labels: `(B)`, each in `0..<K` (precondition: the data layer checks
///     labels against the model's label count when it loads a dataset).
public func crossEntropyForward(
    losses: UnsafeMutablePointer<Float>?, logits: UnsafePointer<Float>,
    labels: UnsafePointer<Int32>, B: Int, K: Int
) -> Float {
    var total: Double = 0
    for b in 0..<B {
        let label = Int(labels[b])
        precondition(label >= 0 && label < K, "cross-entropy: label \(label) out of 0..<\(K)")
        let row = logits + b * K
        let loss = logSumExp(row, K, invTemperature: 1).lse - row[label]
        losses?[b] = loss
        total += Double(loss)
    }
    return Float(total / Double(B))
}

/// `dLogits += dLoss · (softmax(logits) − onehot(labels)) / B`.
public func crossEntropyBackward(
    dLogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
    labels: UnsafePointer<Int32>, B: Int, K: Int, dLoss: Float = 1
) {
    let scale = dLoss / Float(B)
    for b in 0..<B {
        let row = logits + b * K
        let d = dLogits + b * K
        let lse = logSumExp(row, K, invTemperature: 1).lse
        let label = Int(labels[b])
        for k in 0..<K {
            let p = expf(row[k] - lse)
            d[k] += scale * (p - (k == label ? 1 : 0))
        }
    }
}

/// Overwrites `logits` with the gradient of `scale · Σ_b CE(logits[b], labels[b])`:
/// `scale · (softmax(logits[b]) − onehot(labels[b]))`. The language-model heads use it to turn
/// their `(positions, vocabulary)` logits into their gradient without a second buffer of that
/// size.
public func crossEntropyGradientInPlace(logits: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, B: Int, K: Int, scale: Float) {
    for b in 0..<B {
        let row = logits + b * K
        let lse = logSumExp(row, K, invTemperature: 1).lse
        for k in 0..<K { row[k] = scale * expf(row[k] - lse) }
        row[Int(labels[b])] -= scale
    }
}

/// Distillation loss `τ² · (1/B) Σ_b KL(q_b ‖ p_b)` with `q = softmax(target/τ)` and
/// `p = softmax(input/τ)` — PyTorch `kl_div(log_softmax(input/τ), softmax(target/τ),
/// reduction: "batchmean") · τ²`. The τ² factor keeps gradient magnitudes independent of τ.
///
/// - Parameters:
///   - input: `(B, K)` logits of the model being trained (the student).
///   - target: `(B, K)` logits of the teacher / peer.
public func klDivergenceForward(
    input: UnsafePointer<Float>, target: UnsafePointer<Float>, temperature: Float, B: Int, K: Int
) -> Float {
    precondition(temperature > 0, "KL divergence: temperature must be positive")
    let inv = 1 / temperature
    var total: Double = 0
    for b in 0..<B {
        let x = input + b * K
        let t = target + b * K
        let lp = logSumExp(x, K, invTemperature: inv).lse
        let lq = logSumExp(t, K, invTemperature: inv).lse
        var kl: Float = 0
        for k in 0..<K {
            let logQ = t[k] * inv - lq
            let logP = x[k] * inv - lp
            kl += expf(logQ) * (logQ - logP)
        }
        total += Double(kl)
    }
    return Float(Double(temperature * temperature) * total / Double(B))
}

/// Adds the gradients of `klDivergenceForward` (times `dLoss`).
///
/// `dInput += dLoss · τ (p − q) / B`; and, when `dTarget` is given (mutual learning that also
/// trains the peer through this term), `dTarget += dLoss · τ · q ⊙ (d − Σ q ⊙ d) / B` with
/// `d = log q − log p`.
public func klDivergenceBackward(
    dInput: UnsafeMutablePointer<Float>?, dTarget: UnsafeMutablePointer<Float>?,
    input: UnsafePointer<Float>, target: UnsafePointer<Float>, temperature: Float,
    B: Int, K: Int, dLoss: Float = 1
) {
    precondition(temperature > 0, "KL divergence: temperature must be positive")
    let inv = 1 / temperature
    let scale = dLoss * temperature / Float(B)
    for b in 0..<B {
        let x = input + b * K
        let t = target + b * K
        let lp = logSumExp(x, K, invTemperature: inv).lse
        let lq = logSumExp(t, K, invTemperature: inv).lse
        if let dInput {
            let d = dInput + b * K
            for k in 0..<K { d[k] += scale * (expf(x[k] * inv - lp) - expf(t[k] * inv - lq)) }
        }
        if let dTarget {
            var mean: Float = 0
            for k in 0..<K {
                let logQ = t[k] * inv - lq
                mean += expf(logQ) * (logQ - (x[k] * inv - lp))
            }
            let d = dTarget + b * K
            for k in 0..<K {
                let logQ = t[k] * inv - lq
                d[k] += scale * expf(logQ) * ((logQ - (x[k] * inv - lp)) - mean)
            }
        }
    }
}
