/// Surface distances between binary masks via an exact Euclidean distance transform in mm.
public enum SurfaceDistance {
    /// The mask's edge: voxels of the mask with a 6-neighbour outside it (the volume border counts as outside).
    public static func edges(_ mask: [Bool], dims: [Int]) -> [Bool] {
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        var out = [Bool](repeating: false, count: mask.count)
        for k in 0..<nk { for j in 0..<nj { for i in 0..<ni {
            let n = i + ni * (j + nj * k)
            guard mask[n] else { continue }
            out[n] = i == 0 || i == ni - 1 || j == 0 || j == nj - 1 || k == 0 || k == nk - 1
                || !mask[n - 1] || !mask[n + 1] || !mask[n - ni] || !mask[n + ni] || !mask[n - ni * nj] || !mask[n + ni * nj]
        } } }
        return out
    }

    /// Squared distance in mm² from every voxel to the nearest `true` voxel of `features`
    /// (Felzenszwalb-Huttenlocher, separable, anisotropic); infinity when there are none.
    public static func squaredDistance(to features: [Bool], dims: [Int], spacing: SIMD3<Double>) -> [Double] {
        var d = features.map { $0 ? 0.0 : Double.infinity }
        let strides = [1, dims[0], dims[0] * dims[1]]
        for axis in 0..<3 {
            let n = dims[axis], s = strides[axis], h = spacing[axis]
            var f = [Double](repeating: 0, count: n), v = [Int](repeating: 0, count: n)
            var z = [Double](repeating: 0, count: n + 1), res = [Double](repeating: 0, count: n)
            for line in 0..<(d.count / n) {
                let base: Int = switch axis {
                case 0: line * dims[0]
                case 1: (line % dims[0]) + (line / dims[0]) * dims[0] * dims[1]
                default: line
                }
                for q in 0..<n { f[q] = d[base + q * s] }
                var k = -1
                for q in 0..<n where f[q].isFinite {
                    let xq = Double(q) * h
                    while k >= 0 {
                        let xv = Double(v[k]) * h
                        let sct = ((f[q] + xq * xq) - (f[v[k]] + xv * xv)) / (2 * (xq - xv))
                        if sct <= z[k] { k -= 1 } else { break }
                    }
                    k += 1
                    v[k] = q
                    z[k] = k == 0 ? -.infinity : {
                        let xv = Double(v[k - 1]) * h
                        return ((f[q] + xq * xq) - (f[v[k - 1]] + xv * xv)) / (2 * (xq - xv))
                    }()
                    z[k + 1] = .infinity
                }
                if k < 0 { continue }
                var j = 0
                for q in 0..<n {
                    let x = Double(q) * h
                    while z[j + 1] < x { j += 1 }
                    let dx = x - Double(v[j]) * h
                    res[q] = dx * dx + f[v[j]]
                }
                for q in 0..<n { d[base + q * s] = res[q] }
            }
        }
        return d
    }

    /// The q-th percentile with linear interpolation (numpy's default).
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        precondition(!values.isEmpty, "percentile of nothing")
        let s = values.sorted()
        let r = q / 100 * Double(s.count - 1)
        let lo = Int(r), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (r - Double(lo))
    }

    /// The 95th-percentile Hausdorff distance between the edges of two masks in mm: the larger
    /// of the two directed 95th percentiles; `nil` when either mask is empty.
    public static func hausdorff95(_ a: [Bool], _ b: [Bool], dims: [Int], spacing: SIMD3<Double>) -> Double? {
        let ea = edges(a, dims: dims), eb = edges(b, dims: dims)
        guard ea.contains(true), eb.contains(true) else { return nil }
        let da = squaredDistance(to: ea, dims: dims, spacing: spacing)
        let db = squaredDistance(to: eb, dims: dims, spacing: spacing)
        let ab = ea.indices.filter { ea[$0] }.map { db[$0].squareRoot() }
        let ba = eb.indices.filter { eb[$0] }.map { da[$0].squareRoot() }
        return max(percentile(ab, 95), percentile(ba, 95))
    }
}
