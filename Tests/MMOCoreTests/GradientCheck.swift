// Test helpers: random tensors and a central-difference gradient check.
//
// Why these numbers: kernels run in Float32 (ε ≈ 6e-8), the probe loss L = Σ wᵢ·outᵢ is summed
// in Double. With step h the central difference has rounding error ≈ ε·|L|·√n / h and
// truncation error ≈ h²·|f‴| / 6. For our tiny shapes (|L| ~ 10, n ≤ a few hundred) h = 1e-2
// gives ≈ 1e-4 from each, so a maximum deviation of 2e-3 of the gradient's own scale
// (max-abs) catches any wrong term (those are O(1) relative) without flaking on rounding.
import XCTest
@testable import MMOCore

/// A buffer of `count` N(0, std²) values drawn from a named stream.
func randomBuffer(_ count: Int, seed: UInt64 = 7, stream: String, std: Float = 1) -> FloatBuffer {
    var rng = PhiloxRNG(seed: seed, stream: stream)
    let buffer = FloatBuffer(count: count)
    rng.fillNormal(buffer.pointer, count: count, std: std)
    return buffer
}

/// A buffer filled with `value` (pre-filled gradient buffers prove that backward *adds*).
func filledBuffer(_ count: Int, _ value: Float) -> FloatBuffer {
    let buffer = FloatBuffer(count: count)
    for i in 0..<count { buffer[i] = value }
    return buffer
}

/// `Σ w[i] · out[i]` in Double: the scalar probe loss whose gradient w.r.t. `out` is `w`.
func probe(_ out: FloatBuffer, _ weights: FloatBuffer, count: Int? = nil) -> Double {
    var total: Double = 0
    for i in 0..<(count ?? out.count) { total += Double(weights[i]) * Double(out[i]) }
    return total
}

/// Compares `analytic` (minus the constant `prefill` backward added onto) with central
/// differences of `loss` w.r.t. every element of `x`. The error is measured against the larger
/// of the numerical gradient's max-abs and `floor`.
func assertGradient(
    _ label: String, x: FloatBuffer, analytic: FloatBuffer, prefill: Float = 0,
    h: Float = 1e-2, tolerance: Double = 2e-3, floor: Double = 1e-3,
    loss: () -> Double, file: StaticString = #filePath, line: UInt = #line
) {
    precondition(x.count == analytic.count)
    var numeric = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let saved = x[i]
        let up = saved + h
        let down = saved - h
        x[i] = up
        let lUp = loss()
        x[i] = down
        let lDown = loss()
        x[i] = saved
        // Divide by the step actually taken (x ± h is rounded to Float).
        numeric[i] = (lUp - lDown) / (Double(up) - Double(down))
    }
    let scale = max(numeric.map(abs).max() ?? 0, floor)
    var worst = 0.0
    var worstIndex = 0
    for i in 0..<x.count {
        let err = abs(Double(analytic[i] - prefill) - numeric[i])
        if err > worst {
            worst = err
            worstIndex = i
        }
    }
    XCTAssertLessThanOrEqual(
        worst / scale, tolerance,
        "\(label): element \(worstIndex) analytic \(analytic[worstIndex] - prefill) numeric \(numeric[worstIndex]) (scale \(scale))",
        file: file, line: line)
}
