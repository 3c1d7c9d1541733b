// The one file of the package that imports OpenBLAS.
import COpenBLAS
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Single-precision matrix products on OpenBLAS (row-major).
///
/// OpenBLAS runs single-threaded: the convolution kernels split work into cache-sized tiles and
/// run one tile per worker thread themselves (see ``Compute/threads``), which measured faster on
/// this class of machine than OpenBLAS's own threading.
package enum BLAS {
    private static let configured = Atomic<Bool>(false)
    private static let configuring = Mutex<Void>(())

    /// Configures OpenBLAS once, before the first product: kernel choice, one thread per call.
    /// (An explicit flag rather than a lazy global: the optimiser may drop an unused global's
    /// initialiser.)
    @inline(__always)
    package static func configure() {
        if configured.load(ordering: .acquiring) { return }
        configuring.withLock { _ in
            if configured.load(ordering: .acquiring) { return }
            selectKernelForUnknownCPU()
            openblas_set_num_threads(1)
            configured.store(true, ordering: .releasing)
        }
    }

    /// OpenBLAS 0.3.21 does not know recent Xeons (e.g. family 6 model 207) and falls back to its
    /// generic "Prescott" SSE kernels, which run the convolution shapes at a fraction of the speed
    /// of its AVX-512 ("SkylakeX") or AVX2 ("Haswell") kernels. When that happened and the user did
    /// not choose a kernel with `OPENBLAS_CORETYPE`, rerun OpenBLAS's own kernel selection (its
    /// exported `gotoblas_dynamic_quit/init`) with the best kernel family the CPU flags allow.
    private static func selectKernelForUnknownCPU() {
        #if os(Linux)
        guard getenv("OPENBLAS_CORETYPE") == nil,
              let name = openblas_get_corename(), String(cString: name) == "Prescott",
              let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let quit = dlsym(nil, "gotoblas_dynamic_quit"), let initialise = dlsym(nil, "gotoblas_dynamic_init")
        else { return }
        let flags = Set(line.split(separator: " ").map(String.init))
        let core: String
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) { core = "SkylakeX" }
        else if flags.isSuperset(of: ["avx2", "fma"]) { core = "Haswell" }
        else { return }
        typealias Hook = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", core, 0)
        unsafeBitCast(quit, to: Hook.self)()
        unsafeBitCast(initialise, to: Hook.self)()
        unsetenv("OPENBLAS_CORETYPE")
        #endif
    }

    /// `C = alpha * op(A) * op(B) + beta * C` with row-major matrices; `op(A)` is `m x k`,
    /// `op(B)` is `k x n`, `C` is `m x n`.
    @inline(__always)
    package static func sgemm(transA: Bool = false, transB: Bool = false,
                              m: Int, n: Int, k: Int, alpha: Float = 1,
                              a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int,
                              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        configure()
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
        configure()
        return Int(openblas_get_num_threads())
    }

    /// The kernel family OpenBLAS picked for this CPU.
    package static var coreName: String {
        configure()
        return openblas_get_corename().map { String(cString: $0) } ?? "?"
    }

    /// OpenBLAS's description of its build and the kernel it picked for this CPU.
    package static var configuration: String {
        configure()
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p) + " core=" + coreName
    }
}
