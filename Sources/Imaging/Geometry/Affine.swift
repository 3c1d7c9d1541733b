import Foundation

/// A 4x4 homogeneous transform from voxel indices (i, j, k) to world millimetres, stored row-major.
///
/// Conventions are NIfTI's and nibabel's: `world = affine * [i, j, k, 1]` in RAS+ world coordinates,
/// where +x points to the patient's Right, +y Anterior and +z Superior. Voxel (0, 0, 0) is the centre
/// of the first voxel.
public struct Affine: Sendable, Equatable, CustomStringConvertible {
    /// Row-major elements; the last row is (0, 0, 0, 1) for every affine this module builds.
    public var m: [Double]

    /// An affine from 16 row-major elements.
    public init(rowMajor m: [Double]) {
        precondition(m.count == 16, "Affine: need 16 elements, got \(m.count)")
        self.m = m
    }

    /// The identity transform.
    public static let identity = Affine(rowMajor: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])

    /// A diagonal affine with the given per-axis scales and translation.
    public static func diagonal(_ s: (Double, Double, Double), origin o: (Double, Double, Double) = (0, 0, 0)) -> Affine {
        Affine(rowMajor: [s.0, 0, 0, o.0, 0, s.1, 0, o.1, 0, 0, s.2, o.2, 0, 0, 0, 1])
    }

    /// Element at `row`, `column`.
    public subscript(_ r: Int, _ c: Int) -> Double {
        get { m[r * 4 + c] }
        set { m[r * 4 + c] = newValue }
    }

    /// The matrix product `self * other` (apply `other` first).
    public static func * (a: Affine, b: Affine) -> Affine {
        var out = [Double](repeating: 0, count: 16)
        for r in 0..<4 { for c in 0..<4 {
            var s = 0.0
            for k in 0..<4 { s += a.m[r * 4 + k] * b.m[k * 4 + c] }
            out[r * 4 + c] = s
        } }
        return Affine(rowMajor: out)
    }

    /// Applies the transform to a point.
    public func apply(_ p: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(m[0] * p.x + m[1] * p.y + m[2] * p.z + m[3],
              m[4] * p.x + m[5] * p.y + m[6] * p.z + m[7],
              m[8] * p.x + m[9] * p.y + m[10] * p.z + m[11])
    }

    /// Column `c` of the 3x3 part: the world step of one voxel along axis `c`.
    public func column(_ c: Int) -> SIMD3<Double> { SIMD3(m[c], m[4 + c], m[8 + c]) }

    /// The voxel size along each voxel axis in mm (lengths of the 3x3 columns).
    public var spacing: SIMD3<Double> {
        SIMD3((0..<3).map { c -> Double in let v = column(c); return (v * v).sum().squareRoot() })
    }

    /// The inverse transform; `nil` when the 3x3 part is singular.
    public var inverse: Affine? {
        let a = m
        let det = a[0] * (a[5] * a[10] - a[6] * a[9]) - a[1] * (a[4] * a[10] - a[6] * a[8])
            + a[2] * (a[4] * a[9] - a[5] * a[8])
        guard det.isFinite, abs(det) > 1e-12 else { return nil }
        var r = [Double](repeating: 0, count: 16)
        r[0] = (a[5] * a[10] - a[6] * a[9]) / det; r[1] = (a[2] * a[9] - a[1] * a[10]) / det
        r[2] = (a[1] * a[6] - a[2] * a[5]) / det
        r[4] = (a[6] * a[8] - a[4] * a[10]) / det; r[5] = (a[0] * a[10] - a[2] * a[8]) / det
        r[6] = (a[2] * a[4] - a[0] * a[6]) / det
        r[8] = (a[4] * a[9] - a[5] * a[8]) / det; r[9] = (a[1] * a[8] - a[0] * a[9]) / det
        r[10] = (a[0] * a[5] - a[1] * a[4]) / det
        for row in 0..<3 {
            r[row * 4 + 3] = -(r[row * 4] * a[3] + r[row * 4 + 1] * a[7] + r[row * 4 + 2] * a[11])
        }
        r[15] = 1
        return Affine(rowMajor: r)
    }

    /// Whether every element differs from `other`'s by at most `tolerance`.
    public func isClose(to other: Affine, tolerance: Double = 1e-4) -> Bool {
        zip(m, other.m).allSatisfy { abs($0 - $1) <= tolerance }
    }

    /// The orientation letters of the three voxel axes, as nibabel's `aff2axcodes`: each names the
    /// world direction the axis increases towards (R/L for world x, A/P for y, S/I for z; RAS+ world,
    /// so +x is "R"). Oblique axes take their closest world axis, chosen greedily by largest cosine.
    public var axisCodes: String {
        var cols = (0..<3).map { c -> SIMD3<Double> in
            let v = column(c); let n = (v * v).sum().squareRoot(); return n > 0 ? v / n : v
        }
        var assigned = [Int](repeating: -1, count: 3)
        var sign = [Double](repeating: 1, count: 3)
        for _ in 0..<3 {
            var best = (axis: -1, world: -1, value: -1.0)
            for c in 0..<3 where assigned[c] < 0 {
                for w in 0..<3 where abs(cols[c][w]) > best.value { best = (c, w, abs(cols[c][w])) }
            }
            assigned[best.axis] = best.world
            sign[best.axis] = cols[best.axis][best.world] < 0 ? -1 : 1
            for c in 0..<3 { cols[c][best.world] = 0 }
        }
        let pos: [Character] = ["R", "A", "S"], neg: [Character] = ["L", "P", "I"]
        return String((0..<3).map { sign[$0] > 0 ? pos[assigned[$0]] : neg[assigned[$0]] })
    }

    public var description: String {
        (0..<4).map { r in (0..<4).map { String(format: "%9.3f", self[r, $0]) }.joined(separator: " ") }
            .joined(separator: "\n")
    }
}
