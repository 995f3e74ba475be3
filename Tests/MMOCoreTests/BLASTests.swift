// BLAS wrappers against naive Double loops: all four transpose cases, strided sub-matrices
// (leading dimension larger than the row) and the batched form with element strides.
import XCTest
@testable import MMOCore

final class BLASTests: XCTestCase {
    /// Naive row-major `C = alpha·op(A)·op(B) + beta·C` in Double, returning the m × n result.
    private func reference(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafePointer<Float>, ldc: Int
    ) -> [Double] {
        var result = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            result[i * n + j] = Double(alpha) * s + Double(beta) * Double(c[i * ldc + j])
        } }
        return result
    }

    func testGemmAllTransposeCasesOnStridedSubMatrices() {
        let (m, n, k) = (5, 4, 3)
        for transA in [false, true] { for transB in [false, true] {
            // Stored shapes of A and B, each embedded in a wider matrix (ld = cols + 3), offset 2.
            let aCols = transA ? m : k, aRows = transA ? k : m
            let bCols = transB ? k : n, bRows = transB ? n : k
            let lda = aCols + 3, ldb = bCols + 3, ldc = n + 2
            let a = randomBuffer(aRows * lda + 2, stream: "a"), b = randomBuffer(bRows * ldb + 2, stream: "b")
            let c = randomBuffer(m * ldc + 2, stream: "c")
            let before = c.array
            let expected = reference(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a.pointer + 2, lda: lda,
                b: b.pointer + 2, ldb: ldb, beta: 0.3, c: c.pointer + 2, ldc: ldc)
            BLAS.gemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.7, a: a.pointer + 2, lda: lda,
                b: b.pointer + 2, ldb: ldb, beta: 0.3, c: c.pointer + 2, ldc: ldc)
            for i in 0..<m { for j in 0..<n {
                XCTAssertEqual(Double(c[2 + i * ldc + j]), expected[i * n + j], accuracy: 1e-5, "transA \(transA) transB \(transB)")
            } }
            // Elements outside the m × n window (padding columns, the offset) are untouched.
            for idx in 0..<c.count {
                let r = (idx - 2) / ldc, col = (idx - 2) % ldc
                if idx < 2 || col >= n || r >= m { XCTAssertEqual(c[idx], before[idx]) }
            }
        } }
    }

    func testGemmBatchedWithElementStrides() {
        // Attention-shaped: per head, a (T × HS) slice of a (T × C) matrix, heads HS apart.
        let (batch, T, C) = (3, 4, 6)
        let HS = C / batch
        let q = randomBuffer(T * C, stream: "q"), kx = randomBuffer(T * C, stream: "k")
        let scores = randomBuffer(batch * T * T, stream: "scores")
        let before = scores.array
        BLAS.gemmBatched(
            batch: batch, transA: false, transB: true, m: T, n: T, k: HS, alpha: 0.5, a: q.pointer, lda: C, strideA: HS,
            b: kx.pointer, ldb: C, strideB: HS, beta: 1, c: scores.pointer, ldc: T, strideC: T * T)
        for h in 0..<batch { for i in 0..<T { for j in 0..<T {
            var s = 0.0
            for d in 0..<HS { s += Double(q[i * C + h * HS + d]) * Double(kx[j * C + h * HS + d]) }
            let idx = h * T * T + i * T + j
            XCTAssertEqual(Double(scores[idx]), 0.5 * s + Double(before[idx]), accuracy: 1e-5)
        } } }
    }

    func testVectorHelpers() {
        let x = randomBuffer(7, stream: "x"), y = randomBuffer(7, stream: "y")
        let y0 = y.array
        XCTAssertEqual(Double(BLAS.dot(n: 7, x: x.pointer, y: y.pointer)),
                       (0..<7).reduce(0.0) { $0 + Double(x[$1]) * Double(y[$1]) }, accuracy: 1e-5)
        BLAS.axpy(n: 7, alpha: 2, x: x.pointer, y: y.pointer)
        for i in 0..<7 { XCTAssertEqual(y[i], y0[i] + 2 * x[i], accuracy: 1e-6) }
        BLAS.scale(n: 7, alpha: -1, x: y.pointer)
        for i in 0..<7 { XCTAssertEqual(y[i], -(y0[i] + 2 * x[i]), accuracy: 1e-6) }
    }
}
