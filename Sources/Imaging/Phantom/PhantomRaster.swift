import Foundation

/// Paints an anatomy onto a voxel grid, fast: per slice, the anatomy is classified on a coarse in-plane
/// lattice (about 2.4 mm); a coarse cell whose corners and whose four neighbours' corners all agree is filled
/// with that tissue, every other cell (near a surface) is classified voxel by voxel. So the cost follows the
/// organs' surface area, not the voxel count.
enum PhantomRaster {
    /// Coarse lattice step in voxels for a pixel size (1 below 1.6 mm pixels: every voxel is classified).
    static func step(pixel: Double) -> Int { max(1, Int(2.4 / pixel + 1e-6)) }

    /// HU and structure codes (-1 for none) of every voxel of `grid`; world point w is patient point w + offset.
    static func render(_ anatomy: PhantomAnatomy, grid: VoxelGrid, offset: SIMD3<Double>, exact: Bool = false) -> ([Float], [Int8]) {
        var hu = [Float](repeating: 0, count: grid.count)
        var st = [Int8](repeating: -1, count: grid.count)
        let (ni, nj, nk) = (grid.dims[0], grid.dims[1], grid.dims[2])
        let a = grid.affine
        let o = a.apply(.zero) + offset, di = a.column(0), dj = a.column(1), dk = a.column(2)
        let c = exact ? 1 : step(pixel: min(grid.spacing.x, grid.spacing.y))
        let ci = (ni - 1 + c - 1) / c + 1, cj = (nj - 1 + c - 1) / c + 1
        hu.withUnsafeMutableBufferPointer { huBuf in
            st.withUnsafeMutableBufferPointer { stBuf in
                let h = UncheckedBox(huBuf), s = UncheckedBox(stBuf)
                parallelFor(nk) { k in
                    let base = o + dk * Double(k)
                    @inline(__always) func point(_ i: Int, _ j: Int) -> SIMD3<Double> { base + di * Double(i) + dj * Double(j) }
                    @inline(__always) func put(_ i: Int, _ j: Int, _ t: Tissue, _ str: PhantomStructure?) {
                        let n = i + ni * (j + nj * k)
                        h.value[n] = Float(anatomy.hu(t, at: point(i, j)))
                        s.value[n] = str.map { Int8($0.rawValue) } ?? -1
                    }
                    if c == 1 {
                        for j in 0..<nj { for i in 0..<ni { let (t, str) = anatomy.classify(point(i, j)); put(i, j, t, str) } }
                        return
                    }
                    // Coarse lattice nodes (the last one clamped to the grid's edge).
                    var tissue = [Int16](repeating: 0, count: ci * cj)
                    var label = [Int8](repeating: -1, count: ci * cj)
                    for y in 0..<cj { for x in 0..<ci {
                        let (t, str) = anatomy.classify(point(min(x * c, ni - 1), min(y * c, nj - 1)))
                        tissue[x + ci * y] = Int16(t.rawValue)
                        label[x + ci * y] = str.map { Int8($0.rawValue) } ?? -1
                    } }
                    // A cell is uniform when its four corners agree; it is filled when it and its neighbours are uniform alike.
                    let (cwi, cwj) = (ci - 1, cj - 1)
                    var uniform = [Int16](repeating: -1, count: cwi * cwj)
                    for y in 0..<cwj { for x in 0..<cwi {
                        let t = tissue[x + ci * y]
                        if tissue[x + 1 + ci * y] == t, tissue[x + ci * (y + 1)] == t, tissue[x + 1 + ci * (y + 1)] == t { uniform[x + cwi * y] = t }
                    } }
                    for y in 0..<cwj { for x in 0..<cwi {
                        let t = uniform[x + cwi * y]
                        var fill = t >= 0
                        if fill {
                            for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                                let (nx, ny) = (x + dx, y + dy)
                                if nx >= 0, ny >= 0, nx < cwi, ny < cwj, uniform[nx + cwi * ny] != t { fill = false; break }
                            }
                        }
                        let i1 = min((x + 1) * c, ni - 1), j1 = min((y + 1) * c, nj - 1)
                        let iEnd = x == cwi - 1 ? i1 : i1 - 1, jEnd = y == cwj - 1 ? j1 : j1 - 1
                        guard x * c <= iEnd, y * c <= jEnd else { continue }
                        if fill {
                            let tt = Tissue(rawValue: Int(t))!, l = label[x + ci * y]
                            let str = l < 0 ? nil : PhantomStructure(rawValue: Int(l))
                            for j in (y * c)...jEnd { for i in (x * c)...iEnd { put(i, j, tt, str) } }
                        } else {
                            for j in (y * c)...jEnd { for i in (x * c)...iEnd {
                                if i % c == 0, j % c == 0 {  // a lattice node (node i/c is voxel i: the clamp only moves nodes past the edge)
                                    let q = i / c + ci * (j / c), l = label[q]
                                    put(i, j, Tissue(rawValue: Int(tissue[q]))!, l < 0 ? nil : PhantomStructure(rawValue: Int(l)))
                                } else {
                                    let (tt, str) = anatomy.classify(point(i, j)); put(i, j, tt, str)
                                }
                            } }
                        }
                    } }
                }
            }
        }
        return (hu, st)
    }
}

