import Dispatch

/// How voxel values are interpolated when a volume is resampled.
public enum Interpolation: Sendable {
    /// Trilinear: for images and class scores.
    case linear
    /// Nearest neighbour: for label maps.
    case nearest
}

/// Runs `body(i)` for `i` in `0..<n` on all cores; `body` must only write disjoint memory.
func parallelFor(_ n: Int, _ body: (Int) -> Void) {
    if n <= 1 { for i in 0..<n { body(i) }; return }
    withoutActuallyEscaping(body) { b in
        let box = UncheckedBox(b)
        DispatchQueue.concurrentPerform(iterations: n) { box.value($0) }
    }
}

/// Moves a value into `@Sendable` code whose callers guarantee disjoint access.
/// No lock: safe because each concurrent iteration writes only its own slice (disjoint ranges), and the caller
/// waits for all of them (`concurrentPerform`) before reading.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

public extension Volume {
    /// This volume sampled on `target`'s voxel centres (world positions mapped through both affines).
    /// Positions outside the source are clamped to its border ("border" padding, as MONAI's Spacing).
    func resampled(to target: VoxelGrid, interpolation: Interpolation) -> Volume {
        if target.matches(grid, tolerance: 1e-9) { return Volume(grid: target, voxels: voxels) }
        guard let inv = grid.affine.inverse else { preconditionFailure("Volume.resampled: singular source affine") }
        let m = inv * target.affine  // target index -> source index
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        let (ti, tj) = (target.dims[0], target.dims[1])
        var out = [Float](repeating: 0, count: target.count)
        let di = m.column(0), dj = m.column(1), dk = m.column(2)
        let o = SIMD3(m[0, 3], m[1, 3], m[2, 3])
        voxels.withUnsafeBufferPointer { srcBuf in
            out.withUnsafeMutableBufferPointer { dstBuf in
                let src = UncheckedBox(srcBuf), dst = UncheckedBox(dstBuf)
                parallelFor(target.dims[2]) { k in
                    let s = src.value, d = dst.value
                    for j in 0..<tj {
                        var p = o + dj * Double(j) + dk * Double(k)
                        var n = ti * (j + tj * k)
                        for _ in 0..<ti {
                            let x = min(max(p.x, 0), Double(ni - 1))
                            let y = min(max(p.y, 0), Double(nj - 1))
                            let z = min(max(p.z, 0), Double(nk - 1))
                            switch interpolation {
                            case .nearest:
                                d[n] = s[Int(x.rounded()) + ni * (Int(y.rounded()) + nj * Int(z.rounded()))]
                            case .linear:
                                let x0 = min(Int(x), ni - 1), y0 = min(Int(y), nj - 1), z0 = min(Int(z), nk - 1)
                                let x1 = min(x0 + 1, ni - 1), y1 = min(y0 + 1, nj - 1), z1 = min(z0 + 1, nk - 1)
                                let fx = Float(x - Double(x0)), fy = Float(y - Double(y0)), fz = Float(z - Double(z0))
                                let r0 = ni * (y0 + nj * z0), r1 = ni * (y1 + nj * z0)
                                let r2 = ni * (y0 + nj * z1), r3 = ni * (y1 + nj * z1)
                                let c00 = s[r0 + x0] + (s[r0 + x1] - s[r0 + x0]) * fx
                                let c10 = s[r1 + x0] + (s[r1 + x1] - s[r1 + x0]) * fx
                                let c01 = s[r2 + x0] + (s[r2 + x1] - s[r2 + x0]) * fx
                                let c11 = s[r3 + x0] + (s[r3 + x1] - s[r3 + x0]) * fx
                                let c0 = c00 + (c10 - c00) * fy, c1 = c01 + (c11 - c01) * fy
                                d[n] = c0 + (c1 - c0) * fz
                            }
                            p += di
                            n += 1
                        }
                    }
                }
            }
        }
        return Volume(grid: target, voxels: out)
    }

    /// This volume resampled to voxel size `spacing` in mm along (i, j, k) on MONAI's `Spacing` grid (see
    /// ``VoxelGrid/withSpacing(_:)``). As MONAI, a grid within 1e-3 of the current one (same dims) is kept as is.
    func resampled(toSpacing spacing: SIMD3<Double>, interpolation: Interpolation) -> Volume {
        let target = grid.withSpacing(spacing)
        if target.matches(grid, tolerance: VoxelGrid.affineTolerance) { return self }
        return resampled(to: target, interpolation: interpolation)
    }
}

