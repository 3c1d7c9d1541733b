import Foundation

/// Training-time augmentation of a patch, as MONAI's `RandAffined` (rotation, scaling), `Rand3DElasticd`
/// (smooth elastic deformation), `RandAdjustContrastd` (gamma) and contrast/intensity shifts: the image and its
/// label are warped by the same transform (image trilinear, label nearest neighbour), intensities change in
/// the image only. All randomness comes from the generator passed in.
public struct Augmentation: Sendable, Equatable {
    /// Probability that a patch is warped (rotation, scaling, elastic) at all.
    public var spatialProbability: Double
    /// Largest rotation about the body axis (k) and about the two in-plane axes, in degrees.
    public var rotateAxialDegrees: Double, rotateTiltDegrees: Double
    /// Isotropic scaling range (zoom factor of the anatomy).
    public var scale: ClosedRange<Double>
    /// Largest elastic displacement (voxels) and the spacing of its control points (voxels).
    public var elasticVoxels: Double, elasticSpacing: Int
    /// Contrast factor about the patch mean, and gamma, each applied with probability 0.5.
    public var contrast: ClosedRange<Float>, gamma: ClosedRange<Float>
    /// Probability of mirroring a patch left-right (voxel axis i of the RAS training grid), as nnU-Net's
    /// mirroring. The default is 0: the side of the body is the strongest cue the small U-Net has to tell the
    /// liver from the spleen (the demo's external spleen Dice was 0.61 at 0.5 and 0.81 at 0, same recipe). At 0.5
    /// the side carries no information, so a scan whose header mirrors left and right (a DICOM-to-NIfTI slip;
    /// msd-spleen-8's puts its spleen on the patient's right) is still segmented, at that price.
    public var mirrorLeftRight: Double

    /// An augmentation. The defaults are ``standard``.
    public init(spatialProbability: Double = 0.8, rotateAxialDegrees: Double = 15, rotateTiltDegrees: Double = 6,
                scale: ClosedRange<Double> = 0.8...1.2, elasticVoxels: Double = 2.5, elasticSpacing: Int = 8,
                contrast: ClosedRange<Float> = 0.8...1.25, gamma: ClosedRange<Float> = 0.7...1.5, mirrorLeftRight: Double = 0) {
        precondition(elasticSpacing >= 2 && scale.lowerBound > 0 && gamma.lowerBound > 0 && (0...1).contains(mirrorLeftRight),
                     "Augmentation: bad settings")
        self.spatialProbability = spatialProbability
        self.rotateAxialDegrees = rotateAxialDegrees
        self.rotateTiltDegrees = rotateTiltDegrees
        self.scale = scale
        self.elasticVoxels = elasticVoxels
        self.elasticSpacing = elasticSpacing
        self.contrast = contrast
        self.gamma = gamma
        self.mirrorLeftRight = mirrorLeftRight
    }

    /// The settings training uses: ±15° axial and ±6° tilt, scaling 0.8-1.2, elastic up to 2.5 voxels, contrast
    /// 0.8-1.25, gamma 0.7-1.5, no left-right mirroring.
    public static let standard = Augmentation()

