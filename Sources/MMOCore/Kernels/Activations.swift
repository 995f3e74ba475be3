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
        for i in 0..<N {
            let x = input[i]
            out[i] = x * normalCDF(x)
        }
    case .tanh:
        for i in 0..<N {
            let x = input[i]
            out[i] = x * fastSigmoid(2 * sqrt2OverPi * (x + geluCubic * x * x * x))
        }
    }
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
        for i in 0..<N {
            let x = input[i]
            let (cdf, pdf) = normalCDFAndPDF(x)
            dInput[i] += dOut[i] * (cdf + x * pdf)
        }
    case .tanh:
        for i in 0..<N {
            let x = input[i]
            let s = fastSigmoid(2 * sqrt2OverPi * (x + geluCubic * x * x * x))
            let du = sqrt2OverPi * (1 + 3 * geluCubic * x * x)
            dInput[i] += dOut[i] * (s + 2 * x * s * (1 - s) * du)
        }
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
