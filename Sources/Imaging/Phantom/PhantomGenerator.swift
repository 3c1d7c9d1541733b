import Foundation

/// Structures the phantom labels (numbering is chosen per layout by ``PhantomLayout``).
public enum PhantomStructure: Int, Sendable, CaseIterable {
    /// Liver parenchyma, with the portal and hepatic vein branches inside it.
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
    /// The contrast phase of the case.
    public var phase: ContrastPhase
    /// Whether the patient has a fatty liver (darker than the spleen).
    public var fattyLiver: Bool = false
}

/// How a phantom was "scanned": the scanner grid before any resampling.
public struct ScanGeometry: Sendable, Equatable {
    /// In-plane pixel size (mm) and matrix (pixels per side).
    public var pixelSpacing: Double, matrix: Int
    /// Slice spacing (mm).
    public var sliceSpacing: Double
    /// Top and bottom of the scanned range in the patient frame (mm; z = 0 at the top of L1, the liver dome
    /// near +100, the pelvis below -150).
    public var top: Double, bottom: Double

    /// A scan geometry. - Precondition: positive sizes and `top > bottom`.
    public init(pixelSpacing: Double, matrix: Int = 512, sliceSpacing: Double, top: Double, bottom: Double) {
        precondition(pixelSpacing > 0 && matrix >= 8 && sliceSpacing > 0 && top > bottom, "ScanGeometry: bad geometry")
        self.pixelSpacing = pixelSpacing
        self.matrix = matrix
        self.sliceSpacing = sliceSpacing
        self.top = top
        self.bottom = bottom
    }

    /// Number of slices.
    public var slices: Int { max(1, Int(((top - bottom) / sliceSpacing).rounded()) + 1) }

    /// A clinical-like geometry for a patient of half-width `halfWidth`: 0.6-1.0 mm pixels on a 512 matrix (the
    /// field of view holds the body), 1-5 mm slices (at most 160), and a range from a dome-only slab to the
    /// abdomen and pelvis.
    static func random(halfWidth: Double, dome: Double, rng: inout SeededRandom) -> ScanGeometry {
        let ps = max(rng.uniform(0.6...1.0), (2 * halfWidth + 30) / 512)
        let u = rng.uniform(0...1)
        let (top, bottom): (Double, Double) = u < 0.15 ? (dome + 25, dome - rng.uniform(70...110))  // dome-only slab
            : u < 0.45 ? (dome + rng.uniform(15...50), rng.uniform(-140 ... -60))  // upper abdomen
            : u < 0.75 ? (dome + rng.uniform(20...50), rng.uniform(-230 ... -150))  // abdomen
            : (dome + rng.uniform(20...60), rng.uniform(-330 ... -280))  // abdomen and pelvis
        var th = [1.0, 1.25, 1.5, 2, 2.5, 3, 5][Int.random(in: 0..<7, using: &rng)]
        th = max(th, ((top - bottom) / 159 * 4).rounded(.up) / 4)
        return ScanGeometry(pixelSpacing: ps, sliceSpacing: th, top: top, bottom: bottom)
    }
}

/// Synthetic abdominal CT with real anatomy (see `PhantomAnatomy`): deformed organ templates and their
/// neighbours, four contrast phases, fatty livers, patient sizes from 250 to 450 mm, partial-volume edges
/// (the scanner's blur) and correlated noise. Deterministic for a seed and case index.
///
/// Two ways to make a case:
/// - on a fixed grid (`dims` voxels of `spacing` mm, centred on the upper abdomen): fast, for tests;
/// - with ``scanner`` set: on a random scanner-like grid (``ScanGeometry``: 0.6-1 mm pixels, 1-5 mm slices,
///   dome-only to abdomen-pelvis ranges), then brought to `spacing` by the pipeline's own resampling
///   (``Volume/resampled(toSpacing:interpolation:)``; `dims` is then ignored) unless ``native`` is set.
public struct PhantomGenerator: Sendable {
    /// Voxel counts along i, j, k (fixed-grid cases).
    public var dims: [Int]
    /// Voxel size in mm of the output.
    public var spacing: SIMD3<Double>
    /// Noise standard deviation in HU; `nil`: 8-22 HU, random per case (scanner dose and body size).
    public var noiseHU: Double?
    /// Partial-volume blur: Gaussian standard deviation in mm (in plane; along z at least 0.35 slices).
    public var blurMM: Double = 0.8
    /// Generate on a random scanner-like grid and resample to `spacing`.
    public var scanner = false
    /// With ``scanner``: return the scanner grid itself, without resampling.
    public var native = false
    /// Force the contrast phase (default: random per case).
    public var phase: ContrastPhase?

    /// A generator for volumes of `dims` voxels of `spacing` mm (default 96 x 96 x 64 at 3 mm).
    public init(dims: [Int] = [96, 96, 64], spacing: SIMD3<Double> = SIMD3(3, 3, 3), noiseHU: Double? = nil,
                scanner: Bool = false, phase: ContrastPhase? = nil) {
        precondition(dims.count == 3 && dims.allSatisfy { $0 >= 8 }, "PhantomGenerator: dims must be 3 counts of at least 8")
        precondition(spacing.min() > 0, "PhantomGenerator: spacing must be positive")
        self.dims = dims
        self.spacing = spacing
        self.noiseHU = noiseHU
        self.scanner = scanner
        self.phase = phase
    }

    /// The fixed grid of a case written with the given orientation letters (world centre at the origin).
    public func grid(orientation: String) -> VoxelGrid {
        orientedGrid(dims: dims, spacing: spacing, orientation: orientation)
    }

