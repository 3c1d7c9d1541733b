/// Convolution products lowered to sgemm on tiles of the column matrix, one tile per worker at a time.
///
/// All tensors are batches of channel-major grids (`NCDHW`, contiguous). With geometry `g`
/// (input grid `g.channels x g.inSize`, output positions `g.outSize`):
/// - ``gatherProduct``: `y[n] = A * im2col(x[n])` — convolution forward, and the input gradient of a
///   transposed convolution;
/// - ``gatherWeightGradient``: `dA += sum_n d[n] * im2col(x[n])^T` — the weight gradient of both;
/// - ``scatterProduct``: `x[n] += col2im(A^T * y[n])` — the input gradient of a convolution and the
///   forward of a transposed convolution.
package enum ConvKernels {
    /// `y[n] (m x outSize) = beta * y[n] + a (m x g.rows) * im2col(x[n])` for every sample.
    package static func gatherProduct(a: UnsafePointer<Float>, m: Int,
                                      x: UnsafePointer<Float>, batch: Int, g: ConvGeometry,
                                      y: UnsafeMutablePointer<Float>, beta: Float = 0) {
        let rpt = g.rowsPerTile(batch: batch, minTiles: 2 * Compute.threads)
        let tilesPerSample = (g.outRows + rpt - 1) / rpt
        let tiles = batch * tilesPerSample
        let xs = g.channels * g.inSize, ys = m * g.outSize
        let px = UncheckedSendable(x), py = UncheckedSendable(y), pa = UncheckedSendable(a)
        let workers = Compute.workers(tiles)
        ScratchPool.withBuffers(workers, count: g.isPointwise ? 1 : g.rows * rpt * g.outW) { scratch in
            Compute.forEachTask(tiles, maxWorkers: workers) { w, t in
                let n = t / tilesPerSample, r0 = (t % tilesPerSample) * rpt
                let r1 = min(g.outRows, r0 + rpt)
                let p = (r1 - r0) * g.outW
                let xn = px.value + n * xs
                let b: UnsafePointer<Float>, ldb: Int
                if g.isPointwise {
                    b = xn + r0 * g.outW; ldb = g.outSize
                } else {
                    g.im2col(xn, rows: r0, r1, into: scratch[w].pointer)
                    b = UnsafePointer(scratch[w].pointer); ldb = p
                }
                BLAS.sgemm(m: m, n: p, k: g.rows, a: pa.value, lda: g.rows, b: b, ldb: ldb,
                           beta: beta, c: py.value + n * ys + r0 * g.outW, ldc: g.outSize)
            }
        }
    }

    /// `dA (m x g.rows) += sum_n d[n] (m x outSize) * im2col(x[n])^T`.
    package static func gatherWeightGradient(d: UnsafePointer<Float>, m: Int,
                                             x: UnsafePointer<Float>, batch: Int, g: ConvGeometry,
                                             dA: UnsafeMutablePointer<Float>) {
        let rpt = g.rowsPerTile(targetFloats: 262_144, minPositions: 512,
                                batch: batch, minTiles: 2 * Compute.threads)
        let tilesPerSample = (g.outRows + rpt - 1) / rpt
        let tiles = batch * tilesPerSample
        let xs = g.channels * g.inSize, ds = m * g.outSize
        let accCount = m * g.rows
        let colCount = g.isPointwise ? 0 : g.rows * rpt * g.outW
        let px = UncheckedSendable(x), pd = UncheckedSendable(d)
        let workers = Compute.workers(tiles)
        ScratchPool.withBuffers(workers, count: accCount + colCount) { scratch in
            for s in scratch { s.pointer.update(repeating: 0, count: accCount) }
            Compute.forEachTask(tiles, maxWorkers: workers) { w, t in
                let n = t / tilesPerSample, r0 = (t % tilesPerSample) * rpt
                let r1 = min(g.outRows, r0 + rpt)
                let p = (r1 - r0) * g.outW
                let xn = px.value + n * xs
                let acc = scratch[w].pointer
                let b: UnsafePointer<Float>, ldb: Int
                if g.isPointwise {
                    b = xn + r0 * g.outW; ldb = g.outSize
                } else {
                    g.im2col(xn, rows: r0, r1, into: acc + accCount)
                    b = UnsafePointer(acc + accCount); ldb = p
                }
                BLAS.sgemm(transB: true, m: m, n: g.rows, k: p,
                           a: pd.value + n * ds + r0 * g.outW, lda: g.outSize,
                           b: b, ldb: ldb, beta: 1, c: acc, ldc: g.rows)
            }
            let pdA = UncheckedSendable(dA)
            Compute.forEachChunk(accCount, grain: 65_536) { range in
                for s in scratch {
                    let src = s.pointer
                    for i in range { pdA.value[i] += src[i] }
                }
            }
        }
    }

    /// `x[n] (g.channels x inSize) += col2im(a^T * y[n])` with `a` of shape `r x g.rows` and
    /// `y[n]` of shape `r x outSize`.
    ///
    /// Workers take chunks of output depth planes; chunks of even index run first, then odd ones,
    /// so that no two workers add onto the same input voxels at once.
    package static func scatterProduct(a: UnsafePointer<Float>, r: Int,
                                       y: UnsafePointer<Float>, batch: Int, g: ConvGeometry,
                                       x: UnsafeMutablePointer<Float>) {
        // Input planes touched by output planes d0..<d1: [d0*s - pad, (d1-1)*s - pad + kernel - 1].
        // Chunks of `planes` output planes with planes * stride >= kernel never overlap with the
        // chunk after next.
        let planes = max(1, (g.kernel + g.stride - 1) / g.stride)
        let chunks = (g.outD + planes - 1) / planes
        let plane = g.outH
        let subRows = max(1, min(planes * plane, 262_144 / max(1, g.rows * g.outW)))
        let xs = g.channels * g.inSize, ys = r * g.outSize
        let px = UncheckedSendable(x), py = UncheckedSendable(y), pa = UncheckedSendable(a)
        let phases = chunks > 1 ? 2 : 1
        let perPhase = (chunks + 1) / 2
        let workers = Compute.workers(batch * perPhase)
        ScratchPool.withBuffers(workers, count: g.rows * subRows * g.outW) { scratch in
            for phase in 0..<phases {
                let mine = phase == 0 ? (chunks + 1) / 2 : chunks / 2
                Compute.forEachTask(batch * mine, maxWorkers: workers) { w, t in
                    let n = t / mine, chunk = (t % mine) * 2 + phase
                    let rowStart = chunk * planes * plane
                    let rowEnd = min(g.outRows, rowStart + planes * plane)
                    var r0 = rowStart
                    while r0 < rowEnd {
                        let r1 = min(rowEnd, r0 + subRows)
                        let p = (r1 - r0) * g.outW
                        let col = scratch[w].pointer
                        BLAS.sgemm(transA: true, m: g.rows, n: p, k: r, a: pa.value, lda: g.rows,
                                   b: py.value + n * ys + r0 * g.outW, ldb: g.outSize,
                                   beta: 0, c: col, ldc: p)
                        g.col2imAdd(col, rows: r0, r1, into: px.value + n * xs)
                        r0 = r1
                    }
                }
            }
        }
    }
}
