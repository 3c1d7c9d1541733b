import Tensor

/// The sampling grid of a 3-D volume: its voxel counts along (i, j, k) and its voxel-to-world affine.
public struct VoxelGrid: Sendable, Equatable {
    /// Voxel counts along i (fastest in memory), j and k.
    public var dims: [Int]
    /// Voxel index to RAS+ world millimetres.
    public var affine: Affine

    /// A grid from its dims (three positive counts) and affine.
    public init(dims: [Int], affine: Affine) {
        precondition(dims.count == 3 && dims.allSatisfy { $0 > 0 }, "VoxelGrid: dims must be 3 positive counts, got \(dims)")
        self.dims = dims
        self.affine = affine
    }

    /// Number of voxels.
    public var count: Int { dims[0] * dims[1] * dims[2] }
    /// Voxel sizes in mm along i, j, k.
    public var spacing: SIMD3<Double> { affine.spacing }
    /// World position of the grid's centre.
    public var centre: SIMD3<Double> {
        affine.apply(SIMD3(Double(dims[0] - 1) / 2, Double(dims[1] - 1) / 2, Double(dims[2] - 1) / 2))
    }
    /// Whether both grids have the same dims and affines within `tolerance` mm.
    public func matches(_ other: VoxelGrid, tolerance: Double = 1e-3) -> Bool {
        dims == other.dims && affine.isClose(to: other.affine, tolerance: tolerance)
    }
}

/// A 3-D scalar volume on a ``VoxelGrid``: CT intensities, label numbers or class scores.
///
/// Memory order is NIfTI's: i varies fastest, then j, then k. A network sees the volume as MONAI does,
/// `[1, 1, ni, nj, nk]` with k fastest (C order of the (i, j, k) array, see ``tensor``): the same weights
/// then give the same logits in MONAI's pipeline and in segviz.
public struct Volume: Sendable, Equatable {
    /// The sampling grid.
    public var grid: VoxelGrid
    /// Voxel values, `grid.count` of them, i fastest.
    public var voxels: [Float]

    /// A volume from its grid and voxels.
    public init(grid: VoxelGrid, voxels: [Float]) {
        precondition(voxels.count == grid.count, "Volume: \(grid.dims) needs \(grid.count) voxels, got \(voxels.count)")
        self.grid = grid
        self.voxels = voxels
    }

    /// A volume of `value` on `grid`.
    public init(grid: VoxelGrid, repeating value: Float) {
        self.init(grid: grid, voxels: [Float](repeating: value, count: grid.count))
    }

    /// Voxel counts along i, j, k.
    public var dims: [Int] { grid.dims }
    /// Voxel-to-world affine.
    public var affine: Affine { grid.affine }

    /// Linear index of voxel (i, j, k).
    @inlinable public func index(_ i: Int, _ j: Int, _ k: Int) -> Int { i + grid.dims[0] * (j + grid.dims[1] * k) }

    /// Value at voxel (i, j, k).
    public subscript(_ i: Int, _ j: Int, _ k: Int) -> Float {
        get { voxels[index(i, j, k)] }
        set { voxels[index(i, j, k)] = newValue }
    }

    /// The voxels as a `[1, 1, ni, nj, nk]` tensor (D = i, H = j, W = k; k fastest), MONAI's
    /// `(channel, i, j, k)` array of the same grid with a batch axis in front.
    public var tensor: Tensor { Tensor(shape: [1, 1, dims[0], dims[1], dims[2]], scalars: tensorOrderScalars) }

    /// The voxels in tensor order: C order of the (i, j, k) array, k fastest.
    public var tensorOrderScalars: [Float] { Volume.transposed(voxels, dims: dims, toTensorOrder: true) }

    /// A volume on `grid` from scalars in tensor order (k fastest), e.g. one channel of a network's output.
    public init(grid: VoxelGrid, tensorOrder scalars: ArraySlice<Float>) {
        precondition(scalars.count == grid.count, "Volume: \(grid.dims) needs \(grid.count) voxels, got \(scalars.count)")
        self.init(grid: grid, voxels: Volume.transposed(Array(scalars), dims: grid.dims, toTensorOrder: false))
    }

