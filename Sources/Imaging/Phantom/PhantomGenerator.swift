import Foundation

/// Structures the phantom labels (numbering is chosen per layout by ``PhantomLayout``).
public enum PhantomStructure: Int, Sendable, CaseIterable {
    /// Liver parenchyma.
    case liver
    /// Hypodense liver lesion (inside the liver).
    case lesion
    /// Spleen.
    case spleen
    /// Right kidney.
    case kidneyRight
    /// Left kidney.
    case kidneyLeft
    /// Stomach (wall, contents and air).
    case stomach
    /// Aorta.
    case aorta
    /// Inferior vena cava.
    case ivc
}

/// One generated case: a CT-like image in HU and the structure of every voxel (`nil` for none).
public struct PhantomCase: Sendable {
    /// Hounsfield units, int16-valued.
    public var image: Volume
    /// Per voxel, the ``PhantomStructure`` raw value, or -1.
    public var structures: [Int8]
}

/// Synthetic abdominal CT: body outline with fat and muscle, spine and ribs, kidneys, stomach with
/// air, bowel, aorta and IVC, the liver in the right upper abdomen and the spleen in the left, with
/// case-to-case variation of shape, size and position (see `PhantomAnatomy`), partial-volume blur
/// (Gaussian, 1.0 mm sigma) and scanner noise (Gaussian, 14 HU sigma). Liver and spleen HU overlap,
/// so only shape and position tell them apart. Deterministic for a seed and case index.
public struct PhantomGenerator: Sendable {
    /// Voxel counts along i, j, k.
    public var dims: [Int]
    /// Voxel size in mm.
    public var spacing: SIMD3<Double>
    /// Noise standard deviation in HU.
    public var noiseHU: Double = 14
    /// Blur standard deviation in mm.
    public var blurMM: Double = 1.0

    /// A generator for volumes of `dims` voxels of `spacing` mm (default 96 x 96 x 64 at 3 mm).
    public init(dims: [Int] = [96, 96, 64], spacing: SIMD3<Double> = SIMD3(3, 3, 3)) {
        precondition(dims.count == 3 && dims.allSatisfy { $0 >= 8 }, "PhantomGenerator: dims must be 3 counts of at least 8")
        precondition(spacing.min() > 0, "PhantomGenerator: spacing must be positive")
        self.dims = dims
        self.spacing = spacing
    }

    /// The grid of a case written with the given orientation letters (world centre at the origin).
    public func grid(orientation: String) -> VoxelGrid {
        let ras = VoxelGrid(dims: dims, affine: .diagonal((spacing.x, spacing.y, spacing.z)))
        var g = Volume(grid: ras, repeating: 0).reoriented(to: orientation).grid
        let c = g.centre
        for r in 0..<3 { g.affine[r, 3] -= c[r] }
        return g
    }

    /// Generates case `index` of the series fixed by `seed` on a grid of the given orientation.
    public func generate(seed: UInt64, index: Int, orientation: String = "RAS") -> PhantomCase {
        var rng = SeededRandom(seed: seed, stream: UInt64(index))
        let anatomy = PhantomAnatomy(rng: &rng)
        let grid = self.grid(orientation: orientation)
        var hu = [Float](repeating: 0, count: grid.count)
        var structure = [Int8](repeating: -1, count: grid.count)
        let (ni, nj) = (grid.dims[0], grid.dims[1])
        hu.withUnsafeMutableBufferPointer { huBuf in
            structure.withUnsafeMutableBufferPointer { stBuf in
                let h = UncheckedBox(huBuf), s = UncheckedBox(stBuf)
                parallelFor(grid.dims[2]) { k in
                    for j in 0..<nj { for i in 0..<ni {
                        let p = grid.affine.apply(SIMD3(Double(i), Double(j), Double(k)))
                        let (t, st) = anatomy.tissue(at: p)
                        let n = i + ni * (j + nj * k)
                        h.value[n] = Float(anatomy.hu[t]!)
                        s.value[n] = st.map { Int8($0.rawValue) } ?? -1
                    } }
                }
            }
        }
        var image = Volume(grid: grid, voxels: hu).gaussianBlurred(sigmaMM: blurMM)
        var noise = SeededRandom(seed: seed ^ 0x5EED, stream: UInt64(index))
        for n in image.voxels.indices {
            image.voxels[n] = max(-1024, min(3071, (image.voxels[n] + Float(noiseHU * noise.gaussian())).rounded()))
        }
        return PhantomCase(image: image, structures: structure)
    }
}