public extension VoxelGrid {
    /// MONAI's `AFFINE_TOL`: affines closer than this are the same grid.
    static let affineTolerance = 1e-3

    /// The grid MONAI's `Spacing(pixdim: spacing, diagonal: false, scale_extent: false)` resamples this grid to
    /// (monai/transforms/spatial/array.py `Spacing.__call__`, monai/data/utils.py `zoom_affine` and
    /// `compute_shape_offset`, MONAI 1.5): the direction of each axis is kept (the rotation of the affine's
    /// 3x3 part after removing zoom and shear by a Cholesky factor), its voxel size becomes `spacing`; the
    /// extent counts voxel centres, `round(span / new + 1)` rounding half to even as numpy; the first voxel sits
    /// on the input's corner voxel that comes first along every new axis, or, if no corner does, the two
    /// grids' centres coincide.
    func withSpacing(_ spacing: SIMD3<Double>) -> VoxelGrid {
        precondition(spacing.min() > 0, "VoxelGrid.withSpacing: spacing must be positive, got \(spacing)")
        let a = affine
        // rzs^T rzs = U^T U with U upper triangular (Cholesky); rotation = rzs U^-1.
        var g = [[Double]](repeating: [0, 0, 0], count: 3)
        for r in 0..<3 { for c in 0..<3 { g[r][c] = (0..<3).reduce(0.0) { $0 + a[$1, r] * a[$1, c] } } }
        var u = [[Double]](repeating: [0, 0, 0], count: 3)
        for r in 0..<3 {
            for c in r..<3 {
                let s = g[r][c] - (0..<r).reduce(0.0) { $0 + u[$1][r] * u[$1][c] }
                u[r][c] = r == c ? s.squareRoot() : s / u[r][r]
            }
        }
        var uInv = [[Double]](repeating: [0, 0, 0], count: 3)  // inverse of the upper-triangular U
        for c in 0..<3 {
            for r in stride(from: c, through: 0, by: -1) {
                let rhs = (r == c ? 1.0 : 0.0) - ((r + 1)..<3).reduce(0.0) { $0 + u[r][$1] * uInv[$1][c] }
                uInv[r][c] = rhs / u[r][r]
            }
        }
        var out = Affine.identity
        for r in 0..<3 { for c in 0..<3 {
            let rot = (0..<3).reduce(0.0) { $0 + a[r, $1] * uInv[$1][c] }
            out[r, c] = rot * spacing[c]
        } }
        guard let outInverse = out.inverse else { preconditionFailure("VoxelGrid.withSpacing: singular affine \(affine)") }
        let toOut = outInverse * a
        // The 8 corners in numpy's meshgrid(indexing="ij") order: the last axis fastest.
        var corners: [SIMD3<Double>] = []
        for x in [0, dims[0] - 1] { for y in [0, dims[1] - 1] { for z in [0, dims[2] - 1] {
            corners.append(SIMD3(Double(x), Double(y), Double(z)))
        } } }
        let mapped = corners.map { toOut.apply($0) }
        var nd = [0, 0, 0]
        for c in 0..<3 {
            let lo = mapped.map { $0[c] }.min()!, hi = mapped.map { $0[c] }.max()!
            nd[c] = max(1, Int((hi - lo + 1).rounded(.toNearestOrEven)))
        }
        let first = mapped.indices.first { i in
            (0..<3).allSatisfy { c in abs(mapped.map { $0[c] - mapped[i][c] }.min()!) <= 1e-8 }
        }
        let origin: SIMD3<Double>
        if let first {
            origin = a.apply(corners[first])
        } else {
            let half = SIMD3(Double(dims[0]), Double(dims[1]), Double(dims[2])) / 2
            let outHalf = SIMD3(Double(nd[0]), Double(nd[1]), Double(nd[2])) / 2
            var o = Affine.identity
            for r in 0..<3 { for c in 0..<3 { o[r, c] = out[r, c] } }
            origin = a.apply(half) - o.apply(outHalf)
        }
        out[0, 3] = origin.x; out[1, 3] = origin.y; out[2, 3] = origin.z
        return VoxelGrid(dims: nd, affine: out)
    }
}
