// Branch-free single-precision exp, sigmoid and normal CDF built from arithmetic and bit casts
// only, so that loops calling them vectorise (glibc's expf/tanhf/erff are scalar calls and were
// a third of a GPT-2 step). Accuracy: exp within ~2 ulp (Cephes expf polynomial, relative error
// < 2e-7 on the reduced range); the normal CDF within 3e-7 absolute (Abramowitz & Stegun
// 7.1.26, as PyTorch's vectorised erf), which is what GELU's output and gradient need.

private let log2e: Float = 1.442_695_040_888_963_4
private let ln2Hi: Float = 0.693_359_375  // ln 2 split so that n·ln2Hi is exact
private let ln2Lo: Float = -2.121_944_400_546_905_8e-4
private let expMax: Float = 88  // arguments above are clamped (keeps 2ⁿ ≤ 2¹²⁷ representable)
private let expMin: Float = -87.336_54  // below this the result is flushed to exactly 0
private let roundMagic: Float = 12_582_912  // 1.5 · 2²³: adding it rounds to an integer in the low bits

/// `eˣ`, with exactly 0 for `x < -87.34` (so masked scores get probability exactly 0) and
/// `e⁸⁸ ≈ 1.65e38` for `x > 88` (our callers only need "huge" there: softmax arguments are ≤ 0,
/// sigmoid and erfc divide by it).
@inline(__always)
public func fastExp(_ x: Float) -> Float {
    let xc = min(max(x, expMin), expMax)
    // n = round(x / ln 2), read back from the low mantissa bits of n + 1.5·2²³.
    let shifted = xc * log2e + roundMagic
    let n = shifted - roundMagic
    let r = xc - n * ln2Hi - n * ln2Lo  // |r| ≤ ln2 / 2
    var p: Float = 1.987_569_150_0e-4
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let er = p * r * r + r + 1
    // 2ⁿ from the integer in `shifted`'s low bits (two's complement wraps for negative n).
    let nBits = shifted.bitPattern &- roundMagic.bitPattern
    let scale = Float(bitPattern: (nBits &+ 127) << 23)
    return x < expMin ? 0 : er * scale
}

/// `1 / (1 + e⁻ˣ)`.
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

/// `(Φ(x), φ(x))`: the standard normal CDF and density. `Φ` uses Abramowitz & Stegun 7.1.26
/// for erf (absolute error ≤ 1.5e-7, the formula PyTorch's vectorised `erf` uses) evaluated as a
/// tail, `½ erfc(|x|/√2) = ½ t·P(t)·e^(−x²/2)`, whose exponential is the density's: one exp
/// serves both, which is what GELU's backward needs.
@inline(__always)
public func normalCDFAndPDF(_ x: Float) -> (cdf: Float, pdf: Float) {
    let e = fastExp(-0.5 * x * x)
    let t = 1 / (1 + 0.327_591_1 * 0.707_106_781_186_547_5 * abs(x))
    var p: Float = 1.061_405_429
    p = p * t - 1.453_152_027
    p = p * t + 1.421_413_741
    p = p * t - 0.284_496_736
    p = p * t + 0.254_829_592
    let tail = 0.5 * t * p * e  // Φ(−|x|)
    return (x < 0 ? tail : 1 - tail, 0.398_942_280_401_432_7 * e)
}

/// The standard normal CDF `Φ(x) = ½(1 + erf(x/√2))`, absolute error below 3e-7.
@inline(__always)
public func normalCDF(_ x: Float) -> Float { normalCDFAndPDF(x).cdf }