extension PhantomAnatomy {
    /// The tissue at world point `p` and the labelled structure it belongs to.
    func tissue(at world: SIMD3<Double>) -> (Tissue, PhantomStructure?) {
        let p = world - offset
        let a = bodyA * (1 + 0.04 * p.z / 100), b = bodyB * (1 + 0.03 * p.z / 100)
        let e = (p.x / a) * (p.x / a) + (p.y / b) * (p.y / b)
        if e > 1 {
            return p.y < -b - 10 && p.y > -b - 22 && abs(p.x) < 170 ? (.table, nil) : (.air, nil)
        }
        let inner = { (t: Double) in (p.x / (a - t)) * (p.x / (a - t)) + (p.y / (b - t)) * (p.y / (b - t)) <= 1 }
        let sp = SIMD2(p.x, p.y) - spineXY
        // spine: vertebral body with discs, canal, arch; paraspinal muscles
        let rBody = (sp * sp).sum().squareRoot()
        if rBody < 17 {
            let disc = (p.z + 200).truncatingRemainder(dividingBy: 32) < 6
            return disc ? (.muscle, nil) : (rBody > 14 ? .bone : .marrow, nil)
        }
        let canal = sp - SIMD2(0, -27), rCanal = (canal * canal).sum().squareRoot()
        if rCanal < 7 { return (.csf, nil) }
        if rCanal < 12 || (abs(canal.x) < 4 && canal.y < 0 && canal.y > -30) { return (.bone, nil) }
        for side in [-1.0, 1.0] {
            let q = (sp - SIMD2(side * 36, -22)) / SIMD2(24, 20)
            if (q * q).sum() < 1 { return (.muscle, nil) }
        }
        if !inner(18) { return (.fat, nil) }
        // ribs in the upper abdomen, within the wall, sparing the anterior midline
        if p.z > -30, !inner(30), abs(p.x) > 35 || p.y < 0 {
            let phase = (p.z + 300 + 0.15 * abs(p.x) + 9 * atan2(p.y, abs(p.x))).truncatingRemainder(dividingBy: 26)
            let arc = (atan2(p.y, p.x) + 4 * Double.pi).truncatingRemainder(dividingBy: 0.5)
            if phase < 9, arc < 0.38 { return (.bone, nil) }
        }
        if !inner(28) { return (.muscle, nil) }
        // inside the cavity: vessels, organs, stomach, kidneys, bowel, else fat
        let av = SIMD2(p.x, p.y) - aortaXY, iv = SIMD2(p.x, p.y) - ivcXY
        if (av * av).sum() < 144 { return (.aorta, .aorta) }
        if (iv * iv).sum() < 110, p.z < 80 { return (.ivc, .ivc) }
        if spleen.contains(p) { return (.spleen, .spleen) }
        if liver.contains(p) {
            return lesions.contains { $0.contains(p) } ? (.lesion, .lesion) : (.liver, .liver)
        }
        if kidneyR.contains(p) { return (.kidney, .kidneyRight) }
        if kidneyL.contains(p) { return (.kidney, .kidneyLeft) }
        if stomach.contains(p) {
            let d = stomach.depth(p)
            if d > 0.85 { return (.stomachWall, .stomach) }
            return p.y > stomach.centre.y + 12 ? (.stomachAir, .stomach) : (.stomachFluid, .stomach)
        }
        for (n, blob) in bowel.enumerated() where blob.contains(p) {
            return n % 3 == 0 && blob.depth(p) < 0.45 ? (.bowelAir, nil) : (.bowel, nil)
        }
        return (.fat, nil)
    }
}