extension Volume {
    /// The volume smoothed by a separable Gaussian of `sigmaVoxels` voxels along (i, j, k) (borders replicate);
    /// axes with a sigma below 0.05 voxels are left alone. Along j and k whole contiguous rows are weighted and
    /// summed (unit stride, vectorised), never one voxel at a time down a column.
    func blurredAnisotropic(sigmaVoxels: SIMD3<Double>) -> Volume {
        var v = self
        let d = dims
        for axis in 0..<3 {
            let w = Self.gaussianWeights(sigmaVoxels[axis]).map(Float.init)
            guard w.count > 1, d[axis] > 1 else { continue }
            let r = w.count / 2, n = d[axis]
            // The volume as [outer][n][inner]: `inner` contiguous values per position along the axis.
            let inner = axis == 0 ? 1 : axis == 1 ? d[0] : d[0] * d[1]
            let outer = v.voxels.count / (inner * n)
            var out = [Float](repeating: 0, count: v.voxels.count)
            v.voxels.withUnsafeBufferPointer { sb0 in
                out.withUnsafeMutableBufferPointer { ob0 in
                    let src = UncheckedBox(sb0.baseAddress!), dst = UncheckedBox(ob0.baseAddress!)
                    w.withUnsafeBufferPointer { wb in
                        let wp = UncheckedBox(wb.baseAddress!)
                        if axis == 0 {
                            // rows along i: one task per slice of rows
                            let rowsPerTask = max(1, d[1])
                            parallelFor((outer + rowsPerTask - 1) / rowsPerTask) { task in
                                let src = src.value, dst = dst.value, wp = wp.value
                                for row in (task * rowsPerTask)..<min(outer, (task + 1) * rowsPerTask) {
                                    let start = row * n
                                    for x in 0..<n {
                                        var acc: Float = 0
                                        if x >= r && x + r < n {
                                            for t in 0..<w.count { acc += wp[t] * src[start + x - r + t] }
                                        } else {
                                            for t in 0..<w.count { acc += wp[t] * src[start + Swift.min(Swift.max(x - r + t, 0), n - 1)] }
                                        }
                                        dst[start + x] = acc
                                    }
                                }
                            }
                        } else {
                            let chunk = 8192, chunks = (inner + chunk - 1) / chunk
                            parallelFor(outer * n * chunks) { task in
                                let src = src.value, dst = dst.value, wp = wp.value
                                let c = task % chunks, x = (task / chunks) % n, o = task / (chunks * n)
                                let lo = c * chunk, hi = Swift.min(inner, lo + chunk)
                                let to = dst + (o * n + x) * inner
                                for t in 0..<w.count {
                                    let from = src + (o * n + Swift.min(Swift.max(x - r + t, 0), n - 1)) * inner, wt = wp[t]
                                    for q in lo..<hi { to[q] += wt * from[q] }
                                }
                            }
                        }
                    }
                }
            }
            v.voxels = out
        }
        return v
    }

    /// Normalised Gaussian weights of standard deviation `sigma` voxels (radius 3 sigma); `[1]` below 0.05.
    static func gaussianWeights(_ sigma: Double) -> [Double] {
        guard sigma > 0.05 else { return [1] }
        let r = max(1, Int((3 * sigma).rounded(.up)))
        let w = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = w.reduce(0, +)
        return w.map { $0 / total }
    }

    /// Adds zero-mean unit-variance noise (sum of four uniforms: the blur that follows makes it Gaussian) times
    /// `scale`, seeded per slice.
    mutating func addWhiteNoise(scale: Double, seed: UInt64, stream: UInt64) {
        let nk = dims[2], plane = dims[0] * dims[1]
        let f = Float(scale * 3.0.squareRoot()), u = Float(1.0 / 65536)
        voxels.withUnsafeMutableBufferPointer { buf in
            let box = UncheckedBox(buf.baseAddress!)
            parallelFor(nk) { k in
                var rng = SeededRandom(seed: seed, stream: stream &* 100_003 &+ UInt64(k))
                let p = box.value
                for n in (k * plane)..<((k + 1) * plane) {
                    let b = rng.next()
                    let s = Float(b & 0xFFFF) + Float((b >> 16) & 0xFFFF) + Float((b >> 32) & 0xFFFF) + Float(b >> 48)
                    p[n] += (s * u - 2) * f
                }
            }
        }
    }
}