    /// The patch of `size` voxels centred on (fractional) voxel position `centre` of `image`/`label`, warped by a random rotation,
    /// scaling and elastic field about that centre (outside the volume: image 0, label 0).
    public func warpedPatch(image: Volume, label: Volume, centre: SIMD3<Double>, size: [Int], using rng: inout SeededRandom) -> (Volume, Volume) {
        precondition(image.dims == label.dims && size.count == 3, "Augmentation: bad inputs")
        let deg = Double.pi / 180
        let az = rng.uniform(-rotateAxialDegrees...rotateAxialDegrees) * deg
        let ax = rng.uniform(-rotateTiltDegrees...rotateTiltDegrees) * deg, ay = rng.uniform(-rotateTiltDegrees...rotateTiltDegrees) * deg
        let zoom = rng.uniform(scale)
        // Output offset -> source offset: R / zoom (a larger zoom shows a smaller region, enlarged).
        let rz = [[cos(az), -sin(az), 0], [sin(az), cos(az), 0], [0, 0, 1.0]]
        let rx = [[1, 0, 0], [0, cos(ax), -sin(ax)], [0, sin(ax), cos(ax)]]
        let ry = [[cos(ay), 0, sin(ay)], [0, 1.0, 0], [-sin(ay), 0, cos(ay)]]
        func mul(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
            (0..<3).map { r in (0..<3).map { c in (0..<3).reduce(0) { $0 + a[r][$1] * b[$1][c] } } }
        }
        let m = mul(mul(rz, rx), ry).map { $0.map { $0 / zoom } }
        // Elastic field: random displacements on a coarse lattice, interpolated trilinearly.
        let sp = elasticSpacing
        let cd = size.map { $0 / sp + 2 }
        let field = (0..<3).map { _ in (0..<(cd[0] * cd[1] * cd[2])).map { _ in rng.uniform(-elasticVoxels...elasticVoxels) } }
        func displacement(_ i: Int, _ j: Int, _ k: Int) -> SIMD3<Double> {
            let x = Double(i) / Double(sp), y = Double(j) / Double(sp), z = Double(k) / Double(sp)
            let x0 = min(Int(x), cd[0] - 2), y0 = min(Int(y), cd[1] - 2), z0 = min(Int(z), cd[2] - 2)
            let fx = x - Double(x0), fy = y - Double(y0), fz = z - Double(z0)
            var out = SIMD3<Double>.zero
            for c in 0..<3 {
                var acc = 0.0
                for dz in 0...1 { for dy in 0...1 { for dx in 0...1 {
                    let w = (dx == 1 ? fx : 1 - fx) * (dy == 1 ? fy : 1 - fy) * (dz == 1 ? fz : 1 - fz)
                    acc += w * field[c][(x0 + dx) + cd[0] * ((y0 + dy) + cd[1] * (z0 + dz))]
                } } }
                out[c] = acc
            }
            return out
        }
        var img = Volume(grid: VoxelGrid(dims: size, affine: image.affine), repeating: 0)
        var lab = Volume(grid: img.grid, repeating: 0)
        let d = image.dims
        let half = size.map { Double($0 - 1) / 2 }
        for k in 0..<size[2] { for j in 0..<size[1] { for i in 0..<size[0] {
            let o = SIMD3(Double(i) - half[0], Double(j) - half[1], Double(k) - half[2])
            let e = displacement(i, j, k)
            var s = SIMD3<Double>(repeating: 0)
            for r in 0..<3 { s[r] = centre[r] + m[r][0] * o.x + m[r][1] * o.y + m[r][2] * o.z + e[r] }
            let n = i + size[0] * (j + size[1] * k)
            // Label: nearest neighbour; image: trilinear; both 0 outside the source.
            let ni = Int(s.x.rounded()), nj = Int(s.y.rounded()), nk = Int(s.z.rounded())
            if ni >= 0, nj >= 0, nk >= 0, ni < d[0], nj < d[1], nk < d[2] { lab.voxels[n] = label[ni, nj, nk] }
            img.voxels[n] = image.trilinear(s)
        } } }
        return (img, lab)
    }

    /// The patch pair mirrored left-right with probability ``mirrorLeftRight`` (no draw when it is 0).
    public func mirrored(_ image: Volume, _ label: Volume, using rng: inout SeededRandom) -> (Volume, Volume) {
        guard mirrorLeftRight > 0, Double.random(in: 0..<1, using: &rng) < mirrorLeftRight else { return (image, label) }
        return (image.flipped(axis: 0), label.flipped(axis: 0))
    }

    /// Random contrast about the mean (p = 0.5) and gamma on the 0...1 window (p = 0.5), in place.
    public func adjustIntensity(_ v: inout Volume, using rng: inout SeededRandom) {
        if Double.random(in: 0..<1, using: &rng) < 0.5 {
            let c = Float.random(in: contrast, using: &rng)
            let mean = v.voxels.reduce(0, +) / Float(max(v.voxels.count, 1))
            for n in v.voxels.indices { v.voxels[n] = (v.voxels[n] - mean) * c + mean }
        }
        if Double.random(in: 0..<1, using: &rng) < 0.5 {
            let g = Float.random(in: gamma, using: &rng)
            for n in v.voxels.indices { v.voxels[n] = powf(min(max(v.voxels[n], 0), 1), g) }
        }
    }
}

extension Volume {
    /// Trilinear value at fractional voxel position `s`; 0 outside the volume.
    func trilinear(_ s: SIMD3<Double>) -> Float {
        let d = dims
        guard s.x > -1, s.y > -1, s.z > -1, s.x < Double(d[0]), s.y < Double(d[1]), s.z < Double(d[2]) else { return 0 }
        let x0 = Int(s.x.rounded(.down)), y0 = Int(s.y.rounded(.down)), z0 = Int(s.z.rounded(.down))
        let fx = Float(s.x - Double(x0)), fy = Float(s.y - Double(y0)), fz = Float(s.z - Double(z0))
        @inline(__always) func at(_ i: Int, _ j: Int, _ k: Int) -> Float {
            i >= 0 && j >= 0 && k >= 0 && i < d[0] && j < d[1] && k < d[2] ? voxels[i + d[0] * (j + d[1] * k)] : 0
        }
        let c00 = at(x0, y0, z0) + (at(x0 + 1, y0, z0) - at(x0, y0, z0)) * fx
        let c10 = at(x0, y0 + 1, z0) + (at(x0 + 1, y0 + 1, z0) - at(x0, y0 + 1, z0)) * fx
        let c01 = at(x0, y0, z0 + 1) + (at(x0 + 1, y0, z0 + 1) - at(x0, y0, z0 + 1)) * fx
        let c11 = at(x0, y0 + 1, z0 + 1) + (at(x0 + 1, y0 + 1, z0 + 1) - at(x0, y0 + 1, z0 + 1)) * fx
        let c0 = c00 + (c10 - c00) * fy, c1 = c01 + (c11 - c01) * fy
        return c0 + (c1 - c0) * fz
    }
}
