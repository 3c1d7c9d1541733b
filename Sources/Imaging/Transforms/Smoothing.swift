import Foundation

public extension Volume {
    /// The volume smoothed by a separable Gaussian of `sigmaMM` millimetres (per-axis voxel sigma
    /// from the spacing; borders replicate).
    func gaussianBlurred(sigmaMM: Double) -> Volume {
        var v = self
        let sp = grid.spacing
        for axis in 0..<3 {
            let s = sigmaMM / sp[axis]
            guard s > 0.05 else { continue }
            let r = max(1, Int((3 * s).rounded(.up)))
            var w = (-r...r).map { Float(exp(-Double($0 * $0) / (2 * s * s))) }
            let total = w.reduce(0, +)
            w = w.map { $0 / total }
            let n = dims[axis], stride = [1, dims[0], dims[0] * dims[1]][axis]
            let src = v.voxels
            var out = src
            let lines = v.voxels.count / n
            for line in 0..<lines {
                // the start index of this line: decompose over the two other axes
                let base: Int
                switch axis {
                case 0: base = line * dims[0]
                case 1: base = (line % dims[0]) + (line / dims[0]) * dims[0] * dims[1]
                default: base = line
                }
                for x in 0..<n {
                    var acc: Float = 0
                    for t in -r...r { acc += w[t + r] * src[base + min(max(x + t, 0), n - 1) * stride] }
                    out[base + x * stride] = acc
                }
            }
            v.voxels = out
        }
        return v
    }
}
