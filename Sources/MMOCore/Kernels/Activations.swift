// Pointwise activations as forward/backward pairs: GELU (exact and tanh approximation, Hugging
// Face `gelu` and `gelu_new`) and tanh (BERT's pooler, RoBERTa's head). N elements each.
// GELU loops use FastMath so that they vectorise.
import Foundation

/// Which GELU formula to use (Hendrycks & Gimpel 2016).
public enum GELUApproximation: String, Codable, Sendable {
    /// `x · Φ(x) = ½x(1 + erf(x/√2))` — BERT and RoBERTa (`gelu`).
    case none
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` — GPT-2 (`gelu_new`).
    case tanh
}

private let sqrt2OverPi: Float = 0.797_884_560_802_865_4
private let geluCubic: Float = 0.044_715

/// `out = GELU(input)`; `out` may alias `input` only if backward is not needed (backward reads
/// `input`).
///
/// The tanh form is evaluated as `x · σ(2u)` with `u = √(2/π)(x + 0.044715x³)`, which equals
/// `½x(1 + tanh u)` exactly and keeps relative accuracy for very negative x.
public func geluForward(
    out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, N: Int,
    approximation: GELUApproximation
) {
    switch approximation {
    case .none:
        for i in 0..<N { out[i] = geluErf(input[i]).value }
    case .tanh:
        for i in 0..<N { out[i] = geluTanh(input[i]).value }
    }
}

/// `out = GELU(x)` and `x ← GELU′(x)` in place, in one pass: what a training forward keeps for
/// backward instead of the pre-activation (`geluBackward(dInput:dOut:derivative:N:)` then needs
/// no exp). The same Float operations as `geluForward` and `geluBackward`, so the same bits.
public func geluForward(
    out: UnsafeMutablePointer<Float>, inputToDerivative x: UnsafeMutablePointer<Float>, N: Int,
    approximation: GELUApproximation
) {
    switch approximation {
    case .none:
        for i in 0..<N {
            let (value, derivative) = geluErf(x[i])
            out[i] = value
            x[i] = derivative
        }
    case .tanh:
        for i in 0..<N {
            let (value, derivative) = geluTanh(x[i])
            out[i] = value
            x[i] = derivative
        }
    }
}

/// `dInput = 0 + dOut · derivative` (the sum `geluBackward` adds into a zeroed buffer, without
/// the zeroing pass; `0 +` keeps its sign of zero), from `geluForward(out:inputToDerivative:)`.
public func geluBackward(
    dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, derivative: UnsafePointer<Float>, N: Int
) {
    for i in 0..<N { dInput[i] = 0 + dOut[i] * derivative[i] }
}

/// GELU (erf) and its derivative `Φ(x) + x·φ(x)` at `x`, from one exp.
@inline(__always)
private func geluErf(_ x: Float) -> (value: Float, derivative: Float) {
    let (cdf, pdf) = normalCDFAndPDF(x)
    return (x * cdf, cdf + x * pdf)
}

/// GELU (tanh form) and its derivative at `x` (see `geluBackward`), from one sigmoid.
@inline(__always)
private func geluTanh(_ x: Float) -> (value: Float, derivative: Float) {
    let s = fastSigmoid(2 * sqrt2OverPi * (x + geluCubic * x * x * x))
    let du = sqrt2OverPi * (1 + 3 * geluCubic * x * x)
    return (x * s, s + 2 * x * s * (1 - s) * du)
}

/// `dInput += dOut · GELU′(input)`.
///
/// Exact: `GELU′(x) = Φ(x) + x·φ(x)`. Tanh form with `s = σ(2u)` (= ½(1 + tanh u)):
/// `GELU′(x) = s + 2x·s(1 − s)·√(2/π)(1 + 3·0.044715x²)`.
public func geluBackward(
    dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
    N: Int, approximation: GELUApproximation
) {
    switch approximation {
    case .none:
        for i in 0..<N { dInput[i] += dOut[i] * geluErf(input[i]).derivative }
    case .tanh:
        for i in 0..<N { dInput[i] += dOut[i] * geluTanh(input[i]).derivative }
    }
}

/// `out = tanh(input)`; may alias (backward reads only `out`).
public func tanhForward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { out[i] = tanhf(input[i]) }
}

/// `dInput += dOut · (1 − out²)`, from the forward output.
public func tanhBackward(
    dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
    N: Int
) {
    for i in 0..<N {
        let y = out[i]
        dInput[i] += dOut[i] * (1 - y * y)
    }
}
