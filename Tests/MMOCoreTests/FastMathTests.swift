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
        var worstSigmoid = 0.0, worstCDF = 0.0, worstTail = 0.0
        for i in 0...100_000 {
            let x = Float(-12 + 24 * Double(i) / 100_000)
            let v = Double(x)
            let sigmoid = 1 / (1 + exp(-v))
            worstSigmoid = max(worstSigmoid, abs(Double(fastSigmoid(x)) - sigmoid) / sigmoid)
            let cdf = 0.5 * erfc(-v / 2.0.squareRoot())
            let err = abs(Double(normalCDF(x)) - cdf) / cdf
            if x >= -3 { worstCDF = max(worstCDF, err) } else { worstTail = max(worstTail, err) }
        }
        XCTAssertLessThan(worstSigmoid, 4e-7)
        // erfc's 1.2e-7, the Float evaluation of its polynomial and the exp (seen: 1.1e-6).
        XCTAssertLessThan(worstCDF, 1.5e-6)
        // Deep left tail: the exponent −x²/2 is rounded to Float, an error ∝ x² (≈ 4e-6 relative
        // at x = −12, where Φ ≈ 2e-33 and GELU's output is ~1e-32: irrelevant in absolute terms).
        XCTAssertLessThan(worstTail, 3e-5)
        XCTAssertLessThan(fastSigmoid(-200), 1e-38)
        XCTAssertEqual(fastSigmoid(200), 1)
    }
}
