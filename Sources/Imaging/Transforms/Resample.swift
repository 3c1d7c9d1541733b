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

    /// This volume on a grid with the same orientation and first-voxel centre and the given voxel
    /// size in mm along (i, j, k); each extent becomes `round(n * old / new)` voxels (at least 1).
    func resampled(toSpacing spacing: SIMD3<Double>, interpolation: Interpolation) -> Volume {
        resampled(to: grid.withSpacing(spacing), interpolation: interpolation)
    }
}

public extension VoxelGrid {
    /// The grid covering the same extent with voxel size `spacing` (see ``Volume/resampled(toSpacing:interpolation:)``).
    func withSpacing(_ spacing: SIMD3<Double>) -> VoxelGrid {
        precondition(spacing.min() > 0, "VoxelGrid.withSpacing: spacing must be positive, got \(spacing)")
        let old = self.spacing
        var a = affine
        var nd = dims
        for c in 0..<3 {
            let f = spacing[c] / old[c]
            for r in 0..<3 { a[r, c] *= f }
            nd[c] = max(1, Int((Double(dims[c]) / f).rounded()))
        }
        return VoxelGrid(dims: nd, affine: a)
    }
}