    /// Reverses the axis order of a dims[0] x dims[1] x dims[2] block: i fastest (volume order) to k fastest
    /// (tensor order) or back.
    static func transposed(_ src: [Float], dims: [Int], toTensorOrder: Bool) -> [Float] {
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        var out = [Float](repeating: 0, count: src.count)
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                let (sb, db) = (UncheckedBox(s), UncheckedBox(d))
                parallelFor(nk) { k in
                    for j in 0..<nj {
                        let v = ni * (j + nj * k)
                        for i in 0..<ni {
                            let t = (i * nj + j) * nk + k
                            if toTensorOrder { db.value[t] = sb.value[v + i] } else { db.value[v + i] = sb.value[t] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Smallest and largest voxel value (0, 0 for an empty volume).
    public var range: (min: Float, max: Float) {
        guard var lo = voxels.first else { return (0, 0) }
        var hi = lo
        for v in voxels { lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
        return (lo, hi)
    }

    /// The orientation letters of the voxel axes (see ``Affine/axisCodes``).
    public var orientation: String { grid.affine.axisCodes }

    /// The same image with its voxel axes permuted and flipped so that they point along `codes`
    /// (for example "RAS", the canonical orientation, or a volume's original ``orientation`` to go
    /// back). World positions are unchanged: voxel data moves and the affine compensates exactly, as
    /// nibabel's `as_closest_canonical`. Oblique affines stay oblique.
    /// - Precondition: `codes` holds one of R/L, A/P, S/I each.
    public func reoriented(to codes: String) -> Volume {
        let target = Array(codes.uppercased())
        let current = Array(orientation)
        let worldOf: (Character) -> (axis: Int, positive: Bool) = { c in
            switch c {
            case "R": (0, true); case "L": (0, false); case "A": (1, true); case "P": (1, false)
            case "S": (2, true); case "I": (2, false)
            default: preconditionFailure("Volume.reoriented: bad orientation letter \(c) in \(codes)")
            }
        }
        precondition(target.count == 3 && Set(target.map { worldOf($0).axis }).count == 3,
                     "Volume.reoriented: \(codes) is not an orientation such as RAS or LPS")
        // For each new axis a: the old axis it reads, and whether it runs backwards.
        var source = [Int](repeating: 0, count: 3), flip = [Bool](repeating: false, count: 3)
        for a in 0..<3 {
            let want = worldOf(target[a])
            let old = (0..<3).first { worldOf(current[$0]).axis == want.axis }!
            source[a] = old
            flip[a] = worldOf(current[old]).positive != want.positive
        }
        if source == [0, 1, 2] && !flip.contains(true) { return self }
        let od = dims
        let nd = (0..<3).map { od[source[$0]] }
        // new index -> old index: old[source[a]] = flip ? n-1-new[a] : new[a]
        var t = [Double](repeating: 0, count: 16)
        t[15] = 1
        for a in 0..<3 {
            t[source[a] * 4 + a] = flip[a] ? -1 : 1
            if flip[a] { t[source[a] * 4 + 3] = Double(od[source[a]] - 1) }
        }
        let newAffine = affine * Affine(rowMajor: t)
        var out = [Float](repeating: 0, count: voxels.count)
        let oldStride = [1, od[0], od[0] * od[1]]
        var step = [0, 0, 0], start = 0
        for a in 0..<3 {
            step[a] = flip[a] ? -oldStride[source[a]] : oldStride[source[a]]
            if flip[a] { start += (od[source[a]] - 1) * oldStride[source[a]] }
        }
        voxels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var n = 0
                for k in 0..<nd[2] {
                    let bk = start + k * step[2]
                    for j in 0..<nd[1] {
                        var p = bk + j * step[1]
                        for _ in 0..<nd[0] { dst[n] = src[p]; p += step[0]; n += 1 }
                    }
                }
            }
        }
        return Volume(grid: VoxelGrid(dims: nd, affine: newAffine), voxels: out)
    }
}
