// Row-major wrappers over OpenBLAS CBLAS. Every matrix product in the project goes through
// `BLAS.gemm` / `BLAS.gemmBatched`; nothing multiplies matrices by hand.
import COpenBLAS

/// Row-major single-precision BLAS.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, all row-major.
    ///
    /// `op(A)` is `m × k` (A itself is `k × m` when `transA`), `op(B)` is `k × n`, C is `m × n`.
    /// Leading dimensions are row strides in elements, so a sub-matrix (one attention head inside
    /// a `(T, C)` activation, say) is passed as its first element with `ld = C`.
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension")
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c,
            blasint(ldc))
    }

    /// `batch` independent products with constant element strides between consecutive operands
    /// (`strideA`, `strideB`, `strideC`), e.g. one per (batch × head) in attention.
    @inline(__always)
    public static func gemmBatched(
        batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int, strideB: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
    ) {
        for i in 0..<batch {
            gemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb, beta: beta,
                c: c + i * strideC, ldc: ldc)
        }
    }

    /// `y = alpha · x + y` over `n` contiguous elements.
    @inline(__always)
    public static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        if n == 0 { return }
        cblas_saxpy(blasint(n), alpha, x, 1, y, 1)
    }

    /// Dot product of `n` contiguous elements.
    @inline(__always)
    public static func dot(n: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        if n == 0 { return 0 }
        return cblas_sdot(blasint(n), x, 1, y, 1)
    }

    /// Scales `n` contiguous elements by `alpha` in place.
    @inline(__always)
    public static func scale(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        if n == 0 { return }
        cblas_sscal(blasint(n), alpha, x, 1)
    }

    /// Sets the number of threads OpenBLAS uses (results are deterministic for a fixed count).
    public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// The number of threads OpenBLAS currently uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
