import Foundation

/// The atlas baseline: the voxel-wise frequency of each organ over a training set's labels, in
/// coordinates relative to each volume's field-of-view centre (so scanner origins do not matter),
/// thresholded to predict. A trained model must beat it clearly on an external set.
public struct Atlas: Sendable {
    /// The atlas grid: RAS, centred on the origin (relative millimetres).
    public var grid: VoxelGrid
    /// Frequency 0...1 of each annotated organ.
    public var frequency: [Organ: Volume]

    /// An atlas from per-organ frequency volumes on one grid.
    public init(grid: VoxelGrid, frequency: [Organ: Volume]) {
        self.grid = grid
        self.frequency = frequency
    }

    /// Builds the atlas from labelled volumes (federation numbering) for the given organs, on a
    /// `spacing` mm grid large enough for the largest training field of view.
    public static func build(from cases: [LabelledVolume], organs: Set<Organ>, spacing: Double = 3) -> Atlas {
        precondition(!cases.isEmpty, "Atlas.build: no cases")
        var extent = SIMD3<Double>(repeating: 0)
        for c in cases {
            let g = c.label.reoriented(to: "RAS").grid
            for a in 0..<3 { extent[a] = max(extent[a], Double(g.dims[a]) * g.spacing[a]) }
        }
        let dims = (0..<3).map { max(1, Int((extent[$0] / spacing).rounded(.up))) }
        var affine = Affine.diagonal((spacing, spacing, spacing))
        for a in 0..<3 { affine[a, 3] = -Double(dims[a] - 1) / 2 * spacing }
        let grid = VoxelGrid(dims: dims, affine: affine)
        var freq = Dictionary(uniqueKeysWithValues: organs.map { ($0, Volume(grid: grid, repeating: 0)) })
        for c in cases {
            // this case's labels sampled at each atlas voxel (relative to its centre), outside = 0
            var shifted = grid
            let centre = c.label.grid.centre
            for a in 0..<3 { shifted.affine[a, 3] += centre[a] }
            let sampled = c.label.resampledOrZero(to: shifted)
            for organ in organs {
                let l = Float(organ.rawValue)
                for n in sampled.voxels.indices where sampled.voxels[n] == l { freq[organ]!.voxels[n] += 1 }
            }
        }
        for organ in organs { freq[organ]!.voxels = freq[organ]!.voxels.map { $0 / Float(cases.count) } }
        return Atlas(grid: grid, frequency: freq)
    }

    /// Federation labels predicted on `target`: the most frequent organ where its frequency is at least `threshold`.
    public func predict(on target: VoxelGrid, threshold: Float = 0.5) -> Volume {
        var atlasOnTarget = target
        let centre = target.centre
        for a in 0..<3 { atlasOnTarget.affine[a, 3] -= centre[a] }
        var out = Volume(grid: target, repeating: 0)
        var best = [Float](repeating: threshold, count: target.count)
        for (organ, f) in frequency.sorted(by: { $0.key < $1.key }) {
            let s = f.resampledOrZero(to: atlasOnTarget)
            for n in s.voxels.indices where s.voxels[n] >= best[n] {
                best[n] = s.voxels[n]; out.voxels[n] = Float(organ.rawValue)
            }
        }
        return out
    }

    /// The file an organ's frequency map is stored in, beside a model file: `<model>.atlas-<organ>.nii.gz`.
    public static func url(besideModel model: URL, organ: Organ) -> URL {
        model.deletingPathExtension().appendingPathExtension("atlas-\(organ).nii.gz")
    }

    /// Writes one float32 NIfTI per organ beside `model`.
    public func save(besideModel model: URL) throws {
        for (organ, f) in frequency { try NIfTI.write(f, to: Self.url(besideModel: model, organ: organ), datatype: .float32) }
    }

    /// Reads the organ maps stored beside `model`; `nil` when there are none.
    public static func load(besideModel model: URL) throws -> Atlas? {
        var freq = [Organ: Volume]()
        for organ in Organ.allCases {
            let url = Self.url(besideModel: model, organ: organ)
            if FileManager.default.fileExists(atPath: url.path) { freq[organ] = try NIfTI.read(url) }
        }
        guard let first = freq.values.first else { return nil }
        return Atlas(grid: first.grid, frequency: freq)
    }
}

extension Volume {
    /// Nearest-neighbour sampling onto `target`, 0 outside this volume.
    func resampledOrZero(to target: VoxelGrid) -> Volume {
        guard let inv = grid.affine.inverse else { preconditionFailure("singular affine") }
        let m = inv * target.affine
        var out = Volume(grid: target, repeating: 0)
        var n = 0
        for k in 0..<target.dims[2] { for j in 0..<target.dims[1] { for i in 0..<target.dims[0] {
            let p = m.apply(SIMD3(Double(i), Double(j), Double(k)))
            let (x, y, z) = (Int(p.x.rounded()), Int(p.y.rounded()), Int(p.z.rounded()))
            if x >= 0, y >= 0, z >= 0, x < dims[0], y < dims[1], z < dims[2] { out.voxels[n] = self[x, y, z] }
            n += 1
        } } }
        return out
    }
}
