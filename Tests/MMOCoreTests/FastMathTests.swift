// Accuracy of the vectorisable exp / sigmoid / normal CDF against Double references.
import Foundation
import XCTest
@testable import MMOCore

final class FastMathTests: XCTestCase {
    func testExpRelativeErrorAndFlushToZero() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = Float(-87 + 175 * Double(i) / 200_000)  // [-87, 88]
            let ref = exp(Double(x))
            worst = max(worst, abs(Double(fastExp(x)) - ref) / ref)
        }
        // Cephes' polynomial is good to ~1 ulp; 3 ulp (1.8e-7) leaves room for the reduction.
        XCTAssertLessThan(worst, 1.8e-7)
        XCTAssertEqual(fastExp(0), 1)
        XCTAssertEqual(fastExp(-88), 0, "below the normal range: exactly 0")
        XCTAssertEqual(fastExp(maskedScore), 0)
        XCTAssertEqual(fastExp(-.infinity), 0)
        XCTAssertTrue(fastExp(1000).isFinite && fastExp(1000) > 1e38)
    }

    func testSigmoidAndNormalCDF() {
        var worstSigmoid = 0.0, worstCDF = 0.0, worstPDF = 0.0
        for i in 0...100_000 {
            let x = Float(-12 + 24 * Double(i) / 100_000)
            let v = Double(x)
            let sigmoid = 1 / (1 + exp(-v))
            worstSigmoid = max(worstSigmoid, abs(Double(fastSigmoid(x)) - sigmoid) / sigmoid)
            let (cdf, pdf) = normalCDFAndPDF(x)
            worstCDF = max(worstCDF, abs(Double(cdf) - 0.5 * erfc(-v / 2.0.squareRoot())))
            let refPDF = exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
            worstPDF = max(worstPDF, abs(Double(pdf) - refPDF) / refPDF)
            XCTAssertEqual(normalCDF(x), cdf)
        }
        XCTAssertLessThan(worstSigmoid, 4e-7)
        // A&S 7.1.26: 1.5e-7 on erf, halved for Φ, plus Float rounding near Φ ≈ 1 (seen 2.5e-7).
        XCTAssertLessThan(worstCDF, 3e-7)
        // Relative; the Float rounding of x²/2 in the exponent grows ∝ x² (seen 3.9e-6 at |x| = 12).
        XCTAssertLessThan(worstPDF, 5e-6)
        XCTAssertLessThan(fastSigmoid(-200), 1e-38)
        XCTAssertEqual(fastSigmoid(200), 1)
    }

    /// The one-pass GELU of a training forward (value out, derivative in place) and the
    /// backward from that derivative give the bits of the two-pass pair they replace (the
    /// forward from the input, the backward adding into a zeroed buffer), for both forms.
    func testGELUDerivativePassMatchesTwoPassBitForBit() {
        let n = 4099  // not a multiple of any vector width
        var rng = PhiloxRNG(seed: 7, stream: "test/gelu")
        var x = [Float](repeating: 0, count: n)
        var dOut = [Float](repeating: 0, count: n)
        x.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: n, std: 3) }
        dOut.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: n, std: 1) }
        x[0] = 0; x[1] = -0.0; x[2] = -30; x[3] = 30; x[4] = -9; dOut[5] = -0.0
        for approximation in [GELUApproximation.none, .tanh] {
            var out = [Float](repeating: 0, count: n), dInput = [Float](repeating: 0, count: n)
            geluForward(out: &out, input: x, N: n, approximation: approximation)
            geluBackward(dInput: &dInput, dOut: dOut, input: x, N: n, approximation: approximation)
            var derivative = x
            var onePassOut = [Float](repeating: .nan, count: n), onePassDInput = [Float](repeating: .nan, count: n)
            geluForward(out: &onePassOut, inputToDerivative: &derivative, N: n, approximation: approximation)
            geluBackward(dInput: &onePassDInput, dOut: dOut, derivative: derivative, N: n)
            XCTAssertEqual(onePassOut.map(\.bitPattern), out.map(\.bitPattern), "\(approximation) forward")
            XCTAssertEqual(onePassDInput.map(\.bitPattern), dInput.map(\.bitPattern), "\(approximation) backward")
        }
    }
}
