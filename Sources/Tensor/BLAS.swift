// The one file of the package that imports OpenBLAS.
import COpenBLAS

/// Single-precision matrix products on OpenBLAS (row-major).
///
/// OpenBLAS runs single-threaded: the convolution kernels split work into cache-sized tiles and
/// run one tile per worker thread themselves (see ``Compute/threads``), which measured faster on
/// this class of machine than OpenBLAS's own threading.
package enum BLAS {
    /// Set once, before the first product: OpenBLAS uses one thread per call.
    private static let configured: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// `C = alpha * op(A) * op(B) + beta * C` with row-major matrices; `op(A)` is `m x k`,
    /// `op(B)` is `k x n`, `C` is `m x n`.
    @inline(__always)
    package static func sgemm(transA: Bool = false, transB: Bool = false,
                              m: Int, n: Int, k: Int, alpha: Float = 1,
                              a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int,
                              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = configured
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 {
                for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
            } else if beta != 1 {
                for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha,
                    a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// The number of threads OpenBLAS itself uses (always 1 once configured).
    package static var openBLASThreads: Int {
        _ = configured
        return Int(openblas_get_num_threads())
    }

    /// OpenBLAS's description of its build and the kernel it picked for this CPU.
    package static var configuration: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p) + " core=" + (openblas_get_corename().map { String(cString: $0) } ?? "?")
    }
}
