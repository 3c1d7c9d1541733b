import Testing
@testable import Tensor

@Suite struct BLASTests {
    /// cblas_sgemm on a known product, plain and transposed.
    @Test func sgemmKnownMatrix() {
        let a: [Float] = [1, 2, 3,
                          4, 5, 6]            // 2 x 3
        let b: [Float] = [7, 8,
                          9, 10,
                          11, 12]             // 3 x 2
        var c = [Float](repeating: 1, count: 4)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            BLAS.sgemm(m: 2, n: 2, k: 3, a: pa.baseAddress!, lda: 3, b: pb.baseAddress!, ldb: 2,
                       beta: 0, c: pc.baseAddress!, ldc: 2)
        } } }
        #expect(c == [58, 64, 139, 154])
        // C = A^T (3x2) * A (2x3) accumulated onto ones with beta 1.
        var d = [Float](repeating: 1, count: 9)
        a.withUnsafeBufferPointer { pa in d.withUnsafeMutableBufferPointer { pd in
            BLAS.sgemm(transA: true, m: 3, n: 3, k: 2, a: pa.baseAddress!, lda: 3, b: pa.baseAddress!, ldb: 3,
                       beta: 1, c: pd.baseAddress!, ldc: 3)
        } }
        #expect(d == [18, 23, 28, 23, 30, 37, 28, 37, 46])
        #expect(BLAS.openBLASThreads == 1)
    }

    @Test func threadSetting() {
        let saved = Compute.threads
        defer { Compute.threads = saved }
        Compute.threads = 3
        #expect(Compute.threads == 3)
        var seen = [Int](repeating: 0, count: 100)
        seen.withUnsafeMutableBufferPointer { p in
            let box = UncheckedSendable(p.baseAddress!)
            Compute.forEachTask(100) { w, t in
                #expect(w < 3)
                box.value[t] += 1
            }
        }
        #expect(seen.allSatisfy { $0 == 1 })
    }
}
