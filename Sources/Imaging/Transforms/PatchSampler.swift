import Tensor

/// One training sample: an image patch and its label patch, each `[1, 1, D, H, W]` with (D, H, W) = (i, j, k).
public struct TrainingPatch: Sendable {
    /// Windowed intensities.
    public var image: Tensor
    /// Federation labels as floats (0, 1, 2).
    public var label: Tensor
}

/// Random patches with a positive/negative ratio and augmentation, as MONAI's
/// `RandCropByPosNegLabeld` followed by `RandFlipd` (each axis), `RandScaleIntensityd` and
/// `RandShiftIntensityd`. All randomness comes from the generator passed in.
public struct PatchSampler: Sendable {
    /// Patch size in voxels along (i, j, k).
    public var size: [Int]
    /// Share of patches centred on a foreground (label > 0) voxel; the rest centre on background.
    public var positiveFraction: Double
    /// Probability of flipping along each axis.
    public var flipProbability: Double
    /// Intensity scale augmentation: `v * (1 + f)`, `f` uniform in ±this, applied with probability 0.5.
    public var scaleFactor: Float
    /// Intensity shift augmentation: `v + s`, `s` uniform in ±this, applied with probability 0.5.
    public var shiftOffset: Float
    /// Rotation, scaling, elastic deformation, contrast and gamma (`nil`: none, the plain crop).
    public var augmentation: Augmentation?

    /// A sampler; defaults are the SegViz settings at a 96^3 patch (half positive).
    public init(size: [Int] = [96, 96, 96], positiveFraction: Double = 0.5, flipProbability: Double = 0.1,
                scaleFactor: Float = 0.1, shiftOffset: Float = 0.1, augmentation: Augmentation? = nil) {
        precondition(size.count == 3 && size.allSatisfy { $0 > 0 }, "PatchSampler: size must be 3 positive counts")
        self.size = size
        self.positiveFraction = positiveFraction
        self.flipProbability = flipProbability
        self.scaleFactor = scaleFactor
        self.shiftOffset = shiftOffset
        self.augmentation = augmentation
    }

    /// `count` patches from a preprocessed image/label pair: the first `round(count * positiveFraction)`
    /// centred on random foreground voxels (background if the label has none), the rest on random
    /// background voxels whose image value is above 0 (MONAI's `image_threshold=0`: inside the body); centres are moved inwards so patches fit, and volumes smaller than the
    /// patch are padded with 0.
    public func sample(image: Volume, label: Volume, count: Int, using rng: inout SeededRandom) -> [TrainingPatch] {
        precondition(image.dims == label.dims, "PatchSampler: image \(image.dims) and label \(label.dims) differ")
        var fg = [Int](), bg = [Int](), air = [Int]()
        for (n, v) in label.voxels.enumerated() {
            if v > 0 { fg.append(n) } else if image.voxels[n] > 0 { bg.append(n) } else { air.append(n) }
        }
        if bg.isEmpty { bg = air }
        let positives = Int((Double(count) * positiveFraction).rounded())
        return (0..<count).map { s in
            let pool = (s < positives && !fg.isEmpty) || bg.isEmpty ? fg : bg
            let n = pool[Int.random(in: 0..<pool.count, using: &rng)]
            let centre = [n % image.dims[0], (n / image.dims[0]) % image.dims[1], n / (image.dims[0] * image.dims[1])]
            var lower = [Int](repeating: 0, count: 3)
            for a in 0..<3 {
                let d = image.dims[a], p = size[a]
                lower[a] = d <= p ? -(p - d) / 2 : min(max(centre[a] - p / 2, 0), d - p)
            }
            let box = VoxelBox(lower: lower, upper: (0..<3).map { lower[$0] + size[$0] })
            var img: Volume, lab: Volume
            if let aug = augmentation, Double.random(in: 0..<1, using: &rng) < aug.spatialProbability {
                // warp about the crop's centre, so the patch still fits where the plain crop would
                let c = SIMD3((0..<3).map { Double(box.lower[$0]) + Double(size[$0] - 1) / 2 })
                (img, lab) = aug.warpedPatch(image: image, label: label, centre: c, size: size, using: &rng)
            } else {
                (img, lab) = (image.cropped(to: box), label.cropped(to: box))
            }
            if let aug = augmentation { (img, lab) = aug.mirrored(img, lab, using: &rng) }
            for axis in 0..<3 where Double.random(in: 0..<1, using: &rng) < flipProbability {
                img = img.flipped(axis: axis); lab = lab.flipped(axis: axis)
            }
            augmentation?.adjustIntensity(&img, using: &rng)
            if Double.random(in: 0..<1, using: &rng) < 0.5 {
                let f = 1 + Float.random(in: -scaleFactor...scaleFactor, using: &rng)
                img.voxels = img.voxels.map { $0 * f }
            }
            if Double.random(in: 0..<1, using: &rng) < 0.5 {
                let o = Float.random(in: -shiftOffset...shiftOffset, using: &rng)
                img.voxels = img.voxels.map { $0 + o }
            }
            return TrainingPatch(image: img.tensor, label: lab.tensor)
        }
    }
}

public extension Volume {
    /// The volume mirrored along voxel axis `axis` (0 = i, 1 = j, 2 = k); the affine is left as is,
    /// as MONAI's `RandFlipd` on arrays (an augmentation, not a geometric operation).
    func flipped(axis: Int) -> Volume {
        var out = self
        let (ni, nj, nk) = (dims[0], dims[1], dims[2])
        for k in 0..<nk { for j in 0..<nj { for i in 0..<ni {
            let (si, sj, sk) = (axis == 0 ? ni - 1 - i : i, axis == 1 ? nj - 1 - j : j, axis == 2 ? nk - 1 - k : k)
            out.voxels[index(i, j, k)] = voxels[index(si, sj, sk)]
        } } }
        return out
    }
}