    /// Generates case `index` of the series fixed by `seed` on a grid of the given orientation.
    public func generate(seed: UInt64, index: Int, orientation: String = "RAS") -> PhantomCase {
        var rng = SeededRandom(seed: seed, stream: UInt64(index))
        let anatomy = PhantomAnatomy(rng: &rng, phase: phase)
        if scanner {
            let scan = ScanGeometry.random(halfWidth: anatomy.bodyA, dome: anatomy.domeR, rng: &rng)
            let shift = SIMD2(rng.uniform(-15...15), rng.uniform(-20...10))
            let c = render(anatomy, scan: scan, shift: shift, orientation: orientation, seed: seed, index: index)
            return native ? c : c.resampled(toSpacing: spacing)
        }
        let offset = SIMD3(rng.uniform(-15...15), rng.uniform(-10...10), anatomy.domeR - 75 + rng.uniform(-25...25))
        return rasterise(anatomy, grid: grid(orientation: orientation), patientAtWorldOrigin: offset,
                         blurMM: blurMM, noiseSeed: (seed, index), rng: &rng)
    }

    /// Case `index` of the series scanned with `scan` (for measurements and tests), on the scanner grid.
    public func generate(seed: UInt64, index: Int, scan: ScanGeometry, orientation: String = "RAS") -> PhantomCase {
        var rng = SeededRandom(seed: seed, stream: UInt64(index))
        let anatomy = PhantomAnatomy(rng: &rng, phase: phase)
        return render(anatomy, scan: scan, shift: .zero, orientation: orientation, seed: seed, index: index)
    }

    private func render(_ anatomy: PhantomAnatomy, scan: ScanGeometry, shift: SIMD2<Double>, orientation: String,
                        seed: UInt64, index: Int) -> PhantomCase {
        var rng = SeededRandom(seed: seed ^ 0xA5A5, stream: UInt64(index))
        let g = orientedGrid(dims: [scan.matrix, scan.matrix, scan.slices],
                             spacing: SIMD3(scan.pixelSpacing, scan.pixelSpacing, scan.sliceSpacing), orientation: orientation)
        let centre = SIMD3(shift.x, shift.y, (scan.top + scan.bottom) / 2)
        return rasterise(anatomy, grid: g, patientAtWorldOrigin: centre, blurMM: blurMM, noiseSeed: (seed, index), rng: &rng)
    }

    private func rasterise(_ anatomy: PhantomAnatomy, grid: VoxelGrid, patientAtWorldOrigin o: SIMD3<Double>, blurMM: Double,
                           noiseSeed: (UInt64, Int), rng: inout SeededRandom) -> PhantomCase {
        let (hu, structure) = PhantomRaster.render(anatomy, grid: grid, offset: o)
        var image = Volume(grid: grid, voxels: hu)
        let sp = grid.spacing
        // Partial volume (the scanner's blur) and noise correlated by the same kernel: white noise added before the
        // blur, scaled so that after it the standard deviation is `sigma`.
        let sv = blurMM > 0 ? SIMD3(max(blurMM / sp.x, 0.6), max(blurMM / sp.y, 0.6), max(blurMM / sp.z, 0.35)) : SIMD3<Double>(repeating: 0)
        let sigma = noiseHU ?? rng.uniform(8...22)
        let kept = (0..<3).map { a in Volume.gaussianWeights(sv[a]).map { $0 * $0 }.reduce(0, +) }.reduce(1, *)
        image.addWhiteNoise(scale: sigma / kept.squareRoot(), seed: noiseSeed.0 ^ 0x5EED, stream: UInt64(noiseSeed.1))
        if blurMM > 0 { image = image.blurredAnisotropic(sigmaVoxels: sv) }
        image.voxels.withUnsafeMutableBufferPointer { b in for n in b.indices { b[n] = max(-1024, min(3071, b[n].rounded())) } }
        return PhantomCase(image: image, structures: structure, phase: anatomy.phase, fattyLiver: anatomy.fattyLiver)
    }
}

extension PhantomCase {
    /// The case brought to `spacing` by the pipeline's resampling: trilinear for the image (then rounded to
    /// whole HU), nearest neighbour for the structures.
    func resampled(toSpacing spacing: SIMD3<Double>) -> PhantomCase {
        let img = image.resampled(toSpacing: spacing, interpolation: .linear)
        let st = Volume(grid: image.grid, voxels: structures.map(Float.init)).resampled(to: img.grid, interpolation: .nearest)
        return PhantomCase(image: Volume(grid: img.grid, voxels: img.voxels.map { $0.rounded() }),
                           structures: st.voxels.map { Int8($0) }, phase: phase, fattyLiver: fattyLiver)
    }
}

/// A grid of `dims` voxels of `spacing` whose axes point along the orientation letters (e.g. RAS, LPS; the
/// dims are given along those axes), centred on the world origin.
func orientedGrid(dims: [Int], spacing: SIMD3<Double>, orientation: String) -> VoxelGrid {
    var m = [Double](repeating: 0, count: 16)
    m[15] = 1
    for (a, c) in orientation.uppercased().enumerated() {
        let (row, sign): (Int, Double) = switch c {
        case "R": (0, 1); case "L": (0, -1); case "A": (1, 1); case "P": (1, -1); case "S": (2, 1); case "I": (2, -1)
        default: preconditionFailure("orientedGrid: bad orientation \(orientation)")
        }
        m[row * 4 + a] = sign * spacing[a]
    }
    var g = VoxelGrid(dims: dims, affine: Affine(rowMajor: m))
    let c = g.centre
    for r in 0..<3 { g.affine[r, 3] -= c[r] }
    return g
}
