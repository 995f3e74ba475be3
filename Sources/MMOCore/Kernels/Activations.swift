// Pointwise activations as forward/backward pairs: GELU (exact and tanh approximation, Hugging
// Face `gelu` and `gelu_new`) and tanh (BERT's pooler, RoBERTa's head). N elements each.
import Foundation

/// Which GELU formula to use (Hendrycks & Gimpel 2016).
public enum GELUApproximation: String, Codable, Sendable {
    /// `x · Φ(x) = ½x(1 + erf(x/√2))` — BERT and RoBERTa (`gelu`).
    case none
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` — GPT-2 (`gelu_new`).
    case tanh
}

private let invSqrt2: Float = 0.707_106_781_186_547_5
private let invSqrt2Pi: Float = 0.398_942_280_401_432_7
private let sqrt2OverPi: Float = 0.797_884_560_802_865_4
private let geluCubic: Float = 0.044_715

/// `out = GELU(input)`; `out` may alias `input` only if backward is not needed (backward reads
/// `input`).
public func geluForward(
    out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, N: Int,
    approximation: GELUApproximation
) {
    switch approximation {
    case .none:
        for i in 0..<N {
            let x = input[i]
            out[i] = 0.5 * x * (1 + erff(x * invSqrt2))
        }
    case .tanh:
        for i in 0..<N {
            let x = input[i]
            out[i] = 0.5 * x * (1 + tanhf(sqrt2OverPi * (x + geluCubic * x * x * x)))
        }
    }
}

/// `dInput += dOut · GELU′(input)`.
///
/// Exact: `GELU′(x) = Φ(x) + x·φ(x)`. Tanh form with `u = √(2/π)(x + 0.044715x³)`:
/// `½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)`.
public func geluBackward(
    dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
    N: Int, approximation: GELUApproximation
) {
    switch approximation {
    case .none:
        for i in 0..<N {
            let x = input[i]
            let cdf = 0.5 * (1 + erff(x * invSqrt2))
            let pdf = invSqrt2Pi * expf(-0.5 * x * x)
            dInput[i] += dOut[i] * (cdf + x * pdf)
        }
    case .tanh:
        for i in 0..<N {
            let x = input[i]
            let th = tanhf(sqrt2OverPi * (x + geluCubic * x * x * x))
            let du = sqrt2OverPi * (1 + 3 * geluCubic * x * x)
            dInput[i] += dOut[i] * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du)
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
