/// The deterministic part of the SegViz preprocessing pipeline, as MONAI's `Orientation("RAS")`,
/// `Spacing(pixdim, bilinear)` (its output grid: ``VoxelGrid/withSpacing(_:)``; trilinear for images, nearest for
/// labels), `ScaleIntensityRange(clip=True)` (HU window to 0...1) and an optional crop to the foreground (the
/// bounding box of windowed intensities above 0, i.e. the body). ``Volume/tensor`` then gives the network MONAI's
/// `(channel, i, j, k)` array.
public struct Preprocessing: Sendable, Equatable {
    /// Target voxel size in mm along (i, j, k) after reorientation to RAS (x, y, z).
    public var spacing: SIMD3<Double>
    /// HU window mapped to 0...1.
    public var window: HUWindow
    /// Whether to crop image and label to the foreground bounding box.
    public var cropForeground: Bool

    /// The paper's settings: 1.5 x 1.5 x 2.0 mm, -175...250 HU, foreground crop.
    public init(spacing: SIMD3<Double> = SIMD3(1.5, 1.5, 2.0), window: HUWindow = .abdomen, cropForeground: Bool = true) {
        self.spacing = spacing
        self.window = window
        self.cropForeground = cropForeground
    }

    /// The image on the network's grid: RAS, target spacing, windowed (not cropped).
    public func image(_ image: Volume) -> Volume {
        window.apply(image.reoriented(to: "RAS").resampled(toSpacing: spacing, interpolation: .linear))
    }

    /// The image and its label (federation numbering, on the image's grid) on the network's grid,
    /// cropped to the foreground when ``cropForeground`` is set.
    public func pair(image: Volume, label: Volume) -> (image: Volume, label: Volume) {
        precondition(image.dims == label.dims, "Preprocessing.pair: image \(image.dims) and label \(label.dims) differ")
        let img = self.image(image)
        let lab = label.reoriented(to: "RAS").resampled(to: img.grid, interpolation: .nearest)
        guard cropForeground, let box = img.boundingBox(where: { $0 > 0 }) else { return (img, lab) }
        return (img.cropped(to: box), lab.cropped(to: box))
    }
}

/// A box of voxels: `lower` inclusive, `upper` exclusive, along (i, j, k).
public struct VoxelBox: Sendable, Equatable {
    /// First voxel index per axis.
    public var lower: [Int]
    /// One past the last voxel index per axis.
    public var upper: [Int]
    /// Extent per axis.
    public var size: [Int] { (0..<3).map { upper[$0] - lower[$0] } }
}

public extension Volume {
    /// The smallest box holding every voxel whose value satisfies `predicate`; `nil` if none does.
    func boundingBox(where predicate: (Float) -> Bool) -> VoxelBox? {
        var lo = [Int.max, Int.max, Int.max], hi = [-1, -1, -1]
        var n = 0
        for k in 0..<dims[2] { for j in 0..<dims[1] { for i in 0..<dims[0] {
            if predicate(voxels[n]) {
                lo[0] = min(lo[0], i); lo[1] = min(lo[1], j); lo[2] = min(lo[2], k)
                hi[0] = max(hi[0], i); hi[1] = max(hi[1], j); hi[2] = max(hi[2], k)
            }
            n += 1
        } } }
        return hi[0] < 0 ? nil : VoxelBox(lower: lo, upper: hi.map { $0 + 1 })
    }

    /// The voxels inside `box` (which may extend beyond the volume: outside voxels are `padding`),
    /// with the affine shifted so world positions are unchanged.
    func cropped(to box: VoxelBox, padding: Float = 0) -> Volume {
        let size = box.size
        var a = affine
        let shift = a.apply(SIMD3(Double(box.lower[0]), Double(box.lower[1]), Double(box.lower[2])))
        a[0, 3] = shift.x; a[1, 3] = shift.y; a[2, 3] = shift.z
        var out = Volume(grid: VoxelGrid(dims: size, affine: a), repeating: padding)
        for k in 0..<size[2] {
            let sk = k + box.lower[2]
            guard sk >= 0, sk < dims[2] else { continue }
            for j in 0..<size[1] {
                let sj = j + box.lower[1]
                guard sj >= 0, sj < dims[1] else { continue }
                let i0 = max(0, -box.lower[0]), i1 = min(size[0], dims[0] - box.lower[0])
                guard i0 < i1 else { continue }
                let src = index(box.lower[0] + i0, sj, sk), dst = out.index(i0, j, k)
                out.voxels.replaceSubrange(dst..<(dst + i1 - i0), with: voxels[src..<(src + i1 - i0)])
            }
        }
        return out
    }
}
